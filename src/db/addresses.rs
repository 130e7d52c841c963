//! Shipping address corrections (`address_corrections`) and the order's stored address
//! (`orders.shipping_address_enc`). Addresses are customer data: every value here is sealed by the
//! caller (`crate::crypto::Cipher`) before it is stored.

use crate::db::{Db, Tx};
use crate::domain::AddressUpdate;
use crate::{on_db, on_tx};

/// Replaces the order's stored (sealed) shipping address and its state's code, unless its
/// customer details were erased: true when stored.
pub async fn set_order_address(tx: &mut Tx, shop_id: &str, order_id: &str, sealed: &str, ship_state: Option<&str>, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET shipping_address_enc = $1, ship_state = $2, updated_at = $3 WHERE id = $4 AND shop_id = $5 AND erased_at IS NULL")
        .bind(sealed).bind(ship_state).bind(now).bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// Records a correction (both addresses sealed), its Shopify update pending.
pub async fn insert(tx: &mut Tx, id: &str, shop_id: &str, order_id: &str, old_sealed: &str, new_sealed: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO address_corrections (id, shop_id, order_id, old_enc, new_enc, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
        .bind(id).bind(shop_id).bind(order_id).bind(old_sealed).bind(new_sealed)
        .bind(AddressUpdate::Pending.as_str()).bind(now)).map(|_| ())
}

/// What the update job needs of a correction.
#[derive(Debug, sqlx::FromRow)]
pub struct ToUpdate {
    pub shop_id: String,
    pub order_id: String,
    pub admin_graphql_id: String,
    pub shop_status: String,
    pub new_enc: String,
    pub state: String,
}

/// The correction `id` of order `order_id`, with its order's Admin GraphQL id and the shop's status.
pub async fn to_update(db: &Db, id: &str, order_id: &str) -> Result<Option<ToUpdate>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, ToUpdate>(
        "SELECT a.shop_id, a.order_id, o.admin_graphql_id, s.status AS shop_status, a.new_enc, a.state \
         FROM address_corrections a JOIN orders o ON o.id = a.order_id AND o.shop_id = a.shop_id JOIN shops s ON s.id = a.shop_id \
         WHERE a.id = $1 AND a.order_id = $2")
        .bind(id).bind(order_id).fetch_optional(c).await)
}

/// Ends a pending correction's update with `state`, once: true when this ended it.
pub async fn finish(tx: &mut Tx, shop_id: &str, id: &str, state: AddressUpdate, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE address_corrections SET state = $1, updated_at = $2 WHERE id = $3 AND shop_id = $4 AND state = $5")
        .bind(state.as_str()).bind(now).bind(id).bind(shop_id).bind(AddressUpdate::Pending.as_str()))?;
    Ok(n == 1)
}

/// A correction as the merchant's timeline shows it (addresses sealed).
#[derive(Debug, sqlx::FromRow)]
pub struct Correction {
    pub id: String,
    pub old_enc: String,
    pub new_enc: String,
    pub state: String,
    pub created_at: i64,
}

/// The order's corrections, oldest first.
pub async fn of_order(db: &Db, shop_id: &str, order_id: &str) -> Result<Vec<Correction>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, Correction>(
        "SELECT id, old_enc, new_enc, state, created_at FROM address_corrections WHERE shop_id = $1 AND order_id = $2 \
         ORDER BY created_at, id")
        .bind(shop_id).bind(order_id).fetch_all(c).await)
}

/// Whether a corrected address of the order has still to reach Shopify (the fulfillment hold
/// waits for it).
pub async fn update_pending(db: &Db, shop_id: &str, order_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = on_db!(db, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM address_corrections WHERE shop_id = $1 AND order_id = $2 AND state = $3")
        .bind(shop_id).bind(order_id).bind(AddressUpdate::Pending.as_str()).fetch_one(c).await)?;
    Ok(n > 0)
}
