//! The authorization-code install: `GET /auth` → Shopify's consent screen → `GET /auth/callback`.

use std::collections::HashMap;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use cookie::{Cookie, CookieJar, SameSite};

use super::error::{AppError, AppResult};
use crate::crypto::{ct_eq, random_token, sha256_hex};
use crate::domain::ShopDomain;
use crate::shopify::ShopifyApp;
use crate::shopify::oauth::verify_query_hmac;
use crate::AppState;
use crate::db::shops;

const STATE_COOKIE: &str = "codverify_oauth_state";
/// How long the merchant has to approve the install.
const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// Shopify's library rejects callbacks whose timestamp is further than this from now.
const TIMESTAMP_BOUND_SECS: i64 = 90;

/// Installs need a real Shopify app: in demo mode there is only the built-in demo shop.
fn shopify(state: &AppState) -> AppResult<&ShopifyApp> {
    state
        .shopify
        .as_ref()
        .filter(|_| !state.config.demo_mode())
        .ok_or_else(|| AppError::bad_request("Shopify is not configured: this server runs in demo mode"))
}

pub async fn begin(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> AppResult<Response> {
    let shopify = shopify(&state)?;
    let shop = ShopDomain::parse(q.get("shop").map(String::as_str).unwrap_or("")).map_err(AppError::BadRequest)?;
    let oauth_state = random_token(32);
    let now = state.clock.now_ms();
    shops::save_oauth_state(&state.db, &sha256_hex(oauth_state.as_bytes()), &shop, now + STATE_TTL_MS, now).await?;

    // The state also goes into a signed, HttpOnly cookie: only the browser that started the
    // install can finish it.
    let mut jar = CookieJar::new();
    let secure = state.config.app_url.starts_with("https://");
    let cookie = Cookie::build((STATE_COOKIE, oauth_state.clone()))
        .path("/auth")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(STATE_TTL_MS / 1000))
        .build();
    jar.signed_mut(&state.cookie_key).add(cookie);
    let set_cookie = jar.delta().next().map(|c| c.to_string()).unwrap_or_default();

    let mut resp = Redirect::to(&shopify.authorize_url(&shop, &oauth_state)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set_cookie).map_err(|e| anyhow::anyhow!(e))?,
    );
    Ok(resp)
}

fn cookie_state(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let mut jar = CookieJar::new();
    for value in headers.get_all(header::COOKIE) {
        for c in Cookie::split_parse(value.to_str().ok()?.to_string()).flatten() {
            jar.add_original(c.into_owned());
        }
    }
    jar.signed(&state.cookie_key).get(STATE_COOKIE).map(|c| c.value().to_string())
}

pub async fn callback(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> AppResult<Response> {
    let shopify = shopify(&state)?;
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());

    if !verify_query_hmac(shopify.secret(), &pairs) {
        return Err(AppError::bad_request("the install link's signature (hmac) is invalid"));
    }
    let ts: i64 = get("timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| AppError::bad_request("the install link has no timestamp"))?;
    if (state.clock.now_secs() - ts).abs() > TIMESTAMP_BOUND_SECS {
        return Err(AppError::bad_request(
            "the install link has expired; please start the install again",
        ));
    }
    let shop = ShopDomain::parse(get("shop").unwrap_or("")).map_err(AppError::BadRequest)?;
    let query_state = get("state").unwrap_or("");
    let cookie = cookie_state(&state, &headers).unwrap_or_default();
    if query_state.is_empty() || !ct_eq(cookie.as_bytes(), query_state.as_bytes()) {
        return Err(AppError::bad_request(
            "the install was started in another browser or has expired; please start again",
        ));
    }
    // Single use: the state row is consumed here, so a replayed callback finds nothing.
    if !shops::take_oauth_state(&state.db, &sha256_hex(query_state.as_bytes()), &shop, state.clock.now_ms()).await? {
        return Err(AppError::bad_request(
            "this install link was already used or has expired; please start again",
        ));
    }
    let code = get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::bad_request("the install link has no code"))?;
    let tokens = shopify
        .exchange_code(&shop, code, state.clock.now_ms())
        .await
        .map_err(|e| match e {
            crate::shopify::oauth::OAuthError::Refused(m) => AppError::bad_request(format!("Shopify refused the install: {m}")),
            other => AppError::Unavailable(other.to_string()),
        })?;
    shops::install(&state.db, &state.cipher, &shop, &tokens, state.clock.now_ms()).await?;
    tracing::info!(shop = %shop, "installed through the authorization-code grant");

    let target = embedded_app_url(shopify, &shop, get("host"));
    let mut resp = Redirect::to(&target).into_response();
    let expired = Cookie::build((STATE_COOKIE, ""))
        .path("/auth")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&expired.to_string()).map_err(|e| anyhow::anyhow!(e))?,
    );
    Ok(resp)
}

/// Where the merchant lands after installing: the app inside their Shopify admin. `host` (base64 of
/// the admin host) is used only when it names this shop's admin.
pub fn embedded_app_url(shopify: &ShopifyApp, shop: &ShopDomain, host: Option<&str>) -> String {
    let decoded = host
        .and_then(|h| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(h.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let store = shop.as_str().split('.').next().unwrap_or_default();
    match decoded {
        Some(h) if h == format!("admin.shopify.com/store/{store}") || h == format!("{shop}/admin") => {
            format!("https://{h}/apps/{}", shopify.api_key)
        }
        _ => format!("https://{shop}/admin/apps/{}", shopify.api_key),
    }
}
