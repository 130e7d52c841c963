//! HTTP routes.

pub mod embedded;
pub mod error;
pub mod exotel;
pub mod install;
pub mod limits;
pub mod link;
pub mod otp_api;
pub mod outcomes;
pub mod outcomes_page;
pub mod pages;
pub mod privacy;
pub mod reports;
pub mod review;
pub mod texts;
pub mod webhooks;
pub mod ops;

use axum::Router;
use axum::response::IntoResponse;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

/// Default body limit for every route but webhooks.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/shopify", post(webhooks::receive))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(webhooks::MAX_BODY_BYTES));
    // The checkout extensions call from Shopify's origins with a bearer token and no cookies.
    let otp = Router::new()
        .route("/api/otp/status", get(otp_api::status))
        .route("/api/otp/verify", post(otp_api::verify))
        .route("/api/otp/resend", post(otp_api::resend))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(std::time::Duration::from_secs(600)),
        );
    let router = Router::new()
        .merge(otp)
        .merge(pages::routes())
        .merge(reports::routes())
        .merge(review::routes())
        .merge(outcomes::routes())
        .merge(privacy::routes())
        .merge(crate::demo::sim::routes())
        .merge(crate::demo::console::routes())
        .route("/", get(ops::index))
        .route("/healthz", get(ops::healthz))
        .route("/_test/clock", get(ops::clock_now))
        .route("/_test/clock/advance", post(ops::clock_advance))
        .route("/static/app.css", get(ops::stylesheet))
        .route("/static/app.js", get(ops::script))
        .route("/auth", get(install::begin))
        .route("/auth/callback", get(install::callback))
        .route("/auth/session-token", get(embedded::bounce))
        .route("/app", get(embedded::home))
        .route("/app/api/settings", get(embedded::get_settings).put(embedded::put_settings))
        .route("/app/api/settings/rotate-exotel-key", post(embedded::rotate_exotel_key))
        .route("/exotel/{key}/greeting", get(exotel::greeting))
        .route("/exotel/{key}/ivr/{choice}", get(exotel::passthru))
        .route("/exotel/{key}/call-status", post(exotel::call_status))
        .route("/exotel/{key}/missed-call", get(exotel::missed_call).post(exotel::missed_call_post))
        .route("/exotel/{key}/sms-status", post(exotel::sms_status))
        .route("/exotel/{key}/whatsapp", post(exotel::whatsapp))
        .route("/v/{token}", get(link::show).post(link::act))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(webhooks)
        .fallback(ops::not_found)
        // Spans carry the path only (query strings hold id tokens and signatures), with the
        // Exotel callback key hidden.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::debug_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()))
        }))
        // Per-client request limits, and a deadline for every request body (limits.rs).
        .layer(axum::middleware::from_fn(limits::per_client))
        .layer(axum::middleware::from_fn_with_state(state.config.client_timeout, limits::body_deadline));
    // Only a demo pays for rewriting its pages.
    let router = if state.demo.is_some() { router.layer(axum::middleware::from_fn(demo_banner)) } else { router };
    router.with_state(state)
}

/// In demo mode every HTML page says so at the top (the console has its own header).
async fn demo_banner(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    // The console and the home page say so themselves.
    let console = req.uri().path().starts_with("/demo") || req.uri().path() == "/";
    let resp = next.run(req).await;
    let html = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if console || !html {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 * 1024 * 1024).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut page = String::from_utf8_lossy(&bytes).into_owned();
    // Right after the opening <body …> tag, whatever its attributes.
    if let Some(at) = page.find("<body").and_then(|b| page[b..].find('>').map(|e| b + e + 1)) {
        page.insert_str(
            at,
            "<div role=\"note\" style=\"background:#fff4d6;border-bottom:1px solid #e1b878;padding:.4rem 1rem;font:14px system-ui,sans-serif\">\
             <strong>Demo mode</strong> — a simulated shop, Shopify and Exotel; nothing leaves this machine. <a href=\"/demo\">Demo console</a></div>",
        );
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(page))
}

/// A request path fit for logs: the secret segment of `/exotel/{key}/…` is replaced.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/exotel/").and_then(|rest| rest.split_once('/')) {
        Some((_, tail)) => format!("/exotel/****/{tail}").into(),
        None => path.into(),
    }
}
