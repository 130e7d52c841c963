-- OTP verification. The code is never stored: only a keyed hash of (order, version, code).
CREATE TABLE otps (
    order_id TEXT PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    -- bumped by each resend: the previous code stops working
    version BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    wrong_count BIGINT NOT NULL DEFAULT 0,
    resends_used BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    locked_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- An SMS whose text is secret (an OTP) keeps it encrypted until it is sent; `body` shows it masked.
ALTER TABLE sms_messages ADD COLUMN body_enc TEXT;
