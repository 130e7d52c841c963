//! Every contact an order has had or has queued, across the channels' tables (`call_attempts`,
//! `sms_messages`, `whatsapp_messages`): what the plan runner reads to decide what comes next.

use crate::db::Tx;
use crate::on_tx;

/// One contact of an order, as stored by its channel.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    /// `ivr` for a call; the SMS kind (`link`, `missed_call`) for an SMS; `whatsapp`.
    pub channel: String,
    /// Its number within its channel (call attempt number, SMS sequence).
    pub seq: i64,
    pub state: String,
    /// What a call meant (`no-answer`, `dnd`, …); a WhatsApp message's delivery report; none for SMS.
    pub result: Option<String>,
    /// When a call ended; when a WhatsApp message was sent (or, refused or failed, when that was known).
    pub finished_at: Option<i64>,
    /// When it was (or is) due to go.
    pub due_at: i64,
}

/// The order's calls, plan SMS and WhatsApp messages (not the confirmation after a missed call, nor the OTP), oldest first.
pub async fn of_order(tx: &mut Tx, shop_id: &str, order_id: &str) -> Result<Vec<ContactRow>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as(
        "SELECT 'ivr' AS channel, attempt_no AS seq, state, result, finished_at, due_at FROM call_attempts \
           WHERE shop_id = $1 AND order_id = $2 \
         UNION ALL \
         SELECT kind AS channel, seq, state, CAST(NULL AS TEXT) AS result, CAST(NULL AS BIGINT) AS finished_at, due_at FROM sms_messages \
           WHERE shop_id = $1 AND order_id = $2 AND kind IN ('link', 'missed_call') \
         UNION ALL \
         SELECT 'whatsapp' AS channel, seq, state, status AS result, \
           CASE WHEN state IN ('refused', 'failed') OR status = 'failed' THEN updated_at ELSE sent_at END AS finished_at, due_at \
           FROM whatsapp_messages WHERE shop_id = $1 AND order_id = $2 \
         ORDER BY due_at, seq")
        .bind(shop_id).bind(order_id).fetch_all(c).await)
}
