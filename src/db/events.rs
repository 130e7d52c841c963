//! The order timeline (`order_events`): what happened to an order, in the merchant's words.

use crate::db::{Tx, new_id};
use crate::on_tx;

/// Adds one line to an order's timeline, inside the transaction that made it true.
pub async fn add_event(tx: &mut Tx, shop_id: &str, order_id: &str, kind: &str, detail: &str, at: i64) -> anyhow::Result<()> {
    on_tx!(tx, exec c => sqlx::query("INSERT INTO order_events (id, shop_id, order_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id()).bind(shop_id).bind(order_id).bind(kind).bind(detail).bind(at))?;
    Ok(())
}

/// Adds a timeline line under a fixed id, once however often it is repeated: true when this added it.
pub async fn add_event_once(tx: &mut Tx, id: &str, shop_id: &str, order_id: &str, kind: &str, detail: &str, at: i64) -> anyhow::Result<bool> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO order_events (id, shop_id, order_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO NOTHING")
        .bind(id).bind(shop_id).bind(order_id).bind(kind).bind(detail).bind(at))?;
    Ok(n == 1)
}
