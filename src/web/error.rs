//! The one error type of the web layer. Each variant knows its status code; HTML requests get an
//! error page, API requests JSON.

use std::collections::BTreeMap;

use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A missing or bad App Bridge session token: the embedded admin should fetch a new one.
    #[error("{0}")]
    InvalidSession(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("invalid settings")]
    Invalid(BTreeMap<String, String>),
    #[error("{0}")]
    Unavailable(String),
    /// Not an error: a page answers with a redirect (e.g. a document load that needs a token).
    #[error("redirect to {0}")]
    Redirect(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        AppError::Unauthorized(msg.into())
    }
    pub fn invalid_session(msg: impl Into<String>) -> Self {
        AppError::InvalidSession(msg.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::InvalidSession(_) => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Redirect(_) => StatusCode::SEE_OTHER,
        }
    }

    fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Something went wrong on our side. Please try again.".into(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

/// Renders errors as JSON for API paths and as an HTML page elsewhere.
pub struct JsonError(pub AppError);

pub type ApiResult<T> = Result<T, JsonError>;

impl<E: Into<AppError>> From<E> for JsonError {
    fn from(e: E) -> Self {
        JsonError(e.into())
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let err = self.0;
        let status = err.status();
        if let AppError::Internal(e) = &err {
            tracing::error!(error = %e, "internal error");
        }
        let body = match &err {
            AppError::Invalid(errors) => serde_json::json!({ "errors": errors }),
            other => serde_json::json!({ "error": other.public_message() }),
        };
        with_session_retry(&err, (status, Json(body)).into_response())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Redirect(to) = &self {
            return axum::response::Redirect::to(to).into_response();
        }
        let status = self.status();
        if let AppError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error");
        }
        let page = ErrorPage {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: self.public_message(),
        };
        let html = page.render().unwrap_or_else(|_| self.public_message());
        with_session_retry(&self, (status, Html(html)).into_response())
    }
}

fn with_session_retry(err: &AppError, mut resp: Response) -> Response {
    if matches!(err, AppError::InvalidSession(_)) {
        resp.headers_mut()
            .insert("X-Shopify-Retry-Invalid-Session-Request", HeaderValue::from_static("1"));
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
