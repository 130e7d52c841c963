//! Erasing customer data across the tables that hold it (orders, timelines, call attempts, SMS,
//! WhatsApp messages, click-to-calls, missed calls), and erasing a shop. What each erase keeps is decided here, once.

use crate::db::{Db, Tx};
use crate::{on_db, on_tx};

/// What an erased missed call keeps: when, its outcome and the orders it confirmed.
const MISSED_CALL_ERASED: &str = "phone_enc = NULL, phone_hash = NULL, call_from = ''";
/// What an erased SMS keeps: kind, status and times.
const SMS_ERASED: &str = "to_phone_enc = NULL, to_phone_hash = NULL, body = '', body_enc = NULL";

/// Erases the customer's details from orders of one shop — name, e-mail, phone, customer id, line
/// items, shipping address — and from what hangs off them: address corrections, call recordings, the SMS sent (number and text), the
/// click-to-call's customer number, and the timeline's details. Statuses, reasons, amounts, times
/// and counts stay, so the reports still add up. The caller keeps `order_ids` short (one
/// parameter each).
pub async fn erase_orders(tx: &mut Tx, shop_id: &str, order_ids: &[String], now: i64) -> Result<(), sqlx::Error> {
    if order_ids.is_empty() {
        return Ok(());
    }
    // $1 = the shop, then the order ids.
    let ids = |first: usize| (0..order_ids.len()).map(|i| format!("${}", i + first)).collect::<Vec<_>>().join(", ");
    let statements = [
        format!(
            "UPDATE orders SET erased_at = $2, phone_enc = NULL, phone_hash = NULL, phone_source = NULL, customer_id = NULL, \
             customer_name = NULL, customer_email = NULL, items = NULL, shipping_address_enc = NULL WHERE shop_id = $1 AND id IN ({})",
            ids(3)
        ),
        format!("UPDATE order_events SET detail = '' WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        // Both addresses of a correction are the customer's; a pending update is not sent any more.
        format!("DELETE FROM address_corrections WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        // Recordings hold the customer's voice.
        format!("UPDATE call_attempts SET recording_url = NULL WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        format!("UPDATE sms_messages SET {SMS_ERASED} WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        // WhatsApp messages keep their state, report, answer and times.
        format!(
            "UPDATE whatsapp_messages SET to_phone_enc = NULL, to_phone_hash = NULL, reply_text_enc = NULL WHERE shop_id = $1 AND order_id IN ({})",
            ids(2)
        ),
        format!("UPDATE agent_calls SET customer_phone_enc = '', customer_phone_hash = NULL WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
    ];
    for (i, sql) in statements.into_iter().enumerate() {
        on_tx!(tx, c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop_id);
            if i == 0 {
                q = q.bind(now);
            }
            for id in order_ids {
                q = q.bind(id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Erases the number from the shop's missed calls from this phone (by its index).
pub async fn erase_missed_calls_of_phone(tx: &mut Tx, shop_id: &str, phone_hash: &str) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE missed_calls SET {MISSED_CALL_ERASED} WHERE phone_hash = $1 AND shop_id = $2")))
        .bind(phone_hash).bind(shop_id))
}

// A missed call or SMS is recorded with a non-empty `call_from` / `body` and erased to an empty
// one: the partial indexes `*_unerased` hold just the rows left to erase.

/// Erases at most `limit` of the shop's missed calls received before `cutoff`; how many.
pub async fn erase_missed_calls_older_than(db: &Db, shop_id: &str, cutoff: i64, limit: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE missed_calls SET {MISSED_CALL_ERASED} WHERE id IN (SELECT id FROM missed_calls \
         WHERE shop_id = $1 AND at < $2 AND call_from <> '' LIMIT $3)")))
        .bind(shop_id).bind(cutoff).bind(limit))
}

/// Erases at most `limit` of the shop's SMS created before `cutoff` (with an order or without); how many.
pub async fn erase_sms_older_than(db: &Db, shop_id: &str, cutoff: i64, limit: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE sms_messages SET {SMS_ERASED} WHERE id IN (SELECT id FROM sms_messages \
         WHERE shop_id = $1 AND created_at < $2 AND body <> '' LIMIT $3)")))
        .bind(shop_id).bind(cutoff).bind(limit))
}

/// Deletes the shop's pending timers and the shop's row.
pub async fn erase_shop(tx: &mut Tx, shop_id: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("DELETE FROM timers WHERE shop_id = $1").bind(shop_id))?;
    on_tx!(tx, exec c => sqlx::query("DELETE FROM shops WHERE id = $1").bind(shop_id))?;
    // After the shop's rows: deleting them marked their days.
    crate::db::outcome_days::erase_shop(tx, shop_id).await?;
    Ok(())
}

/// Deletes the stored webhook deliveries of the shop at `shop_domain`.
pub async fn erase_deliveries(tx: &mut Tx, shop_domain: &str) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("DELETE FROM webhooks WHERE shop_domain = $1").bind(shop_domain))
}
