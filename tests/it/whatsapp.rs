//! The plan's WhatsApp step, black-box: a shop on the plan [whatsapp, ivr, sms_link]; orders in
//! through webhooks, template messages out to the fake Exotel, its delivery reports and the
//! customer's replies in over HTTP, outcomes out to the fake Shopify; time moved by TEST_CLOCK.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::fake_whatsapp::{FakeWhatsApp, WaDlr, WaReply};
use crate::common::{Backend, TestApp};
use crate::fallback::{link_path, order, status, tap};

const SHOP: &str = "acme.myshopify.com";
const SENDER: &str = "+919812345678";

/// Installs `shop` with the IVR (no retries) and the link fallback, then the plan `steps` with a
/// WhatsApp section (no retries, a 10-minute wait) over which `whatsapp` is laid.
pub(crate) async fn setup(app: &TestApp, shop: &str, steps: Value, whatsapp: Value) {
    app.install_with_fallback(shop, json!({})).await;
    let mut section = json!({"sender": SENDER, "template_name": "cod_confirmation", "template_language": "en", "retries": 0,
        "retry_interval_minutes": 0, "wait_minutes": 10, "confirm_tag": "wa_confirmed", "cancel_tag": "wa_cancelled",
        "callback_tag": "wa_callback", "cancel_order": false});
    for (k, v) in whatsapp.as_object().unwrap() {
        section[k] = v.clone();
    }
    let r = app.put_settings(shop, json!({"general": {"method": "whatsapp"}, "plan": {"steps": steps}, "whatsapp": section})).await;
    assert_eq!(r.status(), 200, "plan settings: {}", r.text().await.unwrap());
}

async fn plan_shop(app: &TestApp) {
    setup(app, SHOP, json!(["whatsapp", "ivr", "sms_link"]), json!({})).await;
}

async fn events(app: &TestApp, id: i64, kind: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = {id} AND e.kind = '{kind}'"
    ))
    .await
}

async fn message_field(app: &TestApp, id: i64, field: &str) -> Option<String> {
    app.text(&format!(
        "SELECT m.{field} FROM whatsapp_messages m JOIN orders o ON o.id = m.order_id WHERE o.shopify_order_id = {id} ORDER BY m.seq DESC LIMIT 1"
    ))
    .await
}

/// The message with its status_callback pointed at the test app (APP_URL is not where it listens).
pub(crate) fn local(app: &TestApp, m: &FakeWhatsApp) -> FakeWhatsApp {
    let mut m = m.clone();
    let path = m.status_callback().trim_start_matches("https://codverify.test").to_string();
    m.message["status_callback"] = json!(app.url(&path));
    m
}

pub(crate) async fn dlr(app: &TestApp, m: &FakeWhatsApp, d: WaDlr) -> u16 {
    app.exotel.whatsapp_dlr(&local(app, m), d).await
}

pub(crate) async fn reply(app: &TestApp, m: &FakeWhatsApp, r: WaReply) -> u16 {
    app.exotel.whatsapp_reply(&local(app, m), r).await
}

/// Presses `digit` in the latest call's IVR.
async fn press(app: &TestApp, shop: &str, digit: &str) {
    let key = app.exotel_key(shop).await;
    let call = app.exotel.calls().last().cloned().expect("a call was placed");
    let digits = format!("\"{digit}\"");
    let r = app
        .client
        .get(app.url(&format!("/exotel/{key}/ivr/input")))
        .query(&[("CallSid", call.sid.as_str()), ("digits", digits.as_str()), ("CustomField", call.field("CustomField").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn whatsapp_button_confirms(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    let sent = app.exotel.whatsapp();
    assert_eq!(sent.len(), 1, "one template message at once");
    let m = &sent[0];
    assert_eq!((m.to(), m.from(), m.account.as_str()), ("+919876543210", SENDER, "acme1"));
    assert_eq!(m.status_callback(), format!("https://codverify.test/exotel/{key}/whatsapp"));
    assert_eq!(m.template()["name"], "cod_confirmation");
    assert_eq!(m.template()["language"]["code"], "en");
    // {{4}}: the shipping address on one line (the order has only a city).
    assert_eq!(m.body_params(), ["#1001", "INR 499.00", "Kurta × 1", "Pune"]);
    let buttons = m.buttons();
    assert_eq!(buttons.len(), 3);
    let token = buttons[0].1.trim_end_matches(".confirm").to_string();
    assert!(token.len() >= 22 && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{token}");
    assert_eq!(buttons.iter().map(|(i, p)| format!("{i}:{p}")).collect::<Vec<_>>(), [
        format!("0:{token}.confirm"),
        format!("1:{token}.cancel"),
        format!("2:{token}.callback")
    ]);
    assert!(app.exotel.calls().is_empty() && app.exotel.sms().is_empty(), "nothing else while WhatsApp waits");
    assert_eq!(message_field(&app, 1, "state").await.as_deref(), Some("sent"));
    assert_eq!(message_field(&app, 1, "message_sid").await, Some(m.sid.clone()));
    assert!(message_field(&app, 1, "to_phone_enc").await.unwrap().starts_with("v1:"), "the number is stored sealed");

    assert_eq!(dlr(&app, m, WaDlr::Delivered).await, 200);
    assert_eq!(reply(&app, m, WaReply::Button(m.payload("confirm"))).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(app.tags_added(), ["wa_confirmed"]);
    assert_eq!(message_field(&app, 1, "reply").await.as_deref(), Some("confirm"));
    assert_eq!(message_field(&app, 1, "status").await.as_deref(), Some("delivered"));
    // Nothing follows an answer.
    app.advance(3 * 3600).await;
    app.settle().await;
    assert_eq!((app.exotel.whatsapp().len(), app.exotel.calls().len(), app.exotel.sms().len()), (1, 0, 0));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_unanswered_then_a_call_confirms(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    order(&app, SHOP, 2).await;
    let m = app.exotel.whatsapp()[0].clone();
    assert_eq!(dlr(&app, &m, WaDlr::Read).await, 200);
    app.advance(9 * 60).await;
    app.settle().await;
    assert!(app.exotel.calls().is_empty(), "the reply is awaited for the whole wait");
    app.advance(60).await;
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 1, "the call goes as the wait ends");
    assert_eq!(events(&app, 2, "whatsapp_retry_limit_reached").await, 1);
    press(&app, SHOP, "1").await;
    assert_eq!(status(&app, 2).await, "confirmed");
    let tags = app.tags_added();
    assert!(tags.contains(&"whatsapp_retry_limit_reached".to_string()) && tags.contains(&"cod_confirmed".to_string()), "{tags:?}");
    assert_eq!(app.exotel.whatsapp().len(), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_and_calls_unanswered_then_the_link_confirms(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    order(&app, SHOP, 3).await;
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 1);
    assert!(app.exotel.sms().is_empty());
    app.last_call_unanswered(SHOP).await;
    assert_eq!(app.exotel.sms().len(), 1, "the link SMS as the last call ends");
    let path = link_path(&app, 0);
    assert_eq!(tap(&app, &path, "confirm").await.0, 200);
    app.settle().await;
    assert_eq!(status(&app, 3).await, "confirmed");
    let tags = app.tags_added();
    for t in ["whatsapp_retry_limit_reached", "ivr_retry_limit_reached", "sms_confirmed"] {
        assert!(tags.contains(&t.to_string()), "{t} missing from {tags:?}");
    }
    app.advance(3600).await;
    app.settle().await;
    assert_eq!((app.exotel.whatsapp().len(), app.exotel.calls().len(), app.exotel.sms().len()), (1, 1, 1));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_refused_or_failed_calls_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    // Not on WhatsApp: Exotel refuses the message, and the call goes at once.
    app.exotel.set_not_on_whatsapp("9876543210");
    order(&app, SHOP, 4).await;
    assert!(app.exotel.whatsapp().is_empty());
    assert_eq!(app.exotel.whatsapp_requests().len(), 1);
    assert_eq!(message_field(&app, 4, "state").await.as_deref(), Some("refused"));
    assert_eq!(app.exotel.calls().len(), 1, "the next step starts at once");
    assert_eq!(events(&app, 4, "whatsapp_undelivered").await, 1);
    press(&app, SHOP, "1").await;
    assert_eq!(status(&app, 4).await, "confirmed");

    // Accepted, then reported failed: the call goes at once; a repeated report changes nothing.
    app.exotel.state.lock().unwrap().whatsapp.not_on_whatsapp.clear();
    order(&app, SHOP, 5).await;
    let m = app.exotel.whatsapp()[0].clone();
    assert_eq!(app.exotel.calls().len(), 1);
    assert_eq!(dlr(&app, &m, WaDlr::Sent).await, 200);
    assert_eq!(dlr(&app, &m, WaDlr::Failed).await, 200);
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 2);
    assert_eq!(message_field(&app, 5, "status").await.as_deref(), Some("failed"));
    assert_eq!(dlr(&app, &m, WaDlr::Failed).await, 200);
    assert_eq!(dlr(&app, &m, WaDlr::Delivered).await, 200);
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 2);
    assert_eq!(message_field(&app, 5, "status").await.as_deref(), Some("failed"));
    assert_eq!(events(&app, 5, "whatsapp_status").await, 2, "sent, failed");
    press(&app, SHOP, "1").await;
    assert_eq!(status(&app, 5).await, "confirmed");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_repeats_and_late_callbacks_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    order(&app, SHOP, 6).await;
    let m = app.exotel.whatsapp()[0].clone();
    // The same reply twice, then reports out of order, then another button.
    for _ in 0..2 {
        assert_eq!(reply(&app, &m, WaReply::Button(m.payload("cancel"))).await, 200);
    }
    assert_eq!(dlr(&app, &m, WaDlr::Read).await, 200);
    assert_eq!(dlr(&app, &m, WaDlr::Delivered).await, 200);
    assert_eq!(dlr(&app, &m, WaDlr::Failed).await, 200);
    assert_eq!(reply(&app, &m, WaReply::Interactive(m.payload("confirm"))).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 6).await, "cancelled");
    assert_eq!(app.tags_added(), ["wa_cancelled"]);
    assert_eq!(message_field(&app, 6, "status").await.as_deref(), Some("read"));
    assert_eq!(message_field(&app, 6, "reply").await.as_deref(), Some("cancel"));
    assert_eq!(events(&app, 6, "cancelled").await, 1);
    assert!(app.exotel.calls().is_empty());

    // Answered by a call; the WhatsApp reply that comes after changes nothing.
    order(&app, SHOP, 7).await;
    let m7 = app.exotel.whatsapp()[1].clone();
    app.advance(10 * 60).await;
    app.settle().await;
    press(&app, SHOP, "1").await;
    assert_eq!(status(&app, 7).await, "confirmed");
    for _ in 0..2 {
        assert_eq!(reply(&app, &m7, WaReply::Button(m7.payload("cancel"))).await, 200);
    }
    app.settle().await;
    assert_eq!(status(&app, 7).await, "confirmed");
    assert_eq!(events(&app, 7, "whatsapp_reply").await, 1, "noted once");
    assert_eq!(app.tags_added().iter().filter(|t| *t == "wa_cancelled").count(), 1, "only order 6's");

    // Unknown tokens and sids, and another shop's token: 200, nothing changes.
    let key = app.exotel_key(SHOP).await;
    let mut fake = m7.clone();
    fake.sid = "no-such-sid".into();
    fake.message["status_callback"] = json!(format!("https://codverify.test/exotel/{key}/whatsapp"));
    fake.message["custom_data"] = json!("no-such-id");
    assert_eq!(dlr(&app, &fake, WaDlr::Failed).await, 200);
    assert_eq!(reply(&app, &fake, WaReply::Button("AAAAAAAAAAAAAAAAAAAAAAAA.confirm".into())).await, 200);
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 1);

    // A late answer: an order that ended without a response takes the WhatsApp answer once.
    setup(&app, "late.myshopify.com", json!(["whatsapp"]), json!({})).await;
    order(&app, "late.myshopify.com", 8).await;
    let m8 = app.exotel.whatsapp().last().cloned().unwrap();
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 8).await, "no_response");
    for _ in 0..2 {
        assert_eq!(reply(&app, &m8, WaReply::Button(m8.payload("confirm"))).await, 200);
    }
    app.settle().await;
    assert_eq!(status(&app, 8).await, "confirmed");
    assert_eq!(events(&app, 8, "confirmed").await, 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_typed_answers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    order(&app, SHOP, 9).await;
    let m = app.exotel.whatsapp()[0].clone();
    // Words that are no answer are kept (sealed) and applied to nothing.
    assert_eq!(reply(&app, &m, WaReply::Text("when will it ship?".into())).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 9).await, "pending");
    assert_eq!(message_field(&app, 9, "reply").await.as_deref(), Some("other"));
    let sealed = message_field(&app, 9, "reply_text_enc").await.unwrap();
    assert!(sealed.starts_with("v1:") && app.state.cipher.open(&sealed).unwrap() == "when will it ship?");
    assert_eq!(reply(&app, &m, WaReply::Text("Haan".into())).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 9).await, "confirmed");
    assert_eq!(app.tags_added(), ["wa_confirmed"]);

    // A choice the merchant does not offer is not applied.
    setup(&app, "nocb.myshopify.com", json!(["whatsapp", "ivr"]), json!({"callback_tag": ""})).await;
    order(&app, "nocb.myshopify.com", 10).await;
    let m = app.exotel.whatsapp().last().cloned().unwrap();
    assert_eq!(m.buttons().len(), 2);
    assert_eq!(reply(&app, &m, WaReply::Text("3".into())).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 10).await, "pending");
    assert_eq!(reply(&app, &m, WaReply::Text("yes".into())).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 10).await, "confirmed");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn whatsapp_callback_url_answers(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    plan_shop(&app).await;
    let key = app.exotel_key(SHOP).await;
    let post = |path: String, body: &'static str| {
        let req = app.client.post(app.url(&path)).header("Content-Type", "application/json").body(body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(format!("/exotel/{key}/whatsapp"), "not json").await, 400);
    assert_eq!(post(format!("/exotel/{key}/whatsapp"), r#"{"whatsapp":{"messages":[]}}"#).await, 200);
    assert_eq!(post(format!("/exotel/{key}/whatsapp"), r#"{"whatsapp":{"messages":[{"callback_type":"dlr","sid":"x\u0000"}]}}"#).await, 400);
    assert_eq!(post("/exotel/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/whatsapp".into(), r#"{}"#).await, 404);
    app.stop().await;
}

both_dbs!(
    whatsapp_button_confirms,
    whatsapp_unanswered_then_a_call_confirms,
    whatsapp_and_calls_unanswered_then_the_link_confirms,
    whatsapp_refused_or_failed_calls_at_once,
    whatsapp_repeats_and_late_callbacks_change_nothing,
    whatsapp_typed_answers,
    whatsapp_callback_url_answers,
);

async fn whatsapp_another_shops_key_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    const B: &str = "bee.myshopify.com";
    plan_shop(&app).await;
    setup(&app, B, json!(["whatsapp", "ivr", "sms_link"]), json!({})).await;
    order(&app, B, 11).await;
    let m = app.exotel.whatsapp()[0].clone();
    let key_a = app.exotel_key(SHOP).await;
    // B's message, its sid, id and token, through A's key: answered (Exotel must not retry) and ignored.
    let mut through_a = m.clone();
    through_a.message["status_callback"] = json!(format!("https://codverify.test/exotel/{key_a}/whatsapp"));
    assert_eq!(dlr(&app, &through_a, WaDlr::Failed).await, 200);
    assert_eq!(reply(&app, &through_a, WaReply::Button(m.payload("confirm"))).await, 200);
    assert_eq!(reply(&app, &through_a, WaReply::Text("yes".into())).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 11).await, "pending");
    assert!(app.exotel.calls().is_empty());
    assert_eq!(message_field(&app, 11, "status").await, None);
    assert_eq!(message_field(&app, 11, "reply").await, None);
    // B's own key works (the positive control).
    assert_eq!(reply(&app, &m, WaReply::Button(m.payload("callback"))).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 11).await, "callback_requested");
    // An uninstalled shop's key is 404.
    assert_eq!(app.post_webhook("app/uninstalled", B, "un-b", &json!({"id": 2, "domain": B})).await.status(), 200);
    app.settle().await;
    assert_eq!(dlr(&app, &m, WaDlr::Read).await, 404);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(whatsapp_another_shops_key_changes_nothing);
