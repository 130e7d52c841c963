-- Fulfillment holds (SPEC §9): where holding a pending order's fulfillment orders in Shopify stands
-- (holding → held | not_held; releasing → released). NULL: the order is not held at all (skipped,
-- `fulfillment.hold` off, or the shop has not granted the fulfillment-order scopes).
ALTER TABLE orders ADD COLUMN hold_state TEXT;
