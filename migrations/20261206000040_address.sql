-- Address confirmation (SPEC §9, issue 17 item 3). Portable SQL for SQLite and PostgreSQL; times
-- are unix ms UTC.

-- The order's shipping address as intake took it (or as the shopper corrected it), encrypted
-- (src/crypto.rs): JSON of the address fields. NULL for orders taken before, orders whose
-- customer details are not kept, and erased orders.
ALTER TABLE orders ADD COLUMN shipping_address_enc TEXT;

-- A correction the shopper made on the confirmation link page: the address before and after, both
-- encrypted (the timeline's events are plaintext, so they only point here), and where its update
-- in Shopify stands: pending | updated | refused | failed. Erasing the order's customer details
-- deletes its corrections.
CREATE TABLE address_corrections (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    old_enc TEXT NOT NULL,
    new_enc TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX address_corrections_order ON address_corrections (order_id, state);
