//! What the contacts of a range of orders used and how many of those orders each channel
//! confirmed, for the cost report (SPEC §10); the pricing is `crate::costs`'. A contact belongs to
//! its order's creation date. Every query is scoped to the shop, on its order and contact rows.

use chrono::{Days, NaiveDate};

use crate::costs::{Channel, Contact, CostReport, Usage};
use crate::db::Db;
use crate::db::reports::CHANNELS;
use crate::on_db;
use crate::reports::{day_start, shop_tz};
use crate::settings::{Costs, Settings};

/// The orders of the range: `o` created in [$2, $3), of shop $1.
const ORDERS_IN_RANGE: &str = "o.shop_id = $1 AND o.created_at >= $2 AND o.created_at < $3";

/// Calls that were dialled, grouped by what prices them: Exotel's price, the duration, and
/// whether the call was answered (a key recorded, or Exotel's `completed`).
type CallGroup = (Option<i64>, Option<i64>, i64, i64);
/// SMS that left for Exotel (sent, or perhaps sent), grouped by kind and units reported.
type SmsGroup = (String, Option<i64>, i64);
/// WhatsApp messages that left for Exotel, grouped by whether they are billed.
type WaGroup = (i64, i64);

/// Each channel's usage over orders created in [`from_ms`, `to_ms`), the orders each channel
/// confirmed, and every confirmed order of the range.
pub async fn usage(db: &Db, shop_id: &str, from_ms: i64, to_ms: i64) -> Result<(Vec<(Channel, Usage, i64)>, i64), sqlx::Error> {
    let calls: Vec<CallGroup> = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.price_paise, a.duration_seconds, \
           CAST(CASE WHEN a.choice IS NOT NULL OR a.exotel_status = 'completed' THEN 1 ELSE 0 END AS BIGINT), COUNT(*) \
         FROM call_attempts a JOIN orders o ON o.id = a.order_id \
         WHERE {ORDERS_IN_RANGE} AND a.shop_id = $1 AND a.dialed_at IS NOT NULL GROUP BY 1, 2, 3")))
        .bind(shop_id).bind(from_ms).bind(to_ms).fetch_all(c).await)?;
    let sms: Vec<SmsGroup> = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT m.kind, m.units_count, COUNT(*) FROM sms_messages m JOIN orders o ON o.id = m.order_id \
         WHERE {ORDERS_IN_RANGE} AND m.shop_id = $1 AND m.state IN ('sent', 'unknown') GROUP BY 1, 2")))
        .bind(shop_id).bind(from_ms).bind(to_ms).fetch_all(c).await)?;
    // Billed: Exotel reported it sent, delivered or read, or took it (a sid) and reported nothing since;
    // not billed: reported failed, or never known to have reached Exotel.
    let whatsapp: Vec<WaGroup> = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(CASE WHEN w.status IN ('sent', 'delivered', 'read') OR (w.status IS NULL AND w.state = 'sent') THEN 1 ELSE 0 END AS BIGINT), \
           COUNT(*) FROM whatsapp_messages w JOIN orders o ON o.id = w.order_id \
         WHERE {ORDERS_IN_RANGE} AND w.shop_id = $1 AND w.state IN ('sent', 'unknown') GROUP BY 1")))
        .bind(shop_id).bind(from_ms).bind(to_ms).fetch_all(c).await)?;
    // Orders confirmed through each channel (told apart as the Order history overview does: by the
    // resolving reason; an agent's confirmation is none of them), and all confirmed orders.
    let cols: Vec<String> = CHANNELS
        .iter()
        .map(|(_, _, reason)| format!("COALESCE(SUM(CASE WHEN o.resolved_by IS NULL AND {reason} THEN 1 ELSE 0 END), 0)"))
        .collect();
    let sql = format!("SELECT COUNT(*), {} FROM orders o WHERE {ORDERS_IN_RANGE} AND o.status = 'confirmed'", cols.join(", "));
    let confirmed: (i64, i64, i64, i64, i64, i64) =
        on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(from_ms).bind(to_ms).fetch_one(c).await)?;
    let by_reason = [confirmed.1, confirmed.2, confirmed.3, confirmed.4, confirmed.5];

    let mut out: Vec<(Channel, Usage, i64)> = Vec::new();
    for (price_paise, duration_seconds, answered, n) in calls {
        let u = Usage::of(Contact::Call { price_paise, duration_seconds, answered: answered == 1 }).times(n);
        out.push((Channel::Ivr, u, 0));
    }
    for (kind, units, n) in sms {
        let channel = match kind.as_str() {
            "link" => Channel::SmsLink,
            "missed_call" | "confirmation" => Channel::SmsMissedCall,
            "otp" => Channel::Otp,
            _ => continue,
        };
        out.push((channel, Usage::of(Contact::Sms { units }).times(n), 0));
    }
    for (billed, n) in whatsapp {
        out.push((Channel::Whatsapp, Usage::of(Contact::Whatsapp { billed: billed == 1 }).times(n), 0));
    }
    for ((key, _, _), n) in CHANNELS.iter().zip(by_reason) {
        let channel = if *key == "missed_call" { Some(Channel::SmsMissedCall) } else { Channel::parse(key) };
        if let Some(channel) = channel {
            out.push((channel, Usage::default(), n));
        }
    }
    Ok((out, confirmed.0))
}

/// The cost report of the shop's orders created from `from` to `to` (dates in the shop's zone,
/// both included) at the shop's prices.
pub async fn report(db: &Db, shop_id: &str, from: NaiveDate, to: NaiveDate) -> Result<CostReport, sqlx::Error> {
    let stored: Option<String> =
        on_db!(db, c => sqlx::query_scalar("SELECT settings FROM shops WHERE id = $1").bind(shop_id).fetch_optional(c).await)?;
    let settings = Settings::from_stored(stored.as_deref().unwrap_or("{}"));
    let tz = shop_tz(&settings);
    let end = to.checked_add_days(Days::new(1)).unwrap_or(to);
    report_between(db, shop_id, day_start(tz, from), day_start(tz, end), &settings.costs).await
}

/// The cost report of the shop's orders created in [`from_ms`, `to_ms`) at `prices`.
pub async fn report_between(db: &Db, shop_id: &str, from_ms: i64, to_ms: i64, prices: &Costs) -> Result<CostReport, sqlx::Error> {
    let (usage, confirmed) = usage(db, shop_id, from_ms, to_ms).await?;
    Ok(CostReport::new(&usage, confirmed, prices))
}

/// The outcomes API's `by_channel` (SPEC §10): per channel `{"contacts", "confirmed", "cost", …}`
/// (see [`crate::costs::Totals::to_json`]) for the shop's orders created from `from` to `to`.
pub async fn by_channel(db: &Db, shop_id: &str, from: NaiveDate, to: NaiveDate) -> Result<serde_json::Value, sqlx::Error> {
    Ok(report(db, shop_id, from, to).await?.by_channel_json())
}
