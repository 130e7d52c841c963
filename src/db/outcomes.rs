//! Delivery outcomes as stored on `orders` (SPEC §10): what Shopify reported after shipping, the
//! outcome read off it (the rule is `crate::outcomes`), and the outcomes report's counts.

use crate::db::reports::CHANNELS;
use crate::db::{Db, Tx};
use crate::domain::ShippingOutcome;
use crate::outcomes::{Facts, Observed, duration_counts};
use crate::{on_db, on_tx};

/// The shop's order with this Shopify id and what is known of its shipping: (order id, known,
/// stored outcome). PostgreSQL: the row is locked until the transaction ends, so two reports for
/// one order merge one after the other. (SQLite transactions are serial.)
pub async fn observed_for_update(tx: &mut Tx, shop_id: &str, shopify_order_id: i64) -> Result<Option<(String, Observed, ShippingOutcome)>, sqlx::Error> {
    let sql = if tx.is_postgres() {
        "SELECT id, shipped_at, delivered_at, returned_at, shopify_cancelled_at, outcome FROM orders \
         WHERE shop_id = $1 AND shopify_order_id = $2 FOR UPDATE"
    } else {
        "SELECT id, shipped_at, delivered_at, returned_at, shopify_cancelled_at, outcome FROM orders \
         WHERE shop_id = $1 AND shopify_order_id = $2"
    };
    type Row = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<String>);
    let row: Option<Row> = on_tx!(tx, c => sqlx::query_as(sql).bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)?;
    Ok(row.map(|(id, shipped_at, delivered_at, returned_at, cancelled_at, outcome)| {
        (id, Observed { shipped_at, delivered_at, returned_at, cancelled_at }, ShippingOutcome::from_stored(outcome.as_deref()))
    }))
}

/// Stores what is known of the order's shipping and the outcome read off it.
pub async fn store(tx: &mut Tx, shop_id: &str, order_id: &str, seen: &Observed, outcome: ShippingOutcome, outcome_at: Option<i64>) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET shipped_at = $1, delivered_at = $2, returned_at = $3, shopify_cancelled_at = $4, outcome = $5, \
           outcome_at = $6 WHERE id = $7 AND shop_id = $8")
        .bind(seen.shipped_at).bind(seen.delivered_at).bind(seen.returned_at).bind(seen.cancelled_at)
        .bind(outcome.stored()).bind(outcome_at).bind(order_id).bind(shop_id))?;
    Ok(())
}

/// The shop's orders created in [start, end) (unix ms), COD orders only when `cod_only`, counted by
/// (status, stored outcome): (status, outcome, orders, of them shipped).
pub async fn counts(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Vec<(String, Option<String>, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT status, outcome, COUNT(*), SUM(CASE WHEN shipped_at IS NULL THEN 0 ELSE 1 END) FROM orders \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3{} GROUP BY status, outcome",
        if cod_only { " AND is_cod = TRUE" } else { "" }
    );
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(start).bind(end).fetch_all(c).await)
}

/// How long each of the shop's confirmed orders created in [start, end) (unix ms; COD orders only
/// when `cod_only`) took from being taken to being confirmed, in ms.
pub async fn confirm_durations(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Vec<i64>, sqlx::Error> {
    let sql = format!(
        "SELECT resolved_at - created_at FROM orders \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3{} AND status = 'confirmed' AND resolved_at IS NOT NULL",
        if cod_only { " AND is_cod = TRUE" } else { "" }
    );
    on_db!(db, c => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(start).bind(end).fetch_all(c).await)
}

/// The shop's orders created in [start, end) (unix ms; COD orders only when `cod_only`) per
/// quarter hour since the epoch: (quarter, orders, of them confirmed). A quarter hour lies within
/// one local hour in every zone (offsets are whole quarter hours), so it can be placed by hour.
pub async fn quarter_hours(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT CAST(created_at / 900000 AS BIGINT), COUNT(*), COALESCE(SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), 0) FROM orders \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3{} GROUP BY 1",
        if cod_only { " AND is_cod = TRUE" } else { "" }
    );
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(start).bind(end).fetch_all(c).await)
}

/// Everything the Outcomes page computes from, for the shop's orders created in [start, end) (unix
/// ms; COD orders only when `cod_only` — the cost report counts every order's contacts, as the
/// API always has). Straight from the orders and contact tables; `db::outcome_days` keeps it per day.
pub async fn facts(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Facts, sqlx::Error> {
    let (usage, confirmed) = crate::db::costs::usage(db, shop_id, start, end).await?;
    let raw = Facts {
        counts: counts(db, shop_id, start, end, cod_only).await?,
        confirm: duration_counts(&confirm_durations(db, shop_id, start, end, cod_only).await?),
        quarters: quarter_hours(db, shop_id, start, end, cod_only).await?,
        usage,
        confirmed,
        funnel: funnel(db, shop_id, start, end, cod_only).await?,
        states: by_state(db, shop_id, start, end, cod_only).await?,
        v: Facts::VERSION,
    };
    // Folded: one row per key, as the cache stores it.
    Ok(Facts::merge_all([raw]))
}

/// Per order of the range, whether a channel's contacts reached it, were answered and confirmed it
/// (0/1 each), reduced to counts of orders: sent (every order there), delivered (reported
/// delivered, or answered, or confirmed), answered (or confirmed), confirmed.
const PER_ORDER_COUNTS: &str = "COUNT(*), COALESCE(SUM(CASE WHEN t.dl + t.an + t.cf > 0 THEN 1 ELSE 0 END), 0), \
    COALESCE(SUM(CASE WHEN t.an + t.cf > 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(t.cf), 0)";

/// The `CHANNELS` confirmation of channel `key` (the cost table's attribution: the resolving
/// reason, and no agent resolved it).
fn confirmed_through(key: &str) -> String {
    let reason = CHANNELS.iter().find(|(k, _, _)| *k == key).map_or("FALSE", |(_, _, r)| r);
    format!("(o.status = 'confirmed' AND o.resolved_by IS NULL AND {reason})")
}

/// The funnel per channel (issue 18) of the shop's orders created in [start, end) (unix ms; COD
/// orders only when `cod_only`): rows of (channel key as `crate::costs::Channel` names it, orders
/// sent, delivered, answered, confirmed). A channel may have several rows; they add up, and rows of
/// disjoint ranges add up to the rows of their union (`crate::costs::funnel` sums them).
///
/// Sent: a contact left for Exotel (the cost report's contacts: a call dialled, an SMS or WhatsApp
/// message sent or perhaps sent). Delivered: Exotel reported the SMS delivered (`sent`), the
/// WhatsApp message delivered or read, or the call picked up (completed, not by a machine).
/// Answered: a key pressed, a WhatsApp reply, the link used, an OTP entered (right or wrong); a
/// missed call is only known by the orders it confirmed. Confirmed: as the cost table counts it.
/// One grouped query per contact table, each grouping its rows per order; an order confirmed
/// through a channel that none of its rows show is added by a last pass over the confirmed orders.
pub async fn funnel(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Vec<(String, i64, i64, i64, i64)>, sqlx::Error> {
    let orders = format!("o.shop_id = $1 AND o.created_at >= $2 AND o.created_at < $3{}", if cod_only { " AND o.is_cod = TRUE" } else { "" });
    let (ivr, wa) = (confirmed_through("ivr"), confirmed_through("whatsapp"));
    let (link, missed, otp) = (confirmed_through("sms_link"), confirmed_through("missed_call"), confirmed_through("otp"));
    type Counts = (i64, i64, i64, i64);
    let per_order = |table: &str, alias: &str, sent: &str, delivered: &str, answered: &str, confirmed: &str| {
        format!(
            "SELECT {PER_ORDER_COUNTS} FROM (SELECT {alias}.order_id, MAX(CASE WHEN {delivered} THEN 1 ELSE 0 END) AS dl, \
               MAX(CASE WHEN {answered} THEN 1 ELSE 0 END) AS an, MAX(CASE WHEN {confirmed} THEN 1 ELSE 0 END) AS cf \
             FROM {table} {alias} JOIN orders o ON o.id = {alias}.order_id \
             WHERE {orders} AND {alias}.shop_id = $1 AND {sent} GROUP BY {alias}.order_id) t"
        )
    };
    let calls_sql = per_order("call_attempts", "a", "a.dialed_at IS NOT NULL",
        "a.choice IS NOT NULL OR (a.exotel_status = 'completed' AND COALESCE(a.result, '') <> 'machine')", "a.choice IS NOT NULL", &ivr);
    let calls: Counts = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(calls_sql)).bind(shop_id).bind(start).bind(end).fetch_one(c).await)?;
    let wa_sql = per_order("whatsapp_messages", "w", "w.state IN ('sent', 'unknown')", "w.status IN ('delivered', 'read')", "w.reply IS NOT NULL", &wa);
    let whatsapp: Counts = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(wa_sql)).bind(shop_id).bind(start).bind(end).fetch_one(c).await)?;
    // The SMS channels by kind, with the answers recorded elsewhere: links used, OTPs entered.
    let sms_sql = format!(
        "SELECT t.ch, {PER_ORDER_COUNTS} FROM (SELECT u.ch, u.oid, MAX(u.dl) AS dl, MAX(u.an) AS an, MAX(u.cf) AS cf FROM ( \
           SELECT m.kind AS ch, m.order_id AS oid, CASE WHEN m.status = 'sent' THEN 1 ELSE 0 END AS dl, 0 AS an, \
             CASE WHEN (m.kind = 'link' AND {link}) OR (m.kind = 'missed_call' AND {missed}) OR (m.kind = 'otp' AND {otp}) THEN 1 ELSE 0 END AS cf \
           FROM sms_messages m JOIN orders o ON o.id = m.order_id \
           WHERE {orders} AND m.shop_id = $1 AND m.kind IN ('link', 'missed_call', 'otp') AND m.state IN ('sent', 'unknown') \
           UNION ALL SELECT 'link', l.order_id, 0, 1, CASE WHEN {link} THEN 1 ELSE 0 END \
           FROM links l JOIN orders o ON o.id = l.order_id WHERE {orders} AND l.shop_id = $1 AND l.used_at IS NOT NULL \
           UNION ALL SELECT 'otp', p.order_id, 0, 1, CASE WHEN {otp} THEN 1 ELSE 0 END \
           FROM otps p JOIN orders o ON o.id = p.order_id WHERE {orders} AND p.shop_id = $1 AND (p.verified_at IS NOT NULL OR p.wrong_count > 0) \
         ) u GROUP BY u.ch, u.oid) t GROUP BY t.ch"
    );
    let sms: Vec<(String, i64, i64, i64, i64)> =
        on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sms_sql)).bind(shop_id).bind(start).bind(end).fetch_all(c).await)?;
    // Every order confirmed through each channel, as the cost table counts them.
    let conf_sql = format!(
        "SELECT {} FROM orders o WHERE {orders} AND o.status = 'confirmed'",
        [&ivr, &wa, &link, &missed, &otp].map(|c| format!("COALESCE(SUM(CASE WHEN {c} THEN 1 ELSE 0 END), 0)")).join(", ")
    );
    let conf: (i64, i64, i64, i64, i64) =
        on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(conf_sql)).bind(shop_id).bind(start).bind(end).fetch_one(c).await)?;

    let mut rows: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    let mut push = |key: &str, (s, d, a, c): Counts, all_confirmed: i64| {
        rows.push((key.to_string(), s, d, a, c));
        // Confirmed through the channel without a row of it: at every stage (a later stage implies the earlier).
        let rest = all_confirmed - c;
        if rest > 0 {
            rows.push((key.to_string(), rest, rest, rest, rest));
        }
    };
    push("ivr", calls, conf.0);
    push("whatsapp", whatsapp, conf.1);
    let sms_of = |kind: &str| sms.iter().find(|r| r.0 == kind).map_or((0, 0, 0, 0), |r| (r.1, r.2, r.3, r.4));
    push("sms_link", sms_of("link"), conf.2);
    push("sms_missed_call", sms_of("missed_call"), conf.3);
    push("otp", sms_of("otp"), conf.4);
    Ok(rows)
}

/// The shop's orders created in [start, end) (unix ms; COD orders only when `cod_only`) per
/// shipping state (`orders.ship_state`, NULL unknown): (state, orders, of them confirmed, of them
/// with a known outcome — delivered or returned —, of them returned). Counts only, so the rows of
/// two adjacent ranges together are the rows of the whole (`crate::outcomes::by_state` sums them).
pub async fn by_state(db: &Db, shop_id: &str, start: i64, end: i64, cod_only: bool) -> Result<Vec<(Option<String>, i64, i64, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT ship_state, COUNT(*), \
           COALESCE(SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN outcome IN ('delivered', 'returned') THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN outcome = 'returned' THEN 1 ELSE 0 END), 0) FROM orders \
         WHERE shop_id = $1 AND created_at >= $2 AND created_at < $3{} GROUP BY ship_state",
        if cod_only { " AND is_cod = TRUE" } else { "" }
    );
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(start).bind(end).fetch_all(c).await)
}
