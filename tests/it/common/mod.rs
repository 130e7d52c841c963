//! The test app: the real application on port 0 with `TEST_CLOCK=1`, a fake Shopify over HTTP, on
//! SQLite (a temp file) or PostgreSQL (a fresh database per test).

pub mod fake_exotel;
pub mod fake_shopify;
pub mod fake_whatsapp;
pub mod pg;
pub mod snapshot;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use codverify::config::Config;
use codverify::db::queue::{self as jobs, JobCounts};
use codverify::{AppState, Application, on_db};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub use fake_exotel::FakeExotel;
pub use fake_shopify::FakeShopify;
use pg::fresh_pg_database;

pub const API_KEY: &str = "test-api-key";
pub const API_SECRET: &str = "test-api-secret";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one test per database: `both_dbs!(name)` runs `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_dbs {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub shopify: FakeShopify,
    pub exotel: FakeExotel,
    pub state: AppState,
    #[allow(dead_code)]
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    /// The configuration it was started with, for a second process on the same database.
    vars: HashMap<String, String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts the app, or returns `None` when the backend is unavailable here (PostgreSQL only).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
        let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())).with_test_writer().try_init();
        let shopify = FakeShopify::start().await;
        let exotel = FakeExotel::start().await;
        let (dir, database_url) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/codverify.db", dir.path().display());
                (Some(dir), url)
            }
            Backend::Postgres => (None, fresh_pg_database().await?),
        };
        let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("APP_URL", "https://codverify.test"),
            ("SHOPIFY_API_KEY", API_KEY),
            ("SHOPIFY_API_SECRET", API_SECRET),
            ("APP_ENCRYPTION_KEY", key.as_str()),
            ("SHOPIFY_API_ORIGIN", shopify.origin.as_str()),
            ("EXOTEL_API_ORIGIN", exotel.origin.as_str()),
            ("EXOTEL_TIMEOUT_SECONDS", "2"),
            ("TEST_CLOCK", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let app = Application::build(config).await.expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        // Every test starts at 10:00 in India, inside the default calling hours.
        state.clock.advance(secs_until_ist(state.clock.now_ms(), 10, 0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Some(TestApp { address, client, shopify, exotel, state, backend, _dir: dir, vars, shutdown: Some(tx), handle: Some(handle) })
    }

    /// A second app process on the same database and fakes, its clock set to this one's.
    pub async fn peer(&self) -> TestApp {
        self.process(self.vars.clone(), self.state.clock.now_ms(), None).await
    }

    /// Stops this process and starts another on the same database and fakes, with `extra` over
    /// the configuration (`RUN_MODE=web`: no job or call runs), its clock where this one's was.
    pub async fn restart_with(mut self, extra: &[(&str, &str)]) -> TestApp {
        let now_ms = self.state.clock.now_ms();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
        }
        let mut vars = self.vars.clone();
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        let dir = self._dir.take();
        self.process(vars, now_ms, dir).await
    }

    /// Starts an app process with `vars` on this one's fakes, its clock never behind `now_ms` (a
    /// second ahead at most: the test clock moves in whole seconds).
    async fn process(&self, vars: HashMap<String, String>, now_ms: i64, dir: Option<tempfile::TempDir>) -> TestApp {
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let app = Application::build(config).await.expect("app process builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        state.clock.advance((now_ms - state.clock.now_ms() + 999) / 1000);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            address,
            client: self.client.clone(),
            shopify: self.shopify.clone(),
            exotel: self.exotel.clone(),
            state,
            backend: self.backend,
            _dir: dir,
            vars,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn database_url(&self) -> &str {
        &self.vars["DATABASE_URL"]
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn now_secs(&self) -> i64 {
        self.state.clock.now_secs()
    }

    /// Moves the clock on to the next hh:mm:00 in India (Asia/Kolkata).
    pub async fn advance_to_ist(&self, hh: u32, mm: u32) {
        self.advance(secs_until_ist(self.state.clock.now_ms(), hh, mm)).await;
    }

    pub async fn advance(&self, seconds: i64) {
        let r = self.client.post(self.url(&format!("/_test/clock/advance?seconds={seconds}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    /// An App Bridge session token as Shopify would sign it, valid now on the app clock.
    pub fn session_token(&self, shop: &str) -> String {
        let now = self.now_secs();
        self.session_token_with(json!({
            "iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": API_KEY,
            "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": uuid::Uuid::new_v4().to_string(), "sid": "s1",
        }), API_SECRET)
    }

    pub fn session_token_with(&self, claims: Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    pub async fn get_api(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn put_settings(&self, shop: &str, doc: Value) -> reqwest::Response {
        self.client.put(self.url("/app/api/settings")).bearer_auth(self.session_token(shop)).json(&doc).send().await.unwrap()
    }

    /// Installs the shop through token exchange (its first embedded request).
    pub async fn install(&self, shop: &str) {
        let r = self.get_api("/app/api/settings", &self.session_token(shop)).await;
        assert_eq!(r.status(), 200, "install of {shop}: {}", r.text().await.unwrap());
    }

    /// Installs and saves valid settings (IVR with its defaults), so that orders are verified.
    pub async fn install_configured(&self, shop: &str, verify: &str) {
        self.install_with_ivr(shop, verify, json!({})).await;
    }

    /// Installs and saves valid settings with `ivr` fields over the defaults below.
    pub async fn install_with_ivr(&self, shop: &str, verify: &str, ivr: Value) {
        self.install(shop).await;
        let mut section = json!({"first_call": "immediate", "exophone": "08047112345", "flow_id": "123456", "retries": 2,
            "retry_interval_minutes": 30, "timezone": "Asia/Kolkata", "window_start": "09:00", "window_end": "21:00",
            "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled", "callback_tag": "cod_callback"});
        for (k, v) in ivr.as_object().unwrap() {
            section[k] = v.clone();
        }
        let r = self
            .put_settings(shop, json!({"general": {"verify": verify, "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
                "account_sid": "acme1", "api_key": "exokey", "api_token": "exotoken-secret"}, "ivr": section}))
            .await;
        assert_eq!(r.status(), 200, "settings: {}", r.text().await.unwrap());
    }

    /// Installs with IVR (no retries) and this SMS fallback over link-mode defaults.
    pub async fn install_with_fallback(&self, shop: &str, fallback: Value) {
        self.install_with_ivr(shop, "cod", json!({"retries": 0, "retry_interval_minutes": 0})).await;
        let mut section = json!({"mode": "sms_link", "sender_id": "ACMEST", "dlt_entity_id": "1101234567890", "encoding": "plain",
            "retries": 1, "retry_interval_minutes": 10, "confirm_tag": "sms_confirmed", "cancel_tag": "sms_cancelled",
            "callback_tag": "sms_callback", "link_template": "Confirm order %ordernumber% of %orderamount%: %link%",
            "dlt_template_id": "1107000000000001", "link_expiry_hours": 48, "cancel_order": false,
            "missed_call_scope": "latest", "missed_call_exophone": "08047110000",
            "missed_call_template": "Give a missed call to %exophone% to confirm order %ordernumber%",
            "missed_call_dlt_template_id": "1107000000000002", "confirmation_template": "Order %ordernumber% confirmed. Thank you!",
            "confirmation_dlt_template_id": "1107000000000003"});
        for (k, v) in fallback.as_object().unwrap() {
            section[k] = v.clone();
        }
        let r = self.put_settings(shop, json!({"fallback": section})).await;
        assert_eq!(r.status(), 200, "fallback settings: {}", r.text().await.unwrap());
    }

    /// The shop's latest IVR call goes unanswered (Exotel's status callback), and the app settles.
    pub async fn last_call_unanswered(&self, shop: &str) {
        let key = self.exotel_key(shop).await;
        let call = self.exotel.calls().last().cloned().expect("a call was placed");
        let r = self
            .client
            .post(self.url(&format!("/exotel/{key}/call-status")))
            .json(&json!({"CallSid": call.sid, "Status": "no-answer", "CustomField": call.field("CustomField"),
                "Legs": [{"Status": "no-answer", "AnsweredBy": "NA"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        self.settle().await;
    }

    /// Exotel reports the SMS delivered, then the customer confirms on the link page it carries,
    /// and the app settles.
    pub async fn sms_delivered_and_link_confirmed(&self, shop: &str, sms: &fake_exotel::FakeSms) {
        let key = self.exotel_key(shop).await;
        let r = self
            .client
            .post(self.url(&format!("/exotel/{key}/sms-status")))
            .form(&[("SmsSid", sms.sid.as_str()), ("Status", "sent"), ("DetailedStatus", "DELIVERED_TO_HANDSET"), ("DetailedStatusCode", "20005")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = sms.field("Body").unwrap();
        let link = body.split_whitespace().find(|w| w.starts_with("https://codverify.test/v/")).unwrap().trim_start_matches("https://codverify.test");
        let r = self.client.post(self.url(link)).form(&[("action", "confirm")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        self.settle().await;
    }

    /// Every tag the app added in Shopify, in order.
    pub fn tags_added(&self) -> Vec<String> {
        self.shopify
            .graphql_requests()
            .into_iter()
            .filter(|(_, b)| b["query"].as_str().unwrap_or("").contains("tagsAdd"))
            .flat_map(|(_, b)| b["variables"]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect::<Vec<_>>())
            .collect()
    }

    pub async fn post_webhook(&self, topic: &str, shop: &str, webhook_id: &str, body: &Value) -> reqwest::Response {
        let raw = serde_json::to_vec(body).unwrap();
        self.post_webhook_raw(topic, shop, webhook_id, raw.clone(), &sign(&raw)).await
    }

    pub async fn post_webhook_raw(&self, topic: &str, shop: &str, webhook_id: &str, body: Vec<u8>, hmac: &str) -> reqwest::Response {
        self.client
            .post(self.url("/webhooks/shopify"))
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Shop-Domain", shop)
            .header("X-Shopify-Webhook-Id", webhook_id)
            .header("X-Shopify-API-Version", "2026-10")
            .header("X-Shopify-Hmac-Sha256", hmac)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn jobs(&self) -> JobCounts {
        jobs::counts(&self.state.db).await.unwrap()
    }

    /// Waits until every queued job has run (timers for later are left alone).
    pub async fn wait_for_jobs(&self) {
        for _ in 0..400 {
            let c = self.jobs().await;
            if c.queued == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stuck = match &self.state.db {
            codverify::db::Db::Sqlite(p) => sqlx::query_as::<_, (String, String, i64, i64, Option<String>, Option<String>)>(
                "SELECT job_type, status, attempts, run_at, lock_by, last_result FROM Jobs WHERE status <> 'Done'")
                .fetch_all(p).await.map(|r| format!("{r:?}")).unwrap_or_else(|e| e.to_string()),
            codverify::db::Db::Postgres(_) => String::new(),
        };
        panic!("jobs still queued after 20 s: {:?} {stuck} (now {})", self.jobs().await, chrono::Utc::now().timestamp());
    }

    /// Waits until the background work settles: no job queued, no timer due on the app clock (the
    /// pump may not have moved it into the queue yet), no call or SMS being sent, none due.
    pub async fn settle(&self) {
        let mut quiet = 0;
        for _ in 0..600 {
            let now = self.state.clock.now_ms();
            let wall = chrono::Utc::now().timestamp_millis();
            let mut busy = 0;
            for (table, sending) in [("call_attempts", "dialing"), ("sms_messages", "sending"), ("whatsapp_messages", "sending")] {
                busy += self
                    .count(&format!(
                        "SELECT COUNT(*) FROM {table} WHERE state = '{sending}' OR (state = 'queued' AND due_at <= {now} \
                         AND (retry_after_wall IS NULL OR retry_after_wall <= {wall}))"
                    ))
                    .await;
            }
            busy += self.count(&format!("SELECT COUNT(*) FROM timers WHERE due_at <= {now}")).await;
            quiet = if busy == 0 && self.jobs().await.queued == 0 { quiet + 1 } else { 0 };
            if quiet == 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("work still going after 30 s: {:?}", self.jobs().await);
    }

    /// The Exotel callback key of a shop.
    pub async fn exotel_key(&self, shop: &str) -> String {
        self.text(&format!("SELECT exotel_key FROM shops WHERE domain = '{shop}'")).await.unwrap()
    }

    /// The test app's closing check: no job queued or dead, and nothing scheduled for an order
    /// that is no longer pending (a pending order's next call or reconcile timer is legitimate, and
    /// so are the lookups of an SMS whose status report has not come and of an answered call's
    /// price: the shop's, they outlive the order and contact no one).
    pub async fn assert_no_jobs_left(&self) {
        self.settle().await;
        let c = self.jobs().await;
        assert_eq!((c.queued, c.dead), (0, 0), "work left behind: {c:?}");
        let orphans = self
            .count("SELECT COUNT(*) FROM timers t LEFT JOIN orders o ON o.id = t.order_id \
                    WHERE (o.id IS NULL OR o.status <> 'pending') AND t.job NOT LIKE '{\"kind\":\"reconcile_sms\"%' \
                    AND t.job NOT LIKE '{\"kind\":\"price_call\"%'")
            .await;
        assert_eq!(orphans, 0, "timers left for orders that are no longer pending");
        let calls = self.count("SELECT COUNT(*) FROM call_attempts a JOIN orders o ON o.id = a.order_id WHERE a.state = 'queued' AND o.status <> 'pending'").await;
        assert_eq!(calls, 0, "calls queued for orders that are no longer pending");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sql.to_string();
        on_db!(&self.state.db, c => sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).fetch_one(c).await).unwrap()
    }

    pub async fn text(&self, sql: &str) -> Option<String> {
        let sql = sql.to_string();
        on_db!(&self.state.db, c => sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql)).fetch_optional(c).await).unwrap().flatten()
    }

    /// A value stored encrypted (phone numbers, data-request reports), checked to be so, opened.
    pub async fn sealed_text(&self, sql: &str) -> Option<String> {
        let stored = self.text(sql).await?;
        assert!(stored.starts_with("v1:"), "stored in the clear: {stored}");
        Some(self.state.cipher.open(&stored).expect("decrypts"))
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
        }
    }
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(API_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A Shopify `orders/create` payload (REST shape).
pub fn order_payload(id: i64, gateway: &str, shipping_phone: Option<&str>) -> Value {
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1000 + id % 1000),
        "order_number": 1000 + id % 1000,
        "total_price": "499.00",
        "currency": "INR",
        "payment_gateway_names": [gateway],
        "email": "asha@example.com",
        "phone": null,
        "created_at": "2026-11-22T10:00:00+05:30",
        "cancelled_at": null,
        "shipping_address": {"first_name": "Asha", "last_name": "Rao", "phone": shipping_phone, "city": "Pune", "country_code": "IN"},
        "billing_address": null,
        "customer": {"id": 7001, "email": "asha@example.com", "phone": null, "first_name": "Asha", "last_name": "Rao"},
        "line_items": [{"title": "Kurta", "quantity": 1, "price": "499.00"}],
    })
}

/// Seconds from `now_ms` to the next hh:mm:00 in Asia/Kolkata (UTC+05:30, no DST).
pub fn secs_until_ist(now_ms: i64, hh: u32, mm: u32) -> i64 {
    let ist_secs_of_day = (now_ms / 1000 + 19_800).rem_euclid(86_400);
    let target = i64::from(hh * 3600 + mm * 60);
    let d = (target - ist_secs_of_day).rem_euclid(86_400);
    if d == 0 { 86_400 } else { d }
}
