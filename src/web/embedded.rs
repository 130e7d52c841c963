//! The embedded admin under `/app`: every request is authenticated by an App Bridge session token
//! and answered with a CSP that lets only this shop's admin frame it.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiResult, AppError, AppResult, JsonError};
use crate::domain::ShopDomain;
use crate::exotel;
use crate::settings::{self, Settings, mask_secret};
use crate::shopify::ShopifyApp;
use crate::shopify::oauth::OAuthError;
use crate::db::shops::{self, Shop};
use crate::app::App;
use crate::AppState;

fn shopify(app: &App) -> AppResult<&ShopifyApp> {
    app.shopify
        .as_ref()
        .ok_or_else(|| AppError::bad_request("Shopify is not configured: this server runs in demo mode"))
}

/// Adds `frame-ancestors` for the validated shop (or none at all when there is no shop).
pub fn with_csp(shop: Option<&ShopDomain>, mut resp: Response) -> Response {
    let value = match shop {
        Some(s) => format!("frame-ancestors https://{s} https://admin.shopify.com;"),
        None => "frame-ancestors 'none';".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The shop behind a verified session token, installed (by token exchange if need be).
async fn shop_for_token(app: &App, token: &str) -> AppResult<Shop> {
    let shopify = shopify(app)?;
    let session = shopify
        .verify_session_token(token, app.clock.now_secs())
        .map_err(AppError::invalid_session)?;
    if let Some(shop) = shops::find_by_domain(&app.db, &session.shop).await?
        && shop.is_installed()
    {
        return Ok(shop);
    }
    // Shopify-managed install: the first embedded request brings the id token to exchange.
    let tokens = shopify
        .token_exchange(&session.shop, token, app.clock.now_ms())
        .await
        .map_err(|e| match e {
            OAuthError::Refused(m) => AppError::unauthorized(format!("Shopify refused the token exchange: {m}")),
            other => AppError::Unavailable(other.to_string()),
        })?;
    let shop = shops::install(&app.db, &app.cipher, &session.shop, &tokens, app.clock.now_ms()).await?;
    tracing::info!(shop = %session.shop, "installed through token exchange");
    Ok(shop)
}

/// The session token of an `/app` request, wherever Shopify's own libraries look for it:
/// `Authorization: Bearer …` (App Bridge's authenticated `fetch`), else the `id_token` query
/// parameter (a document load).
pub fn session_token(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match bearer {
        Some(t) => Some(t.to_string()),
        None => url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .find(|(k, v)| k == "id_token" && !v.is_empty())
            .map(|(_, v)| v.into_owned()),
    }
}

/// Extractor for `/app/api/*`: the session token as a bearer token or as `id_token`.
pub struct ShopSession(pub Shop);

impl FromRequestParts<AppState> for ShopSession {
    type Rejection = JsonError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(parts).ok_or_else(|| AppError::invalid_session("missing session token"))?;
        Ok(ShopSession(shop_for_token(state, &token).await?))
    }
}

#[derive(Template)]
#[template(path = "bounce.html")]
struct BouncePage {
    api_key: String,
}

/// The official libraries' bounce page: App Bridge fetches a session token and reloads the
/// `shopify-reload` URL with it.
pub async fn bounce(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> AppResult<Response> {
    let shopify = shopify(&state)?;
    let shop = q.get("shop").and_then(|s| ShopDomain::parse(s).ok());
    let page = BouncePage {
        api_key: shopify.api_key.clone(),
    };
    Ok(with_csp(
        shop.as_ref(),
        Html(page.render().map_err(|e| anyhow::anyhow!(e))?).into_response(),
    ))
}

/// A document load of an embedded page (`/app/…`): the shop behind the `id_token` Shopify adds to
/// the URL (or behind a bearer token: App Bridge's `fetch` of a page or CSV). Without one, an embedded load is bounced to get a token, and a load outside Shopify
/// admin goes to the install or into the admin. Every page handler takes this extractor.
pub struct PageShop {
    pub shop: Shop,
    pub domain: ShopDomain,
    /// The app's API key, for App Bridge's `<meta name="shopify-api-key">`.
    pub api_key: String,
}

impl FromRequestParts<AppState> for PageShop {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default().to_string();
        let path = parts.uri.path().to_string();
        let token = session_token(parts);
        page_shop(state, &path, &raw, token).await.map_err(IntoResponse::into_response)
    }
}

async fn page_shop(state: &AppState, path: &str, raw: &str, token: Option<String>) -> Result<PageShop, AppError> {
    let shopify = shopify(state)?;
    let q: HashMap<String, String> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    let shop_param = match q.get("shop") {
        Some(s) => Some(ShopDomain::parse(s).map_err(AppError::BadRequest)?),
        None => None,
    };
    let Some(id_token) = token else {
        return Err(match (&shop_param, q.get("embedded").map(String::as_str)) {
            // Embedded but without a token: bounce to get one, then come back here.
            (Some(_), Some("1")) => {
                let reload = format!("{path}?{raw}");
                let target = format!(
                    "/auth/session-token?{raw}&shopify-reload={}",
                    url::form_urlencoded::byte_serialize(reload.as_bytes()).collect::<String>()
                );
                AppError::Redirect(target)
            }
            // Opened outside Shopify admin: install, or go to the app inside the admin.
            (Some(shop), _) => match shops::find_by_domain(&state.db, shop).await? {
                Some(s) if s.is_installed() => AppError::Redirect(super::install::embedded_app_url(shopify, shop, None)),
                _ => AppError::Redirect(format!("/auth?shop={shop}")),
            },
            (None, _) => AppError::bad_request("Open codverify from your Shopify admin (Apps → codverify)."),
        });
    };
    let shop = shop_for_token(state, &id_token).await?;
    let domain = ShopDomain::parse(&shop.domain).map_err(AppError::BadRequest)?;
    if shop_param.as_ref().is_some_and(|s| *s != domain) {
        return Err(AppError::invalid_session("the session token belongs to another shop"));
    }
    Ok(PageShop { shop, domain, api_key: shopify.api_key.clone() })
}

/// Renders a page template inside the admin: with the shop's frame-ancestors CSP.
pub fn embedded_page(domain: &ShopDomain, page: &impl Template) -> AppResult<Response> {
    Ok(with_csp(Some(domain), Html(page.render().map_err(|e| anyhow::anyhow!(e))?).into_response()))
}

/// `GET /app`: the document load inside Shopify admin: the App Info page.
pub use super::pages::info as home;

/// Every Exotel URL of SPEC §4 for this shop, to paste into the flow builder.
pub fn callback_urls(app_url: &str, exotel_key: &str) -> Value {
    let base = format!("{app_url}/exotel/{exotel_key}");
    json!({
        "greeting": format!("{base}/greeting"),
        "ivr_confirm": format!("{base}/ivr/confirm"),
        "ivr_cancel": format!("{base}/ivr/cancel"),
        "ivr_callback": format!("{base}/ivr/callback"),
        "ivr_input": format!("{base}/ivr/input"),
        "call_status": format!("{base}/call-status"),
        "missed_call": format!("{base}/missed-call"),
        "sms_status": format!("{base}/sms-status"),
        "whatsapp": format!("{base}/whatsapp"),
    })
}

/// The shop's settings with the sealed parts that belong to the document opened (the
/// blocklisted phone numbers). An unreadable list is an error, never shown (and saved back) empty.
pub fn shop_settings(app: &App, shop: &Shop) -> AppResult<Settings> {
    let mut s = Settings::from_stored(&shop.settings);
    s.rules
        .open_phones(&app.cipher, shop.blocklist_phones_enc.as_deref())
        .map_err(|e| anyhow::anyhow!("rules.blocklist_phones: {e}"))?;
    Ok(s)
}

fn settings_document(app: &App, shop: &Shop) -> AppResult<Value> {
    let s = shop_settings(app, shop)?;
    let token = shop.exotel_api_token_enc.as_deref().and_then(|enc| app.cipher.decrypt(enc).ok());
    let mut doc = s.to_document();
    doc["general"]["api_token"] = json!(
        token
            .map(|t| mask_secret(secrecy::ExposeSecret::expose_secret(&t)))
            .unwrap_or_default()
    );
    doc["callback_urls"] = callback_urls(&app.config.app_url, &shop.exotel_key);
    doc["status"] = json!({ "install": shop.install_status(), "exotel": shop.exotel_status });
    Ok(doc)
}

fn api_response(shop: &Shop, body: Value) -> Response {
    let domain = ShopDomain::parse(&shop.domain).ok();
    with_csp(domain.as_ref(), Json(body).into_response())
}

pub async fn get_settings(State(state): State<AppState>, ShopSession(shop): ShopSession) -> ApiResult<Response> {
    Ok(api_response(&shop, settings_document(&state, &shop)?))
}

/// `PUT /app/api/settings`: the whole document or any of its sections; 422 with every bad field,
/// and nothing saved, when anything is invalid.
pub async fn put_settings(State(state): State<AppState>, ShopSession(shop): ShopSession, body: Bytes) -> ApiResult<Response> {
    let doc: Value = serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let current = shop_settings(&state, &shop)?;
    let applied = settings::apply(&current, shop.exotel_api_token_enc.is_some(), &doc).map_err(AppError::Invalid)?;
    let general_saved = doc.get("general").is_some();
    // Saving the credentials checks them against Exotel; the result is shown, the save stands.
    let exotel_status = if general_saved {
        let g = &applied.settings.general;
        let token = match &applied.new_api_token {
            Some(t) => Some(secrecy::SecretString::from(t.clone())),
            None => shop.exotel_api_token_enc.as_deref().and_then(|enc| state.cipher.decrypt(enc).ok()),
        };
        Some(match token {
            None => "failed: no API token".to_string(),
            Some(token) => {
                let account = exotel::Account::of(g, state.config.exotel_api_origin.as_deref(), token);
                match exotel::check_account(&state.http, &account).await {
                    Ok(()) => "connected".to_string(),
                    Err(e) => format!("failed: {}", exotel::describe_error(&e)),
                }
            }
        })
    } else {
        None
    };
    let token_enc = applied.new_api_token.as_deref().map(|t| state.cipher.encrypt(t));
    let stored = serde_json::to_string(&applied.settings).map_err(anyhow::Error::from)?;
    // The blocklisted numbers are sealed in their own column, never in `stored`.
    let blocklist = doc.get("rules").map(|_| applied.settings.rules.seal_phones(&state.cipher));
    shops::save_settings_and_blocklist(&state.db, &shop.id, &stored, general_saved, token_enc, exotel_status.as_deref(), blocklist, state.clock.now_ms())
        .await?;
    let shop = shops::find(&state.db, &shop.id).await?.ok_or(AppError::NotFound)?;
    Ok(api_response(&shop, settings_document(&state, &shop)?))
}

/// `POST /app/api/settings/rotate-exotel-key`: a new secret for the Exotel URLs. The old URLs stop
/// working at once (404); the merchant pastes the new ones into the flow.
pub async fn rotate_exotel_key(State(state): State<AppState>, ShopSession(shop): ShopSession) -> ApiResult<Response> {
    let key = crate::crypto::random_token(24);
    shops::set_exotel_key(&state.db, &shop.id, &key, state.clock.now_ms()).await?;
    let shop = shops::find(&state.db, &shop.id).await?.ok_or(AppError::NotFound)?;
    Ok(api_response(&shop, settings_document(&state, &shop)?))
}
