//! The plumbing every Exotel request shares: an account's credentials and URLs, Basic auth and
//! timeouts, and the errors a request can end in (with how each is told to the merchant).

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};

use super::answer::{Fields, Section, interpret};
use crate::crypto::Cipher;
use crate::domain::mask;
use crate::settings::General;

/// Timeout of every request but call origination (which the caller sizes: it can take 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// One Exotel account's API credentials.
#[derive(Clone, Debug)]
pub struct Account {
    pub origin: String,
    pub sid: String,
    pub api_key: String,
    pub api_token: SecretString,
}

impl Account {
    /// origin = override (EXOTEL_API_ORIGIN, e.g. "http://127.0.0.1:1234", used as is) or "https://{subdomain}".
    pub fn new(subdomain: &str, origin_override: Option<&str>, sid: &str, api_key: &str, api_token: SecretString) -> Account {
        let origin = match origin_override.map(str::trim).filter(|o| !o.is_empty()) {
            Some(o) => o.trim_end_matches('/').to_string(),
            None => format!("https://{}", subdomain.trim().trim_end_matches('/')),
        };
        Account { origin, sid: sid.trim().to_string(), api_key: api_key.trim().to_string(), api_token }
    }

    /// A shop's account from its `general` settings and an API token.
    pub fn of(general: &General, origin_override: Option<&str>, api_token: SecretString) -> Account {
        Account::new(&general.exotel_subdomain, origin_override, &general.account_sid, &general.api_key, api_token)
    }

    /// A shop's account from its settings and its stored (sealed) API token; `None` without a token
    /// that opens.
    pub fn for_shop(general: &General, cipher: &Cipher, token_enc: Option<&str>, origin_override: Option<&str>) -> Option<Account> {
        let token: SecretString = cipher.decrypt(token_enc?).ok()?;
        Some(Account::of(general, origin_override, token))
    }

    /// A v1 API URL below the account (`tail` like "Calls/connect.json").
    pub(super) fn url(&self, tail: &str) -> String {
        format!("{}/v1/Accounts/{}/{tail}", self.origin, encode_segment(&self.sid))
    }
}

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
pub async fn check_account(http: &reqwest::Client, acct: &Account) -> Result<(), ExotelError> {
    exchange(acct, http.get(acct.url("Balance.json")), DEFAULT_TIMEOUT, Section::Any).await.map(|_| ())
}

/// Sends a v1 request and reads its answer (JSON or XML) for `section`.
pub(super) async fn exchange(acct: &Account, req: reqwest::RequestBuilder, timeout: Duration, section: Section) -> Result<Fields, ExotelError> {
    let (status, body) = send(acct, req, timeout).await?;
    interpret(status, &body, section)
}

/// Sends a request with the account's Basic credentials: the HTTP status and body, or the
/// transport failure it ended in.
pub(super) async fn send(acct: &Account, req: reqwest::RequestBuilder, timeout: Duration) -> Result<(u16, String), ExotelError> {
    let resp = req
        .basic_auth(&acct.api_key, Some(acct.api_token.expose_secret()))
        .timeout(timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(transport)?;
    Ok((status, body))
}

/// Only a failure to connect proves nothing reached Exotel; any other failure (timeout, a reset
/// after the request went out) may have left a call placed, so it counts as a timeout.
fn transport(e: reqwest::Error) -> ExotelError {
    if !(e.is_connect() || e.is_builder()) {
        return ExotelError::Timeout;
    }
    // The URL can hold a phone number (Numbers/{number}); the causes say what actually failed.
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    ExotelError::Unreachable(scrub(&msg))
}

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

/// Percent-encodes one path segment (a `+` must survive as `%2B`).
pub(super) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_override_is_used_as_is() {
        let t = || SecretString::from("t");
        assert_eq!(Account::new("api.in.exotel.com", None, "s", "k", t()).origin, "https://api.in.exotel.com");
        let a = Account::new("api.in.exotel.com", Some("http://127.0.0.1:1234/"), "s", "k", t());
        assert_eq!(a.origin, "http://127.0.0.1:1234");
        assert_eq!(a.url("Numbers/x.json"), "http://127.0.0.1:1234/v1/Accounts/s/Numbers/x.json");
        assert_eq!(encode_segment("+91 98"), "%2B91%2098");
    }
}
