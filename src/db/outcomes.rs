//! Delivery outcomes as stored on `orders` (SPEC §10): what Shopify reported after shipping, the
//! outcome read off it (the rule is `crate::outcomes`), and the outcomes report's counts.

use crate::db::{Db, Tx};
use crate::domain::ShippingOutcome;
use crate::outcomes::Observed;
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
