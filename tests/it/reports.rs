//! History reports, the order timeline and click-to-call, black-box: data made by the real flows
//! (webhooks, Exotel callbacks, the link page, missed calls), read through the embedded pages
//! (document loads with an id token), their CSV and the JSON API.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

async fn order_with(app: &TestApp, shop: &str, id: i64, phone: &str, edit: impl FnOnce(&mut Value)) {
    let mut body = order_payload(id, COD, Some(phone));
    edit(&mut body);
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &body).await;
    assert_eq!(r.status(), 200);
}

async fn attempt_of(app: &TestApp, shop: &str, id: i64) -> String {
    app.text(&format!(
        "SELECT a.id FROM call_attempts a JOIN orders o ON o.id = a.order_id JOIN shops s ON s.id = o.shop_id \
         WHERE s.domain = '{shop}' AND o.shopify_order_id = {id} ORDER BY a.attempt_no LIMIT 1"
    ))
    .await
    .unwrap()
}

/// The customer presses a key on the order's first call.
pub(crate) async fn press(app: &TestApp, shop: &str, id: i64, key: &str) {
    let attempt = attempt_of(app, shop, id).await;
    let k = app.exotel_key(shop).await;
    let r = app
        .client
        .get(app.url(&format!("/exotel/{k}/ivr/input")))
        .query(&[("CustomField", attempt.as_str()), ("digits", &format!("\"{key}\""))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A document load of an embedded page: (status, content type, body).
async fn page(app: &TestApp, shop: &str, path: &str, query: &[(&str, &str)]) -> (u16, String, String) {
    let token = app.session_token(shop);
    let mut q: Vec<(&str, &str)> = vec![("shop", shop), ("embedded", "1"), ("id_token", token.as_str())];
    q.extend_from_slice(query);
    let r = app.client.get(app.url(path)).query(&q).send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

async fn csv(app: &TestApp, shop: &str, report: &str, query: &[(&str, &str)]) -> Vec<String> {
    let mut q = query.to_vec();
    q.push(("format", "csv"));
    let (status, ctype, body) = page(app, shop, &format!("/app/history/{report}"), &q).await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    body.split("\r\n").filter(|l| !l.is_empty()).map(String::from).collect()
}

fn count_in(html: &str, key: &str) -> i64 {
    let marker = format!("data-count=\"{key}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no count {key}"));
    let rest = &html[at..];
    let v = rest.split("class=\"count-value\">").nth(1).unwrap();
    v[..v.find('<').unwrap()].parse().unwrap()
}

async fn order_json(app: &TestApp, shop: &str, id: i64) -> (u16, Value) {
    let r = app.get_api(&format!("/app/api/orders/{id}"), &app.session_token(shop)).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn order_history(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    for id in 1..=12 {
        let phone = format!("98765432{:02}", id);
        order_with(&app, SHOP, id, &phone, |b| {
            if id == 2 {
                b["shipping_address"]["first_name"] = json!("=HYPERLINK(\"http://evil\")");
                b["shipping_address"]["last_name"] = json!("Rao, \"Jr\"");
            }
        })
        .await;
    }
    order_with(&app, OTHER, 100, "9876543201", |_| {}).await;
    app.settle().await;
    press(&app, SHOP, 1, "1").await;
    press(&app, SHOP, 2, "2").await;
    press(&app, SHOP, 3, "3").await;
    press(&app, SHOP, 4, "1").await;
    app.settle().await;

    let (status, _, html) = page(&app, SHOP, "/app/history/orders", &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Order history") && html.contains("Asia/Kolkata"));
    assert_eq!(
        [count_in(&html, "total"), count_in(&html, "confirmed"), count_in(&html, "cancelled"), count_in(&html, "callback_requested"), count_in(&html, "pending")],
        [12, 2, 1, 1, 8]
    );
    assert!(html.contains("Showing 1–12 of 12"));
    assert!(!html.contains("#1100"), "another shop's order shows");
    // The overview: a chart and the rate per channel (IVR: 2 confirmed of 12 called).
    assert!(html.contains("<svg") && html.contains("Confirmation rate per day"));
    assert!(html.contains("IVR call") && html.contains("17%"), "IVR rate");
    // The order links to its timeline, with the query that authenticates the load.
    assert!(html.contains("/app/orders/1?shop=acme.myshopify.com"));

    // Filters: status, customer number (as dialled locally), order number.
    let rows = csv(&app, SHOP, "orders", &[("status", "pending")]).await;
    assert_eq!(rows.len(), 1 + 8);
    let rows = csv(&app, SHOP, "orders", &[("customer", "09876543205")]).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[1].contains("#1005") && rows[1].contains("'+919876543205"));
    let rows = csv(&app, SHOP, "orders", &[("order", "1003")]).await;
    assert_eq!((rows.len(), rows[1].contains("#1003")), (2, true));
    let rows = csv(&app, SHOP, "orders", &[("order", "#1003"), ("status", "callback_requested")]).await;
    assert_eq!(rows.len(), 2);
    let rows = csv(&app, SHOP, "orders", &[("order", "#1003"), ("status", "confirmed")]).await;
    assert_eq!(rows.len(), 1, "a header row only");
    // CSV: one header row, escaping and the formula guard.
    let rows = csv(&app, SHOP, "orders", &[]).await;
    assert_eq!(rows.len(), 13);
    assert!(rows[0].starts_with("Sr.No.,Order Number,Customer Number,Customer Name,Order Date Time,Order Amount"));
    assert_eq!(rows.iter().filter(|r| r.starts_with("Sr.No.")).count(), 1);
    let two = rows.iter().find(|r| r.contains("#1002")).unwrap();
    assert!(two.contains(r#""'=HYPERLINK(""http://evil"") Rao, ""Jr""""#), "{two}");
    assert!(!rows.iter().any(|r| r.contains("#1100")));

    // Pagination.
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[("per_page", "10")]).await;
    assert!(html.contains("Showing 1–10 of 12") && html.contains("Page 1 of 2") && html.contains("rel=\"next\""));
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[("per_page", "10"), ("page", "2")]).await;
    assert!(html.contains("Showing 11–12 of 12") && html.contains("rel=\"prev\""));
    // Newest first, ties by order id: the last page holds the two oldest.
    assert!(html.contains("/app/orders/1?") && html.contains("/app/orders/2?") && !html.contains("/app/orders/3?"));
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[("per_page", "7")]).await;
    assert!(html.contains("<option value=\"25\" selected>"), "unknown page sizes fall back to 25");
    // The CSV link carries the filters and the authenticating query.
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[("status", "pending")]).await;
    let link = html.split("href=\"").find(|s| s.contains("format=csv")).unwrap();
    assert!(link.contains("status=pending") && link.contains("id_token=") && link.contains("shop=acme.myshopify.com"), "{link}");

    // The 7-day rule.
    let (status, _, html) = page(&app, SHOP, "/app/history/orders", &[("from", "2026-11-01"), ("to", "2026-11-09")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("at most 7 days apart"), "a clear message");
    let (status, _, body) = page(&app, SHOP, "/app/history/orders", &[("from", "2026-11-01"), ("to", "2026-11-09"), ("format", "csv")]).await;
    assert_eq!((status, body.contains("at most 7 days apart")), (422, true));
    let (status, _, _) = page(&app, SHOP, "/app/history/orders", &[("from", "2026-11-01"), ("to", "2026-11-08")]).await;
    assert_eq!(status, 200);
    let (status, _, html) = page(&app, SHOP, "/app/history/sms", &[("from", "2026-11-09"), ("to", "2026-11-01")]).await;
    assert_eq!((status, html.contains("before the From date")), (422, true));
    // A range without today's orders.
    let rows = csv(&app, SHOP, "orders", &[("from", "2020-01-01"), ("to", "2020-01-07")]).await;
    assert_eq!(rows.len(), 1);

    // Tenant isolation: the other shop sees its one order; neither sees the other's timeline.
    let rows = csv(&app, OTHER, "orders", &[]).await;
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains("#1100"));
    let rows = csv(&app, OTHER, "calls", &[]).await;
    assert_eq!(rows.len(), 2, "its own call only: {rows:?}");
    assert_eq!(order_json(&app, SHOP, 100).await.0, 404);
    assert_eq!(order_json(&app, OTHER, 1).await.0, 404);
    assert_eq!(page(&app, SHOP, "/app/orders/100", &[]).await.0, 404);
    assert_eq!(order_json(&app, OTHER, 100).await.0, 200);
    // No token, no report.
    let r = app.client.get(app.url("/app/history/orders?format=csv")).send().await.unwrap();
    assert!(r.status().is_client_error());
    assert_eq!(page(&app, SHOP, "/app/history/nope", &[]).await.0, 404);
    app.stop().await;
}

/// The full story: the IVR call goes unanswered, the SMS with a link goes out and is delivered,
/// the customer confirms on the link page. Every report and the timeline tell it.
async fn ivr_then_fallback_story(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    order_with(&app, SHOP, 1, PHONE, |_| {}).await;
    app.settle().await;
    app.last_call_unanswered(SHOP).await;
    let call = app.exotel.calls()[0].clone();
    let sms = app.exotel.sms()[0].clone();
    app.sms_delivered_and_link_confirmed(SHOP, &sms).await;

    // Call history.
    let rows = csv(&app, SHOP, "calls", &[]).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].starts_with("Sr.No.,Order Number,Call Date Time,Direction,IVR Input,Status,Customer Number,Agent Number"));
    assert!(rows[1].contains("#1001") && rows[1].contains("Outbound") && rows[1].contains("no-answer") && rows[1].contains("'+919876543210"));
    assert!(rows[1].contains(&call.sid));
    assert_eq!(csv(&app, SHOP, "calls", &[("input", "none")]).await.len(), 2);
    assert_eq!(csv(&app, SHOP, "calls", &[("input", "confirm")]).await.len(), 1);
    assert_eq!(csv(&app, SHOP, "calls", &[("status", "completed")]).await.len(), 1);
    assert_eq!(csv(&app, SHOP, "calls", &[("status", "no-answer"), ("direction", "outbound")]).await.len(), 2);
    assert_eq!(csv(&app, SHOP, "calls", &[("direction", "click_to_call")]).await.len(), 1);
    assert_eq!(csv(&app, SHOP, "calls", &[("customer", "+919876543211")]).await.len(), 1);
    let (status, _, html) = page(&app, SHOP, "/app/history/calls", &[("agent", "12")]).await;
    assert_eq!((status, html.contains("agent&#39;s phone number") || html.contains("agent's phone number")), (422, true));
    let (_, _, html) = page(&app, SHOP, "/app/history/calls", &[]).await;
    assert!(html.contains("Agent number") && html.contains("IVR input") && html.contains("Direction"));

    // SMS history: the link SMS with its delivery status.
    let rows = csv(&app, SHOP, "sms", &[]).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[1].contains("#1001") && rows[1].contains("Confirmation link") && rows[1].contains(",sent,") && rows[1].contains("DELIVERED_TO_HANDSET"));
    assert_eq!(csv(&app, SHOP, "sms", &[("status", "failed")]).await.len(), 1);
    assert_eq!(csv(&app, SHOP, "sms", &[("order", "1001")]).await.len(), 2);

    // The timeline, as JSON and as a page.
    let (status, doc) = order_json(&app, SHOP, 1).await;
    assert_eq!(status, 200);
    assert_eq!((doc["status"].as_str(), doc["channel"].as_str()), (Some("confirmed"), Some("sms_link")));
    assert_eq!(doc["tags"], json!(["sms_confirmed"]));
    assert_eq!(doc["timezone"], "Asia/Kolkata");
    let events = doc["timeline"].as_array().unwrap();
    assert!(events.iter().all(|e| e["at"].as_str().unwrap().ends_with("+05:30")));
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let story = ["order_received", "call_placed", "call_ended", "ivr_retry_limit_reached", "sms", "sms_status", "confirmed", "tags_added"];
    let mut at = 0;
    for k in story {
        let found = kinds[at..].iter().position(|x| *x == k).unwrap_or_else(|| panic!("{k} missing or out of order in {kinds:?}"));
        at += found + 1;
    }
    let (status, _, html) = page(&app, SHOP, "/app/orders/1", &[]).await;
    assert_eq!(status, 200);
    for text in ["Order #1001", "Call placed", "Call ended", "SMS delivery status", "Confirmed", "Tagged in Shopify", "sms_confirmed", "IST"] {
        assert!(html.contains(text), "{text} missing from the timeline page");
    }
    assert!(!html.contains("click-to-call"), "no call button unless a callback was asked for");

    // Order history: the SMS link channel confirmed it.
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[]).await;
    assert!(html.contains("SMS link") && html.contains("100%"));
    app.stop().await;
}

async fn missed_call_history(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    app.install_with_fallback(SHOP, json!({"mode": "sms_missed_call"})).await;
    order_with(&app, SHOP, 7, PHONE, |_| {}).await;
    app.settle().await;
    let key = app.exotel_key(SHOP).await;
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallFrom", "09876543210"), ("CallSid", "mc-1")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallFrom", "09812345678"), ("CallSid", "mc-2")]).send().await.unwrap();
    assert_eq!(r.status(), 422);
    app.settle().await;
    let rows = csv(&app, SHOP, "missed-calls", &[]).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[0].starts_with("Sr.No.,Orders Number,Customer Number,Exophone,Call Date Time,Call SID"));
    let confirmed = rows.iter().find(|r| r.contains("mc-1")).unwrap();
    assert!(confirmed.contains("#1007") && confirmed.contains("08047110000") && confirmed.contains("Confirmed"), "{confirmed}");
    assert_eq!(csv(&app, SHOP, "missed-calls", &[("order", "1007")]).await.len(), 2);
    assert_eq!(csv(&app, SHOP, "missed-calls", &[("customer", "+919812345678")]).await.len(), 2);
    let (_, doc) = order_json(&app, SHOP, 7).await;
    assert_eq!(doc["channel"], "missed_call");
    let (_, _, html) = page(&app, SHOP, "/app/history/missed-calls", &[]).await;
    assert!(html.contains("Missed call history") && html.contains("mc-1"));
    app.stop().await;
}

async fn click_to_call(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    let r = app.put_settings(SHOP, json!({"contact": {"name": "Support", "email": "help@acme.in", "phone": "+91 98123 45678"}})).await;
    assert_eq!(r.status(), 200);
    order_with(&app, SHOP, 5, PHONE, |_| {}).await;
    order_with(&app, SHOP, 6, PHONE, |_| {}).await;
    order_with(&app, OTHER, 50, PHONE, |_| {}).await;
    app.settle().await;
    press(&app, SHOP, 5, "3").await;
    press(&app, OTHER, 50, "3").await;
    app.settle().await;
    let token = app.session_token(SHOP);
    let call = |id: i64, body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let r = app.client.post(app.url(&format!("/app/api/orders/{id}/call"))).bearer_auth(token).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let before = app.exotel.calls().len();
    // The contact phone by default.
    let (status, doc) = call(5, json!({})).await;
    assert_eq!(status, 200, "{doc}");
    let placed = app.exotel.calls();
    assert_eq!(placed.len(), before + 1);
    let c = placed.last().unwrap();
    assert_eq!((c.field("From"), c.field("To"), c.field("CallerId")), (Some("+919812345678"), Some("+919876543210"), Some("08047112345")));
    assert_eq!(c.field("Url"), None);
    let key = app.exotel_key(SHOP).await;
    assert_eq!(c.field("StatusCallback").unwrap(), format!("https://codverify.test/exotel/{key}/agent-call-status"));
    assert_eq!(doc["call"]["call_sid"], c.sid.as_str());
    // Another agent for this call.
    let (status, _) = call(5, json!({"agent": "09800000001"})).await;
    assert_eq!(status, 200);
    assert_eq!(app.exotel.agent_calls().last().unwrap(), &("+919800000001".to_string(), "+919876543210".to_string()));
    // Refusals: a bad number, an order that did not ask, another shop's order.
    let (status, doc) = call(5, json!({"agent": "12"})).await;
    assert_eq!((status, doc["errors"]["agent"].is_string()), (422, true));
    let (status, doc) = call(6, json!({})).await;
    assert_eq!(status, 409, "{doc}");
    assert_eq!(call(50, json!({})).await.0, 404);
    assert_eq!(app.exotel.agent_calls().len(), 2);

    // Exotel's report of the first call.
    let r = app
        .client
        .post(app.url(&format!("/exotel/{key}/agent-call-status")))
        .json(&json!({"CallSid": c.sid, "Status": "completed", "CustomField": c.field("CustomField"), "ConversationDuration": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Call history shows them with the agent.
    let rows = csv(&app, SHOP, "calls", &[("direction", "click_to_call")]).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let first = rows.iter().find(|r| r.contains(&c.sid)).unwrap();
    assert!(first.contains("Click-to-call") && first.contains("'+919812345678") && first.contains("completed") && first.contains(",42,"), "{first}");
    let rows = csv(&app, SHOP, "calls", &[("agent", "+919800000001")]).await;
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains("'+919800000001") && rows[1].contains("#1005"));
    let (_, _, html) = page(&app, SHOP, "/app/history/calls", &[]).await;
    assert!(html.contains("+919800000001"));
    // And in the order's timeline.
    let (_, doc) = order_json(&app, SHOP, 5).await;
    let kinds: Vec<&str> = doc["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "agent_call").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"agent_call_ended"));
    let (_, _, html) = page(&app, SHOP, "/app/orders/5", &[]).await;
    assert!(html.contains("Call the customer back") && html.contains("Click-to-call placed") && html.contains("+919812345678"));
    app.stop().await;
}

/// A WhatsApp message as the WhatsApp step stores it (`whatsapp_messages`), written here directly:
/// the report reads what is stored, whoever wrote it.
pub(crate) struct WaMessage<'a> {
    pub order: i64,
    pub phone: &'a str,
    pub state: &'a str,
    pub status: Option<&'a str>,
    pub error: Option<&'a str>,
    pub reply: Option<&'a str>,
    pub reply_text: Option<&'a str>,
    /// Seconds before now it went out; `None`: it never did (written that long ago instead).
    pub sent_ago: Option<i64>,
    pub sid: &'a str,
}

pub(crate) async fn whatsapp_message(app: &TestApp, shop: &str, m: WaMessage<'_>) {
    let ids = format!("FROM orders o JOIN shops s ON s.id = o.shop_id WHERE s.domain = '{shop}' AND o.shopify_order_id = {}", m.order);
    let order_id = app.text(&format!("SELECT o.id {ids}")).await.expect("the order");
    let shop_id = app.text(&format!("SELECT o.shop_id {ids}")).await.unwrap();
    let seq = app.count(&format!("SELECT COUNT(*) FROM whatsapp_messages WHERE order_id = '{order_id}'")).await + 1;
    let now = app.state.clock.now_ms();
    let sent_at = m.sent_ago.map(|s| now - s * 1000);
    let created = sent_at.unwrap_or(now - 30_000) - 1000;
    let cipher = &app.state.cipher;
    let e164 = format!("+91{}", m.phone);
    let (phone_enc, phone_hash) = (cipher.encrypt(&e164), cipher.phone_index(&e164));
    let reply_enc = m.reply_text.map(|t| cipher.encrypt(t));
    let id = uuid::Uuid::new_v4().to_string();
    let replied_at = m.reply.map(|_| now);
    codverify::on_db!(&app.state.db, c => sqlx::query(
        "INSERT INTO whatsapp_messages (id, shop_id, order_id, seq, account_sid, to_phone_enc, to_phone_hash, token_hash, template, language, \
           state, due_at, message_sid, status, error, reply, reply_text_enc, replied_at, sent_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'acme1', $5, $6, $7, 'cod_confirm', 'en', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
        .bind(&id).bind(&shop_id).bind(&order_id).bind(seq).bind(&phone_enc).bind(&phone_hash).bind(format!("hash-{id}"))
        .bind(m.state).bind(created).bind(m.sid).bind(m.status).bind(m.error).bind(m.reply).bind(reply_enc.as_deref())
        .bind(replied_at).bind(sent_at).bind(created).bind(now)
        .execute(c).await.map(|r| r.rows_affected()))
    .unwrap();
}

/// WhatsApp history (SPEC §8): every message with its delivery status, the reply and the order's
/// result, with the filters and CSV of the other histories; WhatsApp in Order history's overview.
async fn whatsapp_history(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    for id in 1..=3 {
        order_with(&app, SHOP, id, &format!("98765432{id:02}"), |_| {}).await;
    }
    order_with(&app, OTHER, 100, "9876543201", |_| {}).await;
    app.settle().await;
    press(&app, SHOP, 1, "1").await;
    app.settle().await;
    let msg = |order, phone, state, status, sid, sent_ago| WaMessage { order, phone, state, status, error: None, reply: None, reply_text: None, sent_ago, sid };
    whatsapp_message(&app, SHOP, WaMessage { reply: Some("confirm"), ..msg(1, "9876543201", "sent", Some("read"), "wamid-1", Some(300)) }).await;
    whatsapp_message(&app, SHOP, WaMessage { reply: Some("other"), reply_text: Some("kal aana"), ..msg(2, "9876543202", "sent", Some("delivered"), "wamid-2", Some(200)) }).await;
    whatsapp_message(&app, SHOP, WaMessage { error: Some("not on WhatsApp"), ..msg(3, "9876543203", "refused", None, "", None) }).await;
    whatsapp_message(&app, OTHER, msg(100, "9876543201", "sent", Some("delivered"), "wamid-other", Some(100))).await;

    let (status, _, html) = page(&app, SHOP, "/app/history/whatsapp", &[]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>WhatsApp history</h1>") && html.contains("Asia/Kolkata") && html.contains("Showing 1–3 of 3"));
    assert!(html.contains("Message status") && html.contains(r#"<option value="callback">Call me</option>"#), "the filters");
    assert!(html.contains("/app/orders/1?shop=acme.myshopify.com") && !html.contains("wamid-other") && !html.contains("#1100"));
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 1);

    let rows = csv(&app, SHOP, "whatsapp", &[]).await;
    assert_eq!(rows[0], "Sr.No.,Message Date Time,Order Number,Customer Number,Message Status,Error,Reply,Result,Message ID");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r.starts_with("Sr.No.")).count(), 1, "one header row");
    // Newest first: the refused message (never sent), then #1002, then #1001.
    assert!(rows[1].contains("#1003") && rows[1].contains("'+919876543203") && rows[1].contains(",refused,not on WhatsApp,–,Pending verification,"), "{}", rows[1]);
    assert!(rows[2].contains("#1002") && rows[2].contains(",delivered,,\"Other text: \"\"kal aana\"\"\",Pending verification,wamid-2"), "{}", rows[2]);
    assert!(rows[3].contains("#1001") && rows[3].contains("'+919876543201") && rows[3].contains(",read,,Confirm,Confirmed,wamid-1"), "{}", rows[3]);

    // Filters: status, reply, customer number (as dialled locally), order number, dates.
    let only = |rows: Vec<String>, order: &str| rows.len() == 2 && rows[1].contains(order);
    assert!(only(csv(&app, SHOP, "whatsapp", &[("status", "read")]).await, "#1001"));
    assert!(only(csv(&app, SHOP, "whatsapp", &[("status", "refused")]).await, "#1003"));
    assert!(only(csv(&app, SHOP, "whatsapp", &[("reply", "confirm")]).await, "#1001"));
    assert!(only(csv(&app, SHOP, "whatsapp", &[("reply", "none")]).await, "#1003"));
    assert!(only(csv(&app, SHOP, "whatsapp", &[("customer", "09876543202")]).await, "#1002"));
    assert!(only(csv(&app, SHOP, "whatsapp", &[("order", "#1002")]).await, "#1002"));
    assert_eq!(csv(&app, SHOP, "whatsapp", &[("order", "1100")]).await.len(), 1, "another shop's order: a header row only");
    assert_eq!(csv(&app, SHOP, "whatsapp", &[("status", "delivered"), ("reply", "confirm")]).await.len(), 1);
    assert_eq!(csv(&app, SHOP, "whatsapp", &[("from", "2020-01-01"), ("to", "2020-01-07")]).await.len(), 1);
    let (status, _, html) = page(&app, SHOP, "/app/history/whatsapp", &[("status", "bogus")]).await;
    assert_eq!((status, html.contains("Unknown status")), (422, true));
    let (status, _, body) = page(&app, SHOP, "/app/history/whatsapp", &[("reply", "maybe"), ("format", "csv")]).await;
    assert_eq!((status, body.contains("Unknown reply")), (422, true));
    let (_, _, html) = page(&app, SHOP, "/app/history/whatsapp", &[("per_page", "10"), ("status", "read")]).await;
    let link = html.split("href=\"").find(|s| s.contains("format=csv")).unwrap();
    assert!(link.contains("status=read") && link.contains("id_token="), "{link}");
    // The other shop: its own message only.
    let rows = csv(&app, OTHER, "whatsapp", &[]).await;
    assert_eq!(rows.len(), 2);
    assert!(rows[1].contains("#1100") && rows[1].contains("wamid-other"));

    // Order history's overview: WhatsApp reached two orders (the refused message reached nobody).
    let (_, _, html) = page(&app, SHOP, "/app/history/orders", &[]).await;
    assert!(html.contains(r#" WhatsApp</td><td class="num">2</td><td class="num">0</td><td class="num">0%</td>"#), "WhatsApp in the overview");
    assert!(html.contains(r#" IVR call</td><td class="num">3</td><td class="num">1</td>"#));
    app.stop().await;
}

both_dbs!(order_history, ivr_then_fallback_story, missed_call_history, click_to_call, whatsapp_history);
