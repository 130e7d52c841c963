-- Delivery outcomes (SPEC §10): what Shopify reports after an order shipped. The first four
-- columns are what was reported (unix ms, NULL = never): the earliest shipment (a fulfillment or a
-- tracking event), delivery and failure/return, and the latest cancellation in Shopify. `outcome`
-- and `outcome_at` are read off them by the rule in src/outcomes.rs:
-- delivered | returned | cancelled (after shipping); NULL = unknown.
ALTER TABLE orders ADD COLUMN shipped_at BIGINT;
ALTER TABLE orders ADD COLUMN delivered_at BIGINT;
ALTER TABLE orders ADD COLUMN returned_at BIGINT;
ALTER TABLE orders ADD COLUMN shopify_cancelled_at BIGINT;
ALTER TABLE orders ADD COLUMN outcome TEXT;
ALTER TABLE orders ADD COLUMN outcome_at BIGINT;
-- The outcomes report: one shop's orders of a date range, by status and outcome, from the index.
CREATE INDEX orders_shop_outcomes ON orders (shop_id, created_at, is_cod, status, outcome, shipped_at);
