//! Orders as stored (`orders`). (Most order SQL still lives with the workflows that own each step;
//! it moves here piece by piece.)

use crate::db::{Db, Tx};
use crate::{on_db, on_tx};

/// The app's id of Shopify order `shopify_order_id` at the installed shop `shop_domain`.
pub async fn id_by_shopify_id(db: &Db, shop_domain: &str, shopify_order_id: i64) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, c => sqlx::query_scalar(
        "SELECT o.id FROM orders o JOIN shops s ON s.id = o.shop_id WHERE s.domain = $1 AND s.status = 'installed' AND o.shopify_order_id = $2")
        .bind(shop_domain).bind(shopify_order_id).fetch_optional(c).await)
}

/// One row of the demo console's order list.
pub type RecentOrder = (String, i64, Option<String>, String, Option<String>, String);

/// The newest `limit` orders of the shop at `shop_domain`: name, Shopify id, sealed phone, status,
/// reason, Admin GraphQL id.
pub async fn recent_by_domain(db: &Db, shop_domain: &str, limit: i64) -> Result<Vec<RecentOrder>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT o.name, o.shopify_order_id, o.phone_enc, o.status, o.status_reason, o.admin_graphql_id FROM orders o \
         JOIN shops s ON s.id = o.shop_id WHERE s.domain = $1 ORDER BY o.created_at DESC, o.shopify_order_id DESC LIMIT $2")
        .bind(shop_domain).bind(limit).fetch_all(c).await)
}

/// The shop's orders from this phone (by its index) that take an answer, created since `since`,
/// newest first, at most `limit`: (id, name).
pub async fn answerable_by_phone(tx: &mut Tx, shop_id: &str, phone_hash: &str, since: i64, limit: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as(
        "SELECT id, name FROM orders WHERE shop_id = $1 AND phone_hash = $2 AND status IN ('pending', 'no_response') \
           AND created_at >= $3 \
         ORDER BY created_at DESC, shopify_order_id DESC LIMIT $4")
        .bind(shop_id).bind(phone_hash).bind(since).bind(limit).fetch_all(c).await)
}
