//! Signed Shopify webhook deliveries, as the raw bytes the load generator sends.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SECRET;

/// The Admin API version the deliveries claim (the app's pinned one).
pub(crate) const API_VERSION: &str = "2026-10";

/// The domain of bench shop `i`.
pub(crate) fn shop_domain(i: usize) -> String {
    format!("bench-shop-{i}.myshopify.com")
}

/// `body` as an `orders/create` delivery from `shop` to `POST /webhooks/shopify`, signed with the
/// bench's secret and sent at `triggered_at` (`X-Shopify-Triggered-At`); `accept` adds an `Accept`
/// header.
pub(crate) fn order_webhook(port: u16, shop: &str, body: &str, triggered_at: &str, accept: Option<&str>) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(body.as_bytes());
    let hmac = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /webhooks/shopify HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         User-Agent: Shopify-Captain-Hook\r\n\
         {accept}\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         X-Shopify-Topic: orders/create\r\n\
         X-Shopify-Shop-Domain: {shop}\r\n\
         X-Shopify-Hmac-Sha256: {hmac}\r\n\
         X-Shopify-Webhook-Id: {}\r\n\
         X-Shopify-Event-Id: {}\r\n\
         X-Shopify-Triggered-At: {triggered_at}\r\n\
         X-Shopify-API-Version: {API_VERSION}\r\n\r\n",
        body.len(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}
