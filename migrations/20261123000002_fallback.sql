-- IVR fallbacks: SMS (with a link or asking for a missed call), link tokens, missed calls.

-- One row per SMS, written before it is sent; claimed like a call attempt (queued → sending →
-- sent | unknown | failed, or cancelled) so none is sent twice. The id goes to Exotel as CustomField.
CREATE TABLE sms_messages (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT REFERENCES orders (id) ON DELETE CASCADE,
    -- link | missed_call | confirmation
    kind TEXT NOT NULL,
    seq BIGINT NOT NULL,
    account_sid TEXT NOT NULL,
    to_phone TEXT,
    body TEXT NOT NULL,
    unicode BOOLEAN NOT NULL,
    dlt_template_id TEXT,
    state TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    retry_after_wall BIGINT,
    transient_failures BIGINT NOT NULL DEFAULT 0,
    claimed_at_wall BIGINT,
    sms_sid TEXT,
    -- Exotel's status: queued, sending, submitted, sent, failed, failed-dnd
    status TEXT,
    detailed_status TEXT,
    detailed_status_code TEXT,
    units TEXT,
    error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sms_messages_due ON sms_messages (state, due_at);
CREATE INDEX sms_messages_sid ON sms_messages (sms_sid);
CREATE INDEX sms_messages_shop ON sms_messages (shop_id, created_at);
CREATE INDEX sms_messages_order ON sms_messages (order_id);

-- Confirmation links: only the SHA-256 of the token is kept.
CREATE TABLE links (
    token_hash TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    action TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX links_order ON links (order_id);

CREATE TABLE missed_calls (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    call_sid TEXT,
    call_from TEXT NOT NULL,
    phone TEXT,
    -- counted | repeat | nothing_pending | not_in_use | invalid_number
    outcome TEXT NOT NULL,
    -- names of the orders it confirmed
    orders TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX missed_calls_phone ON missed_calls (shop_id, phone, at);
CREATE INDEX missed_calls_shop ON missed_calls (shop_id, at);

-- Line items as JSON [{title, quantity}], for the link page.
ALTER TABLE orders ADD COLUMN items TEXT;
ALTER TABLE orders ADD COLUMN fallback_started_at BIGINT;
