//! Hostile input, black-box: every parser that takes outside input gets generated cases over HTTP —
//! fully random ones and mutations of valid requests (one byte, header, claim or field changed), so
//! the deep paths are reached. For every case: no panic (the connection answers), no 5xx, and a
//! rejection (4xx) changes nothing: every stored row, the job count and the requests the fake
//! Shopify and Exotel received are the same before and after.
//!
//! `HOSTILE_CASES` sets the cases per parser and category (default 40, the CI run; 1000 is the full
//! run). `HOSTILE_SEED` (64 hex digits) replays a run; every run prints its seed and, per parser,
//! how many cases were sent, rejected and accepted.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::snapshot::Snapshot;
use crate::common::{API_KEY, API_SECRET, Backend, TestApp, order_payload, sign};

const SHOP: &str = "acme.myshopify.com";
const OTP_SHOP: &str = "otpshop.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

pub fn cases() -> usize {
    std::env::var("HOSTILE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40)
}

// ---------------------------------------------------------------------------------------------
// Generating

/// Case generator: proptest strategies drawn from one seeded runner.
pub struct Gen(TestRunner);

impl Gen {
    pub fn new(test: &str) -> Gen {
        let seed: [u8; 32] = match std::env::var("HOSTILE_SEED") {
            Ok(hex_seed) => hex::decode(hex_seed.trim()).ok().and_then(|b| b.try_into().ok()).expect("HOSTILE_SEED: 64 hex digits"),
            Err(_) => [*uuid::Uuid::new_v4().as_bytes(), *uuid::Uuid::new_v4().as_bytes()].concat().try_into().unwrap(),
        };
        println!("{test}: HOSTILE_SEED={}", hex::encode(seed));
        let config = Config { failure_persistence: None, ..Config::default() };
        Gen(TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed)))
    }

    pub fn pick<S: Strategy>(&mut self, s: S) -> S::Value {
        s.new_tree(&mut self.0).expect("strategy").current()
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 { 0 } else { self.pick(0..n) }
    }

    pub fn one_of<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        self.pick(proptest::collection::vec(any::<u8>(), 0..max))
    }

    /// Text: printable ASCII, any Unicode, or one of the strings parsers trip on.
    pub fn text(&mut self) -> String {
        match self.below(4) {
            0 => self.pick("[ -~]{0,40}"),
            1 => self.pick(any::<String>()),
            2 => self.pick("[a-zA-Z0-9_-]{0,70}"),
            _ => self.one_of(&[
                "", " ", "0", "-1", "1e309", "9223372036854775808", "NaN", "null", "true", "\"1\"", "%", "%zz", "%00", "\u{0}",
                "../../etc/passwd", "'; DROP TABLE orders; --", "<script>alert(1)</script>", "\u{202e}", "١٢٣", "+919876543210",
                "gid://shopify/Order/1", "{", "[", "a=b&c", "\u{feff}", "💥",
            ])
            .to_string(),
        }
    }

    pub fn json(&mut self) -> Value {
        self.pick(json_value())
    }

    /// `valid` with 1–3 byte-level changes (bit flip, replace, insert, delete, truncate, splice).
    pub fn mutate_bytes(&mut self, valid: &[u8]) -> Vec<u8> {
        let mut v = valid.to_vec();
        for _ in 0..self.pick(1..4usize) {
            let len = v.len();
            match self.below(6) {
                0 if len > 0 => {
                    let i = self.below(len);
                    v[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    v[i] = self.pick(any::<u8>());
                }
                2 => {
                    let i = self.below(len + 1);
                    v.insert(i, self.pick(any::<u8>()));
                }
                3 if len > 0 => {
                    let i = self.below(len);
                    v.remove(i);
                }
                4 => v.truncate(self.below(len + 1)),
                _ => {
                    let i = self.below(len + 1);
                    let s = self.text();
                    v.splice(i..i, s.into_bytes());
                }
            }
        }
        if v == valid {
            v.push(b'~');
        }
        v
    }

    pub fn mutate_text(&mut self, valid: &str) -> String {
        String::from_utf8_lossy(&self.mutate_bytes(valid.as_bytes())).into_owned()
    }

    /// `valid` with one member replaced by a random value, removed, or an unknown one added.
    pub fn mutate_json(&mut self, valid: &Value) -> Value {
        let mut v = valid.clone();
        let mut paths = Vec::new();
        pointers(&v, String::new(), &mut paths);
        let path = paths[self.below(paths.len())].clone();
        let op = self.below(4);
        let replacement = self.json();
        if path.is_empty() {
            return replacement;
        }
        let (parent, last) = path.rsplit_once('/').unwrap();
        let key = last.replace("~1", "/").replace("~0", "~");
        match (op, v.pointer_mut(parent)) {
            (0, Some(Value::Object(m))) => {
                m.remove(&key);
            }
            (1, Some(Value::Object(m))) => {
                m.insert(format!("{key}_{}", self.below(100)), replacement);
            }
            _ => {
                if let Some(slot) = v.pointer_mut(&path) {
                    *slot = replacement;
                }
            }
        }
        v
    }

    /// A client address for `X-Forwarded-For`, so the per-client limits (tested on their own)
    /// do not stand in front of the parsers.
    pub fn client(&mut self) -> String {
        format!("10.{}.{}.{}", self.below(250), self.below(250), 1 + self.below(250))
    }
}

fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[ -~]{0,24}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        prop_oneof![Just("1"), Just("2"), Just("3"), Just(""), Just("confirm"), Just("completed"), Just("+919876543210")]
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{1,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A header value from any bytes (the few that HTTP cannot carry are replaced).
pub fn header_value(bytes: &[u8]) -> reqwest::header::HeaderValue {
    let clean: Vec<u8> = bytes.iter().map(|&b| if (b < 0x20 && b != b'\t') || b == 0x7f { b'?' } else { b }).collect();
    reqwest::header::HeaderValue::from_bytes(&clean).unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("x"))
}

pub fn path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

pub fn query_of(pairs: &[(String, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

fn short(s: impl std::fmt::Debug) -> String {
    let s = format!("{s:?}");
    if s.len() > 600 { format!("{}…", &s[..s.char_indices().nth(600).map_or(s.len(), |(i, _)| i)]) } else { s }
}

// ---------------------------------------------------------------------------------------------
// Checking

#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub sent: usize,
    pub rejected: usize,
    pub accepted: usize,
}

/// Sends cases and checks each answer against the stored state.
pub struct Probe<'a> {
    pub app: &'a TestApp,
    base: Snapshot,
    outside: (usize, usize, usize),
    pub tally: BTreeMap<String, Tally>,
    /// Tables a rejection may change for the current parser (documented where it is set).
    pub exempt: Vec<&'static str>,
    /// Whether a rejection may have asked Shopify (documented where it is set).
    pub may_ask_shopify: bool,
}

pub fn outside_requests(app: &TestApp) -> (usize, usize, usize) {
    (app.shopify.graphql_requests().len() + app.shopify.token_requests().len(), app.exotel.connect_requests().len(), app.exotel.sms_requests().len())
}

impl<'a> Probe<'a> {
    pub async fn new(app: &'a TestApp) -> Probe<'a> {
        let base = app.settled_snapshot().await;
        Probe { app, base, outside: outside_requests(app), tally: BTreeMap::new(), exempt: Vec::new(), may_ask_shopify: false }
    }

    /// Records the answer to one case of `parser`. `rejection` says which statuses reject the
    /// input (for most parsers: any 4xx).
    pub async fn check(&mut self, parser: &str, case: impl std::fmt::Debug, answer: Result<reqwest::Response, reqwest::Error>, rejection: fn(u16) -> bool) {
        let t = self.tally.entry(parser.to_string()).or_default();
        t.sent += 1;
        let resp = answer.unwrap_or_else(|e| panic!("{parser}: no answer (did the handler panic?): {e}\ncase: {}", short(&case)));
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(status < 500, "{parser}: {status} {}\ncase: {}", short(&body), short(&case));
        if rejection(status) {
            t.rejected += 1;
            let now = self.app.snapshot().await;
            let (base, now) = (self.base.without(&self.exempt), now.without(&self.exempt));
            assert!(base == now, "{parser}: a rejected case ({status}) changed stored state:\n{}case: {}", base.diff(&now), short(&case));
            let outside = outside_requests(self.app);
            let allowed = if self.may_ask_shopify { (outside.0, self.outside.1, self.outside.2) } else { self.outside };
            assert_eq!(outside, allowed, "{parser}: a rejected case ({status}) reached Shopify or Exotel\ncase: {}", short(&case));
            self.outside = outside;
        } else {
            t.accepted += 1;
            self.rebase().await;
        }
    }

    /// Takes the current state as the new reference (after an accepted case or a setup step).
    pub async fn rebase(&mut self) {
        let now = self.app.snapshot().await;
        self.base = if now == self.base && outside_requests(self.app) == self.outside { now } else { self.app.settled_snapshot().await };
        self.outside = outside_requests(self.app);
    }

    pub fn report(&self, test: &str, started: std::time::Instant) {
        let total: usize = self.tally.values().map(|t| t.sent).sum();
        println!("{test} ({:?}): {total} cases in {:.1} s", self.app.backend, started.elapsed().as_secs_f64());
        for (parser, t) in &self.tally {
            println!("  {parser:<34} sent {:>5}  rejected {:>5}  accepted {:>5}", t.sent, t.rejected, t.accepted);
        }
    }

    /// Every parser got cases, and the mutations of valid input were not all rejected at the door.
    pub fn assert_reached(&self, parser: &str) {
        let t = self.tally.get(parser).copied().unwrap_or_default();
        assert!(t.sent > 0, "{parser}: no cases ran");
    }
}

pub fn client_error(s: u16) -> bool {
    (400..500).contains(&s)
}

/// The IVR and missed-call passthrus answer 422 to a valid report of an answer that confirms
/// nothing ("not an offered choice", "nothing pending"), for Exotel's flow to branch on; the call
/// is recorded. That is an answer, not a refusal of the input.
pub fn refused_callback(s: u16) -> bool {
    client_error(s) && s != 422
}

// ---------------------------------------------------------------------------------------------
// The world the cases run against

async fn placed_order(app: &TestApp, shop: &str, id: i64) {
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &order_payload(id, COD, Some(PHONE))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

/// Shop with IVR (no retries) and the SMS-link fallback: order 1 has a call in progress; order 2's
/// call went unanswered and its SMS link is out. Returns (key, attempt id, CallSid, link path, SmsSid).
async fn ivr_world(app: &TestApp) -> (String, String, String, String, String) {
    app.install_with_fallback(SHOP, json!({})).await;
    let key = app.exotel_key(SHOP).await;
    placed_order(app, SHOP, 1).await;
    placed_order(app, SHOP, 2).await;
    let calls = app.exotel.calls();
    let (attempt, sid) = (calls[0].field("CustomField").unwrap().to_string(), calls[0].sid.clone());
    let second = &calls[1];
    let r = app
        .client
        .post(app.url(&format!("/exotel/{key}/call-status")))
        .json(&json!({"CallSid": second.sid, "Status": "no-answer", "CustomField": second.field("CustomField")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    let sms = app.exotel.sms();
    let body = sms[0].field("Body").unwrap().to_string();
    let link = body.split_whitespace().find(|w| w.starts_with("https://codverify.test/v/")).expect("a link").trim_start_matches("https://codverify.test").to_string();
    (key, attempt, sid, link, sms[0].sid.clone())
}

/// An OTP shop with order 3 waiting for its code.
async fn otp_world(app: &TestApp) {
    app.install_configured(OTP_SHOP, "cod").await;
    let otp = json!({"sender_id": "ACMEOT", "dlt_entity_id": "1101234567890", "dlt_template_id": "1107000000000009",
        "encoding": "plain", "template": "%otp% is your OTP for order %ordernumber%", "resends": 2, "resend_after_seconds": 30,
        "incorrect_attempts": 3, "tag": "otp_verified"});
    let r = app.put_settings(OTP_SHOP, json!({"general": {"method": "otp"}, "otp": otp})).await;
    assert_eq!(r.status(), 200);
    placed_order(app, OTP_SHOP, 3).await;
}

fn extension_token(app: &TestApp, shop: &str) -> String {
    let now = app.now_secs();
    app.session_token_with(json!({"dest": shop, "aud": API_KEY, "exp": now + 300, "nbf": now - 5, "iat": now - 5, "jti": "x"}), API_SECRET)
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn send_webhook(app: &TestApp, headers: &[(String, Vec<u8>)], body: Vec<u8>, client: &str) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = app.client.post(app.url("/webhooks/shopify")).header("X-Forwarded-For", client).body(body);
    for (k, v) in headers {
        if let Ok(name) = reqwest::header::HeaderName::from_bytes(k.as_bytes()) {
            req = req.header(name, header_value(v));
        }
    }
    req.send().await
}

fn webhook_headers(topic: &str, shop: &str, id: &str, hmac: &str) -> Vec<(String, Vec<u8>)> {
    [
        ("X-Shopify-Topic", topic),
        ("X-Shopify-Shop-Domain", shop),
        ("X-Shopify-Webhook-Id", id),
        ("X-Shopify-API-Version", "2026-10"),
        ("X-Shopify-Triggered-At", "2026-11-23T10:00:00Z"),
        ("X-Shopify-Hmac-Sha256", hmac),
        ("Content-Type", "application/json"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect()
}

const TOPICS: &[&str] = &["orders/create", "orders/cancelled", "app/uninstalled", "customers/data_request", "customers/redact", "shop/redact"];

async fn hostile_webhooks(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let started = std::time::Instant::now();
    app.install_configured(SHOP, "cod").await;
    placed_order(&app, SHOP, 1).await;
    let mut g = Gen::new("hostile_webhooks");
    let mut p = Probe::new(&app).await;
    for i in 0..cases() {
        // Fully random: random headers of the right names, random body.
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        for k in ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-Hmac-Sha256", "Content-Type", "shopify-topic"] {
            if g.below(4) > 0 {
                headers.push((k.to_string(), g.text().into_bytes()));
            }
        }
        let body = if g.below(2) == 0 { g.bytes(600) } else { serde_json::to_vec(&g.json()).unwrap() };
        let client = g.client();
        let r = send_webhook(&app, &headers, body.clone(), &client).await;
        p.check("webhook/random", (&headers, String::from_utf8_lossy(&body)), r, client_error).await;

        // A valid signed delivery with one thing changed: a body byte, a header, a header gone.
        let order = order_payload(100 + i as i64, COD, Some(PHONE));
        let valid = serde_json::to_vec(&order).unwrap();
        let mut headers = webhook_headers("orders/create", SHOP, &format!("m-{i}"), &sign(&valid));
        let mut body = valid.clone();
        match g.below(4) {
            0 => body = g.mutate_bytes(&valid),
            1 => {
                let h = g.below(headers.len());
                headers[h].1 = g.mutate_bytes(&headers[h].1);
            }
            2 => {
                let h = g.below(headers.len());
                headers.remove(h);
            }
            _ => {
                let h = g.below(headers.len());
                headers[h].1 = g.text().into_bytes();
            }
        }
        let r = send_webhook(&app, &headers, body.clone(), &client).await;
        p.check("webhook/mutated-valid", (&headers, String::from_utf8_lossy(&body)), r, client_error).await;

        // Correctly signed, hostile content: the JSON check, then the job's parsers (intake,
        // cancellation, uninstall, compliance) on a mutated order or random JSON.
        let topic = g.one_of(TOPICS);
        let body = if g.below(3) == 0 { g.json() } else { g.mutate_json(&order) };
        let raw = serde_json::to_vec(&body).unwrap();
        // Uninstalling or erasing the shop would end the run: those go to a shop never installed.
        let shop = if topic == "app/uninstalled" || topic == "shop/redact" { "ghost.myshopify.com" } else { SHOP };
        let headers = webhook_headers(topic, shop, &format!("s-{i}"), &sign(&raw));
        let r = send_webhook(&app, &headers, raw.clone(), &client).await;
        p.check("webhook/signed-hostile-body", (&headers, &body), r, client_error).await;
    }
    for parser in ["webhook/random", "webhook/mutated-valid", "webhook/signed-hostile-body"] {
        p.assert_reached(parser);
    }
    assert!(p.tally["webhook/signed-hostile-body"].accepted > 0, "signed bodies reach the job");
    p.report("hostile_webhooks", started);
    // Hostile deliveries that were taken in left no failed or stuck job behind.
    app.assert_no_jobs_left().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Session tokens, embedded document loads, settings documents, OAuth

fn jwt_claims(app: &TestApp, shop: &str) -> Value {
    let now = app.now_secs();
    json!({"iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": API_KEY,
        "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"})
}

fn signed_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = pairs.iter().filter(|(k, _)| k != "hmac").cloned().collect();
    sorted.sort();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    let msg = sorted.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let hmac = hex::encode(codverify::crypto::hmac_sha256(API_SECRET.as_bytes(), msg.as_bytes()));
    format!("{msg}&hmac={hmac}")
}

/// The query of a document load as Shopify makes it for `shop`.
fn page_query_of(app: &TestApp, shop: &str) -> String {
    query_of(&[("embedded".into(), "1".into()), ("id_token".into(), app.session_token(shop)), ("shop".into(), shop.into())])
}

/// A fresh install start: (state, cookie).
async fn begin_install(app: &TestApp, shop: &str, client: &str) -> (String, String) {
    let r = app.client.get(app.url(&format!("/auth?shop={shop}"))).header("X-Forwarded-For", client).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let state = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    (state, cookie)
}

async fn hostile_admin(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let started = std::time::Instant::now();
    app.install_configured(SHOP, "cod").await;
    placed_order(&app, SHOP, 1).await;
    let mut g = Gen::new("hostile_admin");
    let mut p = Probe::new(&app).await;
    let doc: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    for _ in 0..cases() {
        // Session tokens: random, a valid one with a byte changed, and validly signed claims changed.
        let token = match g.below(3) {
            0 => g.text(),
            1 => g.mutate_text(&app.session_token(SHOP)),
            _ => {
                let claims = g.mutate_json(&jwt_claims(&app, SHOP));
                let secret = if g.below(4) == 0 { "not-the-secret" } else { API_SECRET };
                app.session_token_with(claims, secret)
            }
        };
        let auth = if g.below(6) == 0 { g.text() } else { format!("Bearer {token}") };
        let r = app.client.get(app.url("/app/api/settings")).header("Authorization", header_value(auth.as_bytes())).send().await;
        p.check("session-token", &auth, r, client_error).await;

        // A document load: its query string (shop, id_token, embedded, host) random or mutated.
        let valid = query_of(&[
            ("embedded".into(), "1".into()),
            ("host".into(), "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ".into()),
            ("id_token".into(), app.session_token(SHOP)),
            ("shop".into(), SHOP.into()),
        ]);
        let q = if g.below(3) == 0 { g.text() } else { g.mutate_text(&valid) };
        let page = g.one_of(&["/app", "/app/settings", "/app/history/orders", "/app/orders/1", "/app/settings/ivr", "/app/data-requests"]);
        let r = app.client.get(format!("{}?{}", app.url(page), q.replace('#', "%23"))).send().await;
        p.check("document-load-query", (page, &q), r, client_error).await;

        // Report filters (dates, paging, numbers, statuses, CSV) and order ids in paths.
        let report = g.one_of(&["calls", "sms", "missed-calls", "orders", "unknown"]);
        let mut filters: Vec<(String, String)> = [("customer", PHONE), ("order", "#1001"), ("status", "pending"), ("direction", "outbound"), ("input", "1"),
            ("agent", "+919812345678"), ("from", "2026-11-20"), ("to", "2026-11-23"), ("per_page", "25"), ("page", "1"), ("format", "csv")]
            .iter()
            .filter(|_| g.below(2) == 0)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for f in filters.iter_mut() {
            match g.below(3) {
                0 => f.1 = g.text(),
                1 => f.1 = g.mutate_text(&f.1),
                _ => {}
            }
        }
        let q = format!("{}&{}", page_query_of(&app, SHOP), query_of(&filters));
        let r = app.client.get(format!("{}?{q}", app.url(&format!("/app/history/{report}")))).send().await;
        p.check("report-filters", (report, &filters), r, client_error).await;
        let id = if g.below(2) == 0 { g.text() } else { g.mutate_text("1") };
        let r = app.client.get(app.url(&format!("/app/api/orders/{}", path_segment(&id)))).bearer_auth(app.session_token(SHOP)).send().await;
        p.check("order-id-path", &id, r, client_error).await;
        let body = if g.below(2) == 0 { g.bytes(100) } else { serde_json::to_vec(&g.mutate_json(&json!({"agent": "+919812345678"}))).unwrap() };
        let r = app.client.post(app.url(&format!("/app/api/orders/{}/call", path_segment(&id)))).bearer_auth(app.session_token(SHOP)).body(body.clone()).send().await;
        p.check("click-to-call", (&id, String::from_utf8_lossy(&body)), r, client_error).await;

        // Settings documents: random bytes, random JSON, and the GET document with one member changed.
        let body = match g.below(4) {
            0 => g.bytes(300),
            1 => serde_json::to_vec(&g.json()).unwrap(),
            _ => serde_json::to_vec(&g.mutate_json(&doc)).unwrap(),
        };
        let r = app.client.put(app.url("/app/api/settings")).bearer_auth(app.session_token(SHOP)).header("Content-Type", "application/json").body(body.clone()).send().await;
        p.check("settings-document", String::from_utf8_lossy(&body), r, client_error).await;

        // OAuth: /auth's query, the callback's query random or changed (unsigned).
        let q = if g.below(2) == 0 { g.text() } else { g.mutate_text(&format!("shop={SHOP}")) };
        let r = app.client.get(format!("{}?{}", app.url("/auth"), q.replace('#', "%23"))).header("X-Forwarded-For", g.client()).send().await;
        p.check("oauth-begin-query", &q, r, client_error).await;

        let pairs: Vec<(String, String)> = [("code", "good-code"), ("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ"), ("shop", SHOP), ("state", "abc"), ("timestamp", &app.now_secs().to_string())]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let q = if g.below(2) == 0 { g.text() } else { g.mutate_text(&signed_query(&pairs)) };
        let r = app.client.get(format!("{}?{}", app.url("/auth/callback"), q.replace('#', "%23"))).header("X-Forwarded-For", g.client()).send().await;
        p.check("oauth-callback-query", &q, r, client_error).await;
    }

    // The callback's deep path: a real install start, one parameter changed and signed again.
    // The state is single-use by design: a signed callback that names it is refused after it is
    // consumed (Shopify refusing the code, say), so `oauth_states` may lose that row; and learning
    // that Shopify refuses a code takes asking Shopify.
    p.exempt = vec!["oauth_states"];
    p.may_ask_shopify = true;
    for _ in 0..cases() {
        let client = g.client();
        let (state, cookie) = begin_install(&app, SHOP, &client).await;
        p.rebase().await;
        let mut pairs: Vec<(String, String)> = [("code", "good-code"), ("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ"), ("shop", SHOP), ("state", &state), ("timestamp", &app.now_secs().to_string())]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let i = g.below(pairs.len() + 1);
        if i == pairs.len() {
            pairs.push((g.text(), g.text()));
        } else if g.below(4) == 0 {
            pairs.remove(i);
        } else {
            pairs[i].1 = if g.below(2) == 0 { g.text() } else { g.mutate_text(&pairs[i].1) };
        }
        let cookie = if g.below(5) == 0 { g.mutate_text(&cookie) } else { cookie };
        let q = signed_query(&pairs);
        let r = app.client.get(format!("{}?{q}", app.url("/auth/callback"))).header("Cookie", header_value(cookie.as_bytes())).header("X-Forwarded-For", &client).send().await;
        p.check("oauth-callback-resigned", (&q, &cookie), r, client_error).await;
    }
    for parser in ["session-token", "document-load-query", "report-filters", "order-id-path", "click-to-call", "settings-document", "oauth-begin-query", "oauth-callback-query", "oauth-callback-resigned"] {
        p.assert_reached(parser);
    }
    assert!(p.tally["settings-document"].rejected > 0 && p.tally["session-token"].rejected > 0);
    p.report("hostile_admin", started);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Exotel callbacks

/// A report body in one of the encodings Exotel uses (or garbage), with its content type.
fn report_body(g: &mut Gen, fields: &Value) -> (Vec<u8>, String) {
    match g.below(4) {
        0 => (serde_json::to_vec(fields).unwrap(), "application/json".into()),
        1 => {
            let mut flat = Vec::new();
            if let Value::Object(m) = fields {
                for (k, v) in m {
                    flat.push((k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())));
                }
            }
            (query_of(&flat).into_bytes(), "application/x-www-form-urlencoded".into())
        }
        2 => {
            let boundary = "hostileboundary";
            let mut out = Vec::new();
            if let Value::Object(m) = fields {
                for (k, v) in m {
                    let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                    out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
                }
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            if g.below(3) == 0 {
                out = g.mutate_bytes(&out);
            }
            (out, format!("multipart/form-data; boundary={boundary}"))
        }
        _ => (g.bytes(400), g.one_of(&["application/json", "multipart/form-data", "text/plain", "multipart/form-data; boundary=", ""]).to_string()),
    }
}

async fn hostile_exotel(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let started = std::time::Instant::now();
    let (key, attempt, sid, _, sms_sid) = ivr_world(&app).await;
    let mut g = Gen::new("hostile_exotel");
    let mut p = Probe::new(&app).await;
    let valid_call = json!({"CallSid": sid, "Status": "completed", "EventType": "terminal", "CustomField": attempt,
        "DateUpdated": "2026-11-23 10:01:00", "ConversationDuration": 12, "Legs": [{"Status": "completed", "AnsweredBy": "HUMAN"}]});
    let valid_sms = json!({"SmsSid": sms_sid, "Status": "sent", "DetailedStatus": "DELIVERED_TO_HANDSET", "DetailedStatusCode": "20005"});
    let valid_wa_dlr = json!({"whatsapp": {"messages": [{"callback_type": "dlr", "sid": "wa-sid", "exo_status_code": 30002,
        "exo_detailed_status": "EX_MESSAGE_DELIVERED", "description": "Message delivered", "custom_data": "wa-id"}]}});
    let valid_wa_reply = json!({"whatsapp": {"messages": [{"callback_type": "icm", "from": format!("+91{PHONE}"), "to": "+919812345678",
        "content": {"type": "button", "button": {"text": "Confirm", "payload": "AAAAAAAAAAAAAAAAAAAAAAAA.confirm"}}}]}});
    let valid_missed = json!({"CallSid": "mc1", "CallFrom": format!("0{PHONE}"), "CallTo": "08047110000", "Direction": "incoming"});
    for _ in 0..cases() {
        // The key: right, one byte off, or random.
        let k = match g.below(4) {
            0 => g.mutate_text(&key),
            1 => g.text(),
            _ => key.clone(),
        };
        let k = path_segment(&k);
        let client = g.client();

        // GET passthrus: greeting, ivr/{choice}, missed-call, each with the valid query changed.
        for which in ["greeting", "ivr", "missed-call"] {
            let (path, valid): (String, Vec<(String, String)>) = match which {
                "greeting" => ("greeting".into(), vec![("CallSid".into(), sid.clone()), ("CustomField".into(), attempt.clone())]),
                "ivr" => {
                    let choice = if g.below(5) == 0 { path_segment(&g.text()) } else { g.one_of(&["confirm", "cancel", "callback", "input"]).to_string() };
                    (format!("ivr/{choice}"), vec![("CallSid".into(), sid.clone()), ("CustomField".into(), attempt.clone()), ("digits".into(), format!("\"{}\"", g.below(10)))])
                }
                _ => ("missed-call".into(), vec![("CallSid".into(), "mc1".into()), ("CallFrom".into(), format!("0{PHONE}"))]),
            };
            let mut pairs = valid;
            match g.below(4) {
                0 => pairs = (0..g.below(4)).map(|_| (g.text(), g.text())).collect(),
                1 => {
                    let i = g.below(pairs.len());
                    pairs[i].1 = g.mutate_text(&pairs[i].1);
                }
                2 => {
                    let i = g.below(pairs.len());
                    pairs[i].1 = g.text();
                }
                _ => {
                    let i = g.below(pairs.len());
                    pairs.remove(i);
                }
            }
            let method = if which == "greeting" && g.below(3) == 0 { reqwest::Method::HEAD } else { reqwest::Method::GET };
            let url = format!("{}?{}", app.url(&format!("/exotel/{k}/{path}")), query_of(&pairs));
            let r = app.client.request(method.clone(), &url).header("X-Forwarded-For", &client).send().await;
            let parser = if which == "ivr" { "exotel/ivr-passthru".to_string() } else { format!("exotel/{which}") };
            p.check(&parser, (&method, &url), r, refused_callback).await;
        }

        // Status callbacks: call, SMS and click-to-call reports, mutated or random, in any encoding.
        for (path, valid) in [("call-status", &valid_call), ("sms-status", &valid_sms), ("agent-call-status", &valid_call)] {
            let fields = match g.below(3) {
                0 => g.json(),
                _ => g.mutate_json(valid),
            };
            let (body, ctype) = report_body(&mut g, &fields);
            let r = app
                .client
                .post(app.url(&format!("/exotel/{k}/{path}")))
                .header("Content-Type", header_value(ctype.as_bytes()))
                .header("X-Forwarded-For", &client)
                .body(body.clone())
                .send()
                .await;
            p.check(&format!("exotel/{path}"), (&k, &ctype, String::from_utf8_lossy(&body)), r, client_error).await;
        }

        // WhatsApp delivery reports and replies: JSON mutated or random, or any bytes.
        let valid_wa = if g.below(2) == 0 { &valid_wa_dlr } else { &valid_wa_reply };
        let (body, ctype) = match g.below(4) {
            0 => (serde_json::to_vec(&g.json()).unwrap(), "application/json".to_string()),
            1 => (g.bytes(400), "application/json".to_string()),
            _ => (serde_json::to_vec(&g.mutate_json(valid_wa)).unwrap(), "application/json".to_string()),
        };
        let r = app
            .client
            .post(app.url(&format!("/exotel/{k}/whatsapp")))
            .header("Content-Type", header_value(ctype.as_bytes()))
            .header("X-Forwarded-For", &client)
            .body(body.clone())
            .send()
            .await;
        p.check("exotel/whatsapp", (&k, &ctype, String::from_utf8_lossy(&body)), r, client_error).await;

        // The missed-call passthru by POST: its form mutated or random, in any encoding.
        let fields = match g.below(3) {
            0 => g.json(),
            _ => g.mutate_json(&valid_missed),
        };
        let (body, ctype) = report_body(&mut g, &fields);
        let r = app
            .client
            .post(app.url(&format!("/exotel/{k}/missed-call")))
            .header("Content-Type", header_value(ctype.as_bytes()))
            .header("X-Forwarded-For", &client)
            .body(body.clone())
            .send()
            .await;
        p.check("exotel/missed-call-post", (&k, &ctype, String::from_utf8_lossy(&body)), r, refused_callback).await;
    }
    for parser in ["exotel/greeting", "exotel/ivr-passthru", "exotel/missed-call", "exotel/missed-call-post", "exotel/call-status", "exotel/sms-status", "exotel/agent-call-status", "exotel/whatsapp"] {
        p.assert_reached(parser);
    }
    p.report("hostile_exotel", started);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// What shoppers reach: link pages and the OTP API

async fn hostile_shopper(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let started = std::time::Instant::now();
    let (_, _, _, link, _) = ivr_world(&app).await;
    otp_world(&app).await;
    let mut g = Gen::new("hostile_shopper");
    let mut p = Probe::new(&app).await;
    let token = link.trim_start_matches("/v/").to_string();
    for _ in 0..cases() {
        let client = g.client();
        // Link tokens: random, or the real one with a byte changed (kept 1 in 8 to reach the page).
        let t = match g.below(8) {
            0 | 1 => token.clone(),
            2 | 3 => g.text(),
            _ => g.mutate_text(&token),
        };
        let url = app.url(&format!("/v/{}", path_segment(&t)));
        let r = app.client.get(&url).header("X-Forwarded-For", &client).send().await;
        p.check("link/get", &url, r, client_error).await;
        // Its form: the action random or a valid one, the address fields random or a valid
        // correction changed, any body, any content type.
        let (body, ctype) = match g.below(5) {
            3 => (format!("action={}", g.one_of(&["confirm", "cancel", "callback"])).into_bytes(), "application/x-www-form-urlencoded".to_string()),
            4 => {
                let mut form = vec![("action".to_string(), g.one_of(&["confirm", "cancel", "callback"]).to_string())];
                for (name, valid) in [("address1", "Flat 4, Lotus Apartments"), ("address2", "Near the park"), ("city", "Pune"), ("zip", "411038")] {
                    let value = match g.below(4) {
                        0 => continue,
                        1 => g.text(),
                        2 => g.mutate_text(valid),
                        _ => valid.to_string(),
                    };
                    form.push((name.to_string(), value));
                }
                (query_of(&form).into_bytes(), "application/x-www-form-urlencoded".to_string())
            }
            0 => (query_of(&[("action".into(), g.text())]).into_bytes(), "application/x-www-form-urlencoded".to_string()),
            1 => (g.mutate_bytes(b"action=callback"), "application/x-www-form-urlencoded".to_string()),
            _ => (g.bytes(200), g.text()),
        };
        let r = app.client.post(&url).header("Content-Type", header_value(ctype.as_bytes())).header("X-Forwarded-For", &client).body(body.clone()).send().await;
        p.check("link/post", (&url, &ctype, String::from_utf8_lossy(&body)), r, client_error).await;

        // The OTP API: tokens random, one byte off, or valid with a claim changed; order ids and
        // bodies random or the valid ones changed.
        let valid = extension_token(&app, OTP_SHOP);
        let bearer = match g.below(4) {
            0 => g.text(),
            1 => g.mutate_text(&valid),
            2 => {
                let now = app.now_secs();
                let claims = g.mutate_json(&json!({"dest": OTP_SHOP, "aud": API_KEY, "exp": now + 300, "nbf": now - 5, "iat": now - 5, "jti": "x"}));
                app.session_token_with(claims, API_SECRET)
            }
            _ => valid.clone(),
        };
        let order_id = match g.below(3) {
            0 => g.text(),
            1 => g.mutate_text("3"),
            _ => "3".to_string(),
        };
        let r = app
            .client
            .get(format!("{}?{}", app.url("/api/otp/status"), query_of(&[("order_id".into(), order_id.clone())])))
            .header("Authorization", header_value(format!("Bearer {bearer}").as_bytes()))
            .header("X-Forwarded-For", &client)
            .send()
            .await;
        p.check("otp/status", (&bearer, &order_id), r, client_error).await;
        for path in ["/api/otp/verify", "/api/otp/resend"] {
            let valid_body = json!({"order_id": "3", "otp": "000000"});
            let body = match g.below(4) {
                0 => g.bytes(200),
                1 => serde_json::to_vec(&g.json()).unwrap(),
                2 => serde_json::to_vec(&g.mutate_json(&valid_body)).unwrap(),
                _ => serde_json::to_vec(&json!({"order_id": if g.below(2) == 0 { json!(3) } else { g.json() }, "otp": g.text()})).unwrap(),
            };
            let bearer = if g.below(3) == 0 { bearer.clone() } else { valid.clone() };
            let r = app
                .client
                .post(app.url(path))
                .header("Authorization", header_value(format!("Bearer {bearer}").as_bytes()))
                .header("Content-Type", "application/json")
                .header("X-Forwarded-For", &client)
                .body(body.clone())
                .send()
                .await;
            p.check(&format!("otp{}", path.trim_start_matches("/api/otp")), (&bearer, String::from_utf8_lossy(&body)), r, client_error).await;
        }
    }
    for parser in ["link/get", "link/post", "otp/status", "otp/verify", "otp/resend"] {
        p.assert_reached(parser);
    }
    p.report("hostile_shopper", started);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(hostile_webhooks, hostile_admin, hostile_exotel, hostile_shopper);

// ---------------------------------------------------------------------------------------------
// Server limits: body sizes, slow clients, floods

/// What a raw HTTP/1.1 exchange came to: the status the server answered (if any) and whether it
/// closed the connection before the client had finished writing.
#[derive(Debug)]
struct RawOutcome {
    status: Option<u16>,
    cut_off: bool,
}

/// Writes `head`, then each of `chunks` with `pause` between them, while reading the answer. Stops
/// writing as soon as the server answers or closes.
async fn raw_exchange(app: &TestApp, head: String, chunks: Vec<Vec<u8>>, pause: std::time::Duration) -> RawOutcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.address.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(async move {
        if wr.write_all(head.as_bytes()).await.is_err() {
            return false;
        }
        for chunk in chunks {
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = done_rx.changed() => return false,
                }
            }
            if *done_rx.borrow() || wr.write_all(&chunk).await.is_err() {
                return false;
            }
        }
        let _ = wr.flush().await;
        // Finished writing; the connection stays open for the answer.
        std::mem::forget(wr);
        true
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // A liveness bound only: the limits under test are 2 s; nothing here waits on a timing.
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed the connection within 60 s");
    let _ = done_tx.send(true);
    let finished_writing = writer.await.unwrap();
    let status = std::str::from_utf8(&answer).ok().and_then(|t| t.split_whitespace().nth(1)).and_then(|c| c.parse().ok());
    RawOutcome { status, cut_off: !finished_writing }
}

fn raw_head(method: &str, path: &str, headers: &[(&str, String)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: codverify.test\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// `size` bytes in 16 KiB chunks, chunked transfer encoding or not.
fn body_chunks(size: usize, chunked: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut left = size;
    while left > 0 {
        let n = left.min(16 * 1024);
        let data = vec![b'a'; n];
        out.push(if chunked { [format!("{n:x}\r\n").into_bytes(), data, b"\r\n".to_vec()].concat() } else { data });
        left -= n;
    }
    if chunked {
        out.push(b"0\r\n\r\n".to_vec());
    }
    out
}

async fn server_limits(backend: Backend) {
    let Some(mut app) = TestApp::spawn_with(backend, &[("HTTP_CLIENT_TIMEOUT_SECONDS", "2")]).await else { return };
    // The server closes connections idle for 2 s; the client lets go of them sooner, so it never
    // reuses one the server is closing.
    app.client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let (key, attempt, sid, link, _) = ivr_world(&app).await;
    otp_world(&app).await;
    let session = app.session_token(SHOP);
    let ext = extension_token(&app, OTP_SHOP);
    let before = app.settled_snapshot().await;

    // Oversized bodies on every POST that reads one: 413, whether the length is declared or the
    // body is chunked, and nothing stored.
    let small = 64 * 1024 + 1;
    type Endpoint<'a> = (&'a str, String, usize, Vec<(&'a str, String)>);
    let endpoints: Vec<Endpoint> = vec![
        ("POST", "/webhooks/shopify".into(), 1024 * 1024 + 1, vec![("X-Shopify-Topic", "orders/create".into()), ("X-Shopify-Shop-Domain", SHOP.into()),
            ("X-Shopify-Webhook-Id", "big".into()), ("X-Shopify-Hmac-Sha256", sign(b"x")), ("Content-Type", "application/json".into())]),
        ("POST", format!("/exotel/{key}/call-status"), small, vec![("Content-Type", "application/json".into())]),
        ("POST", format!("/exotel/{key}/sms-status"), small, vec![("Content-Type", "application/x-www-form-urlencoded".into())]),
        ("POST", format!("/exotel/{key}/whatsapp"), small, vec![("Content-Type", "application/json".into())]),
        ("POST", format!("/exotel/{key}/agent-call-status"), small, vec![("Content-Type", "multipart/form-data; boundary=b".into())]),
        ("POST", link.clone(), small, vec![("Content-Type", "application/x-www-form-urlencoded".into())]),
        ("POST", "/api/otp/verify".into(), small, vec![("Authorization", format!("Bearer {ext}")), ("Content-Type", "application/json".into())]),
        ("POST", "/api/otp/resend".into(), small, vec![("Authorization", format!("Bearer {ext}")), ("Content-Type", "application/json".into())]),
        ("PUT", "/app/api/settings".into(), small, vec![("Authorization", format!("Bearer {session}")), ("Content-Type", "application/json".into())]),
        ("POST", "/app/api/orders/1/call".into(), small, vec![("Authorization", format!("Bearer {session}")), ("Content-Type", "application/json".into())]),
    ];
    let mut oversized = 0;
    for (method, path, size, headers) in &endpoints {
        for chunked in [false, true] {
            let mut h = headers.clone();
            h.push(if chunked { ("Transfer-Encoding", "chunked".into()) } else { ("Content-Length", size.to_string()) });
            let out = raw_exchange(&app, raw_head(method, path, &h), body_chunks(*size, chunked), std::time::Duration::ZERO).await;
            // The answer may come before the body is written; a server that closes after its
            // answer may also cut the client off first, which still stores nothing.
            assert!(out.status == Some(413) || (out.status.is_none() && out.cut_off), "{method} {path} (chunked: {chunked}): {out:?}");
            oversized += 1;
        }
    }
    let after = app.settled_snapshot().await;
    assert!(before == after, "an oversized body changed stored state:\n{}", before.diff(&after));

    // A client that trickles its headers, or sends nothing at all, is cut off; so is one that
    // trickles a body (408) — on a public page, a webhook and an Exotel callback.
    let trickle: Vec<Vec<u8>> = (0..200).map(|i| format!("X-Slow-{i}: y\r\n").into_bytes()).collect();
    let out = raw_exchange(&app, "GET /healthz HTTP/1.1\r\nHost: codverify.test\r\n".into(), trickle, std::time::Duration::from_millis(150)).await;
    assert!(out.cut_off && out.status.is_none_or(|s| s == 408), "slow headers: {out:?}");
    let out = raw_exchange(&app, String::new(), vec![b"G".to_vec()], std::time::Duration::from_secs(30)).await;
    assert!(out.cut_off && out.status.is_none_or(|s| s == 408), "idle connection: {out:?}");
    for (path, headers) in [
        ("/webhooks/shopify".to_string(), vec![("X-Shopify-Topic", "orders/create".to_string()), ("X-Shopify-Shop-Domain", SHOP.to_string()), ("X-Shopify-Webhook-Id", "slow".to_string()), ("X-Shopify-Hmac-Sha256", sign(&[b'a'; 200]))]),
        (format!("/exotel/{key}/call-status"), vec![("Content-Type", "application/x-www-form-urlencoded".to_string())]),
        (link.clone(), vec![("Content-Type", "application/x-www-form-urlencoded".to_string())]),
    ] {
        let mut h = headers;
        h.push(("Content-Length", "200".into()));
        let out = raw_exchange(&app, raw_head("POST", &path, &h), (0..200).map(|_| vec![b'a']).collect(), std::time::Duration::from_millis(150)).await;
        assert!(out.cut_off && out.status.is_none_or(|s| s == 408), "slow body on {path}: {out:?}");
        assert_ne!(out.status, Some(200), "{path}");
    }
    let after = app.settled_snapshot().await;
    assert!(before == after, "a slow client changed stored state:\n{}", before.diff(&after));

    // Floods. Public pages: 120 a minute per client address, then 429 with Retry-After; other
    // clients are not held back.
    async fn flood(app: &TestApp, client: &str, max: usize, send: impl Fn(usize) -> reqwest::RequestBuilder) -> (usize, reqwest::Response) {
        for i in 0..max {
            let r = send(i).header("X-Forwarded-For", client).send().await.unwrap();
            if r.status() == 429 {
                return (i, r);
            }
            assert!(r.status().is_client_error() || r.status().is_success(), "{}", r.status());
        }
        panic!("{max} requests from {client} and no 429 ({})", app.address);
    }
    let unknown_link = |i: usize| app.client.get(app.url(&format!("/v/{:0>24}", i)));
    let (ok, r) = flood(&app, "10.1.1.1", 2000, unknown_link).await;
    assert!(ok >= 120, "the burst is 120 requests, got {ok}");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(unknown_link(0).header("X-Forwarded-For", "10.1.1.2").send().await.unwrap().status(), 404, "another client");
    let (ok, _) = flood(&app, "10.1.1.3", 2000, |_| app.client.get(app.url("/auth?shop=not-a-shop"))).await;
    assert!(ok >= 120);
    // A client cannot pick its address behind the proxy: only the last hop (the proxy's own
    // view) counts, so a made-up first hop in every request changes nothing.
    let (ok, _) = flood(&app, "10.1.1.4", 2000, |i| unknown_link(i).header("X-Forwarded-For", format!("198.51.100.{}", i % 250))).await;
    assert!(ok >= 120);

    // Webhooks and Exotel: authenticated traffic is never limited (1,300 signed deliveries and
    // greetings from one address, beyond the failure budget), while one address failing
    // authentication over and over gets 429 after its 1,200 a minute.
    let body = br#"{"id": 1}"#.to_vec();
    let delivery = |i: usize, hmac: String| {
        app.client.post(app.url("/webhooks/shopify")).header("X-Shopify-Topic", "products/update").header("X-Shopify-Shop-Domain", SHOP)
            .header("X-Shopify-Webhook-Id", format!("flood-{i}")).header("X-Shopify-Hmac-Sha256", hmac).body(body.clone())
    };
    let signed = |i: usize| delivery(i, sign(&body));
    for i in 0..1300 {
        assert_eq!(signed(i).header("X-Forwarded-For", "10.2.2.1").send().await.unwrap().status(), 200, "signed delivery {i}");
    }
    let forged = |i: usize| delivery(i, "Zm9yZ2Vk".into());
    let (failed, r) = flood(&app, "10.2.2.2", 5000, forged).await;
    assert!(failed >= 1200, "{failed}");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(signed(0).header("X-Forwarded-For", "10.2.2.3").send().await.unwrap().status(), 200, "another sender");
    let greeting = |_: usize| app.client.get(app.url(&format!("/exotel/{key}/greeting"))).query(&[("CallSid", sid.as_str()), ("CustomField", attempt.as_str())]);
    for i in 0..1300 {
        assert_eq!(greeting(i).header("X-Forwarded-For", "10.3.3.1").send().await.unwrap().status(), 200, "greeting {i}");
    }
    let wrong_key = |i: usize| app.client.get(app.url(&format!("/exotel/{:0>32}/greeting", i)));
    let (failed, _) = flood(&app, "10.3.3.2", 5000, wrong_key).await;
    assert!(failed >= 1200, "{failed}");
    assert_eq!(greeting(0).header("X-Forwarded-For", "10.3.3.3").send().await.unwrap().status(), 200, "another caller");

    let after = app.settled_snapshot().await;
    assert!(before == after, "floods changed stored state:\n{}", before.diff(&after));
    println!("server_limits ({backend:?}): {oversized} oversized bodies refused, slow headers/body/idle cut off, floods limited");
    app.stop().await;
}

both_dbs!(server_limits);
