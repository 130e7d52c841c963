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

/// An order as a customer's data request or redaction sees it (the phone as stored, sealed).
#[derive(sqlx::FromRow)]
pub struct CustomerOrder {
    pub id: String,
    pub shopify_order_id: i64,
    pub name: String,
    pub phone: Option<String>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: i64,
}

const CUSTOMER_ORDER_COLUMNS: &str =
    "id, shopify_order_id, name, phone_enc AS phone, customer_name, customer_email, status, status_reason, created_at";

/// The shop's orders of a customer: same customer id, same phone (by its index) or same e-mail.
pub async fn of_customer(tx: &mut Tx, shop_id: &str, customer_id: Option<i64>, phone_hash: Option<&str>, email: Option<&str>) -> Result<Vec<CustomerOrder>, sqlx::Error> {
    let sql = format!(
        "SELECT {CUSTOMER_ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND ((customer_id IS NOT NULL AND customer_id = $2) \
         OR (phone_hash IS NOT NULL AND phone_hash = $3) OR (customer_email IS NOT NULL AND customer_email = $4))"
    );
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(shop_id).bind(customer_id).bind(phone_hash).bind(email).fetch_all(c).await)
}

/// The shop's order with this Shopify id, as [`of_customer`] sees it.
pub async fn customer_order_by_shopify_id(tx: &mut Tx, shop_id: &str, shopify_order_id: i64) -> Result<Option<CustomerOrder>, sqlx::Error> {
    let sql = format!("SELECT {CUSTOMER_ORDER_COLUMNS} FROM orders WHERE shop_id = $1 AND shopify_order_id = $2");
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)
}

/// The ids of at most `limit` of the shop's orders created before `cutoff` and not erased yet, oldest first.
pub async fn unerased_older_than(tx: &mut Tx, shop_id: &str, cutoff: i64, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM orders WHERE shop_id = $1 AND created_at < $2 AND erased_at IS NULL ORDER BY created_at LIMIT $3")
        .bind(shop_id).bind(cutoff).bind(limit).fetch_all(c).await)
}

/// The order's calls as the merchant's reports show them: (attempt, result, dialed at, seconds).
pub async fn calls_of(tx: &mut Tx, shop_id: &str, order_id: &str) -> Result<Vec<(i64, Option<String>, Option<i64>, Option<i64>)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as(
        "SELECT attempt_no, result, dialed_at, duration_seconds FROM call_attempts WHERE order_id = $1 AND shop_id = $2 ORDER BY attempt_no")
        .bind(order_id).bind(shop_id).fetch_all(c).await)
}

/// The order's SMS as the merchant's reports show them: (kind, status, sent at).
pub async fn sms_of(tx: &mut Tx, shop_id: &str, order_id: &str) -> Result<Vec<(String, Option<String>, Option<i64>)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as(
        "SELECT kind, status, sent_at FROM sms_messages WHERE order_id = $1 AND shop_id = $2 ORDER BY created_at")
        .bind(order_id).bind(shop_id).fetch_all(c).await)
}

// --- sqlb ---

/// What the templates, the link page and the senders need of an order and its shop (the phone as
/// stored, sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderInfo {
    pub id: String,
    pub shop_id: String,
    pub name: String,
    pub order_number: Option<i64>,
    pub total_price: String,
    pub currency: String,
    pub phone: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub items: Option<String>,
    pub is_cod: bool,
    pub shop_domain: String,
    pub shop_status: String,
    pub settings: String,
    pub exotel_key: String,
    pub exotel_api_token_enc: Option<String>,
}

const ORDER_INFO_SELECT: &str = "SELECT o.id, o.shop_id, o.name, o.order_number, o.total_price, o.currency, o.phone_enc AS phone, o.status, \
    o.status_reason, o.items, o.is_cod, s.domain AS shop_domain, s.status AS shop_status, s.settings, s.exotel_key, s.exotel_api_token_enc \
    FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1";

/// The order and what its shop sets, as [`OrderInfo`].
pub async fn info(db: &Db, order_id: &str) -> Result<Option<OrderInfo>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, OrderInfo>(ORDER_INFO_SELECT).bind(order_id).fetch_optional(c).await)
}

/// [`info`], inside a transaction.
pub async fn info_tx(tx: &mut Tx, order_id: &str) -> Result<Option<OrderInfo>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as::<_, OrderInfo>(ORDER_INFO_SELECT).bind(order_id).fetch_optional(c).await)
}
