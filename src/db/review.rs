//! The review queue's reads (SPEC §9): a shop's orders waiting for a person — the customer asked
//! for a callback, or the plan ended without an answer — oldest waiting first. The resolution's
//! write is `orders::resolve_waiting`.

use crate::crypto::Cipher;
use crate::db::{Db, Tx};
use crate::domain::OrderStatus;
use crate::{on_db, on_tx};

/// One waiting order as the review page shows it (the phone opened, for masking by the caller).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingOrder {
    pub id: String,
    pub shopify_order_id: i64,
    pub name: String,
    pub total_price: String,
    pub currency: String,
    pub customer_name: Option<String>,
    pub phone: Option<String>,
    pub status: String,
    pub status_reason: Option<String>,
    /// Since when it waits: when the callback was asked for, or the plan gave up.
    pub since: i64,
    /// Calls placed, plan SMS and WhatsApp messages sent: how often the shopper was contacted.
    pub contacts: i64,
}

/// At most `limit` of the shop's waiting orders, oldest waiting first.
pub async fn waiting(db: &Db, cipher: &Cipher, shop_id: &str, limit: i64) -> Result<Vec<WaitingOrder>, sqlx::Error> {
    let rows = on_db!(db, c => sqlx::query_as::<_, WaitingOrder>(
        "SELECT o.id, o.shopify_order_id, o.name, o.total_price, o.currency, o.customer_name, o.phone_enc AS phone, o.status, \
           o.status_reason, COALESCE(o.resolved_at, o.updated_at) AS since, \
           (SELECT COUNT(*) FROM call_attempts a WHERE a.shop_id = o.shop_id AND a.order_id = o.id AND a.dialed_at IS NOT NULL) \
           + (SELECT COUNT(*) FROM sms_messages m WHERE m.shop_id = o.shop_id AND m.order_id = o.id \
                AND m.kind IN ('link', 'missed_call') AND m.sent_at IS NOT NULL) \
           + (SELECT COUNT(*) FROM whatsapp_messages w WHERE w.shop_id = o.shop_id AND w.order_id = o.id AND w.sent_at IS NOT NULL) \
             AS contacts \
         FROM orders o WHERE o.shop_id = $1 AND o.status IN ($2, $3) \
         ORDER BY COALESCE(o.resolved_at, o.updated_at), o.shopify_order_id LIMIT $4")
        .bind(shop_id).bind(OrderStatus::CallbackRequested.as_str()).bind(OrderStatus::NoResponse.as_str()).bind(limit)
        .fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .map(|mut o| {
            o.phone = cipher.open_opt(o.phone.as_deref());
            o
        })
        .collect())
}

/// How many of the shop's orders wait.
pub async fn waiting_count(db: &Db, shop_id: &str) -> Result<i64, sqlx::Error> {
    on_db!(db, c => sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE shop_id = $1 AND status IN ($2, $3)")
        .bind(shop_id).bind(OrderStatus::CallbackRequested.as_str()).bind(OrderStatus::NoResponse.as_str())
        .fetch_one(c).await)
}

/// The shop's order with this Shopify id, as a resolution on the shopper's behalf needs it:
/// (id, status, reason).
pub async fn order(tx: &mut Tx, shop_id: &str, shopify_order_id: i64) -> Result<Option<(String, String, Option<String>)>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as("SELECT id, status, status_reason FROM orders WHERE shop_id = $1 AND shopify_order_id = $2")
        .bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)
}
