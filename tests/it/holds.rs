//! Fulfillment holds (SPEC §9), black-box: a pending COD order's fulfillment orders are held in
//! the fake Shopify until the shopper confirms, so it cannot be fulfilled unverified.

use serde_json::{Value, json};

use codverify::db::queue::Job;

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";
const HOST: &str = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ";
const FULL_SCOPES: &str = "read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders";

fn gid(id: i64) -> String {
    format!("gid://shopify/Order/{id}")
}

/// An app whose shop granted the fulfillment scopes and verifies COD orders by IVR (`ivr` over
/// the defaults).
async fn app_with_holds(backend: Backend, ivr: Value) -> Option<TestApp> {
    let app = TestApp::spawn(backend).await?;
    app.shopify.grant_scopes(FULL_SCOPES);
    app.install_with_ivr(SHOP, "cod", ivr).await;
    Some(app)
}

async fn order(app: &TestApp, id: i64) {
    let r = app.post_webhook("orders/create", SHOP, &format!("w-{id}"), &order_payload(id, COD, Some(PHONE))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn hold_state(app: &TestApp, id: i64) -> Option<String> {
    app.text(&format!("SELECT hold_state FROM orders WHERE shopify_order_id = {id}")).await
}

async fn status(app: &TestApp, id: i64) -> String {
    app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await.unwrap()
}

/// The ids of the holds the app put on the order's fulfillment orders, per fulfillment order.
fn our_holds(app: &TestApp, id: i64) -> Vec<usize> {
    app.shopify.fulfillment_orders(&gid(id)).iter().map(|f| f.holds.iter().filter(|h| h.ours).count()).collect()
}

fn requests(app: &TestApp, op: &str) -> Vec<Value> {
    app.shopify
        .graphql_requests()
        .into_iter()
        .filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(op))
        .map(|(_, b)| b["variables"].clone())
        .collect()
}

/// The order's JSON (status, hold, timeline) as the embedded app reads it.
async fn order_json(app: &TestApp, id: i64) -> Value {
    let r = app.get_api(&format!("/app/api/orders/{id}"), &app.session_token(SHOP)).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kinds(j: &Value) -> Vec<String> {
    j["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

/// The shopper presses `digits` on the order's (only) call.
async fn press(app: &TestApp, id: i64, digits: &str) {
    let key = app.exotel_key(SHOP).await;
    let oid = app.text(&format!("SELECT id FROM orders WHERE shopify_order_id = {id}")).await.unwrap();
    let attempt = app.text(&format!("SELECT id FROM call_attempts WHERE order_id = '{oid}' ORDER BY attempt_no DESC")).await.unwrap();
    let r = app
        .client
        .get(app.url(&format!("/exotel/{key}/ivr/input")))
        .query(&[("CustomField", attempt.as_str()), ("digits", &format!("\"{digits}\""))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn info_page(app: &TestApp) -> String {
    let token = app.session_token(SHOP);
    let r = app.client.get(app.url(&format!("/app?embedded=1&shop={SHOP}&host={HOST}&id_token={token}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn held_until_confirmed(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    app.shopify.add_fulfillment_orders(&gid(1), 2);
    order(&app, 1).await;

    // Both fulfillment orders carry our hold, and the order cannot be fulfilled.
    assert_eq!(our_holds(&app, 1), vec![1, 1]);
    assert_eq!(hold_state(&app, 1).await.as_deref(), Some("held"));
    let err = app.shopify.fulfill(&gid(1)).unwrap_err();
    assert!(err.contains("on hold"), "{err}");
    let holds = requests(&app, "fulfillmentOrderHold(");
    assert_eq!(holds.len(), 2);
    for h in &holds {
        assert_eq!(h["fulfillmentHold"]["reason"], "OTHER");
        assert_eq!(h["fulfillmentHold"]["handle"], "codverify-cod");
        assert_eq!(h["fulfillmentHold"]["notifyMerchant"], false);
        assert!(h["fulfillmentHold"]["reasonNotes"].as_str().unwrap().contains("confirmation"));
    }
    let j = order_json(&app, 1).await;
    assert_eq!(j["hold"], "held");
    assert!(kinds(&j).contains(&"fulfillment_held".to_string()), "{j}");
    assert!(!info_page(&app).await.contains("holds-scopes-notice"), "scopes granted: no notice");

    // Another app holds the order too; the confirmation releases only our holds.
    app.shopify.foreign_hold(&gid(1));
    press(&app, 1, "1").await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(our_holds(&app, 1), vec![0, 0]);
    assert_eq!(hold_state(&app, 1).await.as_deref(), Some("released"));
    let releases = requests(&app, "fulfillmentOrderReleaseHold(");
    assert_eq!(releases.len(), 2);
    for r in &releases {
        let ids = r["holdIds"].as_array().expect("always names our holds");
        assert_eq!(ids.len(), 1);
        assert!(!ids[0].as_str().unwrap().is_empty());
    }
    let fos = app.shopify.fulfillment_orders(&gid(1));
    assert!(fos.iter().all(|f| f.holds.len() == 1 && !f.holds[0].ours), "the other app's hold stays: {fos:?}");
    assert!(app.shopify.fulfill(&gid(1)).is_err(), "still held by the other app");

    // Without the other app, a confirmed order ships.
    app.shopify.add_fulfillment_orders(&gid(2), 1);
    order(&app, 2).await;
    assert!(app.shopify.fulfill(&gid(2)).is_err(), "unverified: cannot be fulfilled");
    press(&app, 2, "1").await;
    app.shopify.fulfill(&gid(2)).expect("confirmed: fulfilled");
    let j = order_json(&app, 2).await;
    assert_eq!(j["hold"], "released");
    let k = kinds(&j);
    assert!(k.contains(&"fulfillment_held".to_string()) && k.contains(&"fulfillment_released".to_string()), "{k:?}");

    // The timeline page shows where the hold stands.
    let token = app.session_token(SHOP);
    let page = app.client.get(app.url(&format!("/app/orders/2?embedded=1&shop={SHOP}&host={HOST}&id_token={token}"))).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Fulfilment hold released") && html.contains(r#"<dd id="order-hold">Released</dd>"#), "{html}");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn kept_on_cancel_and_no_response(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({"retries": 0, "retry_interval_minutes": 0})).await else { return };
    for id in [3, 4] {
        app.shopify.add_fulfillment_orders(&gid(id), 1);
        order(&app, id).await;
        assert_eq!(hold_state(&app, id).await.as_deref(), Some("held"));
    }
    press(&app, 3, "2").await;
    assert_eq!(status(&app, 3).await, "cancelled");
    app.last_call_unanswered(SHOP).await;
    assert_eq!(status(&app, 4).await, "no_response");
    app.advance(3600).await;
    app.settle().await;
    for id in [3, 4] {
        assert_eq!(our_holds(&app, id), vec![1], "order {id} stays held");
        assert_eq!(hold_state(&app, id).await.as_deref(), Some("held"));
        assert!(app.shopify.fulfill(&gid(id)).is_err());
    }
    assert!(requests(&app, "fulfillmentOrderReleaseHold(").is_empty());

    // A late answer confirms the unanswered order: its hold is released.
    press(&app, 4, "1").await;
    assert_eq!(status(&app, 4).await, "confirmed");
    assert_eq!(our_holds(&app, 4), vec![0]);
    assert_eq!(hold_state(&app, 4).await.as_deref(), Some("released"));
    app.shopify.fulfill(&gid(4)).expect("confirmed late: fulfilled");
    assert_eq!(our_holds(&app, 3), vec![1], "the cancelled order stays held");
    app.stop().await;
}

async fn fulfillment_orders_that_come_later(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    order(&app, 5).await;
    order(&app, 6).await;
    assert_eq!(hold_state(&app, 5).await.as_deref(), Some("holding"));
    assert!(requests(&app, "fulfillmentOrderHold(").is_empty());
    let j = order_json(&app, 5).await;
    assert_eq!(kinds(&j).iter().filter(|k| *k == "fulfillment_hold_waiting").count(), 1);

    // Shopify creates order 5's fulfillment order; the next try (a minute on) holds it.
    app.shopify.add_fulfillment_orders(&gid(5), 1);
    app.advance(60).await;
    app.settle().await;
    assert_eq!(hold_state(&app, 5).await.as_deref(), Some("held"));
    assert_eq!(our_holds(&app, 5), vec![1]);
    // Order 6 keeps waiting (said once), then is given up on after 48 hours.
    app.advance(3 * 60).await;
    app.settle().await;
    assert_eq!(hold_state(&app, 6).await.as_deref(), Some("holding"));
    assert_eq!(kinds(&order_json(&app, 6).await).iter().filter(|k| *k == "fulfillment_hold_waiting").count(), 1);
    app.advance(49 * 3600).await;
    app.settle().await;
    assert_eq!(hold_state(&app, 6).await.as_deref(), Some("not_held"));
    assert!(kinds(&order_json(&app, 6).await).contains(&"fulfillment_hold_gave_up".to_string()));
    assert_eq!(app.count("SELECT COUNT(*) FROM timers WHERE job LIKE '%sync_hold%'").await, 0);
    app.stop().await;
}

async fn throttled_and_unavailable_then_held(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    app.shopify.add_fulfillment_orders(&gid(7), 1);
    // The client's own retries absorb a THROTTLED answer and a 5xx.
    app.shopify.script_graphql(200, json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus": {"maximumAvailable": 1000.0, "currentlyAvailable": 5, "restoreRate": 100.0}}}}));
    app.shopify.script_graphql(502, json!({"errors": "Bad gateway"}));
    order(&app, 7).await;
    assert_eq!(hold_state(&app, 7).await.as_deref(), Some("held"));
    assert_eq!(our_holds(&app, 7), vec![1]);

    // Shopify down for longer than the client waits: the job tries again a minute later.
    app.shopify.add_fulfillment_orders(&gid(8), 1);
    for _ in 0..6 {
        app.shopify.script_graphql(503, json!({"errors": "Unavailable"}));
    }
    order(&app, 8).await;
    assert_eq!(hold_state(&app, 8).await.as_deref(), Some("holding"));
    assert_eq!(our_holds(&app, 8), vec![0]);
    assert!(kinds(&order_json(&app, 8).await).contains(&"fulfillment_hold_failed".to_string()));
    app.advance(60).await;
    app.settle().await;
    assert_eq!(hold_state(&app, 8).await.as_deref(), Some("held"));
    assert_eq!(our_holds(&app, 8), vec![1]);
    app.stop().await;
}

async fn a_refused_hold_is_recorded(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    app.shopify.add_fulfillment_orders(&gid(9), 1);
    app.shopify.state.lock().unwrap().refuse_holds =
        Some(("FULFILLMENT_ORDER_HOLD_LIMIT_REACHED".into(), "The maximum number of fulfillment holds for this fulfillment order has been reached.".into()));
    order(&app, 9).await;
    assert_eq!(hold_state(&app, 9).await.as_deref(), Some("not_held"));
    let j = order_json(&app, 9).await;
    let refused = j["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "fulfillment_hold_refused").expect("recorded");
    assert!(refused["detail"].as_str().unwrap().contains("maximum number of fulfillment holds"), "{refused}");
    assert_eq!(refused["label"], "Shopify refused the hold");
    // Refused is final: no retry, and verification goes on.
    app.advance(3600).await;
    app.settle().await;
    assert_eq!(requests(&app, "fulfillmentOrderHold(").len(), 1);
    assert_eq!(app.exotel.calls().len(), 1);
    app.stop().await;
}

async fn repeats_hold_once(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    app.shopify.add_fulfillment_orders(&gid(10), 1);
    // The same order delivered twice (two webhook ids): one order, one hold.
    order(&app, 10).await;
    let r = app.post_webhook("orders/create", SHOP, "w-10-again", &order_payload(10, COD, Some(PHONE))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert_eq!(requests(&app, "fulfillmentOrderHold(").len(), 1);

    // The job again (a duplicate), and again as after a crash before its result was recorded:
    // Shopify is read, our hold is found, nothing is sent twice.
    let oid = app.text("SELECT id FROM orders WHERE shopify_order_id = 10").await.unwrap();
    let job = Job::SyncHold { order_id: oid.clone(), failures: 0 };
    for crashed in [false, true] {
        if crashed {
            let sql = "UPDATE orders SET hold_state = 'holding' WHERE id = $1";
            codverify::on_db!(&app.state.db, c => sqlx::query(sql).bind(&oid).execute(c).await.map(|_| ())).unwrap();
        }
        let mut tx = app.state.db.begin().await.unwrap();
        tx.push_jobs(&[job.clone(), job.clone()]).await.unwrap();
        tx.commit().await.unwrap();
        app.settle().await;
        assert_eq!(hold_state(&app, 10).await.as_deref(), Some("held"));
    }
    assert_eq!(requests(&app, "fulfillmentOrderHold(").len(), 1, "never held twice");
    assert_eq!(our_holds(&app, 10), vec![1]);
    // A hold request repeated by hand is refused as a duplicate by Shopify's handle check.
    let fo = app.shopify.fulfillment_orders(&gid(10))[0].id.clone();
    let shop_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    let again = codverify::shopify::fulfillment::hold(&app.state, &shop_id, &fo).await.unwrap();
    assert_eq!(again, codverify::shopify::fulfillment::Held::AlreadyThere);
    assert_eq!(our_holds(&app, 10), vec![1]);

    // A confirmation delivered twice releases once.
    press(&app, 10, "1").await;
    press(&app, 10, "1").await;
    assert_eq!(requests(&app, "fulfillmentOrderReleaseHold(").len(), 1);
    assert_eq!(hold_state(&app, 10).await.as_deref(), Some("released"));

    // A hold job that was on its way when the release read Shopify (or was killed after its hold
    // landed) lands its hold late; that job's next run finds the order confirmed and releases it.
    let late = codverify::shopify::fulfillment::hold(&app.state, &shop_id, &fo).await.unwrap();
    assert_eq!(late, codverify::shopify::fulfillment::Held::Placed);
    assert_eq!(our_holds(&app, 10), vec![1]);
    let mut tx = app.state.db.begin().await.unwrap();
    tx.push_jobs(std::slice::from_ref(&job)).await.unwrap();
    tx.commit().await.unwrap();
    app.settle().await;
    assert_eq!(our_holds(&app, 10), vec![0]);
    assert_eq!(hold_state(&app, 10).await.as_deref(), Some("released"));
    app.shopify.fulfill(&gid(10)).expect("confirmed: fulfilled");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn without_the_scopes_nothing_is_held(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    // The fake grants read_orders,write_orders only: an install from before the new scopes.
    app.install_configured(SHOP, "cod").await;
    let info = info_page(&app).await;
    assert!(info.contains("holds-scopes-notice") && info.contains("Approve the permissions"), "{info}");
    app.shopify.add_fulfillment_orders(&gid(11), 1);
    order(&app, 11).await;
    order(&app, 12).await;
    assert_eq!(app.exotel.calls().len(), 2, "verification runs as before");
    assert_eq!(hold_state(&app, 11).await, None);
    assert_eq!(app.shopify.requests_naming("fulfillment"), 0, "no fulfillment request");
    let j = order_json(&app, 11).await;
    assert_eq!(j["hold"], Value::Null);
    assert_eq!(kinds(&j).iter().filter(|k| *k == "fulfillment_not_held").count(), 1, "said once");
    press(&app, 11, "1").await;
    assert_eq!(app.shopify.requests_naming("fulfillment"), 0);
    app.shopify.fulfill(&gid(11)).expect("never held");

    // Switching holds off takes the notice away.
    let r = app.put_settings(SHOP, json!({"fulfillment": {"hold": false}})).await;
    assert_eq!(r.status(), 200);
    assert!(!info_page(&app).await.contains("holds-scopes-notice"));
    app.stop().await;
}

async fn holds_switched_off(backend: Backend) {
    let Some(app) = app_with_holds(backend, json!({})).await else { return };
    let r = app.put_settings(SHOP, json!({"fulfillment": {"hold": false}})).await;
    assert_eq!(r.status(), 200);
    app.shopify.add_fulfillment_orders(&gid(13), 1);
    order(&app, 13).await;
    assert_eq!(app.exotel.calls().len(), 1);
    assert_eq!(hold_state(&app, 13).await, None);
    assert_eq!(app.shopify.requests_naming("fulfillment"), 0);
    assert!(!kinds(&order_json(&app, 13).await).iter().any(|k| k.starts_with("fulfillment")));
    app.shopify.fulfill(&gid(13)).expect("not held");
    app.stop().await;
}

both_dbs!(
    held_until_confirmed,
    kept_on_cancel_and_no_response,
    fulfillment_orders_that_come_later,
    throttled_and_unavailable_then_held,
    a_refused_hold_is_recorded,
    repeats_hold_once,
    without_the_scopes_nothing_is_held,
    holds_switched_off,
);
