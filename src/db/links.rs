//! Confirmation links (`links`), stored by the hash of their token.

use crate::db::{Db, Tx};
use crate::{on_db, on_tx};

/// Records a new link of order `order_id`, valid until `expires_at`.
pub async fn insert(tx: &mut Tx, token_hash: &str, shop_id: &str, order_id: &str, expires_at: i64, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO links (token_hash, shop_id, order_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash).bind(shop_id).bind(order_id).bind(expires_at).bind(now)).map(|_| ())
}

/// The link with this token hash: (order id, expires at, used at, action).
pub async fn find(db: &Db, token_hash: &str) -> Result<Option<(String, i64, Option<i64>, Option<String>)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as("SELECT order_id, expires_at, used_at, action FROM links WHERE token_hash = $1")
        .bind(token_hash).fetch_optional(c).await)
}

/// Marks the link used for `action`, once.
pub async fn mark_used(tx: &mut Tx, token_hash: &str, action: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("UPDATE links SET used_at = $1, action = $2 WHERE token_hash = $3 AND used_at IS NULL")
        .bind(now).bind(action).bind(token_hash)).map(|_| ())
}
