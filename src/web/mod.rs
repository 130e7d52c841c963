//! HTTP routes.

pub mod embedded;
pub mod error;
pub mod exotel;
pub mod install;
pub mod link;
pub mod otp_api;
pub mod pages;
pub mod reports;
pub mod ops;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::shopify::webhooks;

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
    Router::new()
        .merge(otp)
        .merge(pages::routes())
        .merge(reports::routes())
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
        .route("/exotel/{key}/missed-call", get(exotel::missed_call))
        .route("/exotel/{key}/sms-status", post(exotel::sms_status))
        .route("/v/{token}", get(link::show).post(link::act))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(webhooks)
        .fallback(ops::not_found)
        // Spans carry the path only (query strings hold id tokens and signatures), with the
        // Exotel callback key hidden.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::debug_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()))
        }))
        .with_state(state)
}

/// A request path fit for logs: the secret segment of `/exotel/{key}/…` is replaced.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/exotel/").and_then(|rest| rest.split_once('/')) {
        Some((_, tail)) => format!("/exotel/****/{tail}").into(),
        None => path.into(),
    }
}
