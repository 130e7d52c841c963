//! IVR call attempts as stored (`call_attempts`): a row exists before its call is dialled, and
//! every state change is conditional on the state it leaves, so repeats and races change nothing.

use crate::db::{Db, Tx, new_id};
use crate::domain::AttemptState;
use crate::{on_db, on_tx};

/// An attempt with what dialling and settling it need (its order's and shop's columns too).
#[derive(Debug, sqlx::FromRow)]
pub struct Attempt {
    pub id: String,
    pub shop_id: String,
    pub order_id: String,
    pub attempt_no: i64,
    pub state: String,
    pub call_sid: Option<String>,
    pub digits: Option<String>,
    pub choice: Option<String>,
    pub finished_at: Option<i64>,
    pub transient_failures: i64,
    pub dialed_at: Option<i64>,
    /// Exotel's price for the call, in paise, once known.
    pub price_paise: Option<i64>,
    pub order_status: String,
    pub order_name: String,
    pub order_number: Option<i64>,
    pub total_price: String,
    pub currency: String,
    pub phone_enc: Option<String>,
    pub dnd: Option<String>,
    pub shop_status: String,
    pub shop_domain: String,
    pub exotel_key: String,
    pub settings: String,
    pub exotel_api_token_enc: Option<String>,
}

const ATTEMPT_SELECT: &str = "SELECT a.id, a.shop_id, a.order_id, a.attempt_no, a.state, a.call_sid, a.digits, a.choice, a.finished_at, \
    a.transient_failures, a.dialed_at, a.price_paise, o.status AS order_status, o.name AS order_name, o.order_number, o.total_price, o.currency, o.phone_enc, \
    o.dnd, s.status AS shop_status, s.domain AS shop_domain, s.exotel_key, s.settings, s.exotel_api_token_enc \
    FROM call_attempts a JOIN orders o ON o.id = a.order_id JOIN shops s ON s.id = a.shop_id";

/// Whose attempts a callback may see: a shop by id, or an installed shop by its callback key (one
/// query for the latency-sensitive greeting and passthrus).
#[derive(Clone, Copy)]
pub enum Scope<'a> {
    Shop(&'a str),
    Key(&'a str),
}

/// The attempt with our id `id`, whatever its shop (the dialer's own rows).
pub async fn find(db: &Db, id: &str) -> Result<Option<Attempt>, sqlx::Error> {
    let sql = format!("{ATTEMPT_SELECT} WHERE a.id = $1");
    on_db!(db, c => sqlx::query_as::<_, Attempt>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(c).await)
}

/// The attempt with our id `id` (a callback's `CustomField`), if `scope` may see it.
pub async fn find_within(db: &Db, scope: Scope<'_>, id: &str) -> Result<Option<Attempt>, sqlx::Error> {
    find_by(db, scope, "a.id", id).await
}

/// The attempt of Exotel's call `call_sid`, if `scope` may see it.
pub async fn find_by_call_sid_within(db: &Db, scope: Scope<'_>, call_sid: &str) -> Result<Option<Attempt>, sqlx::Error> {
    find_by(db, scope, "a.call_sid", call_sid).await
}

async fn find_by(db: &Db, scope: Scope<'_>, column: &str, value: &str) -> Result<Option<Attempt>, sqlx::Error> {
    let (shop_clause, shop) = match scope {
        Scope::Shop(id) => ("a.shop_id = $2", id),
        Scope::Key(key) => ("s.exotel_key = $2 AND s.status = 'installed'", key),
    };
    let sql = format!("{ATTEMPT_SELECT} WHERE {column} = $1 AND {shop_clause}");
    on_db!(db, c => sqlx::query_as::<_, Attempt>(sqlx::AssertSqlSafe(sql)).bind(value).bind(shop).fetch_optional(c).await)
}

/// Queues call `n` of an order, due at `due`; a call already queued under that number stays as it is.
pub async fn queue_call(tx: &mut Tx, shop_id: &str, order_id: &str, n: i64, account: &str, due: i64, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO call_attempts (id, shop_id, order_id, attempt_no, account_sid, state, due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $7) ON CONFLICT (order_id, attempt_no) DO NOTHING")
        .bind(new_id()).bind(shop_id).bind(order_id).bind(n).bind(account).bind(due).bind(now))?;
    Ok(())
}

/// Cancels a claimed call that is not to go (its order or shop moved on): true when this did it.
pub async fn cancel_claimed(db: &Db, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, exec c => sqlx::query(
        "UPDATE call_attempts SET state = $1, updated_at = $2, result = 'cancelled' WHERE id = $3 AND state = $4")
        .bind(AttemptState::Cancelled.as_str()).bind(now).bind(id).bind(AttemptState::Dialing.as_str()))?;
    Ok(n == 1)
}

/// Puts a claimed call back in the queue, due at `due` (inside the calling hours): true when this did it.
pub async fn requeue_claimed_at(db: &Db, id: &str, due: i64, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, exec c => sqlx::query(
        "UPDATE call_attempts SET state = $1, updated_at = $2, due_at = $5, retry_after_wall = NULL WHERE id = $3 AND state = $4")
        .bind(AttemptState::Queued.as_str()).bind(now).bind(id).bind(AttemptState::Dialing.as_str()).bind(due))?;
    Ok(n == 1)
}

/// Records that Exotel took a claimed call (`call_sid`, its first status): true when this did it.
pub async fn mark_placed(tx: &mut Tx, id: &str, call_sid: &str, exotel_status: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET state = 'placed', call_sid = COALESCE(call_sid, $1), \
           exotel_status = COALESCE(exotel_status, $2), dialed_at = $3, error = NULL, updated_at = $3 \
         WHERE id = $4 AND state = 'dialing'")
        .bind(call_sid).bind(exotel_status).bind(now).bind(id))?;
    Ok(n == 1)
}

/// Records that whether Exotel took a claimed call is not known (`error` says why): true when this did it.
pub async fn mark_unconfirmed(tx: &mut Tx, id: &str, error: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET state = 'unknown', dialed_at = $1, error = $2, updated_at = $1 WHERE id = $3 AND state = 'dialing'")
        .bind(now).bind(error).bind(id))?;
    Ok(n == 1)
}

/// Ends an attempt with `result` (and `error`, if given), once: true when this ended it.
pub async fn finish(tx: &mut Tx, id: &str, result: &str, error: Option<&str>, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET state = 'ended', result = $1, error = COALESCE($2, error), finished_at = $3, updated_at = $3 \
         WHERE id = $4 AND finished_at IS NULL AND state NOT IN ('ended', 'cancelled')")
        .bind(result).bind(error).bind(now).bind(id))?;
    Ok(n == 1)
}

/// Records a key pressed on the call and the choice it stands for; a valid choice already
/// recorded is never overwritten by a later invalid key.
pub async fn record_key(tx: &mut Tx, id: &str, digits: &str, choice: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET digits = $1, choice = CASE WHEN choice IN ('confirm', 'cancel', 'callback') THEN choice ELSE $2 END, \
           updated_at = $3 WHERE id = $4")
        .bind(digits).bind(choice).bind(now).bind(id))?;
    Ok(())
}

/// What an Exotel status report says about a call (each field as reported, when it was).
pub struct CallReport {
    pub call_sid: Option<String>,
    pub exotel_status: String,
    pub answered_by: Option<String>,
    pub amd_cause: Option<String>,
    pub duration_seconds: Option<i64>,
    pub price: Option<String>,
    /// `price` in paise, when it is a number.
    pub price_paise: Option<i64>,
    pub recording_url: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

/// Records a status report on the attempt: what it learns fills in, and Exotel's status moves
/// only while the attempt is not finished.
pub async fn record_report(db: &Db, id: &str, r: CallReport, now: i64) -> Result<(), sqlx::Error> {
    on_db!(db, exec c => sqlx::query(
        "UPDATE call_attempts SET call_sid = COALESCE(call_sid, $1), \
           exotel_status = CASE WHEN finished_at IS NULL THEN $2 ELSE exotel_status END, \
           answered_by = COALESCE($3, answered_by), amd_cause = COALESCE($4, amd_cause), \
           duration_seconds = COALESCE($5, duration_seconds), price = COALESCE($6, price), \
           recording_url = COALESCE($7, recording_url), started_at = COALESCE($8, started_at), \
           ended_at = COALESCE($9, ended_at), updated_at = $10, price_paise = COALESCE($12, price_paise) WHERE id = $11")
        .bind(r.call_sid).bind(r.exotel_status).bind(r.answered_by).bind(r.amd_cause).bind(r.duration_seconds)
        .bind(r.price).bind(r.recording_url)
        .bind(r.started_at).bind(r.ended_at).bind(now).bind(id).bind(r.price_paise))?;
    Ok(())
}

/// Records the price (and, when still unknown, the talk time) Exotel's Call details reported for
/// an attempt of the shop that has no price yet. Returns whether it was recorded.
pub async fn record_price(db: &Db, shop_id: &str, id: &str, price: &str, price_paise: i64, duration_seconds: Option<i64>, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, exec c => sqlx::query(
        "UPDATE call_attempts SET price = $1, price_paise = $2, duration_seconds = COALESCE(duration_seconds, $3), updated_at = $4 \
         WHERE id = $5 AND shop_id = $6 AND price_paise IS NULL")
        .bind(price).bind(price_paise).bind(duration_seconds).bind(now).bind(id).bind(shop_id))?;
    Ok(n == 1)
}

/// The choice recorded on the attempt so far (`confirm`, `cancel`, `callback`, `invalid`), if any.
pub async fn choice(db: &Db, id: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, c => sqlx::query_scalar("SELECT choice FROM call_attempts WHERE id = $1").bind(id).fetch_one(c).await)
}

/// Calls claimed for dialling before `older_than_wall` (wall clock) and still `dialing`: (id, shop, order).
pub async fn stale_dials(db: &Db, older_than_wall: i64) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT id, shop_id, order_id FROM call_attempts WHERE state = 'dialing' AND claimed_at_wall < $1")
        .bind(older_than_wall).fetch_all(c).await)
}

/// Records that the process dialling this call stopped mid-request (whether it rang is not
/// known): true when this did it.
pub async fn mark_dial_interrupted(tx: &mut Tx, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET state = 'unknown', error = 'the dialling process stopped mid-request', updated_at = $1 \
         WHERE id = $2 AND state = 'dialing'").bind(now).bind(id))?;
    Ok(n == 1)
}

/// Cancels the queued calls of an order (or, with no order, of the whole shop): the rows changed.
pub async fn cancel_queued(tx: &mut Tx, shop_id: &str, order_id: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE call_attempts SET state = 'cancelled', result = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE shop_id = $2 AND ($3 IS NULL OR order_id = $3) AND state = 'queued'")
        .bind(now).bind(shop_id).bind(order_id))
}
