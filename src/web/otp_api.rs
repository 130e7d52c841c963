//! The OTP API for the checkout extensions (SPEC §7): `GET /api/otp/status`, `POST /api/otp/verify`,
//! `POST /api/otp/resend`. Authenticated by the Shopify-signed token the extension holds; CORS is
//! open (no cookies are involved); rate-limited per order and per client address.

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::limits::{KeyedLimit, client_key};
use crate::verification::sms::{self, OrderInfo};
use crate::verification::otp;
use crate::app::App;
use crate::AppState;

/// Per order: enough for a shopper, too few to guess a 6-digit code (the attempt limit holds anyway).
static PER_ORDER: LazyLock<KeyedLimit<String>> = LazyLock::new(|| KeyedLimit::per_minute(60));
static PER_CLIENT: LazyLock<KeyedLimit<IpAddr>> = LazyLock::new(|| KeyedLimit::per_minute(300));

fn error(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        // The per-minute budgets refill within seconds.
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    resp
}

/// `5678901234`, `gid://shopify/Order/5678901234` or `gid://shopify/OrderIdentity/5678901234`.
fn shopify_order_id(raw: &str) -> Option<i64> {
    raw.trim().rsplit('/').next()?.parse().ok().filter(|n: &i64| *n > 0)
}

/// The caller's order: a valid token for a shop, and an order of that shop.
async fn authorize(app: &App, headers: &HeaderMap, peer: SocketAddr, raw_order_id: &str) -> Result<OrderInfo, Response> {
    if PER_CLIENT.check(&client_key(headers, peer)).is_err() {
        return Err(error(StatusCode::TOO_MANY_REQUESTS, "too many requests; please wait a moment"));
    }
    let Some(shopify) = app.shopify.as_ref() else {
        return Err(error(StatusCode::NOT_FOUND, "not available in demo mode"));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "missing token"))?;
    let shop = shopify
        .verify_extension_token(token, app.clock.now_secs())
        .map_err(|e| error(StatusCode::UNAUTHORIZED, &e))?;
    let id = shopify_order_id(raw_order_id).ok_or_else(|| error(StatusCode::BAD_REQUEST, "order_id must be a Shopify order id"))?;
    if PER_ORDER.check(&format!("{shop}/{id}")).is_err() {
        return Err(error(StatusCode::TOO_MANY_REQUESTS, "too many requests for this order; please wait a moment"));
    }
    let order_id = crate::db::orders::id_by_shopify_id(&app.db, shop.as_str(), id).await.map_err(|e| internal(e.into()))?;
    let order = match order_id {
        Some(oid) => sms::load_order(app, &oid).await.map_err(internal)?,
        None => None,
    };
    order.ok_or_else(|| error(StatusCode::NOT_FOUND, "no such order for this shop"))
}

fn internal(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "OTP API failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong; please try again")
}

fn answer(result: anyhow::Result<otp::View>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct StatusQuery {
    #[serde(default)]
    order_id: String,
}

#[derive(Deserialize)]
pub struct VerifyBody {
    order_id: serde_json::Value,
    #[serde(default)]
    otp: String,
}

#[derive(Deserialize)]
pub struct ResendBody {
    order_id: serde_json::Value,
}

/// Order ids arrive as strings or numbers.
fn id_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn status(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, Query(q): Query<StatusQuery>) -> Response {
    match authorize(&state, &headers, peer, &q.order_id).await {
        Ok(o) => answer(otp::status(&state, &o).await),
        Err(r) => r,
    }
}

pub async fn verify(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<VerifyBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected JSON {\"order_id\", \"otp\"}");
    };
    if b.otp.trim().is_empty() || b.otp.len() > 16 {
        return error(StatusCode::BAD_REQUEST, "otp must be the code from the SMS");
    }
    match authorize(&state, &headers, peer, &id_text(&b.order_id)).await {
        Ok(o) => answer(otp::verify(&state, &o, &b.otp).await),
        Err(r) => r,
    }
}

pub async fn resend(State(state): State<AppState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Ok(b) = serde_json::from_slice::<ResendBody>(&body) else {
        return error(StatusCode::BAD_REQUEST, "expected JSON {\"order_id\"}");
    };
    match authorize(&state, &headers, peer, &id_text(&b.order_id)).await {
        Ok(o) => answer(otp::resend(&state, &o).await),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_in_every_form() {
        assert_eq!(shopify_order_id("5678901234"), Some(5678901234));
        assert_eq!(shopify_order_id("gid://shopify/Order/5678901234"), Some(5678901234));
        assert_eq!(shopify_order_id("gid://shopify/OrderIdentity/42"), Some(42));
        assert_eq!(shopify_order_id("gid://shopify/Order/x"), None);
        assert_eq!(shopify_order_id("-3"), None);
    }
}
