//! An order's fulfillment hold as stored (`orders.hold_state`), and what the hold workflow reads.

use crate::db::{Db, Tx};
use crate::domain::HoldState;
use crate::{on_db, on_tx};

/// The scopes the shop granted the app (from its token), inside a transaction.
pub async fn shop_scopes(tx: &mut Tx, shop_id: &str) -> Result<Option<String>, sqlx::Error> {
    let found: Option<Option<String>> =
        on_tx!(tx, c => sqlx::query_scalar("SELECT scopes FROM shops WHERE id = $1").bind(shop_id).fetch_optional(c).await)?;
    Ok(found.flatten())
}

/// What the hold job needs of an order and its shop.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HoldTarget {
    pub shop_id: String,
    pub admin_graphql_id: String,
    pub shop_status: String,
    pub status: String,
    pub hold_state: Option<String>,
    pub created_at: i64,
}

pub async fn target(db: &Db, order_id: &str) -> Result<Option<HoldTarget>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, HoldTarget>(
        "SELECT o.shop_id, o.admin_graphql_id, s.status AS shop_status, o.status, o.hold_state, o.created_at \
         FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1")
        .bind(order_id).fetch_optional(c).await)
}

/// Moves the order's hold state to `to` when it is one of `from` (NULL counts when `from_none`):
/// true when this moved it.
pub async fn set_state(tx: &mut Tx, shop_id: &str, order_id: &str, from: &[HoldState], from_none: bool, to: HoldState) -> Result<bool, sqlx::Error> {
    // At most five states: a fixed IN list of bound texts (unused slots bind a name no state has).
    let mut slots: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    slots.resize(HoldState::ALL.len(), "");
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET hold_state = $1 WHERE id = $2 AND shop_id = $3 \
         AND (hold_state IN ($4, $5, $6, $7, $8) OR ($9 AND hold_state IS NULL))")
        .bind(to.as_str()).bind(order_id).bind(shop_id)
        .bind(slots[0]).bind(slots[1]).bind(slots[2]).bind(slots[3]).bind(slots[4]).bind(from_none))?;
    Ok(n == 1)
}
