-- The review queue (SPEC §9): an order a person confirmed or cancelled on the shopper's behalf
-- records who did it (the agent's name as typed, trimmed); NULL for every other resolution.
ALTER TABLE orders ADD COLUMN resolved_by TEXT;
