//! Privacy duties (issue 14 §3) and reports that add up (§6), black-box on both databases: the
//! Data requests page and its downloads, `customers/redact` erasing data requests too, the daily
//! retention run on the app clock, nothing erased surviving in SQLite's file, prepaid orders of a
//! COD-only shop stored without customer data, the Order history boxes, and the link page's
//! cash-on-delivery note.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};
use crate::reports::press;

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PREPAID: &str = "shopify_payments";
const DAY: i64 = 86_400;

/// A document load of an embedded page: (status, headers, body).
async fn page(app: &TestApp, shop: &str, path: &str, query: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, String) {
    let token = app.session_token(shop);
    let mut q: Vec<(&str, &str)> = vec![("shop", shop), ("embedded", "1"), ("id_token", token.as_str())];
    q.extend_from_slice(query);
    let r = app.client.get(app.url(path)).query(&q).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

async fn post_order(app: &TestApp, shop: &str, id: i64, gateway: &str, phone: Option<&str>, edit: impl FnOnce(&mut Value)) {
    let mut body = order_payload(id, gateway, phone);
    edit(&mut body);
    let r = app.post_webhook("orders/create", shop, &format!("o-{shop}-{id}"), &body).await;
    assert_eq!(r.status(), 200);
}

pub(crate) fn data_request(customer: Value, orders: &[i64], request_id: i64) -> Value {
    json!({"shop_id": 1, "shop_domain": SHOP, "orders_requested": orders, "customer": customer, "data_request": {"id": request_id}})
}

/// The Data requests page lists each request with the customer masked; the report downloads as
/// JSON and CSV; the first download is recorded and shown; `customers/redact` deletes it.
async fn data_requests_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    post_order(&app, SHOP, 21, COD, Some("9876543210"), |_| {}).await;
    app.settle().await;
    let customer = json!({"id": 7001, "email": "asha@example.com", "phone": "+919876543210"});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &data_request(customer.clone(), &[21], 555)).await.status(), 200);
    app.settle().await;

    let (status, _, html) = page(&app, SHOP, "/app/data-requests", &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Data requests") && html.contains("aria-current=\"page\""));
    assert!(html.contains("customer 7001 · a***@example.com · ********3210"), "masked customer: {html}");
    assert!(!html.contains("asha@example.com") && !html.contains("9876543210"), "nothing in full on the list");
    assert!(html.contains("Not opened yet") && html.contains(">555<") && html.contains(">21<"));
    let id = app.text("SELECT id FROM data_requests").await.unwrap();
    assert!(html.contains(&format!("/app/data-requests/{id}?format=json")) && html.contains(&format!("/app/data-requests/{id}?format=csv")));
    // The retention setting is on the page too.
    assert!(html.contains("name=\"privacy.retention_days\"") && html.contains("value=\"180\""));

    // Another shop's session never reaches the request; a made-up id or format is refused.
    assert_eq!(page(&app, OTHER, &format!("/app/data-requests/{id}"), &[]).await.0, 404);
    assert_eq!(page(&app, SHOP, "/app/data-requests/0123456789abcdef0123456789abcdef", &[]).await.0, 404);
    assert_eq!(page(&app, SHOP, "/app/data-requests/..%2f..", &[]).await.0, 404);
    assert_eq!(page(&app, SHOP, &format!("/app/data-requests/{id}"), &[("format", "xml")]).await.0, 400);
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests WHERE opened_at IS NOT NULL").await, 0, "refusals open nothing");
    let r = app.client.get(app.url(&format!("/app/data-requests/{id}?format=json"))).send().await.unwrap();
    assert!(r.status().is_client_error() || r.status().is_redirection(), "no token, no report: {}", r.status());

    // JSON: the report the app gathered, as a download.
    let opened = app.state.clock.now_ms();
    let (status, headers, body) = page(&app, SHOP, &format!("/app/data-requests/{id}"), &[("format", "json")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"data-request-"));
    assert_eq!(headers["cache-control"], "no-store");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["customer"]["phone"], "+919876543210");
    assert_eq!(report["orders"][0]["name"], "#1021");
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM data_requests WHERE opened_at = {opened}")).await, 1);

    // CSV, later: one row per order, the formula guard; the first opening stays recorded.
    app.advance(3600).await;
    let (status, headers, body) = page(&app, SHOP, &format!("/app/data-requests/{id}"), &[("format", "csv")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let rows: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].starts_with("Customer id,Customer email,Customer phone,Shopify order id,Order,"));
    assert!(rows[1].starts_with("7001,asha@example.com,'+919876543210,21,#1021,Asha Rao,asha@example.com,'+919876543210,pending,"), "{}", rows[1]);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM data_requests WHERE opened_at = {opened}")).await, 1, "the first opening is kept");
    let (_, _, html) = page(&app, SHOP, "/app/data-requests", &[]).await;
    assert!(!html.contains("Not opened yet"), "the page shows when it was opened");

    // customers/redact erases the customer's data requests along with their orders' details.
    assert_eq!(app.post_webhook("customers/data_request", OTHER, "dr-2", &data_request(customer.clone(), &[], 556)).await.status(), 200);
    let redact = json!({"shop_id": 1, "shop_domain": SHOP, "customer": customer, "orders_to_redact": [21]});
    assert_eq!(app.post_webhook("customers/redact", SHOP, "cr-1", &redact).await.status(), 200);
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests").await, 1, "only the other shop's request is left");
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests WHERE shopify_request_id = 556").await, 1);
    let (_, _, html) = page(&app, SHOP, "/app/data-requests", &[]).await;
    assert!(html.contains("No data requests"), "{html}");
    assert_eq!(page(&app, SHOP, &format!("/app/data-requests/{id}"), &[]).await.0, 404);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// `privacy.retention_days`: in the settings document, bounded (422 and nothing saved), defaulted
/// for a document written before it.
async fn privacy_settings(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let token = app.session_token(SHOP);
    let doc: Value = app.get_api("/app/api/settings", &token).await.json().await.unwrap();
    assert_eq!(doc["privacy"], json!({"retention_days": 180}));
    for bad in [json!(29), json!(731), json!("90")] {
        let r = app.put_settings(SHOP, json!({"privacy": {"retention_days": bad}})).await;
        assert_eq!(r.status(), 422);
        let e: Value = r.json().await.unwrap();
        assert!(e["errors"]["privacy.retention_days"].is_string(), "{e}");
    }
    let unchanged: Value = app.get_api("/app/api/settings", &token).await.json().await.unwrap();
    assert_eq!(unchanged, doc, "nothing saved");
    let r = app.put_settings(SHOP, json!({"privacy": {"retention_days": 30}})).await;
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["privacy"]["retention_days"], 30);
    assert_eq!(app.put_settings(SHOP, saved.clone()).await.status(), 200, "the GET document can be PUT back");
    // A document stored before the section existed reads as the default.
    codverify::on_db!(&app.state.db, c => sqlx::query("UPDATE shops SET settings = '{\"general\": {\"verify\": \"all\"}}'").execute(c).await.map(|_| ())).unwrap();
    let old: Value = app.get_api("/app/api/settings", &token).await.json().await.unwrap();
    assert_eq!((old["general"]["verify"].as_str(), old["privacy"]["retention_days"].as_i64()), (Some("all"), Some(180)));
    app.stop().await;
}

/// Apalis jobs of the retention run ever enqueued (done or not).
async fn retention_runs(app: &TestApp) -> i64 {
    match app.backend {
        Backend::Sqlite => app.count("SELECT COUNT(*) FROM Jobs WHERE CAST(job AS TEXT) LIKE '%privacy_retention%'").await,
        Backend::Postgres => app.count("SELECT COUNT(*) FROM apalis.jobs WHERE convert_from(job, 'UTF8') LIKE '%privacy_retention%'").await,
    }
}

/// The daily retention run: customer details of orders older than `retention_days` are erased
/// from the order, its calls, SMS, click-to-call and timeline, old missed calls are erased and old
/// data requests deleted; statuses and counts stay; newer orders keep theirs; two processes run it
/// once a day between them.
async fn retention_erases_old_customer_details(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    assert_eq!(app.put_settings(SHOP, json!({"privacy": {"retention_days": 30}})).await.status(), 200);
    let key = app.exotel_key(SHOP).await;
    // Old order: unanswered call, then the SMS link goes out; a missed call from the number too.
    post_order(&app, SHOP, 1, COD, Some("9876543210"), |_| {}).await;
    app.settle().await;
    app.last_call_unanswered(SHOP).await;
    assert_eq!(app.exotel.sms().len(), 1);
    codverify::on_db!(&app.state.db, c => sqlx::query("UPDATE call_attempts SET recording_url = 'https://recordings.exotel.test/r1.mp3'")
        .execute(c).await.map(|_| ())).unwrap();
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallFrom", "09876543210"), ("CallSid", "mc-1")]).send().await.unwrap();
    assert!(!r.status().is_server_error());
    let customer = json!({"id": 7001, "email": "asha@example.com", "phone": "+919876543210"});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &data_request(customer, &[1], 1)).await.status(), 200);
    app.settle().await;
    assert_eq!(retention_runs(&app).await, 1, "the first run is due at start");

    // 29 days on: nothing is old enough yet.
    let peer = app.peer().await;
    app.advance(29 * DAY).await;
    peer.advance(29 * DAY).await;
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE customer_name IS NOT NULL AND erased_at IS NULL").await, 1);
    // The old order's SMS fallback runs its course (its steps are 10 minutes apart).
    for _ in 0..2 {
        app.advance(600).await;
        peer.advance(600).await;
        app.settle().await;
    }
    let events = "SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = 1";
    let before = (app.count(events).await, app.text("SELECT status FROM orders").await, app.count("SELECT COUNT(*) FROM sms_messages").await);
    assert_eq!(before.1.as_deref(), Some("no_response"));

    // 31 days after the order, a new one arrives; the next daily run erases the old one only.
    app.advance(2 * DAY).await;
    peer.advance(2 * DAY).await;
    post_order(&app, SHOP, 2, COD, Some("9812345678"), |_| {}).await;
    app.settle().await;
    // Runs at start, after the 29 days and after the 2: one per day that came due between the
    // two processes (each clock jump makes one day due), never one each.
    assert_eq!(retention_runs(&app).await, 3, "one run a day between the two processes, not one each");
    peer.stop().await;

    let old = "SELECT COUNT(*) FROM orders WHERE shopify_order_id = 1";
    assert_eq!(
        app.count(&format!("{old} AND customer_name IS NULL AND customer_email IS NULL AND phone_enc IS NULL AND phone_hash IS NULL \
            AND customer_id IS NULL AND items IS NULL AND shipping_address_enc IS NULL AND erased_at IS NOT NULL")).await,
        1,
        "the old order's customer details are erased"
    );
    assert_eq!(app.count(&format!("{old} AND total_price = '499.00' AND name = '#1001'")).await, 1, "what the reports need stays");
    let after = (app.count(events).await, app.text("SELECT status FROM orders WHERE shopify_order_id = 1").await, app.count("SELECT COUNT(*) FROM sms_messages").await);
    assert_eq!(after, before, "events, status and SMS stay, for the reports");
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = 1 AND e.detail <> ''").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM sms_messages WHERE to_phone_enc IS NOT NULL OR to_phone_hash IS NOT NULL OR body <> '' OR body_enc IS NOT NULL").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM call_attempts a JOIN orders o ON o.id = a.order_id WHERE o.shopify_order_id = 1 AND a.recording_url IS NULL").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM missed_calls WHERE phone_enc IS NULL AND phone_hash IS NULL AND call_from = ''").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests").await, 0, "the old data request is deleted");
    // The new order keeps its details.
    assert_eq!(app.sealed_text("SELECT phone_enc FROM orders WHERE shopify_order_id = 2").await.as_deref(), Some("+919812345678"));
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE shopify_order_id = 2 AND customer_name = 'Asha Rao' AND items IS NOT NULL AND shipping_address_enc IS NOT NULL AND erased_at IS NULL").await, 1);
    app.stop().await;
}

/// The SQLite file, once checkpointed, holds none of the erased values (secure_delete); on
/// PostgreSQL no row does.
async fn erased_values_leave_no_trace(backend: Backend) {
    const NAME: &str = "Zenobia Quixotewright";
    const EMAIL: &str = "zenobia.quixotewright@example.com";
    const ITEM: &str = "Handwoven Ikat Saree";
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    post_order(&app, SHOP, 1, COD, Some("9876543210"), |b| {
        b["shipping_address"]["first_name"] = json!("Zenobia");
        b["shipping_address"]["last_name"] = json!("Quixotewright");
        b["email"] = json!(EMAIL);
        b["customer"]["email"] = json!(EMAIL);
        b["line_items"][0]["title"] = json!(ITEM);
    })
    .await;
    app.settle().await;
    let customer = json!({"id": 7001, "email": EMAIL, "phone": "+919876543210"});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &data_request(customer.clone(), &[1], 9)).await.status(), 200);
    app.settle().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM orders WHERE customer_name = '{NAME}'")).await, 1, "stored before the redaction");
    let redact = json!({"shop_id": 1, "shop_domain": SHOP, "customer": customer, "orders_to_redact": [1]});
    assert_eq!(app.post_webhook("customers/redact", SHOP, "cr-1", &redact).await.status(), 200);
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests").await, 0);
    if let codverify::db::Db::Sqlite(pool) = &app.state.db {
        let on: i64 = sqlx::query_scalar("PRAGMA secure_delete").fetch_one(pool).await.unwrap();
        assert_eq!(on, 1, "secure_delete is on");
        // Everything into the main file, and the write-ahead log emptied.
        for _ in 0..100 {
            let (busy, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await.unwrap();
            if busy == 0 && log == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let bytes = crate::secrets::database_bytes(app.database_url()).await;
    for needle in [NAME, EMAIL, ITEM, "Quixotewright"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle:?} is still in the database");
    }
    app.stop().await;
}

/// A prepaid order of a shop that verifies COD only is stored with what the reports need and
/// nothing about the customer; a shop verifying every order keeps the details it verifies with.
async fn prepaid_orders_of_cod_shops_keep_no_customer_data(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "all").await;
    post_order(&app, SHOP, 1, PREPAID, Some("9876543210"), |_| {}).await;
    post_order(&app, OTHER, 2, PREPAID, Some("9876543210"), |_| {}).await;
    app.settle().await;
    let row = "SELECT COUNT(*) FROM orders WHERE shopify_order_id = 1";
    assert_eq!(
        app.count(&format!("{row} AND status = 'skipped' AND status_reason LIKE 'not a COD order%' AND total_price = '499.00' \
            AND currency = 'INR' AND name = '#1001' AND order_number = 1001 AND is_cod = FALSE")).await,
        1,
        "recorded for the reports"
    );
    assert_eq!(
        app.count(&format!("{row} AND customer_name IS NULL AND customer_email IS NULL AND phone_enc IS NULL AND phone_hash IS NULL \
            AND phone_source IS NULL AND customer_id IS NULL AND items IS NULL AND shipping_address_enc IS NULL")).await,
        1,
        "with no customer data"
    );
    assert_eq!(app.exotel.calls().len(), 1, "only the shop verifying every order calls");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM orders WHERE shopify_order_id = 2 AND status = 'pending' AND customer_name = 'Asha Rao' AND phone_enc IS NOT NULL").await,
        1
    );
    app.assert_no_jobs_left().await;
    app.stop().await;
}

fn count_in(html: &str, key: &str) -> i64 {
    let marker = format!("data-count=\"{key}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {key} box"));
    let v = html[at..].split("class=\"count-value\">").nth(1).unwrap();
    v[..v.find('<').unwrap()].parse().unwrap()
}

/// Order history: a box per status, and they add up to the total; a COD-only shop's prepaid
/// orders are neither listed nor counted.
async fn order_history_adds_up(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"retries": 0, "retry_interval_minutes": 0})).await;
    // One order in every status: confirmed, cancelled, callback requested, pending, no response,
    // skipped (no phone) — and a prepaid one.
    for id in 1..=5 {
        post_order(&app, SHOP, id, COD, Some(&format!("98765432{id:02}")), |_| {}).await;
    }
    post_order(&app, SHOP, 6, COD, None, |_| {}).await;
    post_order(&app, SHOP, 7, PREPAID, Some("9876543207"), |_| {}).await;
    app.settle().await;
    press(&app, SHOP, 1, "1").await;
    press(&app, SHOP, 2, "2").await;
    press(&app, SHOP, 3, "3").await;
    app.settle().await;
    // Order 5's call goes unanswered: with no retries and no fallback, no response.
    let call = app.exotel.calls().into_iter().find(|c| c.field("To").is_some_and(|t| t.ends_with("05")) || c.field("From").is_some_and(|f| f.ends_with("05"))).unwrap();
    let key = app.exotel_key(SHOP).await;
    let r = app
        .client
        .post(app.url(&format!("/exotel/{key}/call-status")))
        .json(&json!({"CallSid": call.sid, "Status": "no-answer", "CustomField": call.field("CustomField"), "Legs": [{"Status": "no-answer"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    let statuses: Vec<(i64, String)> = codverify::on_db!(&app.state.db, c => sqlx::query_as("SELECT shopify_order_id, status FROM orders ORDER BY shopify_order_id")
        .fetch_all(c).await).unwrap();
    let expected = ["confirmed", "cancelled", "callback_requested", "pending", "no_response", "skipped", "skipped"];
    assert_eq!(statuses.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), expected, "the fixture");

    let (status, _, html) = page(&app, SHOP, "/app/history/orders", &[]).await;
    assert_eq!(status, 200);
    let boxes = ["confirmed", "cancelled", "callback_requested", "pending", "no_response", "skipped"].map(|k| count_in(&html, k));
    assert_eq!(boxes, [1, 1, 1, 1, 1, 1], "a box per status; the prepaid order is not counted");
    assert_eq!(count_in(&html, "total"), boxes.iter().sum::<i64>(), "the boxes add up to the total");
    assert_eq!(count_in(&html, "total"), 6);
    assert!(html.contains("No response") && html.contains("Not verified"));
    assert!(html.contains("#1006") && !html.contains("#1007"), "the prepaid order is not listed");
    let (_, _, csv) = page(&app, SHOP, "/app/history/orders", &[("format", "csv")]).await;
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 1 + 6);
    assert!(!csv.contains("#1007"));

    // A shop verifying every order lists its prepaid orders too (and still adds up).
    assert_eq!(app.put_settings(SHOP, json!({"general": {"verify": "all"}})).await.status(), 200);
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[]).await;
    let boxes = ["confirmed", "cancelled", "callback_requested", "pending", "no_response", "skipped"].map(|k| count_in(&html, k));
    assert_eq!((count_in(&html, "total"), boxes.iter().sum::<i64>(), boxes[5]), (7, 7, 2));
    assert!(html.contains("#1007"));
    app.stop().await;
}

/// The link page says "cash on delivery" for a COD order only: a prepaid order verified because
/// the shop verifies every order is not told it pays on delivery.
async fn link_page_cod_wording(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    assert_eq!(app.put_settings(SHOP, json!({"general": {"verify": "all"}})).await.status(), 200);
    let mut pages = Vec::new();
    for (id, gateway, phone) in [(1, PREPAID, "9876543210"), (2, COD, "9812345678")] {
        post_order(&app, SHOP, id, gateway, Some(phone), |_| {}).await;
        app.settle().await;
        app.last_call_unanswered(SHOP).await;
        let sms = app.exotel.sms_to(&format!("+91{phone}"));
        assert_eq!(sms.len(), 1, "the link SMS went out");
        let body = sms[0].field("Body").unwrap().to_string();
        let link = body.split_whitespace().find(|w| w.contains("/v/")).unwrap().trim_start_matches("https://codverify.test").to_string();
        let r = app.client.get(app.url(&link)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        pages.push(r.text().await.unwrap());
    }
    assert!(pages[0].contains("Please confirm your order") && !pages[0].to_lowercase().contains("cash on delivery"), "prepaid: {}", pages[0]);
    assert!(pages[1].contains("Cash on delivery: you pay when the order arrives."), "COD: {}", pages[1]);
    app.stop().await;
}

both_dbs!(
    data_requests_page,
    privacy_settings,
    retention_erases_old_customer_details,
    erased_values_leave_no_trace,
    prepaid_orders_of_cod_shops_keep_no_customer_data,
    order_history_adds_up,
    link_page_cod_wording,
);
