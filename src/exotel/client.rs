//! The plumbing every Exotel request shares: an account's credentials and URLs, Basic auth and
//! timeouts; the errors a request can end in are in `error`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::answer::{Fields, Section, interpret};
pub use super::error::{ExotelError, describe_error};
use super::error::scrub;
use crate::crypto::Cipher;
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
