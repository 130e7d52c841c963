//! WhatsApp messages as stored (`whatsapp_messages`): queued before they are sent, the outcome of
//! the send, Exotel's delivery reports and the customer's reply. (Claiming and backing off are the
//! dialer's, in [`super::outbox`].)

use crate::db::{Db, Tx, new_id};
use crate::domain::{WaDelivery, WaState};
use crate::{on_db, on_tx};

/// A message to queue, its phone number already sealed.
pub struct Queued<'a> {
    pub shop_id: &'a str,
    pub order_id: &'a str,
    pub seq: i64,
    pub account: &'a str,
    pub to_phone_enc: Option<String>,
    pub to_phone_hash: Option<String>,
    /// SHA-256 of the buttons' token (replaced by the sender's token just before it goes).
    pub token_hash: &'a str,
    pub template: &'a str,
    pub language: &'a str,
}

/// Queues a message for the dialer, due at `now`. Returns its id.
pub async fn insert_queued(tx: &mut Tx, m: &Queued<'_>, now: i64) -> Result<String, sqlx::Error> {
    let id = new_id();
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO whatsapp_messages (id, shop_id, order_id, seq, account_sid, to_phone_enc, to_phone_hash, token_hash, template, language, \
           state, due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $11, $11)")
        .bind(&id).bind(m.shop_id).bind(m.order_id).bind(m.seq).bind(m.account).bind(&m.to_phone_enc).bind(&m.to_phone_hash)
        .bind(m.token_hash).bind(m.template).bind(m.language).bind(now))?;
    Ok(id)
}

/// A message about to be sent, with its order's status and what its shop sets.
#[derive(Debug, sqlx::FromRow)]
pub struct ToSend {
    pub id: String,
    pub shop_id: String,
    pub order_id: String,
    pub seq: i64,
    pub to_phone_enc: Option<String>,
    pub template: String,
    pub language: String,
    pub state: String,
    pub transient_failures: i64,
    pub order_status: String,
    pub shop_status: String,
    pub settings: String,
    pub exotel_key: String,
    pub exotel_api_token_enc: Option<String>,
}

/// The message `id` as its sender needs it.
pub async fn to_send(db: &Db, id: &str) -> Result<Option<ToSend>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT m.id, m.shop_id, m.order_id, m.seq, m.to_phone_enc, m.template, m.language, m.state, m.transient_failures, \
           o.status AS order_status, s.status AS shop_status, s.settings, s.exotel_key, s.exotel_api_token_enc \
         FROM whatsapp_messages m JOIN shops s ON s.id = m.shop_id JOIN orders o ON o.id = m.order_id WHERE m.id = $1")
        .bind(id).fetch_optional(c).await)
}

/// Sets the token hash of a message being sent (the token itself only ever goes to Exotel).
/// Returns the rows changed (0: the message is no longer being sent).
pub async fn set_token(db: &Db, id: &str, token_hash: &str, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, exec c => sqlx::query("UPDATE whatsapp_messages SET token_hash = $1, updated_at = $2 WHERE id = $3 AND state = 'sending'")
        .bind(token_hash).bind(now).bind(id))
}

/// Records how a send ended (`state`, Exotel's sid when it took it, `error` otherwise). Returns the
/// rows changed (0: the message was no longer being sent).
pub async fn record_send(tx: &mut Tx, id: &str, state: WaState, sid: Option<&str>, error: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE whatsapp_messages SET state = $1, message_sid = COALESCE(message_sid, $2), error = $3, sent_at = $4, updated_at = $4 \
         WHERE id = $5 AND state = 'sending'")
        .bind(state.as_str()).bind(sid).bind(error).bind(now).bind(id))
}

/// Sends claimed before `older_than_wall` and still `sending` (their process stopped mid-request):
/// (id, shop id, order id).
pub async fn stale_sends(db: &Db, older_than_wall: i64) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT id, shop_id, order_id FROM whatsapp_messages WHERE state = 'sending' AND claimed_at_wall < $1")
        .bind(older_than_wall).fetch_all(c).await)
}

/// A shop's message a callback names.
#[derive(Debug, sqlx::FromRow)]
pub struct Found {
    pub id: String,
    pub order_id: String,
    pub seq: i64,
    /// Exotel's latest delivery report.
    pub status: Option<String>,
    /// The customer's answer already recorded.
    pub reply: Option<String>,
}

const FOUND: &str = "SELECT id, order_id, seq, status, reply FROM whatsapp_messages";

/// The shop's message with this id (the `custom_data` echoed back).
pub async fn of_shop_by_id(db: &Db, shop_id: &str, id: &str) -> Result<Option<Found>, sqlx::Error> {
    let sql = format!("{FOUND} WHERE id = $1 AND shop_id = $2");
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(shop_id).fetch_optional(c).await)
}

/// The shop's message with this Exotel sid.
pub async fn of_shop_by_sid(db: &Db, shop_id: &str, sid: &str) -> Result<Option<Found>, sqlx::Error> {
    let sql = format!("{FOUND} WHERE message_sid = $1 AND shop_id = $2");
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(sid).bind(shop_id).fetch_optional(c).await)
}

/// The shop's message whose buttons carry the token with this hash.
pub async fn of_shop_by_token(db: &Db, shop_id: &str, token_hash: &str) -> Result<Option<Found>, sqlx::Error> {
    let sql = format!("{FOUND} WHERE token_hash = $1 AND shop_id = $2");
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).bind(shop_id).fetch_optional(c).await)
}

/// The shop's latest message that went (or may have gone) to this number; with `answerable`, only
/// among orders that still take an answer (pending, or ended without a response).
pub async fn latest_to_phone(db: &Db, shop_id: &str, phone_hash: &str, answerable: bool) -> Result<Option<Found>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT m.id, m.order_id, m.seq, m.status, m.reply FROM whatsapp_messages m JOIN orders o ON o.id = m.order_id \
         WHERE m.shop_id = $1 AND m.to_phone_hash = $2 AND m.state IN ('sent', 'unknown') \
           AND ($3 = 0 OR o.status IN ('pending', 'no_response')) \
         ORDER BY m.created_at DESC, m.seq DESC LIMIT 1")
        .bind(shop_id).bind(phone_hash).bind(i64::from(answerable)).fetch_optional(c).await)
}

/// Records a delivery report, if the message's report is still `current` (reports only move
/// forward; the caller checks the order). Returns the rows changed.
pub async fn record_status(tx: &mut Tx, id: &str, status: WaDelivery, current: Option<&str>, error: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE whatsapp_messages SET status = $1, error = COALESCE($2, error), updated_at = $3 \
         WHERE id = $4 AND COALESCE(status, '') = $5")
        .bind(status.as_str()).bind(error).bind(now).bind(id).bind(current.unwrap_or("")))
}

/// Records the customer's reply to a message, once: `reply` is confirm | cancel | callback | other,
/// `text_enc` what they typed, sealed. Returns the rows changed (0: a reply was recorded before).
pub async fn record_reply(tx: &mut Tx, id: &str, reply: &str, text_enc: Option<&str>, now: i64) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE whatsapp_messages SET reply = $1, reply_text_enc = $2, replied_at = $3, updated_at = $3 WHERE id = $4 AND reply IS NULL")
        .bind(reply).bind(text_enc).bind(now).bind(id))
}
