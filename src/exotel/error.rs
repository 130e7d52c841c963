//! What can go wrong talking to Exotel, in the app's terms and in the merchant's words, and the
//! masking of the numbers Exotel echoes in its messages.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::mask;

#[derive(Debug, thiserror::Error)]
pub enum ExotelError {
    /// 429: try again later; spends none of the customer's retries.
    #[error("Exotel is rate limiting this account (HTTP 429)")]
    RateLimited,
    /// 5xx: Exotel (or the carrier route) failed; try again later.
    #[error("Exotel failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The request may have reached Exotel but no answer came in time: the call MAY have been placed. Never redial blindly.
    #[error("no answer from Exotel in time; the request may have been carried out")]
    Timeout,
    /// The request never reached Exotel (DNS/connect failure): nothing happened, safe to retry.
    #[error("could not reach Exotel: {0}")]
    Unreachable(String),
    /// 401: the API key/token were refused.
    #[error("Exotel refused the API key and token (HTTP 401)")]
    Unauthorized,
    /// Refused because the number is on India's DND/NDNC registry (403 mentioning TRAI/NDNC/DND).
    #[error("Exotel refused: the number is on the DND/NDNC registry ({0})")]
    Dnd(String),
    /// Any other 4xx (400 invalid number/params, 402/403 plan or permission, 404 unknown account...).
    #[error("Exotel refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 2xx with a body we cannot read.
    #[error("unreadable answer from Exotel: {0}")]
    BadResponse(String),
}

/// An Exotel failure in the merchant's words (shown on the timeline and the settings page).
pub fn describe_error(e: &ExotelError) -> String {
    match e {
        ExotelError::Unauthorized => "Exotel refused the API key or token".into(),
        other => other.to_string(),
    }
}

impl ExotelError {
    /// Whether trying again later could succeed without any risk of doing the thing twice.
    pub fn is_transient(&self) -> bool {
        matches!(self, ExotelError::RateLimited | ExotelError::Server { .. } | ExotelError::Unreachable(_))
    }
}

/// Credentials check used when settings are saved: GET /v1/Accounts/{sid}/Balance.json. Ok(()) when Exotel accepts them.
pub(super) fn classify(status: u16, message: String) -> ExotelError {
    match status {
        401 => ExotelError::Unauthorized,
        429 => ExotelError::RateLimited,
        403 if mentions_dnd(&message) => ExotelError::Dnd(message),
        400..=499 => ExotelError::Rejected { status, message },
        500..=599 => ExotelError::Server { status, message },
        _ => ExotelError::BadResponse(format!("HTTP {status}: {message}")),
    }
}

/// Whole words only: "TRAI" is also inside "constraint".
fn mentions_dnd(message: &str) -> bool {
    let upper = message.to_ascii_uppercase();
    upper.contains("DO NOT DISTURB")
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| matches!(w, "TRAI" | "NDNC" | "DND"))
}

/// Exotel echoes numbers in its messages; these end up in logs and timelines.
pub(super) fn scrub(text: &str) -> String {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\d{7,}").expect("valid regex"));
    NUMBER.replace_all(text, |c: &regex::Captures| mask(&c[0])).into_owned()
}

pub(super) fn snippet(body: &str) -> String {
    scrub(&body.trim().chars().take(300).collect::<String>())
}

