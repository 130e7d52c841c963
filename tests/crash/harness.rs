//! The app as real processes (`CARGO_BIN_EXE_codverify`): start, wait until ready, kill -9; the
//! database (a temp SQLite file or a fresh PostgreSQL database); the test clock of the current
//! process; session tokens; and the SQL the invariants are read with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use codverify::db::Db;
use codverify::on_db;
use serde_json::{Value, json};

use crate::{API_KEY, API_SECRET};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Whole-number environment knob with a default.
pub fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        _ => default,
    }
}

/// Where one test keeps its database file (SQLite) and the app processes' logs.
pub fn work_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{test}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The configuration every process of one test shares.
pub fn base_vars(database_url: &str, shopify_origin: &str, exotel_origin: &str) -> HashMap<String, String> {
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    [
        ("DATABASE_URL", database_url),
        ("APP_URL", "https://codverify.test"),
        ("SHOPIFY_API_KEY", API_KEY),
        ("SHOPIFY_API_SECRET", API_SECRET),
        ("APP_ENCRYPTION_KEY", key.as_str()),
        ("SHOPIFY_API_ORIGIN", shopify_origin),
        ("EXOTEL_API_ORIGIN", exotel_origin),
        ("EXOTEL_TIMEOUT_SECONDS", "2"),
        ("RUST_LOG", "info,sqlx=warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The text of a log without its colour codes.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One app process.
pub struct AppProc {
    child: Option<Child>,
    pub mode: &'static str,
    /// `http://127.0.0.1:port` when it serves HTTP.
    pub addr: Option<String>,
    pub log: PathBuf,
}

impl AppProc {
    /// Starts the binary on a port of its own choosing (`BIND_ADDR=127.0.0.1:0`; a port picked
    /// here could be taken by a process of a parallel test meanwhile) and waits until it has logged
    /// that it started (with its port) and, when it serves HTTP, answers `GET /healthz` with 200.
    pub async fn start(vars: &HashMap<String, String>, mode: &'static str, log: PathBuf) -> AppProc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_codverify"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(vars)
            .env("RUN_MODE", mode)
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start codverify");
        let mut p = AppProc { child: Some(child), mode, addr: None, log };
        p.wait_ready().await;
        p
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("codverify ({}) exited at start-up with {status}; log {}:\n{}", self.mode, self.log.display(), tail(&self.log));
            }
            let log = strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default());
            let port = log
                .lines()
                .find(|l| l.contains("codverify started"))
                .and_then(|l| l.split("port=").nth(1))
                .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u16>().ok());
            if let Some(port) = port {
                if port == 0 {
                    return;
                }
                let addr = format!("http://127.0.0.1:{port}");
                if http.get(format!("{addr}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                    self.addr = Some(addr);
                    return;
                }
            }
            assert!(Instant::now() < deadline, "codverify ({}) not ready after 90 s; log {}:\n{}", self.mode, self.log.display(), tail(&self.log));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL, and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (a graceful stop), then SIGKILL if it has not exited within 40 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(40);
            while Instant::now() < deadline {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Panics if the process died on its own (it must only ever stop by our hand).
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
            panic!("codverify ({}) exited by itself with {status}; log {}:\n{}", self.mode, self.log.display(), tail(&self.log));
        }
    }
}

impl Drop for AppProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last lines of a log, for failure messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// An App Bridge session token as Shopify signs it, valid at `now_secs` on the app's clock.
pub fn session_token(shop: &str, now_secs: i64) -> String {
    let claims = json!({
        "iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": API_KEY,
        "sub": "42", "exp": now_secs + 60, "nbf": now_secs - 5, "iat": now_secs - 5, "jti": uuid::Uuid::new_v4().to_string(), "sid": "s1",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(API_SECRET.as_bytes()),
    )
    .unwrap()
}

/// The HMAC Shopify signs webhooks with.
pub fn sign(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(API_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A Shopify `orders/create` payload (REST shape) for a COD order.
pub fn order_payload(id: i64, phone: &str) -> Value {
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1000 + id),
        "order_number": 1000 + id,
        "total_price": "499.00",
        "currency": "INR",
        "payment_gateway_names": ["Cash on Delivery (COD)"],
        "email": "asha@example.com",
        "phone": null,
        "created_at": "2026-11-22T10:00:00+05:30",
        "cancelled_at": null,
        "shipping_address": {"first_name": "Asha", "last_name": "Rao", "phone": phone, "city": "Pune", "country_code": "IN"},
        "billing_address": null,
        "customer": {"id": 7001, "email": "asha@example.com", "phone": null, "first_name": "Asha", "last_name": "Rao"},
        "line_items": [{"title": "Kurta", "quantity": 1, "price": "499.00"}],
    })
}

/// Posts a signed `orders/create`; the status, or `None` when no answer came back.
pub async fn post_order(http: &reqwest::Client, addr: &str, shop: &str, webhook_id: &str, body: &Value) -> Option<u16> {
    let raw = serde_json::to_vec(body).unwrap();
    let r = http
        .post(format!("{addr}/webhooks/shopify"))
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Shop-Domain", shop)
        .header("X-Shopify-Webhook-Id", webhook_id)
        .header("X-Shopify-API-Version", "2026-10")
        .header("X-Shopify-Hmac-Sha256", sign(&raw))
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

/// The test clock of the current process, kept monotonic across restarts: a new process starts
/// from the wall clock, so it is moved on to where the previous one was.
pub struct TestClock {
    pub now_ms: i64,
}

impl TestClock {
    pub async fn read(http: &reqwest::Client, addr: &str) -> i64 {
        let v: Value = http.get(format!("{addr}/_test/clock")).send().await.unwrap().json().await.unwrap();
        v["now_ms"].as_i64().unwrap()
    }

    /// After a (re)start: moves the new process's clock to at least where the old one was.
    pub async fn sync(&mut self, http: &reqwest::Client, addr: &str) {
        let now = Self::read(http, addr).await;
        if now < self.now_ms {
            let secs = (self.now_ms - now + 999) / 1000;
            self.now_ms = Self::advance_raw(http, addr, secs).await;
        } else {
            self.now_ms = now;
        }
    }

    pub async fn advance(&mut self, http: &reqwest::Client, addr: &str, secs: i64) {
        self.now_ms = Self::advance_raw(http, addr, secs).await;
    }

    async fn advance_raw(http: &reqwest::Client, addr: &str, secs: i64) -> i64 {
        let r = http.post(format!("{addr}/_test/clock/advance?seconds={secs}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "clock advance");
        let v: Value = r.json().await.unwrap();
        v["now_ms"].as_i64().unwrap()
    }

    pub fn secs(&self) -> i64 {
        self.now_ms / 1000
    }
}

/// Read access to the app's database for the invariants (the test never writes to it).
pub struct Reader {
    pub db: Db,
}

impl Reader {
    pub async fn open(url: &str) -> Reader {
        Reader { db: Db::connect(url).await.expect("open the test database") }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        on_db!(&self.db, c => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(c).await).unwrap()
    }

    /// Rows of text columns (NULL as None), as many as the query selects.
    pub async fn rows(&self, sql: &str, columns: usize) -> Vec<Vec<Option<String>>> {
        use sqlx::Row;
        let sql = sql.to_string();
        on_db!(&self.db, p => sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(p)
            .await
            .unwrap()
            .iter()
            .map(|r| (0..columns).map(|i| r.try_get::<Option<String>, _>(i).unwrap()).collect())
            .collect())
    }

    /// apalis' job table.
    pub fn jobs_table(&self) -> &'static str {
        if self.is_pg() { "apalis.jobs" } else { "Jobs" }
    }

    /// (queued or running or to be retried, dead) apalis jobs.
    pub async fn job_counts(&self) -> (i64, i64) {
        let t = self.jobs_table();
        let queued = self
            .count(&format!(
                "SELECT COUNT(*) FROM {t} WHERE status IN ('Pending', 'Queued', 'Running') OR (status = 'Failed' AND attempts < max_attempts)"
            ))
            .await;
        let dead = self.count(&format!("SELECT COUNT(*) FROM {t} WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)")).await;
        (queued, dead)
    }

    /// Jobs that ran more than once (apalis re-ran them after their worker was killed, or after a
    /// failed run).
    pub async fn jobs_rerun(&self) -> i64 {
        self.count(&format!("SELECT COUNT(*) FROM {} WHERE attempts > 1", self.jobs_table())).await
    }
}
