//! Verification plans beyond the reference's shape, black-box: what happens to an order no step
//! got an answer for (`plan.no_response_action`), and OTP orders handed to the plan
//! (`otp.escalate_after_minutes`).

use serde_json::json;

use crate::both_dbs;
use crate::common::{Backend, TestApp};
use crate::fallback::{link_path, order, status, tap};

const SHOP: &str = "acme.myshopify.com";

fn cancels(app: &TestApp) -> usize {
    app.shopify.graphql_requests().iter().filter(|(_, b)| b["query"].as_str().unwrap_or("").contains("orderCancel")).count()
}

/// IVR (one call) then one SMS link, giving up one hour after the SMS; cancelled 2 hours later.
async fn setup_cancel(app: &TestApp) {
    app.install_with_fallback(SHOP, json!({"retries": 0, "retry_interval_minutes": 0})).await;
    let r = app.put_settings(SHOP, json!({"plan": {"no_response_action": "cancel", "cancel_after_hours": 2}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn unanswered_orders_are_cancelled_after_the_hours(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup_cancel(&app).await;
    order(&app, SHOP, 1).await;
    app.last_call_unanswered(SHOP).await;
    assert_eq!(app.exotel.sms().len(), 1, "the SMS step");
    app.advance(60 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 1).await, "no_response");
    assert_eq!(cancels(&app), 0, "not before the hours are up");
    app.advance(2 * 3600 - 60).await;
    app.settle().await;
    assert_eq!((status(&app, 1).await, cancels(&app)), ("no_response".to_string(), 0));
    app.advance(60).await;
    app.settle().await;
    assert_eq!(status(&app, 1).await, "cancelled");
    assert_eq!(cancels(&app), 1, "cancelled in Shopify once");
    // Cancelled: the link takes no answer any more.
    let (code, _) = tap(&app, &link_path(&app, 0), "confirm").await;
    assert_eq!(code, 410);
    assert_eq!(status(&app, 1).await, "cancelled");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn a_late_answer_stops_the_cancellation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup_cancel(&app).await;
    order(&app, SHOP, 2).await;
    app.last_call_unanswered(SHOP).await;
    app.advance(60 * 60).await;
    app.settle().await;
    assert_eq!(status(&app, 2).await, "no_response");
    let (code, _) = tap(&app, &link_path(&app, 0), "confirm").await;
    assert_eq!(code, 200);
    app.settle().await;
    assert_eq!(status(&app, 2).await, "confirmed");
    app.advance(3 * 3600).await;
    app.settle().await;
    assert_eq!(status(&app, 2).await, "confirmed");
    assert_eq!(cancels(&app), 0);
    // The default action only tags.
    let r = app.put_settings(SHOP, json!({"plan": {"no_response_action": "tag"}})).await;
    assert_eq!(r.status(), 200);
    order(&app, SHOP, 3).await;
    app.last_call_unanswered(SHOP).await;
    app.advance(4 * 3600).await;
    app.settle().await;
    assert_eq!((status(&app, 3).await, cancels(&app)), ("no_response".to_string(), 0));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn otp_orders_escalate_to_the_plan(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let otp = json!({"sender_id": "ACMEOT", "dlt_entity_id": "1101234567890", "dlt_template_id": "1107000000000009",
        "encoding": "plain", "template": "%otp% is your OTP for order %ordernumber%", "resends": 2, "resend_after_seconds": 30,
        "incorrect_attempts": 3, "tag": "otp_verified", "escalate_after_minutes": 30});
    let r = app.put_settings(SHOP, json!({"general": {"method": "otp"}, "otp": otp})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    order(&app, SHOP, 4).await;
    assert_eq!(app.exotel.sms().len(), 1, "the OTP SMS");
    assert!(app.exotel.calls().is_empty());
    app.advance(29 * 60).await;
    app.settle().await;
    assert!(app.exotel.calls().is_empty(), "not before the minutes are up");
    app.advance(60).await;
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 1, "the plan's first step: a call");
    assert_eq!(status(&app, 4).await, "pending");
    app.stop().await;
}

both_dbs!(unanswered_orders_are_cancelled_after_the_hours, a_late_answer_stops_the_cancellation, otp_orders_escalate_to_the_plan);
