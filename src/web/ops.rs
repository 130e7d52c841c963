//! Operator and test endpoints.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use serde::Deserialize;
use serde_json::json;

use super::error::{AppError, AppResult};
use crate::AppState;

/// 200 when the database answers.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "database": state.db.backend_name()}))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": state.db.backend_name()})),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct Advance {
    seconds: Option<String>,
}

fn clock_json(ms: i64) -> Json<serde_json::Value> {
    let at = chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    Json(json!({ "now_ms": ms, "now": at }))
}

/// `POST /_test/clock/advance?seconds=N`: only with `TEST_CLOCK=1`, 404 otherwise.
pub async fn clock_advance(State(state): State<AppState>, Query(q): Query<Advance>) -> AppResult<impl IntoResponse> {
    if !state.clock.is_test() {
        return Err(AppError::NotFound);
    }
    let seconds: i64 = q
        .seconds
        .as_deref()
        .and_then(|s| s.parse().ok())
        .filter(|s| (0..=400 * 24 * 3600).contains(s))
        .ok_or_else(|| AppError::bad_request("seconds must be a whole number from 0 to 34560000"))?;
    let now = state.clock.advance(seconds).expect("test clock");
    Ok(clock_json(now))
}

pub async fn clock_now(State(state): State<AppState>) -> AppResult<impl IntoResponse> {
    if !state.clock.is_test() {
        return Err(AppError::NotFound);
    }
    Ok(clock_json(state.clock.now_ms()))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.js"),
    )
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    demo: bool,
    database: &'static str,
}

/// `GET /`: what this server is, for an operator or a merchant who lands here directly.
pub async fn index(State(state): State<AppState>) -> AppResult<Html<String>> {
    let page = IndexPage { demo: state.config.demo_mode(), database: state.db.backend_name() };
    Ok(Html(page.render().map_err(|e| anyhow::anyhow!(e))?))
}
