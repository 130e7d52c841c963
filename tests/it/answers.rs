//! No shopper answer is lost, and Exotel is answered exactly (issue 14 §4, §5), black-box: late
//! answers to a `no_response` order (link, missed call, key press), `Digits` in the call status
//! callback, the missed-call passthru by POST, the SMS details lookup of an SMS whose status report
//! never came, the greeting's exact content type, another shop's call under a valid key, and
//! answering-machine detection read from the customer's leg.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};
use crate::fallback::{link_path, order, page, status, tap};

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

async fn events(app: &TestApp, id: i64, kind: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = {id} AND e.kind = '{kind}'"
    ))
    .await
}

fn mutations(app: &TestApp, name: &str) -> usize {
    app.shopify.graphql_requests().iter().filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(name)).count()
}

/// A terminal call status report (JSON) for the n-th call Exotel received, with extra fields.
async fn call_report(app: &TestApp, key: &str, n: usize, status: &str, extra: Value) -> reqwest::Response {
    let call = app.exotel.calls()[n].clone();
    let mut body = json!({"CallSid": call.sid, "Status": status, "EventType": "terminal", "CustomField": call.field("CustomField"),
        "DateUpdated": "2026-11-23 10:01:00", "ConversationDuration": 12});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.client.post(app.url(&format!("/exotel/{key}/call-status"))).json(&body).send().await.unwrap()
}

/// Order 1 with the SMS-link fallback and no SMS retries: its call goes unanswered, its one SMS
/// goes out, and 60 minutes later the order ends `no_response`.
async fn link_order_without_response(app: &TestApp) -> String {
    app.install_with_fallback(SHOP, json!({"retries": 0, "retry_interval_minutes": 0})).await;
    order(app, SHOP, 1).await;
    app.last_call_unanswered(SHOP).await;
    let path = link_path(app, 0);
    app.advance(60 * 60).await;
    app.settle().await;
    assert_eq!(status(app, 1).await, "no_response");
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached", "fallback_retry_limit_reached"]);
    path
}

/// The link still works for its whole expiry after the order ended `no_response`: a tap two hours
/// later confirms it once (concurrent taps too), tags it, and the no-response tag stays.
async fn late_link_tap_confirms_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let path = link_order_without_response(&app).await;
    app.advance(2 * 3600).await;
    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 200);
    assert!(html.contains("Confirm my order"), "the buttons are offered again: {html}");
    let taps = futures::future::join_all((0..4).map(|_| tap(&app, &path, "confirm"))).await;
    for (code, html) in &taps {
        assert_eq!(*code, 200);
        assert!(html.contains("Your order is confirmed"), "{html}");
    }
    assert_eq!(tap(&app, &path, "cancel").await.0, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(events(&app, 1, "confirmed").await, 1, "resolved once");
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached", "fallback_retry_limit_reached", "sms_confirmed"]);
    assert_eq!(mutations(&app, "orderCancel"), 0);
    let tags = app.text("SELECT outcome_tags FROM orders WHERE shopify_order_id = 1").await;
    assert_eq!(tags.as_deref(), Some("fallback_retry_limit_reached,sms_confirmed"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// An order cancelled in Shopify after it ended `no_response` takes no late answer: its link says
/// so (410) and a tap changes nothing.
async fn late_link_after_shopify_cancel_is_gone(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let path = link_order_without_response(&app).await;
    let mut cancelled = order_payload(1, COD, Some(PHONE));
    cancelled["cancelled_at"] = json!("2026-11-23T12:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-1", &cancelled).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "cancelled");
    let graphql_before = app.shopify.graphql_requests().len();
    app.advance(3600).await;
    let (code, html) = page(&app, &path).await;
    assert_eq!(code, 410);
    assert!(html.contains("This order was cancelled"), "{html}");
    assert_eq!(tap(&app, &path, "confirm").await.0, 410);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "cancelled");
    assert_eq!(events(&app, 1, "confirmed").await, 0);
    assert_eq!(app.shopify.graphql_requests().len(), graphql_before, "nothing sent to Shopify");
    app.stop().await;
}

/// A missed call after the order ended `no_response` still confirms it, with its confirmation SMS.
async fn late_missed_call_confirms(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    app.install_with_fallback(SHOP, json!({"mode": "sms_missed_call", "retries": 0, "retry_interval_minutes": 0})).await;
    order(&app, SHOP, 1).await;
    assert_eq!(app.exotel.sms().len(), 1);
    app.advance(60 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 1).await, "no_response");
    app.advance(3 * 3600).await;
    let key = app.exotel_key(SHOP).await;
    let r = app.client.get(app.url(&format!("/exotel/{key}/missed-call"))).query(&[("CallSid", "mc-1"), ("CallFrom", "09876543210")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(app.tags_added(), vec!["fallback_retry_limit_reached", "sms_confirmed"]);
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 2);
    assert_eq!(sms[1].field("Body"), Some("Order 1001 confirmed. Thank you!"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// A key press whose passthru arrives after the call ended and the order became `no_response`
/// (no retries, no fallback) still resolves it, once.
async fn late_key_press_resolves(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"retries": 0, "retry_interval_minutes": 0})).await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    assert_eq!(call_report(&app, &key, 0, "completed", json!({})).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "no_response");
    let call = app.exotel.calls()[0].clone();
    let attempt = call.field("CustomField").unwrap().to_string();
    for _ in 0..2 {
        let r = app.client.get(app.url(&format!("/exotel/{key}/ivr/input")))
            .query(&[("CallSid", call.sid.as_str()), ("CustomField", &attempt), ("digits", "\"1\"")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app.client.get(app.url(&format!("/exotel/{key}/ivr/cancel"))).query(&[("CallSid", call.sid.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(events(&app, 1, "confirmed").await, 1);
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached", "cod_confirmed"]);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// Exotel's `Digits` in the terminal status callback resolve the order when no passthru came.
async fn status_callback_digits_resolve(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    assert_eq!(call_report(&app, &key, 0, "completed", json!({"Digits": "\"2\""})).await.status(), 200);
    // A repeated report changes nothing.
    assert_eq!(call_report(&app, &key, 0, "completed", json!({"Digits": "\"2\""})).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "cancelled");
    let result = app.text("SELECT result FROM call_attempts").await;
    assert_eq!(result.as_deref(), Some("cancel"));
    assert_eq!(app.count("SELECT COUNT(*) FROM call_attempts").await, 1, "no retry");
    assert_eq!(app.tags_added(), vec!["cod_cancelled"]);
    // In Exotel's default multipart form too, for another order.
    order(&app, SHOP, 2).await;
    let call = app.exotel.calls()[1].clone();
    let form = reqwest::multipart::Form::new()
        .text("CallSid", call.sid.clone())
        .text("Status", "completed")
        .text("CustomField", call.field("CustomField").unwrap().to_string())
        .text("Digits", "\"1\"")
        .text("Legs[0][Status]", "completed");
    let r = app.client.post(app.url(&format!("/exotel/{key}/call-status"))).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 2).await, "confirmed");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// The missed-call URL takes Exotel's POST (urlencoded or multipart form) like its GET.
async fn missed_call_by_post_form(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    app.install_with_fallback(SHOP, json!({"mode": "sms_missed_call"})).await;
    order(&app, SHOP, 1).await;
    order(&app, SHOP, 2).await;
    let key = app.exotel_key(SHOP).await;
    let url = app.url(&format!("/exotel/{key}/missed-call"));
    let form = reqwest::multipart::Form::new()
        .text("CallSid", "mc-1")
        .text("CallFrom", "09876543210")
        .text("CallTo", "08047110000")
        .text("Direction", "incoming");
    assert_eq!(app.client.post(&url).multipart(form).send().await.unwrap().status(), 200);
    app.settle().await;
    assert_eq!((status(&app, 1).await, status(&app, 2).await), ("pending".to_string(), "confirmed".to_string()), "the latest order");
    app.advance(5 * 60 + 1).await;
    let r = app.client.post(&url).form(&[("CallSid", "mc-2"), ("CallFrom", "+919876543210"), ("Direction", "incoming")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(app.count("SELECT COUNT(*) FROM missed_calls WHERE outcome = 'counted'").await, 2);
    // Without the caller, or under an unknown key: refused, nothing recorded.
    assert_eq!(app.client.post(&url).form(&[("CallSid", "mc-3")]).send().await.unwrap().status(), 400);
    let r = app.client.post(app.url(&format!("/exotel/{}/missed-call", "z".repeat(32)))).form(&[("CallFrom", "09876543210")]).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.count("SELECT COUNT(*) FROM missed_calls").await, 2);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// "status/detailed status" of an SMS.
async fn sms_state(app: &TestApp, sid: &str) -> String {
    app.text(&format!("SELECT COALESCE(status, '') || '/' || COALESCE(detailed_status, '') FROM sms_messages WHERE sms_sid = '{sid}'")).await.unwrap()
}

/// Waits (bounded) until the fake Exotel saw `n` SMS details lookups.
async fn lookups_reach(app: &TestApp, n: usize) {
    for _ in 0..200 {
        if app.exotel.sms_lookups().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.settle().await;
}

/// An SMS whose status report never came is looked up in Exotel's SMS details API 30 minutes after
/// it was sent, again 10 minutes later while Exotel has no final state, and its status recorded.
/// An SMS whose report came is not looked up.
async fn sms_without_status_is_looked_up(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.exotel.set_dnd(PHONE, true);
    app.install_with_fallback(SHOP, json!({"retries": 0, "retry_interval_minutes": 0})).await;
    order(&app, SHOP, 1).await;
    order(&app, SHOP, 2).await;
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 2);
    let (reported, silent) = (sms[0].sid.clone(), sms[1].sid.clone());
    let key = app.exotel_key(SHOP).await;
    let r = app.client.post(app.url(&format!("/exotel/{key}/sms-status")))
        .form(&[("SmsSid", reported.as_str()), ("Status", "sent"), ("DetailedStatus", "DELIVERED_TO_HANDSET")]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sms_state(&app, &silent).await, "queued/PENDING_TO_OPERATOR");
    app.advance(30 * 60 - 1).await;
    app.settle().await;
    assert!(app.exotel.sms_lookups().is_empty(), "not before 30 minutes");
    app.advance(1).await;
    lookups_reach(&app, 1).await;
    assert_eq!(app.exotel.sms_lookups(), vec![silent.clone()], "only the SMS without a report");
    assert_eq!(sms_state(&app, &silent).await, "queued/PENDING_TO_OPERATOR", "Exotel has no final state yet");
    app.exotel.set_sms_status(&silent, "sent", "DELIVERED_TO_HANDSET");
    app.advance(10 * 60).await;
    lookups_reach(&app, 2).await;
    assert_eq!(sms_state(&app, &silent).await, "sent/DELIVERED_TO_HANDSET");
    assert_eq!(app.text(&format!("SELECT detailed_status_code FROM sms_messages WHERE sms_sid = '{silent}'")).await.as_deref(), Some("20005"));
    assert_eq!(events(&app, 2, "sms_status").await, 1, "on the order's timeline");
    // Once known, it is not looked up again.
    app.advance(30 * 60).await;
    app.settle().await;
    assert_eq!(app.exotel.sms_lookups().len(), 2);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// The greeting answers `Content-Type: text/plain` exactly, to GET and HEAD alike.
async fn greeting_is_exactly_text_plain(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    let call = app.exotel.calls()[0].clone();
    let url = app.url(&format!("/exotel/{key}/greeting"));
    let q = [("CallSid", call.sid.as_str()), ("CustomField", call.field("CustomField").unwrap())];
    let get = app.client.get(&url).query(&q).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["content-type"], "text/plain");
    let head = app.client.head(&url).query(&q).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "text/plain");
    assert_eq!(head.headers()["content-length"], get.headers()["content-length"]);
    app.stop().await;
}

/// A call status callback under a valid key for another shop's call gets 404 and changes nothing.
async fn status_callback_for_another_shops_call_is_404(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    order(&app, SHOP, 1).await;
    order(&app, OTHER, 2).await;
    let key_a = app.exotel_key(SHOP).await;
    let theirs = app.exotel.calls()[1].clone();
    let before = app.snapshot().await;
    for body in [
        json!({"CallSid": theirs.sid, "CustomField": theirs.field("CustomField"), "Status": "completed", "Digits": "\"1\""}),
        json!({"CallSid": theirs.sid, "Status": "busy"}),
    ] {
        let r = app.client.post(app.url(&format!("/exotel/{key_a}/call-status"))).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 404, "{body}");
    }
    app.settle().await;
    let after = app.snapshot().await;
    assert!(before == after, "changed:\n{}", before.diff(&after));
    assert_eq!(status(&app, 2).await, "pending");
    app.stop().await;
}

/// Answering-machine detection is read from the customer's leg (the first: Calls/connect puts
/// `From` = the customer on it); a machine on a later leg (someone the flow dialled) is not the
/// customer's.
async fn machine_is_read_from_the_customer_leg(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    let legs = json!({"Legs": [{"Status": "completed", "AnsweredBy": "NA"}, {"Status": "completed", "AnsweredBy": "MACHINE"}]});
    assert_eq!(call_report(&app, &key, 0, "completed", legs).await.status(), 200);
    app.settle().await;
    app.advance(30 * 60).await;
    app.settle().await;
    let legs = json!({"Legs": [{"Status": "completed", "AnsweredBy": "MACHINE", "AmdCause": "MAXWORDS-5-4"}]});
    assert_eq!(call_report(&app, &key, 1, "completed", legs).await.status(), 200);
    app.settle().await;
    let results: Vec<Option<String>> = futures::future::join_all((1..=2).map(|n| {
        let app = &app;
        async move { app.text(&format!("SELECT result FROM call_attempts WHERE attempt_no = {n}")).await }
    }))
    .await;
    assert_eq!(results, vec![Some("no-input".to_string()), Some("machine".to_string())]);
    app.stop().await;
}

both_dbs!(
    late_link_tap_confirms_once,
    late_link_after_shopify_cancel_is_gone,
    late_missed_call_confirms,
    late_key_press_resolves,
    status_callback_digits_resolve,
    missed_call_by_post_form,
    sms_without_status_is_looked_up,
    greeting_is_exactly_text_plain,
    status_callback_for_another_shops_call_is_404,
    machine_is_read_from_the_customer_leg,
);
