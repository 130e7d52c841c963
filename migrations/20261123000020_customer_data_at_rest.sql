-- Customer phone numbers are kept encrypted (AES-256-GCM, the `v1:` text form of src/crypto.rs) with
-- a keyed hash beside them for lookups; webhook bodies (names, addresses, phones) are kept encrypted
-- until processed. Values written before this migration are encrypted at start-up (src/pii.rs).
ALTER TABLE orders RENAME COLUMN phone TO phone_enc;
ALTER TABLE orders ADD COLUMN phone_hash TEXT;
DROP INDEX orders_shop_phone;
CREATE INDEX orders_shop_phone_hash ON orders (shop_id, phone_hash);

ALTER TABLE sms_messages RENAME COLUMN to_phone TO to_phone_enc;
ALTER TABLE sms_messages ADD COLUMN to_phone_hash TEXT;

ALTER TABLE missed_calls RENAME COLUMN phone TO phone_enc;
ALTER TABLE missed_calls ADD COLUMN phone_hash TEXT;
DROP INDEX missed_calls_phone;
CREATE INDEX missed_calls_phone_hash ON missed_calls (shop_id, phone_hash, at);

ALTER TABLE agent_calls RENAME COLUMN agent_phone TO agent_phone_enc;
ALTER TABLE agent_calls ADD COLUMN agent_phone_hash TEXT;
ALTER TABLE agent_calls RENAME COLUMN customer_phone TO customer_phone_enc;
ALTER TABLE agent_calls ADD COLUMN customer_phone_hash TEXT;

ALTER TABLE data_requests RENAME COLUMN customer_phone TO customer_phone_enc;
ALTER TABLE data_requests RENAME COLUMN report TO report_enc;

-- nonce ‖ AES-256-GCM(lz4(body)); `body` stays empty for new deliveries.
ALTER TABLE webhooks ADD COLUMN body_enc BYTEA;
