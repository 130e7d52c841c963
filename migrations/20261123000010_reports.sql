-- History reports (issue 7): indexes that serve each report's filters and its first page, and
-- the click-to-call log. Portable SQL for SQLite and PostgreSQL; times are unix ms UTC.

-- Order history: a shop's orders in a date range, newest first (first page, CSV), and the counts
-- by status over the range, both answered from this index alone. Filtered by status, the range
-- scan uses orders_shop_status (shop_id, status, created_at).
CREATE INDEX orders_shop_created ON orders (shop_id, created_at, shopify_order_id, status);

-- Call history lists the calls Exotel placed, by when they were dialled; SMS history the SMS
-- handed to Exotel, by when. (Missed calls: missed_calls_shop (shop_id, at) already.)
CREATE INDEX call_attempts_shop_dialed ON call_attempts (shop_id, dialed_at);
CREATE INDEX sms_messages_shop_sent ON sms_messages (shop_id, sent_at);

-- Click-to-call: support calls a customer who asked for a callback. Exotel rings the agent
-- (From) first, then the customer (To), showing the ExoPhone (CallerId).
CREATE TABLE agent_calls (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    agent_phone TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    caller_id TEXT NOT NULL,
    account_sid TEXT NOT NULL,
    -- dialing → placed | failed
    state TEXT NOT NULL,
    call_sid TEXT,
    -- Exotel's status: in-progress, completed, busy, no-answer, failed, canceled
    exotel_status TEXT,
    duration_seconds BIGINT,
    error TEXT,
    dialed_at BIGINT,
    finished_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agent_calls_shop ON agent_calls (shop_id, created_at);
CREATE INDEX agent_calls_order ON agent_calls (order_id);
CREATE INDEX agent_calls_sid ON agent_calls (call_sid);
