//! Configuration from the environment (SPEC §1). Every variable is read once at start-up; a missing
//! or malformed one is a start-up error that names the variable.

use std::net::SocketAddr;

use base64::Engine;
use secrecy::{ExposeSecret, SecretBox, SecretString};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    All,
    Web,
    Worker,
}

impl RunMode {
    pub fn runs_web(self) -> bool {
        matches!(self, RunMode::All | RunMode::Web)
    }
    pub fn runs_workers(self) -> bool {
        matches!(self, RunMode::All | RunMode::Worker)
    }
}

#[derive(Debug)]
pub struct ShopifyCredentials {
    pub api_key: String,
    pub api_secret: SecretString,
}

/// The scopes asked for when SHOPIFY_SCOPES is not set: orders (webhooks, tags, cancellation) and
/// fulfillment orders of either kind (holds until the COD confirmation, SPEC §9).
pub const DEFAULT_SCOPES: &str = "read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders,read_third_party_fulfillment_orders,write_third_party_fulfillment_orders";

pub struct Config {
    pub database_url: String,
    pub bind_addr: SocketAddr,
    /// Public origin without a trailing slash.
    pub app_url: String,
    /// `None` means demo mode.
    pub shopify: Option<ShopifyCredentials>,
    pub scopes: String,
    pub encryption_key: SecretBox<[u8; 32]>,
    pub shopify_api_origin: Option<String>,
    pub exotel_api_origin: Option<String>,
    /// Whether `APP_URL` was set (demo mode otherwise follows the port it is bound to).
    pub app_url_given: bool,
    /// How long a Calls/connect request may take before its outcome counts as unknown.
    pub exotel_timeout: std::time::Duration,
    /// Exotel's per-account request limit (200/min unless Exotel raised it for the account).
    pub exotel_calls_per_minute: i64,
    /// How long a client may take to send a request's headers, and again its body.
    pub client_timeout: std::time::Duration,
    pub run_mode: RunMode,
    pub test_clock: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind_addr", &self.bind_addr)
            .field("app_url", &self.app_url)
            .field("shopify", &self.shopify.as_ref().map(|s| &s.api_key))
            .field("run_mode", &self.run_mode)
            .field("test_clock", &self.test_clock)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// Demo mode's key protects nothing real (the demo shop's simulated tokens); it is fixed so that a
/// restarted demo can still read what it stored.
const DEMO_KEY: [u8; 32] = *b"codverify-demo-mode-key-32bytes!";

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests can build one without touching the process env.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());

        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://data/codverify.db".into());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(err("DATABASE_URL", "must start with sqlite:, postgres:// or postgresql://"));
        }
        let bind_addr: SocketAddr = get("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| err("BIND_ADDR", format!("not a socket address ({e})")))?;
        let app_url_given = get("APP_URL").is_some();
        let app_url = get("APP_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let parsed = url::Url::parse(&app_url).map_err(|e| err("APP_URL", format!("not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(err("APP_URL", "must be an http(s) origin"));
        }
        let app_url = app_url.trim_end_matches('/').to_string();

        let shopify = match (get("SHOPIFY_API_KEY"), get("SHOPIFY_API_SECRET")) {
            (Some(api_key), Some(secret)) => Some(ShopifyCredentials {
                api_key,
                api_secret: SecretString::from(secret),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(err("SHOPIFY_API_SECRET", "is required when SHOPIFY_API_KEY is set")),
            (None, Some(_)) => return Err(err("SHOPIFY_API_KEY", "is required when SHOPIFY_API_SECRET is set")),
        };
        let scopes = get("SHOPIFY_SCOPES").unwrap_or_else(|| DEFAULT_SCOPES.into());
        if scopes
            .split(',')
            .any(|s| s.trim().is_empty() || !s.trim().chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            return Err(err(
                "SHOPIFY_SCOPES",
                "must be a comma-separated list such as read_orders,write_orders",
            ));
        }

        let encryption_key = match get("APP_ENCRYPTION_KEY") {
            Some(b64) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| err("APP_ENCRYPTION_KEY", "must be base64 (e.g. `openssl rand -base64 32`)"))?;
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| err("APP_ENCRYPTION_KEY", format!("must decode to 32 bytes, got {}", b.len())))?;
                SecretBox::new(Box::new(key))
            }
            None if shopify.is_none() => SecretBox::new(Box::new(DEMO_KEY)),
            None => return Err(err("APP_ENCRYPTION_KEY", "is required outside demo mode (32 bytes, base64)")),
        };

        let origin = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => {
                    let u = url::Url::parse(&v).map_err(|e| err(var, format!("not a URL ({e})")))?;
                    if !matches!(u.scheme(), "http" | "https") {
                        return Err(err(var, "must be an http(s) origin"));
                    }
                    Ok(Some(v.trim_end_matches('/').to_string()))
                }
            }
        };
        let shopify_api_origin = origin("SHOPIFY_API_ORIGIN")?;
        let exotel_api_origin = origin("EXOTEL_API_ORIGIN")?;
        // Exotel may keep originating a call for up to 30 s before it answers.
        let exotel_timeout = match get("EXOTEL_TIMEOUT_SECONDS") {
            None => std::time::Duration::from_secs(40),
            Some(v) => match v.parse::<u64>() {
                Ok(n @ 1..=120) => std::time::Duration::from_secs(n),
                _ => return Err(err("EXOTEL_TIMEOUT_SECONDS", "must be a whole number of seconds from 1 to 120")),
            },
        };

        let exotel_calls_per_minute = match get("EXOTEL_CALLS_PER_MINUTE") {
            None => 200,
            Some(v) => match v.parse::<i64>() {
                Ok(n @ 10..=6000) => n,
                _ => return Err(err("EXOTEL_CALLS_PER_MINUTE", "must be a whole number from 10 to 6000")),
            },
        };

        let client_timeout = match get("HTTP_CLIENT_TIMEOUT_SECONDS") {
            None => std::time::Duration::from_secs(30),
            Some(v) => match v.parse::<u64>() {
                Ok(n @ 1..=300) => std::time::Duration::from_secs(n),
                _ => return Err(err("HTTP_CLIENT_TIMEOUT_SECONDS", "must be a whole number of seconds from 1 to 300")),
            },
        };

        let run_mode = match get("RUN_MODE").as_deref() {
            None | Some("all") => RunMode::All,
            Some("web") => RunMode::Web,
            Some("worker") => RunMode::Worker,
            Some(other) => return Err(err("RUN_MODE", format!("must be all, web or worker, not {other:?}"))),
        };
        let test_clock = match get("TEST_CLOCK").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(err("TEST_CLOCK", format!("must be 1 or unset, not {other:?}"))),
        };

        // Demo mode trusts its public signing secret and fixed key: it runs only where nothing real
        // can reach it or be reached through it (SPEC §11). A deployment that lost its Shopify
        // credentials stops here instead of becoming a demo on the real database.
        if shopify.is_none() {
            const LOST: &str = "SHOPIFY_API_KEY and SHOPIFY_API_SECRET are unset, so this would start the demo";
            if !bind_addr.ip().is_loopback() {
                return Err(err(
                    "BIND_ADDR",
                    format!("{LOST}, which listens only on a loopback address (127.0.0.1 or ::1), not {bind_addr}; set the Shopify credentials to serve real shops"),
                ));
            }
            if !database_url.starts_with("sqlite:") {
                return Err(err(
                    "DATABASE_URL",
                    format!("{LOST}, which runs only on SQLite, never on a PostgreSQL database; set the Shopify credentials to serve real shops"),
                ));
            }
            if get("APP_ENCRYPTION_KEY").is_some() {
                return Err(err(
                    "APP_ENCRYPTION_KEY",
                    format!("is set but {LOST}: a deployment with a real key never runs as the demo; set the Shopify credentials"),
                ));
            }
        }
        // The test clock lets anyone who reaches `/_test/clock/advance` move every schedule.
        if test_clock && !bind_addr.ip().is_loopback() {
            return Err(err("TEST_CLOCK", format!("=1 needs a loopback BIND_ADDR (127.0.0.1 or ::1), not {bind_addr}")));
        }
        if shopify.is_some() && !test_clock && parsed.scheme() != "https" && !is_loopback_host(&parsed) {
            return Err(err(
                "APP_URL",
                "must be an https origin (Shopify and Exotel send tokens and customer data to it); only a loopback host may use http",
            ));
        }

        Ok(Config {
            database_url,
            bind_addr,
            app_url,
            shopify,
            scopes,
            encryption_key,
            shopify_api_origin,
            exotel_api_origin,
            app_url_given,
            exotel_timeout,
            exotel_calls_per_minute,
            client_timeout,
            run_mode,
            test_clock,
        })
    }

    pub fn demo_mode(&self) -> bool {
        self.shopify.is_none()
    }

    pub fn key_bytes(&self) -> &[u8; 32] {
        self.encryption_key.expose_secret()
    }
}

/// `localhost`, 127.0.0.0/8 or ::1: a URL that never leaves the machine.
fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_demo_mode_on_sqlite() {
        let c = cfg(&[]).unwrap();
        assert!(c.demo_mode());
        assert_eq!(c.database_url, "sqlite://data/codverify.db");
        assert_eq!(c.run_mode, RunMode::All);
        assert_eq!(c.scopes, "read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders,read_third_party_fulfillment_orders,write_third_party_fulfillment_orders");
    }

    #[test]
    fn key_required_outside_demo() {
        let e = cfg(&[("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", "s")]).unwrap_err();
        assert_eq!(e.var, "APP_ENCRYPTION_KEY");
        let e = cfg(&[
            ("SHOPIFY_API_KEY", "k"),
            ("SHOPIFY_API_SECRET", "s"),
            ("APP_ENCRYPTION_KEY", "c2hvcnQ="),
        ])
        .unwrap_err();
        assert!(e.message.contains("32 bytes"), "{e}");
    }

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn demo_only_on_loopback_sqlite_without_a_key() {
        assert!(cfg(&[("BIND_ADDR", "127.0.0.1:0")]).unwrap().demo_mode());
        assert!(cfg(&[("BIND_ADDR", "[::1]:8080")]).unwrap().demo_mode());
        assert_eq!(cfg(&[("BIND_ADDR", "0.0.0.0:8080")]).unwrap_err().var, "BIND_ADDR");
        assert_eq!(cfg(&[("BIND_ADDR", "10.0.0.5:8080")]).unwrap_err().var, "BIND_ADDR");
        assert_eq!(cfg(&[("DATABASE_URL", "postgres://db/codverify")]).unwrap_err().var, "DATABASE_URL");
        let e = cfg(&[("APP_ENCRYPTION_KEY", KEY)]).unwrap_err();
        assert_eq!(e.var, "APP_ENCRYPTION_KEY");
        assert!(e.to_string().contains("SHOPIFY_API_KEY"), "{e}");
        // With credentials, the same values serve real shops.
        let real = [("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", "s"), ("APP_ENCRYPTION_KEY", KEY), ("APP_URL", "https://app.example.com")];
        let c = cfg(&[&real[..], &[("BIND_ADDR", "0.0.0.0:8080"), ("DATABASE_URL", "postgres://db/codverify")]].concat()).unwrap();
        assert!(!c.demo_mode());
    }

    #[test]
    fn test_clock_needs_loopback_and_app_url_needs_https() {
        let real = [("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", "s"), ("APP_ENCRYPTION_KEY", KEY)];
        let with = |extra: &[(&'static str, &'static str)]| cfg(&[&real[..], extra].concat());
        assert_eq!(with(&[("TEST_CLOCK", "1"), ("BIND_ADDR", "0.0.0.0:8080")]).unwrap_err().var, "TEST_CLOCK");
        assert_eq!(cfg(&[("TEST_CLOCK", "1"), ("BIND_ADDR", "0.0.0.0:8080")]).unwrap_err().var, "BIND_ADDR");
        assert!(with(&[("TEST_CLOCK", "1"), ("BIND_ADDR", "127.0.0.1:0"), ("APP_URL", "http://codverify.test")]).is_ok());
        assert_eq!(with(&[("APP_URL", "http://app.example.com")]).unwrap_err().var, "APP_URL");
        assert!(with(&[("APP_URL", "https://app.example.com")]).is_ok());
        for local in ["http://127.0.0.1:8080", "http://localhost:3000", "http://[::1]:8080", "http://127.0.0.2"] {
            assert!(with(&[("APP_URL", local)]).is_ok(), "{local}");
        }
        // The default APP_URL is loopback: a local start with credentials needs none.
        assert!(with(&[]).is_ok());
    }

    #[test]
    fn malformed_values_name_the_variable() {
        assert_eq!(cfg(&[("RUN_MODE", "both")]).unwrap_err().var, "RUN_MODE");
        assert_eq!(cfg(&[("BIND_ADDR", "nowhere")]).unwrap_err().var, "BIND_ADDR");
        assert_eq!(cfg(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var, "DATABASE_URL");
        assert_eq!(cfg(&[("TEST_CLOCK", "yes")]).unwrap_err().var, "TEST_CLOCK");
        assert_eq!(cfg(&[("HTTP_CLIENT_TIMEOUT_SECONDS", "0")]).unwrap_err().var, "HTTP_CLIENT_TIMEOUT_SECONDS");
        assert_eq!(cfg(&[("SHOPIFY_API_KEY", "k")]).unwrap_err().var, "SHOPIFY_API_SECRET");
        assert_eq!(cfg(&[("SHOPIFY_API_ORIGIN", "ftp://x")]).unwrap_err().var, "SHOPIFY_API_ORIGIN");
    }
}
