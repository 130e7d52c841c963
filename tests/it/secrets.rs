//! Secrets at rest and in logs: after the real flows have run (install, Exotel credentials, an IVR
//! call, an SMS link, a missed call, click-to-call, a WhatsApp message and its replies, a data
//! request, reports filtered by the
//! number), neither the database — SQLite's files byte for byte, PostgreSQL's every row — nor the
//! captured logs hold a Shopify token, the Exotel API token or the customer's full phone number.

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::both_dbs;
use crate::common::fake_whatsapp::{WaDlr, WaReply};
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";

/// What must never be found, in the forms it could take.
/// (The merchant's own contact number is settings, not customer data, and is not among them.)
const NEEDLES: [&str; 8] = [
    "9876543210",   // the customer's number: E.164 and local forms contain it
    "98765 43210",  // as typed in the order
    "98765-43210",
    "shpat_",       // every Shopify access token the fake issues starts so
    "shprt_",       // and every refresh token
    "exotoken-secret",
    "Quixotic Lane",    // the shipping address as ordered
    "Zephyrine Marg",   // and as the shopper corrected it on the link page
];

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test process (nextest runs each test in a process of its own), at the
/// most verbose levels the app has.
fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace,hyper=debug,hyper_util=debug,h2=info,rustls=info,reqwest=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("this test installs the only log subscriber of its process");
    captured
}

fn found_in(haystack: &[u8]) -> Vec<&'static str> {
    NEEDLES
        .iter()
        .copied()
        .filter(|n| {
            let hexed = hex::encode(n.as_bytes());
            haystack.windows(n.len()).any(|w| w == n.as_bytes()) || haystack.windows(hexed.len()).any(|w| w == hexed.as_bytes())
        })
        .collect()
}

/// The whole database as bytes: SQLite's files (main, WAL, shared memory) as they are on disk;
/// every row of every PostgreSQL table as text (binary columns as hex, which `found_in` also reads).
pub(crate) async fn database_bytes(url: &str) -> Vec<u8> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                all.extend(bytes);
            }
        }
        assert!(all.len() > 10_000, "the SQLite file was read");
        return all;
    }
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut all = Vec::new();
    for (schema, table) in &tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT CAST(t AS TEXT) FROM \"{schema}\".\"{table}\" t")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for r in rows {
            all.extend(r.into_bytes());
            all.push(b'\n');
        }
    }
    assert!(tables.iter().any(|(_, t)| t == "orders") && all.len() > 1_000, "every table was read: {tables:?}");
    all
}

async fn nothing_in_clear(backend: Backend) {
    let logs = capture_logs();
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    let r = app.put_settings(SHOP, json!({"contact": {"name": "Support", "email": "help@acme.in", "phone": "+91 98123 45678"}})).await;
    assert_eq!(r.status(), 200);
    let key = app.exotel_key(SHOP).await;

    // Order 1: the call goes unanswered, the SMS with a link goes out, the customer corrects the
    // shipping address and confirms.
    let mut order = order_payload(1, COD, Some("98765 43210"));
    order["shipping_address"]["address1"] = json!("17 Quixotic Lane");
    order["shipping_address"]["zip"] = json!("411001");
    let r = app.post_webhook("orders/create", SHOP, "w-1", &order).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(app.exotel.calls()[0].field("From"), Some("+919876543210"), "the number itself reached Exotel");
    app.last_call_unanswered(SHOP).await;
    let sms = app.exotel.sms_to("+919876543210");
    assert_eq!(sms.len(), 1, "the link SMS went out");
    let link = sms[0].field("Body").unwrap().split_whitespace().find(|w| w.contains("/v/")).unwrap().to_string();
    let path = &link[link.find("/v/").unwrap()..];
    let page = app.client.get(app.url(path)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("17 Quixotic Lane"), "the link page shows the address");
    let r = app.client.post(app.url(path)).form(&[("action", "confirm"), ("address1", "88 Zephyrine Marg"), ("zip", "411038")]).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    app.settle().await;
    let updates = app.shopify.operation_requests("orderUpdate");
    assert_eq!(updates[0]["input"]["shippingAddress"]["address1"], "88 Zephyrine Marg", "the corrected address reached Shopify");

    // Order 2: the customer asks for a callback; an agent calls back.
    let r = app.post_webhook("orders/create", SHOP, "w-2", &order_payload(2, COD, Some("09876543210"))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    let attempt = app
        .text("SELECT a.id FROM call_attempts a JOIN orders o ON o.id = a.order_id WHERE o.shopify_order_id = 2")
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url(&format!("/exotel/{key}/ivr/input")))
        .query(&[("CustomField", attempt.as_str()), ("digits", "\"3\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    let r = app
        .client
        .post(app.url("/app/api/orders/2/call"))
        .bearer_auth(app.session_token(SHOP))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // A missed call from the number, a data request about the customer, reports filtered by the number.
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallFrom", "09876543210"), ("CallSid", "mc-1")]).send().await.unwrap();
    assert!(!r.status().is_server_error(), "{}", r.status());
    assert_eq!(app.sealed_text("SELECT phone_enc FROM missed_calls").await.as_deref(), Some("+919876543210"), "recorded, encrypted");
    let req = json!({"shop_id": 1, "shop_domain": SHOP, "orders_requested": [1],
        "customer": {"id": 7001, "email": "asha@example.com", "phone": "+919876543210"}, "data_request": {"id": 9}});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &req).await.status(), 200);
    app.settle().await;
    for report in ["orders", "calls", "sms", "missed-calls"] {
        let token = app.session_token(SHOP);
        let q = [("shop", SHOP), ("embedded", "1"), ("id_token", token.as_str()), ("customer", "+919876543210"), ("format", "csv")];
        let r = app.client.get(app.url(&format!("/app/history/{report}"))).query(&q).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        // The merchant's own reports do show the number: it is stored encrypted, not lost.
        if report != "missed-calls" {
            assert!(body.contains("9876543210"), "{report}: the filter found the customer's rows: {body}");
        }
    }
    // Order 3 on a WhatsApp plan: the message goes out, a typed reply quoting the number is kept
    // (encrypted), then the customer taps Confirm.
    crate::whatsapp::setup(&app, SHOP, json!(["whatsapp", "ivr"]), json!({})).await;
    let r = app.post_webhook("orders/create", SHOP, "w-3", &order_payload(3, COD, Some("98765-43210"))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    let wa = app.exotel.whatsapp_to("+919876543210");
    assert_eq!(wa.len(), 1, "the WhatsApp message went out");
    let m = &wa[0];
    assert_eq!(crate::whatsapp::dlr(&app, m, WaDlr::Delivered).await, 200);
    assert_eq!(crate::whatsapp::reply(&app, m, WaReply::Text("my number is 98765 43210, call later".into())).await, 200);
    assert_eq!(crate::whatsapp::reply(&app, m, WaReply::Button(m.payload("confirm"))).await, 200);
    app.settle().await;
    assert_eq!(app.text("SELECT status FROM orders WHERE shopify_order_id = 3").await.as_deref(), Some("confirmed"));
    // Tagging used the Shopify token.
    assert!(!app.tags_added().is_empty());

    // SQLite: the main file and its write-ahead log, as the running app has them.
    let db = database_bytes(app.database_url()).await;
    assert_eq!(found_in(&db), Vec::<&str>::new(), "plaintext secrets in the database");
    app.stop().await;
    let logs = logs.0.lock().unwrap().clone();
    let text = String::from_utf8_lossy(&logs);
    assert!(text.contains("webhook processed") && text.contains("call placed"), "the logs were captured ({} bytes)", logs.len());
    assert_eq!(found_in(&logs), Vec::<&str>::new(), "plaintext secrets in the logs");
}

both_dbs!(nothing_in_clear);

/// A database written before encryption at rest: its phone numbers are encrypted (and given their
/// lookup hash) when the upgraded app starts, and the missed-call lookup finds them.
async fn legacy_numbers_sealed_at_start(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({"mode": "sms_missed_call"})).await;
    assert_eq!(app.post_webhook("orders/create", SHOP, "w-1", &order_payload(1, COD, Some("9876543210"))).await.status(), 200);
    app.settle().await;
    codverify::on_db!(&app.state.db, c => sqlx::query("UPDATE orders SET phone_enc = '+919876543210', phone_hash = NULL")
        .execute(c).await.map(|_| ()))
    .unwrap();
    let upgraded = app.peer().await;
    assert_eq!(upgraded.sealed_text("SELECT phone_enc FROM orders").await.as_deref(), Some("+919876543210"));
    assert_eq!(upgraded.text("SELECT phone_hash FROM orders").await, Some(app.state.cipher.phone_index("+919876543210")));
    upgraded.stop().await;
    app.stop().await;
}

both_dbs!(legacy_numbers_sealed_at_start);
