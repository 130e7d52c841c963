-- Privacy duties (issue 14 §3). Portable SQL for SQLite and PostgreSQL; times are unix ms UTC.

-- Data requests: the orders Shopify listed, and when the merchant first opened the report.
ALTER TABLE data_requests ADD COLUMN orders_requested TEXT NOT NULL DEFAULT '';
ALTER TABLE data_requests ADD COLUMN opened_at BIGINT;
CREATE INDEX data_requests_shop ON data_requests (shop_id, received_at);

-- When an order's customer details were erased (customers/redact or the retention period): the
-- daily retention job skips erased orders instead of rewriting them every day. Partial indexes
-- (both databases have them) hold only what is left to erase, so a run never walks the rows it
-- erased on earlier days.
ALTER TABLE orders ADD COLUMN erased_at BIGINT;
CREATE INDEX orders_unerased ON orders (shop_id, created_at) WHERE erased_at IS NULL;
CREATE INDEX missed_calls_unerased ON missed_calls (shop_id, at) WHERE call_from <> '';
CREATE INDEX sms_messages_unerased ON sms_messages (shop_id, created_at) WHERE body <> '';

-- Work that runs on a schedule of the app clock, whatever the number of processes: a process
-- claims a run by moving `next_at` on in the transaction that enqueues its job, so each run is
-- enqueued once. The first retention run is due at once.
CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);
INSERT INTO schedules (name, next_at) VALUES ('privacy_retention', 0);

-- Order history of a shop that verifies COD only leaves prepaid orders out: the range scan and
-- the counts stay on an index.
CREATE INDEX orders_shop_cod_created ON orders (shop_id, is_cod, created_at, shopify_order_id, status);
