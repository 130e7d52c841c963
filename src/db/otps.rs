//! Orders' OTPs as stored (`otps`): one row per order, its code kept as a keyed hash. Every change
//! is one conditional UPDATE, so concurrent requests can neither both win nor spend more attempts
//! than allowed.

use crate::db::{Db, Tx};
use crate::{on_db, on_tx};

/// An order's OTP.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OtpRow {
    pub order_id: String,
    pub shop_id: String,
    pub code_hash: String,
    pub version: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub wrong_count: i64,
    pub resends_used: i64,
    pub verified_at: Option<i64>,
    pub locked_at: Option<i64>,
}

/// Stores the order's first OTP (version 1). Returns the rows changed (0: it has one already).
pub async fn insert_first(tx: &mut Tx, order_id: &str, shop_id: &str, code_hash: &str, now: i64, expires_at: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO otps (order_id, shop_id, code_hash, version, issued_at, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 1, $4, $5, $4, $4) ON CONFLICT (order_id) DO NOTHING")
        .bind(order_id).bind(shop_id).bind(code_hash).bind(now).bind(expires_at))
}

/// Replaces version `expected_version` of the order's OTP by a new code (a resend), while it is
/// neither verified nor locked, fewer than `resends_allowed` resends were used and it was issued
/// at or before `issued_by`. Returns the rows changed (0: refused, or another request won).
#[allow(clippy::too_many_arguments)]
pub async fn replace_code(
    tx: &mut Tx,
    order_id: &str,
    expected_version: i64,
    code_hash: &str,
    version: i64,
    now: i64,
    expires_at: i64,
    resends_allowed: i64,
    issued_by: i64,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE otps SET code_hash = $1, version = $2, issued_at = $3, expires_at = $4, resends_used = resends_used + 1, updated_at = $3 \
         WHERE order_id = $5 AND version = $6 AND verified_at IS NULL AND locked_at IS NULL \
           AND resends_used < $7 AND issued_at <= $8")
        .bind(code_hash).bind(version).bind(now).bind(expires_at).bind(order_id).bind(expected_version)
        .bind(resends_allowed).bind(issued_by))
}

/// The order's OTP, if one was issued.
pub async fn of_order(db: &Db, order_id: &str) -> Result<Option<OtpRow>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, OtpRow>(
        "SELECT order_id, shop_id, code_hash, version, issued_at, expires_at, wrong_count, resends_used, verified_at, locked_at \
         FROM otps WHERE order_id = $1").bind(order_id).fetch_optional(c).await)
}

/// Marks version `version` of the order's OTP verified, if it is still open and not expired at
/// `now`. Returns the rows changed (0: another request won, or it expired).
pub async fn mark_verified(tx: &mut Tx, order_id: &str, version: i64, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE otps SET verified_at = $1, updated_at = $1 WHERE order_id = $2 AND version = $3 \
         AND verified_at IS NULL AND locked_at IS NULL AND expires_at >= $1")
        .bind(now).bind(order_id).bind(version))
}

/// Counts a wrong entry against the order's open OTP; the `limit`-th locks it. Returns the rows
/// changed (0: it was verified or locked meanwhile).
pub async fn record_wrong_entry(tx: &mut Tx, order_id: &str, limit: i64, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE otps SET wrong_count = wrong_count + 1, \
           locked_at = CASE WHEN wrong_count + 1 >= $1 THEN $2 ELSE NULL END, updated_at = $2 \
         WHERE order_id = $3 AND verified_at IS NULL AND locked_at IS NULL")
        .bind(limit).bind(now).bind(order_id))
}

/// The wrong entries of the order's OTP so far, and when it was locked.
pub async fn wrong_entries(tx: &mut Tx, order_id: &str) -> Result<(i64, Option<i64>), sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as("SELECT wrong_count, locked_at FROM otps WHERE order_id = $1").bind(order_id).fetch_one(c).await)
}
