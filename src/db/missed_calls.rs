//! Missed calls as received (`missed_calls`): what each one did.

use crate::db::{Tx, new_id};
use crate::on_tx;

/// How many missed calls from this phone (by its index) counted since `since`.
pub async fn counted_since(tx: &mut Tx, shop_id: &str, phone_hash: &str, since: i64) -> Result<i64, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM missed_calls WHERE shop_id = $1 AND phone_hash = $2 AND outcome = 'counted' AND at > $3")
        .bind(shop_id).bind(phone_hash).bind(since).fetch_one(c).await)
}

/// One received missed call. `call_from` is stored masked; the phone sealed and indexed.
pub struct NewMissedCall<'a> {
    pub shop_id: &'a str,
    pub call_sid: Option<&'a str>,
    pub call_from_masked: String,
    pub phone_enc: Option<String>,
    pub phone_hash: Option<String>,
    pub outcome: &'a str,
    pub orders: String,
}

pub async fn insert(tx: &mut Tx, m: NewMissedCall<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO missed_calls (id, shop_id, call_sid, call_from, phone_enc, phone_hash, outcome, orders, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(new_id()).bind(m.shop_id).bind(m.call_sid).bind(m.call_from_masked).bind(m.phone_enc)
        .bind(m.phone_hash)
        .bind(m.outcome).bind(m.orders).bind(now)).map(|_| ())
}
