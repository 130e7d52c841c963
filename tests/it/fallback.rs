//! The IVR fallbacks, black-box: SMS with a confirmation link, SMS asking for a missed call, their
//! retries and system tag, Exotel's SMS status reports, and the settings that drive them.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

async fn setup(app: &TestApp, shop: &str, fallback: Value) {
    app.install_with_fallback(shop, fallback).await;
}

pub(crate) async fn order(app: &TestApp, shop: &str, id: i64) {
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &order_payload(id, COD, Some(PHONE))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

pub(crate) async fn status(app: &TestApp, id: i64) -> String {
    app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await.unwrap()
}

/// The link in the n-th SMS, as a path (`/v/…`).
pub(crate) fn link_path(app: &TestApp, n: usize) -> String {
    let sms = app.exotel.sms();
    let body = sms.get(n).unwrap_or_else(|| panic!("no SMS #{n}: {} sent", sms.len())).field("Body").unwrap().to_string();
    let url = body.split_whitespace().find(|w| w.starts_with("https://codverify.test/v/")).unwrap_or_else(|| panic!("no link in {body:?}"));
    url.trim_start_matches("https://codverify.test").to_string()
}

pub(crate) async fn tap(app: &TestApp, path: &str, action: &str) -> (u16, String) {
    let r = app.client.post(app.url(path)).form(&[("action", action)]).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

pub(crate) async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn cancels(app: &TestApp) -> usize {
    app.shopify.graphql_requests().iter().filter(|(_, b)| b["query"].as_str().unwrap_or("").contains("orderCancel")).count()
}

async fn link_confirms_after_the_calls(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({})).await;
    order(&app, SHOP, 1).await;
    assert!(app.exotel.sms().is_empty(), "no SMS while the IVR is still trying");
    app.last_call_unanswered(SHOP).await;
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 1);
    let m = &sms[0];
    assert_eq!(m.field("From"), Some("ACMEST"));
    assert_eq!(m.field("To"), Some("+919876543210"));
    assert_eq!(m.field("DltEntityId"), Some("1101234567890"));
    assert_eq!(m.field("DltTemplateId"), Some("1107000000000001"));
    assert_eq!(m.field("EncodingType"), Some("plain"));
    let key = app.exotel_key(SHOP).await;
    assert_eq!(m.field("StatusCallback").unwrap(), format!("https://codverify.test/exotel/{key}/sms-status"));
    assert!(m.field("Body").unwrap().starts_with("Confirm order 1001 of INR 499.00: https://codverify.test/v/"));
    let path = link_path(&app, 0);
    // ≥128 bits: 24 URL-safe base64 characters are 144.
    assert_eq!(path.len(), "/v/".len() + 24);
    assert_eq!(status(&app, 1).await, "pending");

    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 200);
    for text in ["Acme", "#1001", "INR 499.00", "Kurta × 1", "Confirm my order", "Cancel my order", "Call me back"] {
        assert!(html.contains(text), "{text} missing from the page");
    }
    assert!(!html.contains("<script"), "no JavaScript");
    let (code, html) = tap(&app, &path, "confirm").await;
    assert_eq!(code, 200);
    assert!(html.contains("Your order is confirmed"));
    // A double submit, or a later tap on another button, changes nothing.
    let (code, html) = tap(&app, &path, "confirm").await;
    assert_eq!((code, html.contains("Your order is confirmed")), (200, true));
    let (code, _) = tap(&app, &path, "cancel").await;
    assert_eq!(code, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached", "sms_confirmed"]);
    assert_eq!(cancels(&app), 0);
    // The scheduled resend is dropped with the answer.
    app.advance(3600).await;
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn link_buttons_follow_the_tags(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"callback_tag": "", "cancel_order": true})).await;
    order(&app, SHOP, 2).await;
    app.last_call_unanswered(SHOP).await;
    let path = link_path(&app, 0);
    let (_, html) = page(&app, &path).await;
    assert!(html.contains("Cancel my order") && !html.contains("Call me back"), "no callback button without its tag");
    let (code, _) = tap(&app, &path, "callback").await;
    assert_eq!(code, 400);
    let (code, _) = tap(&app, &path, "delete").await;
    assert_eq!(code, 400);
    assert_eq!(status(&app, 2).await, "pending");
    let (code, html) = tap(&app, &path, "cancel").await;
    assert_eq!(code, 200);
    assert!(html.contains("Your order is cancelled"));
    app.settle().await;
    assert_eq!(status(&app, 2).await, "cancelled");
    assert_eq!(cancels(&app), 1, "cancelled in Shopify as configured");

    // The callback button of a shop that offers it.
    setup(&app, "cb.myshopify.com", json!({})).await;
    order(&app, "cb.myshopify.com", 8).await;
    app.last_call_unanswered("cb.myshopify.com").await;
    let path = link_path(&app, app.exotel.sms().len() - 1);
    let (code, html) = tap(&app, &path, "callback").await;
    assert_eq!(code, 200);
    assert!(html.contains("We will call you back"));
    app.settle().await;
    assert_eq!(status(&app, 8).await, "callback_requested");
    assert!(app.tags_added().contains(&"sms_callback".to_string()));
    app.stop().await;
}

async fn link_expiry_unknown_and_cancelled_elsewhere(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"link_expiry_hours": 1, "retries": 1, "retry_interval_minutes": 60})).await;
    order(&app, SHOP, 3).await;
    app.last_call_unanswered(SHOP).await;
    let path = link_path(&app, 0);
    // Valid up to and including the last second of its hour.
    app.advance(3600).await;
    assert_eq!(page(&app, &path).await.0, 200);
    app.advance(1).await;
    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 410);
    assert!(html.contains("This link has expired"));
    assert_eq!(tap(&app, &path, "confirm").await.0, 410);
    assert_eq!(status(&app, 3).await, "pending");
    // Unknown and malformed tokens.
    assert_eq!(page(&app, "/v/AAAAAAAAAAAAAAAAAAAAAAAA").await.0, 404);
    assert_eq!(page(&app, "/v/short").await.0, 404);
    assert_eq!(tap(&app, "/v/AAAAAAAAAAAAAAAAAAAAAAAA", "confirm").await.0, 404);

    // Another order, cancelled in Shopify while its link is out.
    order(&app, SHOP, 4).await;
    app.last_call_unanswered(SHOP).await;
    let path = link_path(&app, app.exotel.sms().len() - 1);
    let mut cancelled = order_payload(4, COD, Some(PHONE));
    cancelled["cancelled_at"] = json!("2026-11-23T11:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-4", &cancelled).await.status(), 200);
    app.settle().await;
    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 410);
    assert!(html.contains("This order was cancelled"));
    let (code, _) = tap(&app, &path, "confirm").await;
    assert_eq!(code, 410);
    assert_eq!(status(&app, 4).await, "cancelled");
    app.stop().await;
}

/// An order of a shop's customer with this `customer_locale` (`None`: the field left out).
async fn order_in(app: &TestApp, shop: &str, id: i64, locale: Option<Value>) {
    let mut body = order_payload(id, COD, Some(PHONE));
    if let Some(l) = locale {
        body["customer_locale"] = l;
    }
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &body).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn locale(app: &TestApp, id: i64) -> Option<String> {
    app.text(&format!("SELECT customer_locale FROM orders WHERE shopify_order_id = {id}")).await
}

async fn link_page_follows_the_customer_locale(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({})).await;

    // Hindi: the page, its buttons and the answer's page.
    order_in(&app, SHOP, 11, Some(json!("hi-IN"))).await;
    assert_eq!(locale(&app, 11).await.as_deref(), Some("hi-IN"));
    app.last_call_unanswered(SHOP).await;
    let path = link_path(&app, app.exotel.sms().len() - 1);
    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 200);
    for text in ["<html lang=\"hi\">", "कृपया अपना ऑर्डर कन्फ़र्म करें", "ऑर्डर कन्फ़र्म करें", "ऑर्डर रद्द करें", "मुझे वापस कॉल करें",
        "कैश ऑन डिलीवरी", "<dt>राशि</dt>", "#1011", "INR 499.00", "Kurta × 1"] {
        assert!(html.contains(text), "{text} missing from the Hindi page");
    }
    for english in ["Confirm my order", "Cancel my order", "Call me back", "Cash on delivery", "<dt>Amount</dt>"] {
        assert!(!html.contains(english), "{english} on the Hindi page");
    }
    // A button the page does not offer is refused in Hindi too.
    let (code, html) = tap(&app, &path, "delete").await;
    assert_eq!(code, 400);
    assert!(html.contains("यह बटन इस पेज पर नहीं है"));
    let (code, html) = tap(&app, &path, "confirm").await;
    assert_eq!(code, 200);
    assert!(html.contains("<html lang=\"hi\">") && html.contains("आपका ऑर्डर कन्फ़र्म हो गया है। धन्यवाद!"), "{html}");
    assert!(!html.contains("Your order is confirmed"));
    app.settle().await;
    assert_eq!(status(&app, 11).await, "confirmed");

    // `hi_IN`, then the cancel button.
    order_in(&app, SHOP, 12, Some(json!("hi_IN"))).await;
    app.last_call_unanswered(SHOP).await;
    let path = link_path(&app, app.exotel.sms().len() - 1);
    let (code, html) = tap(&app, &path, "cancel").await;
    assert_eq!(code, 200);
    assert!(html.contains("आपका ऑर्डर रद्द कर दिया गया है।"));

    // English, no locale, a locale of another language and one that is not a language tag: English.
    for (id, l, stored) in [
        (13, Some(json!("en")), Some("en")),
        (14, None, None),
        (15, Some(json!(null)), None),
        (16, Some(json!("ta-IN")), Some("ta-IN")),
        (17, Some(json!("hi-IN<script>")), None),
        (18, Some(json!(7)), None),
    ] {
        order_in(&app, SHOP, id, l).await;
        assert_eq!(locale(&app, id).await.as_deref(), stored, "order {id}");
        assert_eq!(status(&app, id).await, "pending", "order {id} was taken");
        app.last_call_unanswered(SHOP).await;
        let path = link_path(&app, app.exotel.sms().len() - 1);
        let (code, html) = page(&app, &path).await;
        assert_eq!(code, 200);
        assert!(html.contains("<html lang=\"en\">") && html.contains("Confirm my order"), "order {id}");
        assert!(!html.contains("ऑर्डर"), "order {id}: Hindi on the English page");
        if id == 13 {
            let (_, html) = tap(&app, &path, "callback").await;
            assert!(html.contains("We will call you back"));
        }
    }
    app.stop().await;
}

async fn sms_retries_then_the_limit_tag(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"retries": 2, "retry_interval_minutes": 10})).await;
    setup(&app, "once.myshopify.com", json!({"retries": 0, "retry_interval_minutes": 0})).await;
    order(&app, SHOP, 5).await;
    app.last_call_unanswered(SHOP).await;
    order(&app, "once.myshopify.com", 6).await;
    app.last_call_unanswered("once.myshopify.com").await;
    let sent_to = |app: &TestApp, shop: &str| {
        let key = shop.to_string();
        app.exotel.sms().iter().filter(|m| m.field("StatusCallback").is_some_and(|u| u.contains(&key))).count()
    };
    let (k5, k6) = (app.exotel_key(SHOP).await, app.exotel_key("once.myshopify.com").await);
    assert_eq!((sent_to(&app, &k5), sent_to(&app, &k6)), (1, 1));
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(sent_to(&app, &k5), 2, "resent after the interval");
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(sent_to(&app, &k5), 3);
    assert_eq!(status(&app, 5).await, "pending");
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 5).await, "no_response", "one interval after the last SMS");
    assert_eq!(status(&app, 6).await, "pending", "60 minutes when there are no retries");
    app.advance(30 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 6).await, "no_response");
    assert_eq!(sent_to(&app, &k6), 1);
    let tags = app.tags_added();
    assert_eq!(tags.iter().filter(|t| *t == "fallback_retry_limit_reached").count(), 2);
    // Each resend carries a fresh link; every one of them still takes a late answer while it has
    // not expired (48 hours), the first one too.
    let (code, html) = page(&app, &link_path(&app, 0)).await;
    assert_eq!(code, 200);
    assert!(html.contains("Confirm my order"), "{html}");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn dnd_number_goes_to_missed_call(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    setup(&app, SHOP, json!({"mode": "sms_missed_call"})).await;
    order(&app, SHOP, 7).await;
    assert!(app.exotel.calls().is_empty(), "a DND number is not called");
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].field("Body"), Some("Give a missed call to 08047110000 to confirm order 1007"));
    assert_eq!(sms[0].field("DltTemplateId"), Some("1107000000000002"));
    let key = app.exotel_key(SHOP).await;
    let missed = |from: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.client
                .get(app.url(&format!("/exotel/{key}/missed-call")))
                .query(&[("CallSid", "mc-1"), ("CallFrom", from), ("CallTo", "08047110000"), ("Direction", "incoming")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(missed("09876543210").await, 200);
    app.settle().await;
    assert_eq!(status(&app, 7).await, "confirmed");
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 2);
    assert_eq!(sms[1].field("Body"), Some("Order 1007 confirmed. Thank you!"));
    assert_eq!(sms[1].field("DltTemplateId"), Some("1107000000000003"));
    // A repeat within 5 minutes counts once: no second confirmation.
    assert_eq!(missed("+919876543210").await, 200);
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM missed_calls WHERE outcome = 'repeat'").await, 1);
    // After the window, a number with nothing pending changes nothing.
    app.advance(5 * 60 + 1).await;
    assert_eq!(missed("9876543210").await, 422);
    assert_eq!(missed("12").await, 422);
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 2);
    assert_eq!(app.tags_added(), vec!["sms_confirmed"]);
    // The wrong key.
    let r = app.client.get(app.url(&format!("/exotel/{}/missed-call", "z".repeat(32)))).query(&[("CallFrom", "09876543210")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

async fn missed_call_latest_three(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    setup(&app, SHOP, json!({"mode": "sms_missed_call", "missed_call_scope": "latest_3_in_30_days",
        "missed_call_template": "Give a missed call to %exophone% to confirm your orders", "retries": 5, "retry_interval_minutes": 60})).await;
    for id in 10..15 {
        order(&app, SHOP, id).await;
    }
    // Order 10 is 31 days old: out of the 30-day scope.
    let month = 31 * 24 * 3600 * 1000i64;
    let sql = format!("UPDATE orders SET created_at = created_at - {month} WHERE shopify_order_id = 10");
    codverify::on_db!(&app.state.db, c => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(c).await.map(|_| ())).unwrap();
    let key = app.exotel_key(SHOP).await;
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallFrom", "+91 98765 43210")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    let statuses: Vec<String> = futures::future::join_all((10..15).map(|id| status(&app, id))).await;
    assert_eq!(statuses, vec!["pending", "pending", "confirmed", "confirmed", "confirmed"]);
    app.stop().await;
}

async fn sms_status_reports(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    setup(&app, SHOP, json!({})).await;
    order(&app, SHOP, 20).await;
    let sms = app.exotel.sms();
    let (sid, id) = (sms[0].sid.clone(), sms[0].field("CustomField").unwrap().to_string());
    let key = app.exotel_key(SHOP).await;
    let post = |form: Vec<(&'static str, String)>, key: String| {
        let app = &app;
        async move { app.client.post(app.url(&format!("/exotel/{key}/sms-status"))).form(&form).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(vec![("SmsSid", sid.clone()), ("Status", "failed_dnd".into()), ("DetailedStatus", "DND_BLOCKED".into()),
        ("DetailedStatusCode", "23081".into()), ("CustomField", id.clone())], key.clone()).await, 200);
    assert_eq!(app.text("SELECT status FROM sms_messages").await.as_deref(), Some("failed-dnd"));
    assert_eq!(app.text("SELECT detailed_status_code FROM sms_messages").await.as_deref(), Some("23081"));
    // By SmsSid alone, JSON, repeated: recorded once on the timeline.
    for _ in 0..2 {
        let r = app.client.post(app.url(&format!("/exotel/{key}/sms-status")))
            .json(&json!({"SmsSid": sid, "Status": "sent", "DetailedStatus": "DELIVERED_TO_HANDSET", "SmsUnits": 1})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.text("SELECT status FROM sms_messages").await.as_deref(), Some("sent"));
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'sms_status'").await, 2);
    assert_eq!(post(vec![("SmsSid", sid.clone()), ("Status", "failed".into())], "q".repeat(32)).await, 404);
    assert_eq!(app.text("SELECT status FROM sms_messages").await.as_deref(), Some("sent"));
    app.stop().await;
}

async fn unicode_templates_go_as_unicode(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    setup(&app, SHOP, json!({"link_template": "ऑर्डर %ordernumber% कन्फर्म करें: %link%"})).await;
    order(&app, SHOP, 21).await;
    assert_eq!(app.exotel.sms()[0].field("EncodingType"), Some("unicode"));
    app.stop().await;
}

async fn fallback_settings_are_validated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let bad = json!({"fallback": {"mode": "sms_link", "sender_id": "AC", "dlt_entity_id": "", "encoding": "plain", "retries": 0,
        "retry_interval_minutes": 10, "confirm_tag": "", "link_template": "Confirm: no link here", "dlt_template_id": "",
        "link_expiry_hours": 73}});
    let r = app.put_settings(SHOP, bad).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    for k in ["fallback.sender_id", "fallback.dlt_entity_id", "fallback.retry_interval_minutes", "fallback.confirm_tag",
        "fallback.link_template", "fallback.dlt_template_id", "fallback.link_expiry_hours"] {
        assert!(e["errors"][k].is_string(), "{k}: {e}");
    }
    assert_eq!(e["errors"]["fallback.link_template"], "must contain %link%");
    let r = app.put_settings(SHOP, json!({"fallback": {"mode": "sms_missed_call", "sender_id": "ACMEST", "dlt_entity_id": "1",
        "missed_call_scope": "latest_3_in_30_days", "missed_call_exophone": "08047110000", "missed_call_template": "Call %exophone% for %ordernumber%",
        "missed_call_dlt_template_id": "2", "confirmation_template": "Thanks", "confirmation_dlt_template_id": "3"}})).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["errors"]["fallback.missed_call_template"], "cannot hold %ordernumber%: one missed call confirms up to 3 orders");
    let r = app.put_settings(SHOP, json!({"fallback": {"mode": "sms_missed_call", "missed_call_template": "Call us"}})).await;
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["errors"]["fallback.missed_call_template"], "must contain %exophone%");
    // Outside India, DLT ids may be left out.
    let r = app.put_settings(SHOP, json!({"general": {"default_country": "SG"}, "fallback": {"mode": "sms_link", "sender_id": "ACME",
        "dlt_entity_id": "", "dlt_template_id": "", "retries": 0, "retry_interval_minutes": 0}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let doc: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    assert_eq!(doc["fallback"]["mode"], "sms_link");
    assert_eq!(doc["fallback"]["link_expiry_hours"], 48);
    app.stop().await;
}

both_dbs!(
    link_confirms_after_the_calls,
    link_buttons_follow_the_tags,
    link_expiry_unknown_and_cancelled_elsewhere,
    link_page_follows_the_customer_locale,
    sms_retries_then_the_limit_tag,
    dnd_number_goes_to_missed_call,
    missed_call_latest_three,
    sms_status_reports,
    unicode_templates_go_as_unicode,
    fallback_settings_are_validated,
);
