-- The Outcomes page's per-day summaries (issue 18: the page reads ≤ 92 small rows instead of every
-- order and contact of the range). A summary is a cache of what the page computes for one day of
-- a shop's orders — counts only, no customer data — and is recomputed when its day is marked.
-- `zone` and `cod_only` are what the day was computed for: a row computed for other settings is
-- recomputed, not used. `facts` NULL with a `token`: claimed by a load that is computing it (the
-- load stores its result only while its token is still there). See src/db/outcome_days.rs.
CREATE TABLE outcome_days (
    shop_id TEXT NOT NULL,
    day TEXT NOT NULL,
    zone TEXT NOT NULL,
    cod_only BOOLEAN NOT NULL,
    facts TEXT,
    token TEXT,
    PRIMARY KEY (shop_id, day)
);
-- Quarter hours (created_at / 900000) of a shop's orders that changed since their day was
-- summarised; written by triggers on orders and on each contact table (installed by the app at
-- migration time: the trigger syntax differs between SQLite and PostgreSQL), so no write can
-- forget to mark. No foreign key: marks written while a shop's rows are being deleted must not
-- fail the deletion (the shop's erasure deletes its marks).
CREATE TABLE outcome_marks (
    shop_id TEXT NOT NULL,
    quarter BIGINT NOT NULL,
    PRIMARY KEY (shop_id, quarter)
);
