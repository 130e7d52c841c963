-- Targeting rules (SPEC §9). Portable SQL for SQLite and PostgreSQL; times are unix ms UTC.

-- The blocklisted phone numbers of `rules.blocklist_phones` are customer data: they are kept out
-- of the settings JSON, sealed (src/crypto.rs, a JSON list of E.164 numbers), like the Exotel API
-- token. NULL: no number is blocklisted.
ALTER TABLE shops ADD COLUMN blocklist_phones_enc TEXT;

-- An order confirmed and later cancelled in Shopify does not make its buyer a trusted one: that
-- is `orders.shopify_cancelled_at`, kept for the shipping outcomes (20261206000060_outcomes.sql).
