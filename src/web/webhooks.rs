//! `POST /webhooks/shopify`: HMAC first, then a durable write (`db::inbox`), then 200; the work
//! runs in jobs (`crate::inbox`), except `app/uninstalled` and `orders/cancelled`, which take
//! effect in the write's transaction.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::error::{AppError, AppResult};
use crate::AppState;
use crate::db::inbox::{Immediate, NewWebhook, seal_body};
use crate::domain::ShopDomain;

/// Largest accepted delivery. Big orders with hundreds of line items stay well below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Topics this app acts on; anything else is acknowledged and dropped.
const TOPICS: [&str; 8] = [
    "orders/create",
    "orders/cancelled",
    // Shipping outcomes (SPEC §10).
    "fulfillment_events/create",
    "fulfillments/update",
    "app/uninstalled",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
];

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // Newer "events" deliveries use lower-case `shopify-*` names; accept both.
    let short = name.strip_prefix("X-").unwrap_or(name);
    headers
        .get(name)
        .or_else(|| headers.get(short))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> AppResult<StatusCode> {
    let Some(shopify) = state.shopify.as_ref() else {
        return Err(AppError::NotFound);
    };
    let valid = header(&headers, "X-Shopify-Hmac-Sha256").is_some_and(|h| crate::crypto::verify_hmac_base64(shopify.secret(), &body, h));
    if !valid {
        return Err(AppError::unauthorized("invalid webhook HMAC"));
    }
    let topic = header(&headers, "X-Shopify-Topic").ok_or_else(|| AppError::bad_request("missing X-Shopify-Topic"))?;
    if !TOPICS.contains(&topic) {
        tracing::debug!(topic, "ignoring a webhook topic this app does not use");
        return Ok(StatusCode::OK);
    }
    let shop = header(&headers, "X-Shopify-Shop-Domain")
        .ok_or_else(|| AppError::bad_request("missing X-Shopify-Shop-Domain"))
        .and_then(|s| ShopDomain::parse(s).map_err(AppError::BadRequest))?;
    if !shopify.serves(&shop) {
        return Err(AppError::unauthorized("these credentials sign for the demo shop alone"));
    }
    let webhook_id = header(&headers, "X-Shopify-Webhook-Id")
        .or_else(|| header(&headers, "X-Shopify-Event-Id"))
        .ok_or_else(|| AppError::bad_request("missing X-Shopify-Webhook-Id"))?;
    if webhook_id.len() > 255 {
        return Err(AppError::bad_request("X-Shopify-Webhook-Id is too long"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| AppError::bad_request("body is not UTF-8"))?;
    // Validated without building a tree: the job parses it properly later.
    let is_object = text.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    if !is_object {
        return Err(AppError::bad_request("body is not a JSON object"));
    }
    let immediate = Immediate::of(topic, text).map_err(|_| AppError::bad_request("body is not a JSON object"))?;
    let hook = NewWebhook {
        webhook_id: webhook_id.to_string(),
        topic: topic.to_string(),
        shop_domain: shop.to_string(),
        api_version: header(&headers, "X-Shopify-API-Version").map(str::to_string),
        triggered_at: header(&headers, "X-Shopify-Triggered-At").map(str::to_string),
        body_enc: seal_body(&state.cipher, &body),
        received_at: state.clock.now_ms(),
        immediate,
    };
    state.intake.submit(hook).await.map_err(AppError::Unavailable)?;
    Ok(StatusCode::OK)
}

