//! The Admin GraphQL API at a pinned version: `tagsAdd`, `orderCancel` and `orderUpdate`. Throttling and 5xx are
//! retried with backoff (guided by `extensions.cost.throttleStatus`); a 401 refreshes the token
//! once, then gives up with a clear error for the order's timeline.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::API_VERSION;
use super::tokens::{self, TokenError};
use crate::domain::ShopDomain;
use crate::app::App;
use crate::db::shops;

/// Attempts per call before the error is handed back (and the caller's job retries later).
const MAX_ATTEMPTS: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("Shopify rejected the app's token even after a refresh")]
    Unauthorized,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("Shopify is unavailable or throttling after {MAX_ATTEMPTS} attempts: {0}")]
    Unavailable(String),
    #[error("Shopify refused the request: {0}")]
    Refused(String),
}

impl AdminError {
    /// Whether trying again later could succeed: Shopify unreachable or throttling, or our own
    /// database failing while the shop or its token was read (an outage, not Shopify's answer).
    pub fn is_transient(&self) -> bool {
        match self {
            AdminError::Unavailable(_) | AdminError::Token(TokenError::OAuth(super::oauth::OAuthError::Unreachable(_))) => true,
            AdminError::Token(TokenError::Other(e)) => e.chain().any(|c| c.downcast_ref::<sqlx::Error>().is_some()),
            _ => false,
        }
    }
}

/// Runs one GraphQL operation for a shop and returns its `data`.
pub async fn graphql(app: &App, shop_id: &str, query: &str, variables: Value) -> Result<Value, AdminError> {
    let shop = shops::find(&app.db, shop_id)
        .await
        .map_err(|e| TokenError::Other(e.into()))?
        .ok_or(TokenError::NotInstalled)?;
    let shopify = app.shopify.as_ref().ok_or(TokenError::NotInstalled)?;
    let domain = ShopDomain::parse(&shop.domain).map_err(|e| TokenError::Other(anyhow::anyhow!(e)))?;
    let url = format!("{}/admin/api/{API_VERSION}/graphql.json", shopify.api_origin(&domain));
    let body = json!({ "query": query, "variables": variables });

    let mut rejected: Option<SecretString> = None;
    let mut refreshed = false;
    let mut last_error = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        let token = tokens::access_token(app, shop_id, rejected.as_ref()).await?;
        let sent = shopify
            .http()
            .post(&url)
            .header("X-Shopify-Access-Token", token.expose_secret())
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                last_error = e.without_url().to_string();
                backoff(attempt).await;
                continue;
            }
        };
        let status = resp.status();
        if status.as_u16() == 401 {
            if refreshed {
                return Err(AdminError::Unauthorized);
            }
            refreshed = true;
            rejected = Some(token);
            continue;
        }
        if status.is_server_error() || status.as_u16() == 429 {
            last_error = format!("HTTP {status}");
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            match retry_after {
                Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.clamp(0.0, 10.0))).await,
                None => backoff(attempt).await,
            }
            continue;
        }
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(AdminError::Refused(format!("HTTP {status}: {}", truncate(&text))));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| AdminError::Refused(format!("unreadable response: {}", truncate(&text))))?;
        if let Some(errors) = v.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
            let throttled = errors
                .iter()
                .any(|e| e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED"));
            if throttled {
                last_error = "THROTTLED".into();
                tokio::time::sleep(throttle_wait(&v)).await;
                continue;
            }
            let messages: Vec<&str> = errors.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect();
            return Err(AdminError::Refused(messages.join("; ")));
        }
        return Ok(v.get("data").cloned().unwrap_or(Value::Null));
    }
    Err(AdminError::Unavailable(last_error))
}

/// How long to wait after a THROTTLED answer: until the bucket holds what the query asked for.
pub fn throttle_wait(response: &Value) -> Duration {
    let cost = response.pointer("/extensions/cost");
    let requested = cost
        .and_then(|c| c.get("requestedQueryCost"))
        .and_then(Value::as_f64)
        .unwrap_or(10.0);
    let status = cost.and_then(|c| c.get("throttleStatus"));
    let available = status
        .and_then(|s| s.get("currentlyAvailable"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let restore = status
        .and_then(|s| s.get("restoreRate"))
        .and_then(Value::as_f64)
        .filter(|r| *r > 0.0)
        .unwrap_or(50.0);
    Duration::from_secs_f64(((requested - available).max(0.0) / restore).clamp(0.05, 10.0))
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(5)))).await;
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

fn user_errors(data: &Value, field: &str) -> Result<(), AdminError> {
    let errors = data.pointer(field).and_then(Value::as_array).cloned().unwrap_or_default();
    if errors.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = errors
        .iter()
        .filter_map(|e| e.get("message").and_then(Value::as_str).map(str::to_string))
        .collect();
    Err(AdminError::Refused(messages.join("; ")))
}

/// Adds tags to an order (never removes the merchant's own).
pub async fn tags_add(app: &App, shop_id: &str, order_gid: &str, tags: &[&str]) -> Result<(), AdminError> {
    const Q: &str =
        "mutation tagsAdd($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }";
    let data = graphql(app, shop_id, Q, json!({ "id": order_gid, "tags": tags })).await?;
    user_errors(&data, "/tagsAdd/userErrors")
}

/// Cancels an order as the customer asked: restocked, no refund (COD: nothing was paid), the
/// customer not notified by Shopify.
pub async fn order_cancel(app: &App, shop_id: &str, order_gid: &str, staff_note: &str) -> Result<(), AdminError> {
    const Q: &str = "mutation orderCancel($orderId: ID!, $notifyCustomer: Boolean, $reason: OrderCancelReason!, $restock: Boolean!, $staffNote: String, $refundMethod: OrderCancelRefundMethodInput) { \
        orderCancel(orderId: $orderId, notifyCustomer: $notifyCustomer, reason: $reason, restock: $restock, staffNote: $staffNote, refundMethod: $refundMethod) { \
        job { id done } orderCancelUserErrors { field message code } } }";
    let data = graphql(
        app,
        shop_id,
        Q,
        json!({
            "orderId": order_gid, "notifyCustomer": false, "reason": "CUSTOMER", "restock": true, "staffNote": staff_note,
            "refundMethod": { "originalPaymentMethodsRefund": false },
        }),
    )
    .await?;
    user_errors(&data, "/orderCancel/orderCancelUserErrors")
}

/// Replaces an order's shipping address (`address`: a whole `MailingAddressInput`, so no field of
/// the stored address is lost).
pub async fn order_update_shipping_address(app: &App, shop_id: &str, order_gid: &str, address: Value) -> Result<(), AdminError> {
    const Q: &str =
        "mutation orderUpdate($input: OrderInput!) { orderUpdate(input: $input) { order { id } userErrors { field message } } }";
    let data = graphql(app, shop_id, Q, json!({ "input": { "id": order_gid, "shippingAddress": address } })).await?;
    user_errors(&data, "/orderUpdate/userErrors")
}

#[cfg(test)]
mod tests {
    /// A database error while reading the shop or its token (an outage) is no answer from Shopify:
    /// the update is tried again later, never recorded as failed for good (its tag would be lost).
    #[test]
    fn a_database_error_is_transient() {
        let db = AdminError::Token(TokenError::from(sqlx::Error::PoolTimedOut));
        assert!(db.is_transient(), "{db}");
        let other = AdminError::Token(TokenError::Other(anyhow::anyhow!("not a database error")));
        assert!(!other.is_transient());
        assert!(!AdminError::Refused("no".into()).is_transient());
    }

    use super::*;

    #[test]
    fn throttle_wait_follows_the_bucket() {
        let v = json!({"extensions": {"cost": {"requestedQueryCost": 110, "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 10, "restoreRate": 50}}}});
        assert_eq!(throttle_wait(&v), Duration::from_secs(2));
        assert_eq!(throttle_wait(&json!({})), Duration::from_millis(200));
    }
}
