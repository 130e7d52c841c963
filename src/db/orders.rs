//! Orders as stored (`orders`): intake, resolution, the reads the workflows and reports need.

use crate::db::{Db, Tx};
use crate::domain::OrderStatus;
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
    /// The shipping address as stored (sealed JSON).
    pub shipping_address: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: i64,
}

const CUSTOMER_ORDER_COLUMNS: &str =
    "id, shopify_order_id, name, phone_enc AS phone, customer_name, customer_email, shipping_address_enc AS shipping_address, status, \
     status_reason, created_at";

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

/// A new order as intake stores it: the phone already sealed and indexed, the customer's details
/// left out by the caller when they are none of the app's business.
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub shop_id: &'a str,
    pub shopify_order_id: i64,
    pub admin_graphql_id: String,
    pub name: String,
    pub order_number: Option<i64>,
    pub total_price: String,
    pub currency: String,
    /// The payment gateways, as a JSON array.
    pub gateways: String,
    pub is_cod: bool,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_hash: Option<String>,
    pub phone_source: Option<&'a str>,
    pub status: OrderStatus,
    pub status_reason: Option<&'a str>,
    /// Shopify's creation time, as Shopify wrote it.
    pub order_created_at: Option<&'a str>,
    pub resolved_at: Option<i64>,
    /// The line items, as JSON.
    pub items: Option<String>,
    /// Shopify's `customer_locale`, already checked to be a language tag.
    pub customer_locale: Option<String>,
    /// The shipping address, sealed.
    pub shipping_address_enc: Option<String>,
    /// Its state's code (`crate::pincode::State::code`), in plain text.
    pub ship_state: Option<&'static str>,
}

/// Stores a new order, once per Shopify order and shop: true when this stored it (false: a
/// delivery of the same order got there first).
pub async fn insert_new(tx: &mut Tx, o: NewOrder<'_>, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO orders (id, shop_id, shopify_order_id, admin_graphql_id, name, order_number, total_price, currency, \
           gateways, is_cod, customer_id, customer_name, customer_email, phone_enc, phone_hash, phone_source, status, \
           status_reason, order_created_at, created_at, updated_at, resolved_at, items, customer_locale, shipping_address_enc, ship_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, $21, $22, $23, $24, $25) \
         ON CONFLICT (shop_id, shopify_order_id) DO NOTHING")
        .bind(o.id).bind(o.shop_id).bind(o.shopify_order_id).bind(o.admin_graphql_id).bind(o.name).bind(o.order_number)
        .bind(o.total_price).bind(o.currency)
        .bind(o.gateways).bind(o.is_cod)
        .bind(o.customer_id).bind(o.customer_name).bind(o.customer_email)
        .bind(o.phone_enc)
        .bind(o.phone_hash).bind(o.phone_source)
        .bind(o.status.as_str()).bind(o.status_reason).bind(o.order_created_at).bind(now)
        .bind(o.resolved_at).bind(o.items).bind(o.customer_locale).bind(o.shipping_address_enc).bind(o.ship_state))?;
    Ok(n == 1)
}

/// The shop's order with this Shopify id: (id, status).
pub async fn id_and_status_by_shopify_id(tx: &mut Tx, shop_id: &str, shopify_order_id: i64) -> Result<Option<(String, String)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as("SELECT id, status FROM orders WHERE shop_id = $1 AND shopify_order_id = $2")
        .bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)
}

/// The order's shop, its status and the shop's stored settings, when the shop is installed: what
/// starting its verification needs.
pub async fn status_and_settings_if_installed(db: &Db, order_id: &str) -> Result<Option<(String, String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT o.shop_id, o.status, s.settings FROM orders o JOIN shops s ON s.id = o.shop_id \
         WHERE o.id = $1 AND s.status = 'installed'").bind(order_id).fetch_optional(c).await)
}

/// Whether the order is still pending, holding its row until the transaction ends (PostgreSQL row
/// lock; SQLite transactions are serial anyway).
pub async fn hold_row_if_pending(tx: &mut Tx, shop_id: &str, order_id: &str) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query("UPDATE orders SET updated_at = updated_at WHERE id = $1 AND shop_id = $2 AND status = 'pending'")
        .bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// Resolves a pending order with `status`, `reason` and its outcome tags (comma-separated): true
/// when this resolved it, false when it was no longer pending.
pub async fn resolve_pending(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET status = $1, status_reason = $2, resolved_at = $3, updated_at = $3, outcome_tags = $4 \
         WHERE id = $5 AND shop_id = $6 AND status = 'pending'")
        .bind(status.as_str()).bind(reason).bind(now).bind(tags).bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// Cancels an order that ended `no_response` and is still unanswered (the merchant's
/// `no_response_action` "cancel"): true when this cancelled it.
pub async fn cancel_unanswered(tx: &mut Tx, shop_id: &str, order_id: &str, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4 AND shop_id = $5 AND status = $6")
        .bind(OrderStatus::Cancelled.as_str()).bind(reason).bind(now).bind(order_id).bind(shop_id)
        .bind(OrderStatus::NoResponse.as_str()))?;
    Ok(n == 1)
}

/// Gives an order that ended `no_response` the shopper's late answer: its status and reason
/// replaced, its tags (comma-separated) added to those it has. True when this answered it.
pub async fn answer_late(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET status = $1, status_reason = $2, resolved_at = $3, updated_at = $3, \
           outcome_tags = CASE WHEN COALESCE(outcome_tags, '') = '' THEN $4 ELSE outcome_tags || ',' || $4 END \
         WHERE id = $5 AND shop_id = $6 AND status = 'no_response'")
        .bind(status.as_str()).bind(reason).bind(now).bind(tags).bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// Resolves an order waiting for a person (callback requested, or ended `no_response`) on the
/// shopper's behalf: its status and reason replaced, `agent` recorded, its tags (comma-separated)
/// added to those it has. True when this resolved it; false, changing nothing, when it was no
/// longer waiting (resolved meanwhile, or cancelled in Shopify).
#[allow(clippy::too_many_arguments)]
pub async fn resolve_waiting(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &str, agent: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET status = $1, status_reason = $2, resolved_at = $3, updated_at = $3, resolved_by = $4, \
           outcome_tags = CASE WHEN $5 = '' THEN outcome_tags WHEN COALESCE(outcome_tags, '') = '' THEN $5 \
             ELSE outcome_tags || ',' || $5 END \
         WHERE id = $6 AND shop_id = $7 AND status IN ($8, $9)")
        .bind(status.as_str()).bind(reason).bind(now).bind(agent).bind(tags).bind(order_id).bind(shop_id)
        .bind(OrderStatus::CallbackRequested.as_str()).bind(OrderStatus::NoResponse.as_str()))?;
    Ok(n == 1)
}

/// Cancels an order that is still open — it takes an answer (pending, or ended `no_response`) or
/// waits for a callback — with `reason`: true when this cancelled it.
pub async fn cancel_open(tx: &mut Tx, shop_id: &str, order_id: &str, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET status = 'cancelled', status_reason = $1, resolved_at = $2, updated_at = $2 \
         WHERE id = $3 AND shop_id = $4 AND status IN ('pending', 'no_response', 'callback_requested')")
        .bind(reason).bind(now).bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// How many orders of this phone (its lookup hash) in the shop were confirmed and not cancelled in
/// Shopify since: what makes a trusted buyer (`rules.trusted_after_confirmed`).
pub async fn confirmed_by_phone(tx: &mut Tx, shop_id: &str, phone_hash: &str) -> Result<i64, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE shop_id = $1 AND phone_hash = $2 AND status = $3 AND shopify_cancelled_at IS NULL")
        .bind(shop_id).bind(phone_hash).bind(OrderStatus::Confirmed.as_str()).fetch_one(c).await)
}

/// Sets the tags an order was settled with at intake (a targeting rule's tag), comma-separated.
pub async fn set_outcome_tags(tx: &mut Tx, shop_id: &str, order_id: &str, tags: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("UPDATE orders SET outcome_tags = $1 WHERE id = $2 AND shop_id = $3")
        .bind(tags).bind(order_id).bind(shop_id))?;
    Ok(())
}

/// Marks the start of a pending order's SMS fallback, once: true when this started it.
pub async fn start_fallback(tx: &mut Tx, shop_id: &str, order_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let n = on_tx!(tx, exec c => sqlx::query(
        "UPDATE orders SET fallback_started_at = $1, updated_at = $1 WHERE id = $2 AND shop_id = $3 AND status = 'pending' \
         AND fallback_started_at IS NULL")
        .bind(now).bind(order_id).bind(shop_id))?;
    Ok(n == 1)
}

/// Records the DND registry state of the order's number (`yes`, `no`, `unavailable`).
pub async fn set_dnd(db: &Db, shop_id: &str, order_id: &str, dnd: &str) -> Result<(), sqlx::Error> {
    on_db!(db, exec c => sqlx::query("UPDATE orders SET dnd = $1 WHERE id = $2 AND shop_id = $3")
        .bind(dnd).bind(order_id).bind(shop_id))?;
    Ok(())
}

/// Where an outcome goes in Shopify: the order's shop, its Admin GraphQL id and the shop's
/// install status.
pub async fn shopify_target(db: &Db, order_id: &str) -> Result<Option<(String, String, String)>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT o.shop_id, o.admin_graphql_id, s.status FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1")
        .bind(order_id).fetch_optional(c).await)
}

/// Records that the order's outcome reached Shopify at `now`.
pub async fn mark_synced(tx: &mut Tx, shop_id: &str, order_id: &str, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("UPDATE orders SET shopify_synced_at = $1 WHERE id = $2 AND shop_id = $3")
        .bind(now).bind(order_id).bind(shop_id))?;
    Ok(())
}

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
    /// Shopify's `customer_locale` (`en`, `hi-IN`, …): the language the shopper is written to in.
    pub customer_locale: Option<String>,
    /// The shipping address as stored (sealed JSON).
    pub shipping_address: Option<String>,
    pub shop_domain: String,
    pub shop_status: String,
    pub settings: String,
    pub exotel_key: String,
    pub exotel_api_token_enc: Option<String>,
}

const ORDER_INFO_SELECT: &str = "SELECT o.id, o.shop_id, o.name, o.order_number, o.total_price, o.currency, o.phone_enc AS phone, o.status, \
    o.status_reason, o.items, o.is_cod, o.customer_locale, o.shipping_address_enc AS shipping_address, s.domain AS shop_domain, s.status AS shop_status, s.settings, s.exotel_key, s.exotel_api_token_enc \
    FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1";

/// The order and what its shop sets, as [`OrderInfo`].
pub async fn info(db: &Db, order_id: &str) -> Result<Option<OrderInfo>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, OrderInfo>(ORDER_INFO_SELECT).bind(order_id).fetch_optional(c).await)
}

/// [`info`], inside a transaction.
pub async fn info_tx(tx: &mut Tx, order_id: &str) -> Result<Option<OrderInfo>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as::<_, OrderInfo>(ORDER_INFO_SELECT).bind(order_id).fetch_optional(c).await)
}

/// Whether a shipping address the shopper corrected has still to reach Shopify: the fulfillment
/// hold of a confirmed order waits for it (success or refusal ends the wait).
pub async fn address_update_pending(db: &Db, shop_id: &str, order_id: &str) -> Result<bool, sqlx::Error> {
    crate::db::addresses::update_pending(db, shop_id, order_id).await
}
