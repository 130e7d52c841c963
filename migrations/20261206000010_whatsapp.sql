-- Verification plans (SPEC §8): the WhatsApp step's messages, and the customer's locale the
-- WhatsApp template and the link page follow.

-- One row per WhatsApp message, written before it is sent and claimed like a call or an SMS
-- (queued → sending → sent | unknown | refused | failed, or cancelled), so none is sent twice.
-- The id goes to Exotel as custom_data and comes back in every callback.
CREATE TABLE whatsapp_messages (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    account_sid TEXT NOT NULL,
    -- the customer's number, encrypted, and its keyed hash (src/crypto.rs)
    to_phone_enc TEXT,
    to_phone_hash TEXT,
    -- SHA-256 of the per-message token the buttons' payloads carry
    token_hash TEXT NOT NULL,
    template TEXT NOT NULL,
    language TEXT NOT NULL,
    state TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    retry_after_wall BIGINT,
    transient_failures BIGINT NOT NULL DEFAULT 0,
    claimed_at_wall BIGINT,
    message_sid TEXT,
    -- Exotel's latest delivery report: sent | delivered | read | failed
    status TEXT,
    error TEXT,
    -- the customer's answer to this message: confirm | cancel | callback | other
    reply TEXT,
    -- what they typed, encrypted (customer data)
    reply_text_enc TEXT,
    replied_at BIGINT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (order_id, seq)
);
CREATE INDEX whatsapp_messages_due ON whatsapp_messages (state, due_at);
CREATE INDEX whatsapp_messages_sid ON whatsapp_messages (message_sid);
CREATE INDEX whatsapp_messages_shop ON whatsapp_messages (shop_id, created_at);
CREATE INDEX whatsapp_messages_token ON whatsapp_messages (token_hash);
CREATE INDEX whatsapp_messages_order ON whatsapp_messages (order_id);

-- Shopify's `customer_locale` of the order (e.g. "en", "hi-IN"); NULL for orders taken before.
ALTER TABLE orders ADD COLUMN customer_locale TEXT;
