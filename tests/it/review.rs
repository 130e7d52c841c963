//! The review queue (SPEC §9), black-box: orders brought to callback_requested (key 3) and
//! no_response (an unanswered call, no retries) by the real flows, the page read as a document
//! load, confirm / cancel on the shopper's behalf through the API, outcomes out to the fake Shopify.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};
use crate::reports::press;

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

/// Installs `shop` with the IVR and no retries: one unanswered call ends an order `no_response`.
async fn install(app: &TestApp, shop: &str, cancel_order: bool) {
    app.install_with_ivr(shop, "cod", json!({"retries": 0, "retry_interval_minutes": 0, "cancel_order": cancel_order})).await;
}

/// Takes order `id` in and lets its first call go out.
async fn order(app: &TestApp, shop: &str, id: i64) {
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &order_payload(id, COD, Some(PHONE))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

/// Order `id` asks for a callback (key 3 on its call).
async fn callback(app: &TestApp, shop: &str, id: i64) {
    order(app, shop, id).await;
    press(app, shop, id, "3").await;
    app.settle().await;
}

/// Order `id`'s only call goes unanswered: it ends `no_response`.
async fn unanswered(app: &TestApp, shop: &str, id: i64) {
    order(app, shop, id).await;
    app.last_call_unanswered(shop).await;
}

async fn status(app: &TestApp, shop: &str, id: i64) -> String {
    app.text(&format!("SELECT o.status FROM orders o JOIN shops s ON s.id = o.shop_id WHERE s.domain = '{shop}' AND o.shopify_order_id = {id}"))
        .await
        .unwrap()
}

async fn resolve(app: &TestApp, shop: &str, id: i64, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/app/api/orders/{id}/resolve")))
        .bearer_auth(app.session_token(shop))
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// The review page as a document load: (status, body).
async fn page(app: &TestApp, shop: &str) -> (u16, String) {
    let token = app.session_token(shop);
    let r = app.client.get(app.url("/app/review")).query(&[("shop", shop), ("embedded", "1"), ("id_token", token.as_str())]).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The Shopify order ids of the page's rows, in order.
fn rows(html: &str) -> Vec<i64> {
    html.split("<tr data-order=\"").skip(1).map(|s| s[..s.find('"').unwrap()].parse().unwrap()).collect()
}

fn mutations(app: &TestApp, name: &str, id: i64) -> Vec<Value> {
    let gid = format!("gid://shopify/Order/{id}");
    app.shopify
        .graphql_requests()
        .into_iter()
        .filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(name))
        .map(|(_, b)| b["variables"].clone())
        .filter(|v| v["id"] == gid.as_str() || v["orderId"] == gid.as_str())
        .collect()
}

async fn events(app: &TestApp, shop: &str, id: i64) -> Vec<(String, String)> {
    let r = app.get_api(&format!("/app/api/orders/{id}"), &app.session_token(shop)).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    doc["timeline"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap().to_string(), e["detail"].as_str().unwrap().to_string())).collect()
}

async fn queue_lists_waiting_orders_and_an_agent_confirms(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, false).await;
    install(&app, OTHER, false).await;
    unanswered(&app, SHOP, 1).await;
    app.advance(60).await;
    callback(&app, SHOP, 2).await;
    app.advance(60).await;
    order(&app, SHOP, 3).await; // pending: its call is out
    callback(&app, OTHER, 4).await;
    order(&app, SHOP, 5).await;
    press(&app, SHOP, 5, "1").await; // confirmed by the shopper
    app.settle().await;
    assert_eq!((status(&app, SHOP, 1).await.as_str(), status(&app, SHOP, 2).await.as_str()), ("no_response", "callback_requested"));

    // Exactly this shop's waiting orders, oldest waiting first, the phone masked.
    let (code, html) = page(&app, SHOP).await;
    assert_eq!(code, 200, "{html}");
    assert_eq!(rows(&html), vec![1, 2]);
    assert!(html.contains("No answer after 1 contact"), "{html}");
    assert!(html.contains("Asked for a callback on the IVR call"), "{html}");
    assert!(html.contains("******3210") && !html.contains("9876543210"), "the phone is masked");
    assert!(html.contains("data-act=\"call\""), "click-to-call for the callback");
    assert_eq!(html.matches("data-act=\"call\"").count(), 1, "and only for it");
    assert!(html.contains("<span id=\"queue-total\">2</span>"), "{html}");
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 1, "the nav shows the review queue as current");
    assert!(html.contains(r#"aria-current="page">Review queue</a>"#));
    let (_, other) = page(&app, OTHER).await;
    assert_eq!(rows(&other), vec![4]);

    // An agent confirms the callback: confirmed, the IVR's confirm tag, agent and reason recorded.
    let (code, doc) = resolve(&app, SHOP, 2, json!({"action": "confirm", "agent": "  Priya S  "})).await;
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["order"]["status"], "confirmed");
    assert_eq!(doc["order"]["resolved_by"], "Priya S");
    app.settle().await;
    assert_eq!(status(&app, SHOP, 2).await, "confirmed");
    let tags: Vec<Value> = mutations(&app, "tagsAdd", 2).iter().map(|v| v["tags"].clone()).collect();
    assert_eq!(tags, vec![json!(["cod_callback"]), json!(["cod_confirmed"])]);
    assert!(mutations(&app, "orderCancel", 2).is_empty());
    let q = |c: &str| format!("SELECT {c} FROM orders WHERE shopify_order_id = 2");
    assert_eq!(app.text(&q("resolved_by")).await.as_deref(), Some("Priya S"));
    assert_eq!(app.text(&q("status_reason")).await.as_deref(), Some("confirmed by Priya S on the shopper's behalf"));
    assert_eq!(app.text(&q("outcome_tags")).await.as_deref(), Some("cod_callback,cod_confirmed"));
    let ev = events(&app, SHOP, 2).await;
    assert!(ev.contains(&("confirmed".into(), "confirmed by Priya S on the shopper's behalf".into())), "{ev:?}");
    assert!(ev.iter().any(|(k, d)| k == "tags_added" && d.contains("cod_confirmed")), "{ev:?}");
    // An agent's confirmation is no channel's in the overview.
    let r = app.get_api("/app/api/orders/2", &app.session_token(SHOP)).await;
    let doc: Value = r.json().await.unwrap();
    assert_eq!((&doc["channel"], &doc["resolved_by"]), (&Value::Null, &json!("Priya S")), "{doc}");

    // The row is gone; the other shop's queue is untouched.
    let (_, html) = page(&app, SHOP).await;
    assert_eq!(rows(&html), vec![1]);
    assert_eq!(rows(&page(&app, OTHER).await.1), vec![4]);

    // A second click: 409, nothing doubled.
    let before = app.settled_snapshot().await;
    let (code, doc) = resolve(&app, SHOP, 2, json!({"action": "confirm", "agent": "Priya S"})).await;
    assert_eq!(code, 409, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("confirmed"), "{doc}");
    let (code, _) = resolve(&app, SHOP, 2, json!({"action": "cancel", "agent": "Ravi"})).await;
    assert_eq!(code, 409);
    assert_eq!(before.diff(&app.settled_snapshot().await), "");
    assert_eq!(mutations(&app, "tagsAdd", 2).len(), 2);
    // Pending and confirmed orders are not the queue's either.
    assert_eq!(resolve(&app, SHOP, 3, json!({"action": "confirm", "agent": "Priya"})).await.0, 409);
    assert_eq!(resolve(&app, SHOP, 5, json!({"action": "cancel", "agent": "Priya"})).await.0, 409);
    assert_eq!(before.diff(&app.settled_snapshot().await), "");
    assert_eq!(status(&app, SHOP, 3).await, "pending");
    app.stop().await;
}

async fn an_agent_cancels_with_cancel_order(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, true).await;
    unanswered(&app, SHOP, 7).await;
    assert_eq!(status(&app, SHOP, 7).await, "no_response");
    let (code, doc) = resolve(&app, SHOP, 7, json!({"action": "cancel", "agent": "Ravi K"})).await;
    assert_eq!(code, 200, "{doc}");
    app.settle().await;
    assert_eq!(status(&app, SHOP, 7).await, "cancelled");
    let cancels = mutations(&app, "orderCancel", 7);
    assert_eq!(cancels.len(), 1, "cancelled in Shopify once");
    let tags: Vec<Value> = mutations(&app, "tagsAdd", 7).iter().map(|v| v["tags"].clone()).collect();
    assert_eq!(tags, vec![json!(["ivr_retry_limit_reached"]), json!(["cod_cancelled"])]);
    assert_eq!(
        app.text("SELECT outcome_tags FROM orders WHERE shopify_order_id = 7").await.as_deref(),
        Some("ivr_retry_limit_reached,cod_cancelled")
    );
    let ev = events(&app, SHOP, 7).await;
    assert!(ev.contains(&("cancelled".into(), "cancelled by Ravi K on the shopper's behalf".into())), "{ev:?}");
    assert!(ev.iter().any(|(k, _)| k == "shopify_cancelled"), "{ev:?}");
    assert!(rows(&page(&app, SHOP).await.1).is_empty());
    // Again: 409, Shopify asked once.
    assert_eq!(resolve(&app, SHOP, 7, json!({"action": "cancel", "agent": "Ravi K"})).await.0, 409);
    app.settle().await;
    assert_eq!(mutations(&app, "orderCancel", 7).len(), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn bad_requests_and_other_shops_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, true).await;
    install(&app, OTHER, true).await;
    callback(&app, SHOP, 8).await;
    let before = app.settled_snapshot().await;
    let long = "a".repeat(101);
    for (body, field) in [
        (json!({"action": "confirm", "agent": ""}), "agent"),
        (json!({"action": "confirm", "agent": "   "}), "agent"),
        (json!({"action": "confirm", "agent": "Priya\nS"}), "agent"),
        (json!({"action": "confirm", "agent": long}), "agent"),
        (json!({"action": "confirm"}), "agent"),
        (json!({"action": "confirm", "agent": 42}), "agent"),
        (json!({"action": "callback", "agent": "Priya"}), "action"),
        (json!({"agent": "Priya"}), "action"),
    ] {
        let (code, doc) = resolve(&app, SHOP, 8, body.clone()).await;
        assert_eq!(code, 422, "{body} → {doc}");
        assert!(doc["errors"][field].is_string(), "{body} → {doc}");
    }
    let r = app
        .client
        .post(app.url("/app/api/orders/8/resolve"))
        .bearer_auth(app.session_token(SHOP))
        .body("confirm")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Without a session token, with another shop's, or for an order that is not there.
    let r = app.client.post(app.url("/app/api/orders/8/resolve")).json(&json!({"action": "confirm", "agent": "Priya"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (code, doc) = resolve(&app, OTHER, 8, json!({"action": "cancel", "agent": "Mallory"})).await;
    assert_eq!(code, 404, "{doc}");
    assert_eq!(resolve(&app, SHOP, 999, json!({"action": "cancel", "agent": "Priya"})).await.0, 404);
    assert_eq!(resolve(&app, SHOP, 0x7fff, json!({"action": "cancel", "agent": "Priya"})).await.0, 404);
    assert!(rows(&page(&app, OTHER).await.1).is_empty(), "another shop's queue does not show it");
    assert_eq!(before.diff(&app.settled_snapshot().await), "");
    assert_eq!(status(&app, SHOP, 8).await, "callback_requested");
    assert!(mutations(&app, "orderCancel", 8).is_empty());
    app.stop().await;
}

async fn answered_or_cancelled_meanwhile_is_a_conflict(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, true).await;
    // The shopper answers late (key 1 on the call that went unanswered) before the agent clicks.
    unanswered(&app, SHOP, 9).await;
    press(&app, SHOP, 9, "1").await;
    app.settle().await;
    assert_eq!(status(&app, SHOP, 9).await, "confirmed");
    let before = app.settled_snapshot().await;
    let (code, doc) = resolve(&app, SHOP, 9, json!({"action": "cancel", "agent": "Priya"})).await;
    assert_eq!(code, 409, "{doc}");
    assert_eq!(doc["status"], "confirmed");
    assert_eq!(before.diff(&app.settled_snapshot().await), "");
    assert!(mutations(&app, "orderCancel", 9).is_empty());

    // Cancelled in Shopify while it waited for a callback: it leaves the queue and takes nothing.
    callback(&app, SHOP, 10).await;
    assert_eq!(rows(&page(&app, SHOP).await.1), vec![10]);
    let mut cancelled = order_payload(10, COD, Some(PHONE));
    cancelled["cancelled_at"] = json!("2026-11-22T11:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-10", &cancelled).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, SHOP, 10).await, "cancelled");
    assert!(rows(&page(&app, SHOP).await.1).is_empty());
    assert_eq!(resolve(&app, SHOP, 10, json!({"action": "confirm", "agent": "Priya"})).await.0, 409);
    app.settle().await;
    assert_eq!(status(&app, SHOP, 10).await, "cancelled");
    let tags: Vec<Value> = mutations(&app, "tagsAdd", 10).iter().map(|v| v["tags"].clone()).collect();
    assert_eq!(tags, vec![json!(["cod_callback"])]);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// More than a page waits: the page says how many more.
async fn a_long_queue_is_capped(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("EXOTEL_CALLS_PER_MINUTE", "6000")]).await else { return };
    install(&app, SHOP, false).await;
    for id in 100..152 {
        let r = app.post_webhook("orders/create", SHOP, &format!("w-{id}"), &order_payload(id, COD, Some(PHONE))).await;
        assert_eq!(r.status(), 200);
    }
    app.settle().await;
    for id in 100..152 {
        press(&app, SHOP, id, "3").await;
    }
    app.settle().await;
    let (_, html) = page(&app, SHOP).await;
    assert_eq!(rows(&html).len(), 50);
    assert!(html.contains("<span id=\"queue-total\">52</span>"));
    assert!(html.contains("2 more waiting"), "{html}");
    app.stop().await;
}

/// Two agents click at the same moment: one resolution, Shopify asked once.
async fn two_agents_at_once_resolve_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, true).await;
    for id in [11, 12] {
        unanswered(&app, SHOP, id).await;
    }
    for id in [11, 12] {
        let (a, b) = tokio::join!(
            resolve(&app, SHOP, id, json!({"action": "cancel", "agent": "Priya"})),
            resolve(&app, SHOP, id, if id == 11 { json!({"action": "cancel", "agent": "Ravi"}) } else { json!({"action": "confirm", "agent": "Ravi"}) }),
        );
        let mut codes = [a.0, b.0];
        codes.sort();
        assert_eq!(codes, [200, 409], "{a:?} {b:?}");
        let winner = if a.0 == 200 { "Priya" } else { "Ravi" };
        app.settle().await;
        assert_eq!(app.text(&format!("SELECT resolved_by FROM orders WHERE shopify_order_id = {id}")).await.as_deref(), Some(winner));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id \
            WHERE o.shopify_order_id = {id} AND e.detail LIKE '%on the shopper''s behalf'")).await, 1);
    }
    assert_eq!(mutations(&app, "orderCancel", 11).len(), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// An unanswered order the plan would cancel later: an agent's confirmation drops that.
async fn confirming_drops_the_scheduled_cancellation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP, true).await;
    let r = app.put_settings(SHOP, json!({"plan": {"steps": ["ivr"], "no_response_action": "cancel", "cancel_after_hours": 2}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    unanswered(&app, SHOP, 13).await;
    assert_eq!(status(&app, SHOP, 13).await, "no_response");
    assert_eq!(app.count("SELECT COUNT(*) FROM timers").await, 1, "the cancellation is scheduled");
    assert_eq!(resolve(&app, SHOP, 13, json!({"action": "confirm", "agent": "Priya"})).await.0, 200);
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM timers").await, 0);
    app.advance(3 * 3600).await;
    app.settle().await;
    assert_eq!(status(&app, SHOP, 13).await, "confirmed");
    assert!(mutations(&app, "orderCancel", 13).is_empty());
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(
    two_agents_at_once_resolve_once,
    confirming_drops_the_scheduled_cancellation,

    queue_lists_waiting_orders_and_an_agent_confirms,
    an_agent_cancels_with_cancel_order,
    bad_requests_and_other_shops_change_nothing,
    answered_or_cancelled_meanwhile_is_a_conflict,
    a_long_queue_is_capped,
);
