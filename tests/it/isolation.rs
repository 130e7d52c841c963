//! One shop never sees or changes another shop's data (SPEC §6), black-box: every `/app…` route
//! with shop A's session token and shop B's identifiers, every `/exotel/{key}/…` route with A's key
//! and B's calls, SMS and numbers, the OTP API with A's token and B's orders, and everything of B
//! after B uninstalled.
//!
//! The answer for another shop's object is 404 (timeline page and JSON, click-to-call, Exotel
//! passthrus and greeting), 401 for a document load whose `shop` is not the token's, and an empty
//! result for the history lists (filtering A's history by B's order shows no row). Exotel's call
//! status callbacks (IVR call, click-to-call) answer 404 for a call that is not the key's shop's,
//! like every other callback (SPEC §11); the SMS status callback answers 200 "unknown SMS; ignored"
//! for an SMS that is not; a missed call through A's key is recorded as A's and confirms nothing of B's. In every case nothing of B changes and the fake Shopify and
//! Exotel receive no request.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::snapshot::Snapshot;
use crate::common::{API_KEY, API_SECRET, Backend, TestApp, order_payload};
use crate::hostile::outside_requests;
use crate::reports::{WaMessage, whatsapp_message};

const A: &str = "acme.myshopify.com";
const B: &str = "bravo.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE_A: &str = "9876543210";
const PHONE_B: &str = "9812345678";

struct Guard<'a> {
    app: &'a TestApp,
    base: Snapshot,
    outside: (usize, usize, usize),
    checked: usize,
}

impl<'a> Guard<'a> {
    async fn new(app: &'a TestApp) -> Guard<'a> {
        Guard { app, base: app.settled_snapshot().await, outside: outside_requests(app), checked: 0 }
    }

    /// The answer has one of `statuses`, nothing stored changed (but `exempt` tables) and nobody
    /// outside was asked anything. Returns the body.
    async fn expect(&mut self, what: &str, r: reqwest::Response, statuses: &[u16], exempt: &[&str]) -> String {
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(statuses.contains(&status), "{what}: {status} (expected {statuses:?}) {body}");
        let now = self.app.settled_snapshot().await;
        let (base, now) = (self.base.without(exempt), now.without(exempt));
        assert!(base == now, "{what}: changed stored state:\n{}", base.diff(&now));
        assert_eq!(outside_requests(self.app), self.outside, "{what}: reached Shopify or Exotel");
        self.checked += 1;
        body
    }

    async fn rebase(&mut self) {
        self.base = self.app.settled_snapshot().await;
        self.outside = outside_requests(self.app);
    }
}

fn b_order(id: i64) -> Value {
    let mut o = order_payload(id, COD, Some(PHONE_B));
    o["shipping_address"]["first_name"] = json!("Bina");
    o["customer"]["first_name"] = json!("Bina");
    o["customer"]["id"] = json!(8001);
    o
}

async fn take(app: &TestApp, shop: &str, body: &Value) {
    let id = body["id"].as_i64().unwrap();
    assert_eq!(app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), body).await.status(), 200);
    app.settle().await;
}

async fn attempt_of(app: &TestApp, shop: &str, id: i64) -> (String, String) {
    let sql = |col: &str| {
        format!("SELECT a.{col} FROM call_attempts a JOIN orders o ON o.id = a.order_id JOIN shops s ON s.id = o.shop_id WHERE s.domain = '{shop}' AND o.shopify_order_id = {id}")
    };
    (app.text(&sql("id")).await.unwrap(), app.text(&sql("call_sid")).await.unwrap())
}

async fn order_status(app: &TestApp, shop: &str, id: i64) -> String {
    app.text(&format!("SELECT o.status FROM orders o JOIN shops s ON s.id = o.shop_id WHERE s.domain = '{shop}' AND o.shopify_order_id = {id}")).await.unwrap()
}

fn page_query(app: &TestApp, shop: &str, token_shop: &str) -> String {
    format!("shop={shop}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ&embedded=1&id_token={}", app.session_token(token_shop))
}

fn extension_token(app: &TestApp, shop: &str) -> String {
    let now = app.now_secs();
    app.session_token_with(json!({"dest": shop, "aud": API_KEY, "exp": now + 300, "nbf": now - 5, "iat": now - 5, "jti": "x"}), API_SECRET)
}

async fn shops_never_mix(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    for shop in [A, B] {
        app.install_with_fallback(shop, json!({"mode": "sms_missed_call", "retries": 0, "retry_interval_minutes": 0})).await;
    }
    let (key_a, key_b) = (app.exotel_key(A).await, app.exotel_key(B).await);
    let client = |shop: &str| {
        let token = app.session_token(shop);
        move |r: reqwest::RequestBuilder| r.bearer_auth(token.clone())
    };
    let (as_a, as_b) = (client(A), client(B));

    // A: order 1001, its call in progress. B: 2501 in progress; 2502 unanswered, so its missed-call
    // SMS is out; 2503 asked for a callback and an agent called back.
    take(&app, A, &order_payload(1001, COD, Some(PHONE_A))).await;
    for id in [2501, 2502, 2503] {
        take(&app, B, &b_order(id)).await;
    }
    let (b_attempt, b_sid) = attempt_of(&app, B, 2501).await;
    let (b2_attempt, b2_sid) = attempt_of(&app, B, 2502).await;
    let r = app.client.post(app.url(&format!("/exotel/{key_b}/call-status"))).json(&json!({"CallSid": b2_sid, "Status": "no-answer", "CustomField": b2_attempt})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (b3_attempt, _) = attempt_of(&app, B, 2503).await;
    let r = app.client.get(app.url(&format!("/exotel/{key_b}/ivr/callback"))).query(&[("CustomField", b3_attempt.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    let r = as_b(app.client.post(app.url("/app/api/orders/2503/call"))).json(&json!({"agent": "+919812300000"})).send().await.unwrap();
    assert_eq!(r.status(), 200, "B's click-to-call: {}", r.text().await.unwrap());
    let b_sms_sid = app.exotel.sms().last().unwrap().sid.clone();
    let b_agent = app.exotel.calls().last().unwrap().clone();
    let (b_agent_id, b_agent_sid) = (b_agent.field("CustomField").unwrap().to_string(), b_agent.sid.clone());
    assert_eq!(order_status(&app, B, 2502).await, "pending");
    // B's WhatsApp message for 2501, as the WhatsApp step stores it.
    whatsapp_message(&app, B, WaMessage { order: 2501, phone: PHONE_B, state: "sent", status: Some("delivered"), error: None,
        reply: Some("other"), reply_text: Some("Bina here"), sent_ago: Some(60), sid: "wamid-bravo" }).await;
    // What must never show in A's answers.
    let b_marks = [B.to_string(), key_b.clone(), b_sid.clone(), b2_sid.clone(), b_sms_sid.clone(), b_agent_sid.clone(), "#1501".into(), "#1502".into(), "#1503".into(), "Bina".into(), "wamid-bravo".into()];
    let shows_b = |body: &str| b_marks.iter().find(|m| body.contains(m.as_str())).cloned();

    // Positive controls: B itself sees these marks, so their absence below means something.
    let csv = app.client.get(format!("{}?{}&format=csv", app.url("/app/history/calls"), page_query(&app, B, B))).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains(&b_sid) && csv.contains("#1501"), "B's call history shows B's calls:\n{csv}");
    let csv = app.client.get(format!("{}?{}&customer={PHONE_B}&format=csv", app.url("/app/history/orders"), page_query(&app, B, B))).send().await.unwrap().text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "B's three orders by B's customer number:\n{csv}");
    let r = as_b(app.client.get(app.url("/app/api/orders/2501"))).send().await.unwrap();
    assert!(r.status() == 200 && r.text().await.unwrap().contains("Bina"));
    let csv = app.client.get(format!("{}?{}&format=csv", app.url("/app/history/whatsapp"), page_query(&app, B, B))).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("wamid-bravo") && csv.contains("#1501") && csv.contains("Bina here"), "B's WhatsApp history shows B's message:\n{csv}");
    // B has a data request, and opens it once (the opening is recorded: it must not move below).
    let req = json!({"shop_id": 2, "shop_domain": B, "orders_requested": [2501], "data_request": {"id": 77},
        "customer": {"id": 8001, "email": "bina@example.com", "phone": format!("+91{PHONE_B}")}});
    assert_eq!(app.post_webhook("customers/data_request", B, "dr-b", &req).await.status(), 200);
    app.settle().await;
    let b_request = app.text("SELECT id FROM data_requests").await.unwrap();
    let r = app.client.get(format!("{}?{}&format=json", app.url(&format!("/app/data-requests/{b_request}")), page_query(&app, B, B))).send().await.unwrap();
    assert!(r.status() == 200 && r.text().await.unwrap().contains("Bina"), "B opens its own report");

    let mut g = Guard::new(&app).await;

    // Document loads: A's token with B as the shop is refused; A's own pages show nothing of B.
    let pages = ["/app", "/app/contact", "/app/settings", "/app/settings/plan", "/app/settings/otp", "/app/settings/whatsapp",
        "/app/settings/ivr", "/app/settings/fallback", "/app/history/calls", "/app/history/sms", "/app/history/missed-calls",
        "/app/history/whatsapp", "/app/history/orders", "/app/data-requests"];
    for page in pages {
        let r = app.client.get(format!("{}?{}", app.url(page), page_query(&app, B, A))).send().await.unwrap();
        g.expect(&format!("{page} with A's token for shop B"), r, &[401], &[]).await;
        let r = app.client.get(format!("{}?{}", app.url(page), page_query(&app, A, A))).send().await.unwrap();
        let body = g.expect(&format!("{page} as A"), r, &[200], &[]).await;
        assert_eq!(shows_b(&body), None, "{page} as A shows B's data");
    }
    // History lists and their CSV, filtered by B's order, number or CallSid: no row.
    for report in ["calls", "sms", "missed-calls", "whatsapp", "orders"] {
        for filter in ["order=%231501", &format!("customer={PHONE_B}"), ""] {
            let r = app.client.get(format!("{}?{}&{filter}&format=csv", app.url(&format!("/app/history/{report}")), page_query(&app, A, A))).send().await.unwrap();
            let csv = g.expect(&format!("{report} CSV as A ({filter})"), r, &[200], &[]).await;
            assert_eq!(shows_b(&csv), None, "{report} CSV as A ({filter}) shows B's data:\n{csv}");
            if !filter.is_empty() {
                assert_eq!(csv.lines().count(), 1, "{report} CSV as A filtered by B's {filter}: only the header row\n{csv}");
            }
        }
    }
    // B's orders by id: the timeline page and JSON are 404; click-to-call is 404 and calls nobody.
    for id in [2501, 2502, 2503] {
        let r = app.client.get(format!("{}?{}", app.url(&format!("/app/orders/{id}")), page_query(&app, A, A))).send().await.unwrap();
        g.expect(&format!("timeline page of B's {id} as A"), r, &[404], &[]).await;
        let r = as_a(app.client.get(app.url(&format!("/app/api/orders/{id}")))).send().await.unwrap();
        g.expect(&format!("timeline JSON of B's {id} as A"), r, &[404], &[]).await;
        let r = as_a(app.client.post(app.url(&format!("/app/api/orders/{id}/call")))).json(&json!({"agent": "+919812300000"})).send().await.unwrap();
        g.expect(&format!("click-to-call of B's {id} as A"), r, &[404], &[]).await;
    }
    // B's data request through A's session: 404, and not recorded as opened.
    for format in ["json", "csv"] {
        let r = app.client.get(format!("{}?{}&format={format}", app.url(&format!("/app/data-requests/{b_request}")), page_query(&app, A, A))).send().await.unwrap();
        g.expect(&format!("B's data request ({format}) as A"), r, &[404], &[]).await;
    }
    // A's own order shows A's data only.
    let r = as_a(app.client.get(app.url("/app/api/orders/1001"))).send().await.unwrap();
    let body = g.expect("A's timeline JSON", r, &[200], &[]).await;
    assert_eq!(shows_b(&body), None);
    // The settings API answers with A's document (A's key, never B's).
    let r = as_a(app.client.get(app.url("/app/api/settings"))).send().await.unwrap();
    let body = g.expect("A's settings", r, &[200], &[]).await;
    assert!(body.contains(&key_a) && shows_b(&body).is_none(), "{body}");

    // A's Exotel key with B's calls, SMS, click-to-calls and customer.
    let with_b_call: [&[(&str, &str)]; 3] = [&[("CallSid", &b_sid)], &[("CustomField", &b_attempt)], &[("CallSid", &b_sid), ("CustomField", &b_attempt), ("digits", "\"1\"")]];
    for q in with_b_call {
        let r = app.client.get(app.url(&format!("/exotel/{key_a}/greeting"))).query(q).send().await.unwrap();
        g.expect(&format!("greeting through A's key for B's call {q:?}"), r, &[404], &[]).await;
        for choice in ["confirm", "cancel", "callback", "input"] {
            let r = app.client.get(app.url(&format!("/exotel/{key_a}/ivr/{choice}"))).query(q).send().await.unwrap();
            g.expect(&format!("ivr/{choice} through A's key for B's call {q:?}"), r, &[404], &[]).await;
        }
    }
    for (path, body, code) in [
        ("call-status", json!({"CallSid": b_sid, "CustomField": b_attempt, "Status": "completed", "Legs": [{"AnsweredBy": "HUMAN"}]}), 404),
        ("call-status", json!({"CallSid": b_sid, "Status": "busy"}), 404),
        ("call-status", json!({"CallSid": b_sid, "CustomField": b_attempt, "Status": "completed", "Digits": "\"1\""}), 404),
        ("sms-status", json!({"SmsSid": b_sms_sid, "Status": "failed", "DetailedStatus": "FAILED"}), 200),
        ("agent-call-status", json!({"CallSid": b_agent_sid, "CustomField": b_agent_id, "Status": "completed", "ConversationDuration": 30}), 404),
    ] {
        let r = app.client.post(app.url(&format!("/exotel/{key_a}/{path}"))).json(&body).send().await.unwrap();
        let text = g.expect(&format!("{path} through A's key for B's {body}"), r, &[code], &[]).await;
        assert!(code == 404 || text.contains("ignored"), "{path}: {text}");
    }
    // WhatsApp callbacks through A's key about B's message, or from B's customer: Exotel gets its
    // 200 (it retries anything else) and nothing changes.
    let b_message = app.text("SELECT id FROM whatsapp_messages WHERE message_sid = 'wamid-bravo'").await.unwrap();
    let wa = |m: Value| json!({"whatsapp": {"messages": [m]}});
    for body in [
        wa(json!({"callback_type": "dlr", "sid": "wamid-bravo", "custom_data": b_message, "exo_detailed_status": "EX_MESSAGE_FAILED", "status": "failed"})),
        wa(json!({"callback_type": "dlr", "custom_data": b_message, "exo_detailed_status": "EX_MESSAGE_READ"})),
        wa(json!({"callback_type": "icm", "from": format!("+91{PHONE_B}"), "to": "+919812345678", "content": {"type": "text", "text": {"body": "1"}}})),
        wa(json!({"callback_type": "icm", "from": format!("+91{PHONE_B}"), "content": {"type": "button", "button": {"payload": "bbbbbbbbbbbbbbbbbbbbbbbb.confirm", "text": "Confirm"}}})),
    ] {
        let r = app.client.post(app.url(&format!("/exotel/{key_a}/whatsapp"))).json(&body).send().await.unwrap();
        g.expect(&format!("whatsapp through A's key for B's {body}"), r, &[200], &[]).await;
    }
    assert_eq!(order_status(&app, B, 2501).await, "pending");
    // A missed call from B's customer to A's number is A's business (recorded as A's, confirming
    // nothing there); B's pending order stays pending.
    let r = app.client.get(app.url(&format!("/exotel/{key_a}/missed-call"))).query(&[("CallFrom", format!("0{PHONE_B}")), ("CallSid", "mc-a".into())]).send().await.unwrap();
    g.expect("missed call from B's customer through A's key", r, &[422], &["missed_calls"]).await;
    let b_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{B}'")).await.unwrap();
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM missed_calls WHERE shop_id = '{b_id}'")).await, 0);
    g.rebase().await;

    // The OTP API: A's checkout token with B's orders.
    let ext_a = extension_token(&app, A);
    for id in ["2501", "2502", "gid://shopify/Order/2503"] {
        let r = app.client.get(app.url("/api/otp/status")).query(&[("order_id", id)]).bearer_auth(&ext_a).send().await.unwrap();
        g.expect(&format!("OTP status of B's {id} with A's token"), r, &[404], &[]).await;
        let r = app.client.post(app.url("/api/otp/verify")).bearer_auth(&ext_a).json(&json!({"order_id": id, "otp": "123456"})).send().await.unwrap();
        g.expect(&format!("OTP verify of B's {id} with A's token"), r, &[404], &[]).await;
        let r = app.client.post(app.url("/api/otp/resend")).bearer_auth(&ext_a).json(&json!({"order_id": id})).send().await.unwrap();
        g.expect(&format!("OTP resend of B's {id} with A's token"), r, &[404], &[]).await;
    }

    // A's writes touch A only: saving settings and rotating A's key leave B's row as it was.
    let b_row = format!("SELECT settings || '|' || exotel_key || '|' || status FROM shops WHERE domain = '{B}'");
    let b_before = app.text(&b_row).await;
    let r = as_a(app.client.put(app.url("/app/api/settings"))).json(&json!({"contact": {"name": "A's owner", "email": "a@example.com", "phone": "+919800000001"}})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = as_a(app.client.post(app.url("/app/api/settings/rotate-exotel-key"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(app.exotel_key(A).await, key_a);
    assert_eq!(app.text(&b_row).await, b_before, "A's settings and key rotation changed B's row");
    // A's old key is dead; B's key still works (a positive control for the 404s above).
    g.rebase().await;
    let r = app.client.get(app.url(&format!("/exotel/{key_a}/greeting"))).query(&[("CallSid", &b_sid)]).send().await.unwrap();
    g.expect("A's rotated-out key", r, &[404], &[]).await;
    let r = app.client.get(app.url(&format!("/exotel/{key_b}/greeting"))).query(&[("CallSid", &b_sid)]).send().await.unwrap();
    assert_eq!(r.status(), 200, "B's own key and call");

    // B uninstalls: B's key answers 404 everywhere and changes nothing; B's orders are not
    // reachable through the OTP API; A carries on.
    app.advance(1).await;
    assert_eq!(app.post_webhook("app/uninstalled", B, "un-b", &json!({"id": 2, "domain": B})).await.status(), 200);
    app.settle().await;
    g.rebase().await;
    let gets: [(&str, Vec<(&str, String)>); 6] = [
        ("greeting", vec![("CallSid", b_sid.clone())]),
        ("ivr/confirm", vec![("CustomField", b_attempt.clone())]),
        ("ivr/cancel", vec![("CustomField", b_attempt.clone())]),
        ("ivr/callback", vec![("CustomField", b_attempt.clone())]),
        ("ivr/input", vec![("CustomField", b_attempt.clone()), ("digits", "\"1\"".into())]),
        ("missed-call", vec![("CallFrom", format!("0{PHONE_B}"))]),
    ];
    for (path, q) in gets {
        let r = app.client.get(app.url(&format!("/exotel/{key_b}/{path}"))).query(&q).send().await.unwrap();
        g.expect(&format!("{path} with uninstalled B's key"), r, &[404], &[]).await;
    }
    for (path, body) in [
        ("call-status", json!({"CallSid": b_sid, "CustomField": b_attempt, "Status": "completed"})),
        ("sms-status", json!({"SmsSid": b_sms_sid, "Status": "sent"})),
        ("agent-call-status", json!({"CallSid": b_agent_sid, "CustomField": b_agent_id, "Status": "completed"})),
        ("whatsapp", json!({"whatsapp": {"messages": [{"callback_type": "dlr", "sid": "wamid-bravo", "status": "read"}]}})),
    ] {
        let r = app.client.post(app.url(&format!("/exotel/{key_b}/{path}"))).json(&body).send().await.unwrap();
        g.expect(&format!("{path} with uninstalled B's key"), r, &[404], &[]).await;
    }
    let ext_b = extension_token(&app, B);
    let r = app.client.get(app.url("/api/otp/status")).query(&[("order_id", "2502")]).bearer_auth(&ext_b).send().await.unwrap();
    g.expect("OTP status of uninstalled B's order", r, &[404], &[]).await;
    let r = as_a(app.client.get(app.url("/app/api/orders/2502"))).send().await.unwrap();
    g.expect("B's order as A after B uninstalled", r, &[404], &[]).await;
    let r = as_a(app.client.get(app.url("/app/api/orders/1001"))).send().await.unwrap();
    assert_eq!(r.status(), 200, "A carries on");
    println!("shops_never_mix ({backend:?}): {} cross-shop requests refused or answered with A's data only, nothing of B changed", g.checked);
    app.stop().await;
}

both_dbs!(shops_never_mix);
