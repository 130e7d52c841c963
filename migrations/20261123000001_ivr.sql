-- IVR calls. Portable SQL for SQLite and PostgreSQL; times are unix ms UTC.

-- One row per call attempt of an order. The row exists before the call is dialled, and moves
-- queued → dialing → placed | unknown | rejected → ended, or queued → cancelled. Claiming a row
-- (queued → dialing) is a conditional UPDATE, so no attempt is ever dialled twice, whatever the
-- number of processes. The id is sent to Exotel as CustomField and comes back in every callback.
CREATE TABLE call_attempts (
    id TEXT PRIMARY KEY,
    shop_id TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    order_id TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    attempt_no BIGINT NOT NULL,
    account_sid TEXT NOT NULL,
    state TEXT NOT NULL,
    -- when the schedule (app clock) lets it be dialled
    due_at BIGINT NOT NULL,
    -- wall clock: not before this after a 429/5xx from Exotel
    retry_after_wall BIGINT,
    transient_failures BIGINT NOT NULL DEFAULT 0,
    claimed_at_wall BIGINT,
    dialed_at BIGINT,
    call_sid TEXT,
    -- Exotel's status: in-progress, completed, busy, no-answer, failed, canceled
    exotel_status TEXT,
    digits TEXT,
    -- confirm | cancel | callback | invalid
    choice TEXT,
    answered_by TEXT,
    amd_cause TEXT,
    duration_seconds BIGINT,
    price TEXT,
    recording_url TEXT,
    started_at TEXT,
    ended_at TEXT,
    error TEXT,
    -- what the attempt meant: confirm | cancel | callback | busy | no-answer | failed | no-input |
    -- invalid-input | machine | dnd | not-placed | unknown
    result TEXT,
    finished_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (order_id, attempt_no)
);
CREATE INDEX call_attempts_due ON call_attempts (state, due_at);
CREATE INDEX call_attempts_sid ON call_attempts (call_sid);
CREATE INDEX call_attempts_shop ON call_attempts (shop_id, created_at);

-- Exotel's per-account, per-API rate limits, shared by every process (GCRA): a request may go
-- when `tat - now <= burst`; sending one moves `tat` on by one emission interval. Wall clock.
-- Keyed "{account_sid}/calls", "{account_sid}/numbers", …
CREATE TABLE exotel_rate (
    account_sid TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);

ALTER TABLE orders ADD COLUMN outcome_tags TEXT;
ALTER TABLE orders ADD COLUMN shopify_synced_at BIGINT;
-- The number's DND status from Exotel's Numbers API, looked up once before the first call.
ALTER TABLE orders ADD COLUMN dnd TEXT;
-- When the dialer last started a call for the shop (wall clock): the least recently served shop
-- goes first, so shops take turns on a shared Exotel account.
ALTER TABLE shops ADD COLUMN last_call_claimed_wall BIGINT;
