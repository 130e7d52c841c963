//! Click-to-calls (`agent_calls`): written before the request goes to Exotel, then its outcome.

use crate::db::{Db, Tx};
use crate::{on_db, on_tx};

/// A click-to-call about to be requested (state `dialing`); phones sealed and indexed by the caller.
pub struct NewAgentCall<'a> {
    pub id: &'a str,
    pub shop_id: &'a str,
    pub order_id: &'a str,
    pub agent_phone_enc: String,
    pub agent_phone_hash: String,
    pub customer_phone_enc: String,
    pub customer_phone_hash: String,
    pub caller_id: &'a str,
    pub account_sid: &'a str,
}

pub async fn insert(tx: &mut Tx, a: NewAgentCall<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO agent_calls (id, shop_id, order_id, agent_phone_enc, agent_phone_hash, customer_phone_enc, customer_phone_hash, \
           caller_id, account_sid, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'dialing', $10, $10)")
        .bind(a.id).bind(a.shop_id).bind(a.order_id)
        .bind(&a.agent_phone_enc).bind(&a.agent_phone_hash)
        .bind(&a.customer_phone_enc).bind(&a.customer_phone_hash)
        .bind(a.caller_id).bind(a.account_sid).bind(now)
        .execute(c).await.map(|_| ()))
}

/// Exotel took the call.
pub async fn placed(tx: &mut Tx, id: &str, call_sid: &str, exotel_status: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE agent_calls SET state = 'placed', call_sid = $1, exotel_status = COALESCE(exotel_status, $2), dialed_at = $3, updated_at = $3 WHERE id = $4")
        .bind(call_sid).bind(exotel_status).bind(now).bind(id).execute(c).await.map(|_| ()))
}

/// The request failed (`state` failed), or timed out (`state` placed, `dialed_at` set: it may ring).
pub async fn not_placed(tx: &mut Tx, id: &str, state: &str, error: &str, dialed_at: Option<i64>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE agent_calls SET state = $1, error = $2, dialed_at = $3, updated_at = $4 WHERE id = $5")
        .bind(state).bind(error).bind(dialed_at).bind(now).bind(id).execute(c).await.map(|_| ()))
}

/// The shop's click-to-call with our `id` or Exotel's `call_sid`: (id, order id).
pub async fn find(db: &Db, shop_id: &str, id: &str, call_sid: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT id, order_id FROM agent_calls WHERE shop_id = $1 AND (id = $2 OR (call_sid = $3 AND call_sid <> ''))")
        .bind(shop_id).bind(id).bind(call_sid).fetch_optional(c).await)
}

/// Records the end report, once: true when this was the first.
pub async fn ended(tx: &mut Tx, id: &str, exotel_status: &str, duration: Option<i64>, call_sid: Option<String>, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE agent_calls SET exotel_status = $1, duration_seconds = COALESCE($2, duration_seconds), call_sid = COALESCE(call_sid, $3), \
           finished_at = $4, updated_at = $4 WHERE id = $5 AND finished_at IS NULL")
        .bind(exotel_status).bind(duration).bind(call_sid).bind(now).bind(id))?;
    Ok(n == 1)
}
