//! SMS as stored (`sms_messages`): queued before they are sent, the outcome of the send, and
//! Exotel's status reports. (Claiming and backing off are the dialer's, in [`super::outbox`].)

use crate::db::{Db, Tx, new_id};
use crate::domain::{SmsKind, SmsState};
use crate::{on_db, on_tx};

/// An SMS to queue, its phone number and secret text already sealed.
pub struct Queued<'a> {
    pub shop_id: &'a str,
    pub order_id: Option<&'a str>,
    pub kind: SmsKind,
    pub seq: i64,
    pub account: &'a str,
    pub to_phone_enc: Option<String>,
    pub to_phone_hash: Option<String>,
    pub body: &'a str,
    pub body_enc: Option<&'a str>,
    pub unicode: bool,
    pub dlt_template_id: Option<&'a str>,
}

/// Queues an SMS for the dialer, due at once.
pub async fn insert_queued(tx: &mut Tx, m: &Queued<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO sms_messages (id, shop_id, order_id, kind, seq, account_sid, to_phone_enc, to_phone_hash, body, body_enc, unicode, \
           dlt_template_id, state, due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'queued', $13, $13, $13)")
        .bind(new_id()).bind(m.shop_id).bind(m.order_id).bind(m.kind.as_str()).bind(m.seq).bind(m.account)
        .bind(&m.to_phone_enc).bind(&m.to_phone_hash).bind(m.body)
        .bind(m.body_enc).bind(m.unicode).bind(m.dlt_template_id).bind(now))?;
    Ok(())
}

/// An SMS about to be sent, with its order's status and what its shop sets.
#[derive(Debug, sqlx::FromRow)]
pub struct ToSend {
    pub id: String,
    pub shop_id: String,
    pub order_id: Option<String>,
    pub kind: String,
    pub seq: i64,
    pub to_phone_enc: Option<String>,
    pub body: String,
    pub body_enc: Option<String>,
    pub unicode: bool,
    pub dlt_template_id: Option<String>,
    pub state: String,
    pub transient_failures: i64,
    pub order_status: Option<String>,
    pub shop_status: String,
    pub settings: String,
    pub exotel_key: String,
    pub exotel_api_token_enc: Option<String>,
}

/// The SMS `id` as its sender needs it.
pub async fn to_send(db: &Db, id: &str) -> Result<Option<ToSend>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT m.id, m.shop_id, m.order_id, m.kind, m.seq, m.to_phone_enc, m.body, m.body_enc, m.unicode, m.dlt_template_id, m.state, \
           m.transient_failures, o.status AS order_status, s.status AS shop_status, s.settings, s.exotel_key, s.exotel_api_token_enc \
         FROM sms_messages m JOIN shops s ON s.id = m.shop_id LEFT JOIN orders o ON o.id = m.order_id WHERE m.id = $1")
        .bind(id).fetch_optional(c).await)
}

/// Records how a send ended (`state`, Exotel's sid and status when it took it, `error` otherwise)
/// and drops the secret text. Returns the rows changed (0: the SMS was no longer being sent).
#[allow(clippy::too_many_arguments)]
pub async fn record_send(
    tx: &mut Tx,
    id: &str,
    state: SmsState,
    sid: Option<&str>,
    status: Option<&str>,
    detailed: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE sms_messages SET state = $1, sms_sid = COALESCE(sms_sid, $2), status = COALESCE(status, $3), \
           detailed_status = COALESCE(detailed_status, $4), sent_at = $5, error = $6, updated_at = $5, body_enc = NULL \
         WHERE id = $7 AND state = 'sending'")
        .bind(state.as_str()).bind(sid).bind(status).bind(detailed).bind(now).bind(error).bind(id))
}

/// What a lookup of an SMS in Exotel's details API needs: shop id, sid, Exotel's status, sent at,
/// the shop's status, settings and sealed API token.
pub type ForLookup = (String, Option<String>, Option<String>, Option<i64>, String, String, Option<String>);

/// The SMS `id` as [`ForLookup`].
pub async fn for_details_lookup(db: &Db, id: &str) -> Result<Option<ForLookup>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT m.shop_id, m.sms_sid, m.status, m.sent_at, s.status, s.settings, s.exotel_api_token_enc \
         FROM sms_messages m JOIN shops s ON s.id = m.shop_id WHERE m.id = $1")
        .bind(id).fetch_optional(c).await)
}

/// Marks sends claimed before `older_than_wall` and still `sending` as of unknown outcome (their
/// process stopped mid-request). Returns the rows changed.
pub async fn mark_stale_sends_unknown(db: &Db, older_than_wall: i64, now: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, exec c => sqlx::query(
        "UPDATE sms_messages SET state = 'unknown', error = 'the sending process stopped mid-request', updated_at = $1 \
         WHERE state = 'sending' AND claimed_at_wall < $2")
        .bind(now).bind(older_than_wall))
}

/// The shop's SMS a status report names: (id, order id, seq).
pub type Reported = (String, Option<String>, i64);

/// The shop's SMS with this id.
pub async fn of_shop_by_id(db: &Db, shop_id: &str, id: &str) -> Result<Option<Reported>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT id, order_id, seq FROM sms_messages WHERE id = $1 AND shop_id = $2")
        .bind(id).bind(shop_id).fetch_optional(c).await)
}

/// The shop's SMS with this Exotel sid.
pub async fn of_shop_by_sid(db: &Db, shop_id: &str, sid: &str) -> Result<Option<Reported>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT id, order_id, seq FROM sms_messages WHERE sms_sid = $1 AND shop_id = $2")
        .bind(sid).bind(shop_id).fetch_optional(c).await)
}

/// Records Exotel's status report of SMS `id` (`status` normalised; absent details keep the known
/// ones). Returns the rows changed (0: the status was already this one).
#[allow(clippy::too_many_arguments)]
pub async fn record_status(
    tx: &mut Tx,
    id: &str,
    status: &str,
    detailed: Option<&str>,
    detailed_code: Option<&str>,
    units: Option<&str>,
    sid: Option<&str>,
    now: i64,
) -> Result<u64, sqlx::Error> {
    // `units` as a number too, for the cost (a report that is not a whole number keeps the known one).
    let count = units.and_then(|u| u.trim().parse::<i64>().ok()).filter(|u| (0..=1000).contains(u));
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE sms_messages SET status = $1, detailed_status = COALESCE($2, detailed_status), \
           detailed_status_code = COALESCE($3, detailed_status_code), units = COALESCE($4, units), \
           units_count = COALESCE($8, units_count), \
           sms_sid = COALESCE(sms_sid, $5), updated_at = $6 WHERE id = $7 AND COALESCE(status, '') <> $1")
        .bind(status).bind(detailed).bind(detailed_code).bind(units).bind(sid).bind(now).bind(id).bind(count))
}
