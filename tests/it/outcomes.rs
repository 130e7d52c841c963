//! Delivery outcomes (SPEC §10): Shopify's shipping webhooks set each order's outcome, whatever
//! their order and however often they come; `GET /app/api/outcomes` counts them per status.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

pub(crate) const SHOP: &str = "acme.myshopify.com";
pub(crate) const OTHER: &str = "other.myshopify.com";
pub(crate) const COD: &str = "Cash on Delivery (COD)";

/// Installs `shop` with the first call a day away: orders stay pending and no one is called.
async fn install(app: &TestApp, shop: &str) {
    app.install_with_ivr(shop, "cod", json!({"first_call": "after", "first_call_delay_minutes": 1440})).await;
}

async fn take_orders(app: &TestApp, shop: &str, ids: &[i64]) {
    for id in ids {
        let r = app.post_webhook("orders/create", shop, &format!("{shop}-create-{id}"), &order_payload(*id, COD, Some("9876543210"))).await;
        assert_eq!(r.status(), 200);
    }
    app.wait_for_jobs().await;
}

/// A `fulfillment_events/create` body.
pub(crate) fn event(order_id: i64, status: &str, happened_at: &str) -> Value {
    json!({"id": 90_000 + order_id, "fulfillment_id": 80_000 + order_id, "status": status, "message": null,
        "happened_at": happened_at, "city": "Pune", "province": "Maharashtra", "country": "India", "zip": "411001",
        "address1": null, "latitude": null, "longitude": null, "shop_id": 1, "created_at": happened_at,
        "updated_at": happened_at, "estimated_delivery_at": null, "order_id": order_id,
        "admin_graphql_api_id": format!("gid://shopify/FulfillmentEvent/{}", 90_000 + order_id)})
}

/// A `fulfillments/update` body.
fn fulfillment(order_id: i64, status: &str, shipment_status: Option<&str>, created_at: &str, updated_at: &str) -> Value {
    json!({"id": 80_000 + order_id, "order_id": order_id, "status": status, "created_at": created_at, "updated_at": updated_at,
        "service": "manual", "tracking_company": "Delhivery", "shipment_status": shipment_status, "location_id": 1,
        "tracking_number": "AWB123", "tracking_numbers": ["AWB123"], "line_items": [], "name": "#1001.1"})
}

fn cancelled(order_id: i64, cancelled_at: &str, fulfillments: Value) -> Value {
    let mut o = order_payload(order_id, COD, Some("9876543210"));
    o["cancelled_at"] = json!(cancelled_at);
    o["cancel_reason"] = json!("customer");
    let fulfilled = fulfillments.as_array().is_some_and(|f| !f.is_empty());
    o["fulfillment_status"] = if fulfilled { json!("fulfilled") } else { Value::Null };
    o["fulfillments"] = fulfillments;
    o
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

/// (outcome, outcome_at, shipped_at, delivered_at, returned_at, shopify_cancelled_at) of the shop's order.
async fn shipping(app: &TestApp, shop: &str, id: i64) -> (Option<String>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>) {
    let sql = "SELECT o.outcome, o.outcome_at, o.shipped_at, o.delivered_at, o.returned_at, o.shopify_cancelled_at FROM orders o \
               JOIN shops s ON s.id = o.shop_id WHERE s.domain = $1 AND o.shopify_order_id = $2";
    codverify::on_db!(&app.state.db, c => sqlx::query_as(sql).bind(shop).bind(id).fetch_one(c).await).unwrap()
}

async fn outcome(app: &TestApp, shop: &str, id: i64) -> Option<String> {
    shipping(app, shop, id).await.0
}

async fn hook_outcome(app: &TestApp, webhook_id: &str) -> String {
    app.text(&format!("SELECT outcome FROM webhooks WHERE webhook_id = '{webhook_id}'")).await.unwrap_or_default()
}

async fn delivered_and_failure_events_set_the_outcome(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP).await;
    take_orders(&app, SHOP, &[1, 2, 3, 4]).await;
    let post = |topic: &'static str, id: &'static str, body: Value| {
        let app = &app;
        async move { assert_eq!(app.post_webhook(topic, SHOP, id, &body).await.status(), 200) }
    };
    post("fulfillment_events/create", "e1", event(1, "delivered", "2026-11-25T14:00:00+05:30")).await;
    post("fulfillment_events/create", "e2", event(2, "in_transit", "2026-11-23T09:00:00+05:30")).await;
    post("fulfillments/update", "f3", fulfillment(3, "success", Some("delivered"), "2026-11-23T09:00:00Z", "2026-11-26T09:00:00Z")).await;
    post("fulfillments/update", "f4", fulfillment(4, "success", None, "2026-11-23T09:00:00Z", "2026-11-23T09:00:00Z")).await;
    app.wait_for_jobs().await;

    let t = ms("2026-11-25T14:00:00+05:30");
    assert_eq!(shipping(&app, SHOP, 1).await, (Some("delivered".into()), Some(t), Some(t), Some(t), None, None));
    assert_eq!(hook_outcome(&app, "e1").await, "outcome unknown → delivered");
    // In transit: shipped, no outcome yet.
    let transit = ms("2026-11-23T09:00:00+05:30");
    assert_eq!(shipping(&app, SHOP, 2).await, (None, None, Some(transit), None, None, None));
    assert_eq!(outcome(&app, SHOP, 3).await.as_deref(), Some("delivered"));
    assert_eq!(shipping(&app, SHOP, 3).await.2, Some(ms("2026-11-23T09:00:00Z")), "shipped when the fulfillment was created");
    assert_eq!((outcome(&app, SHOP, 4).await, shipping(&app, SHOP, 4).await.2), (None, Some(ms("2026-11-23T09:00:00Z"))));

    // Failure to deliver: returned.
    post("fulfillment_events/create", "e2b", event(2, "failure", "2026-11-27T18:00:00+05:30")).await;
    app.wait_for_jobs().await;
    assert_eq!(shipping(&app, SHOP, 2).await.0.as_deref(), Some("returned"));
    assert_eq!(shipping(&app, SHOP, 2).await.1, Some(ms("2026-11-27T18:00:00+05:30")));
    // Each new outcome is a line in the order's timeline.
    let kinds = app.count("SELECT COUNT(*) FROM order_events WHERE kind IN ('delivered', 'returned')").await;
    assert_eq!(kinds, 3);
    // The verification itself is untouched.
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await, 4);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn duplicates_and_out_of_order_give_the_same_result(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP).await;
    take_orders(&app, SHOP, &[11, 12, 13]).await;
    let events = |id: i64| {
        vec![
            event(id, "in_transit", "2026-11-23T09:00:00+05:30"),
            event(id, "attempted_delivery", "2026-11-24T12:00:00+05:30"),
            event(id, "failure", "2026-11-24T12:05:00+05:30"),
            event(id, "delivered", "2026-11-26T11:00:00+05:30"),
        ]
    };
    // Order 11: in order, each delivered twice under its webhook id (a retry) and once more under a
    // new one (Shopify may send both).
    for (i, e) in events(11).into_iter().enumerate() {
        for id in [format!("in{i}"), format!("in{i}"), format!("in{i}-again")] {
            assert_eq!(app.post_webhook("fulfillment_events/create", SHOP, &id, &e).await.status(), 200);
        }
        app.wait_for_jobs().await;
    }
    // Order 12: the same events backwards, one at a time.
    for (i, e) in events(12).into_iter().enumerate().rev() {
        assert_eq!(app.post_webhook("fulfillment_events/create", SHOP, &format!("b{i}"), &e).await.status(), 200);
        app.wait_for_jobs().await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks WHERE webhook_id LIKE 'in%'").await, 8, "retries stored once");
    let eleven = shipping(&app, SHOP, 11).await;
    assert_eq!(eleven, shipping(&app, SHOP, 12).await);
    let delivered = ms("2026-11-26T11:00:00+05:30");
    assert_eq!(eleven, (Some("delivered".into()), Some(delivered), Some(ms("2026-11-23T09:00:00+05:30")), Some(delivered),
        Some(ms("2026-11-24T12:05:00+05:30")), None));
    // Of the two deliveries of the same event, one changed the outcome and the other nothing.
    let (first, again) = (hook_outcome(&app, "in3").await, hook_outcome(&app, "in3-again").await);
    assert_eq!([&first, &again].iter().filter(|o| o.contains("nothing new")).count(), 1, "{first} / {again}");

    // A "failure" after the delivery (a carrier's mistake) does not take the delivery back.
    for (i, e) in [event(13, "delivered", "2026-11-25T10:00:00+05:30"), event(13, "failure", "2026-11-28T10:00:00+05:30")].iter().enumerate() {
        assert_eq!(app.post_webhook("fulfillment_events/create", SHOP, &format!("c{i}"), e).await.status(), 200);
    }
    app.wait_for_jobs().await;
    assert_eq!(shipping(&app, SHOP, 13).await.0.as_deref(), Some("delivered"));
    assert_eq!(shipping(&app, SHOP, 13).await.1, Some(ms("2026-11-25T10:00:00+05:30")));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn cancelled_after_shipping(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP).await;
    take_orders(&app, SHOP, &[21, 22, 23, 24, 25]).await;
    let shipped = "2026-11-23T09:00:00Z";
    let cancel_at = "2026-11-24T09:00:00Z";
    // 21: fulfilled, then cancelled.
    app.post_webhook("fulfillments/update", SHOP, "f21", &fulfillment(21, "success", Some("in_transit"), shipped, shipped)).await;
    app.wait_for_jobs().await;
    app.post_webhook("orders/cancelled", SHOP, "x21", &cancelled(21, cancel_at, json!([]))).await;
    // 22: the cancellation arrives before the tracking event that happened before it.
    app.post_webhook("orders/cancelled", SHOP, "x22", &cancelled(22, cancel_at, json!([]))).await;
    app.wait_for_jobs().await;
    assert_eq!(outcome(&app, SHOP, 22).await, None, "not known to have shipped yet");
    app.post_webhook("fulfillment_events/create", SHOP, "e22", &event(22, "in_transit", shipped)).await;
    // 23: cancelled, never shipped.
    app.post_webhook("orders/cancelled", SHOP, "x23", &cancelled(23, cancel_at, json!([]))).await;
    // 24: the cancellation's own payload lists the fulfillment.
    let f = json!([{"id": 1, "status": "success", "created_at": shipped, "updated_at": shipped, "shipment_status": null}]);
    app.post_webhook("orders/cancelled", SHOP, "x24", &cancelled(24, cancel_at, f)).await;
    // 25: returned, then cancelled by the merchant to restock: returned.
    app.post_webhook("fulfillment_events/create", SHOP, "e25", &event(25, "failure", shipped)).await;
    app.wait_for_jobs().await;
    app.post_webhook("orders/cancelled", SHOP, "x25", &cancelled(25, cancel_at, json!([]))).await;
    app.wait_for_jobs().await;

    let at = Some(ms(cancel_at));
    for id in [21, 22, 24] {
        let s = shipping(&app, SHOP, id).await;
        assert_eq!((s.0.as_deref(), s.1), (Some("cancelled"), at), "order {id}");
    }
    assert_eq!(shipping(&app, SHOP, 23).await, (None, None, None, None, None, at));
    assert_eq!(outcome(&app, SHOP, 25).await.as_deref(), Some("returned"));
    // The verification side did its part too: each order is cancelled.
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE status = 'cancelled'").await, 5);
    assert!(hook_outcome(&app, "x21").await.ends_with("outcome unknown → cancelled"), "{}", hook_outcome(&app, "x21").await);
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'cancelled_after_shipping'").await, 3);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn other_shops_and_unknown_orders_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP).await;
    install(&app, OTHER).await;
    take_orders(&app, SHOP, &[31]).await;
    take_orders(&app, OTHER, &[31, 32]).await;
    let d = "2026-11-25T10:00:00Z";
    // Another shop's order, an order never taken, an unknown shop, a body that is no event.
    app.post_webhook("fulfillment_events/create", SHOP, "n1", &event(32, "delivered", d)).await;
    app.post_webhook("fulfillment_events/create", SHOP, "n2", &event(999, "delivered", d)).await;
    app.post_webhook("fulfillments/update", SHOP, "n3", &fulfillment(999, "success", Some("failure"), d, d)).await;
    app.post_webhook("fulfillment_events/create", "stranger.myshopify.com", "n4", &event(31, "delivered", d)).await;
    app.post_webhook("fulfillment_events/create", SHOP, "n5", &json!({"id": 5, "status": "delivered"})).await;
    app.post_webhook("fulfillments/update", SHOP, "n6", &fulfillment(31, "cancelled", Some("delivered"), d, d)).await;
    // A forged delivery (bad HMAC) is refused and stored nowhere.
    let forged = serde_json::to_vec(&event(31, "delivered", d)).unwrap();
    let r = app.post_webhook_raw("fulfillment_events/create", SHOP, "forged", forged, &crate::common::sign(b"other")).await;
    assert_eq!(r.status(), 401);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks WHERE webhook_id = 'forged'").await, 0);
    assert_eq!(hook_outcome(&app, "n1").await, "ignored: an order the app never took");
    assert_eq!(hook_outcome(&app, "n2").await, "ignored: an order the app never took");
    assert_eq!(hook_outcome(&app, "n3").await, "ignored: an order the app never took");
    assert_eq!(hook_outcome(&app, "n4").await, "ignored: unknown shop");
    assert!(hook_outcome(&app, "n5").await.starts_with("ignored: not a fulfillment event"));
    assert!(hook_outcome(&app, "n6").await.starts_with("ignored: fulfillment cancelled"));
    let unchanged = "SELECT COUNT(*) FROM orders WHERE shipped_at IS NULL AND delivered_at IS NULL AND returned_at IS NULL \
                     AND outcome IS NULL AND outcome_at IS NULL";
    assert_eq!(app.count(unchanged).await, 3, "no order has an outcome");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 3);

    // Same Shopify order id in two shops: only the shop that sent it changes.
    app.post_webhook("fulfillment_events/create", OTHER, "o1", &event(31, "delivered", d)).await;
    app.wait_for_jobs().await;
    assert_eq!(outcome(&app, OTHER, 31).await.as_deref(), Some("delivered"));
    assert_eq!(outcome(&app, SHOP, 31).await, None);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// Runs a statement of the hand-built fixture.
pub(crate) async fn exec(app: &TestApp, sql: &str) {
    let sql = sql.to_string();
    codverify::on_db!(&app.state.db, exec c => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))).unwrap();
}

/// Drops the delayed first calls and timers of the orders the fixture resolved by hand.
pub(crate) async fn settle_fixture(app: &TestApp) {
    exec(app, "DELETE FROM timers WHERE order_id IN (SELECT id FROM orders WHERE status <> 'pending')").await;
    exec(app, "UPDATE call_attempts SET state = 'cancelled' WHERE state = 'queued' AND order_id IN (SELECT id FROM orders WHERE status <> 'pending')").await;
}

/// The IST calendar day of the app clock.
fn today(app: &TestApp) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms() + 19_800_000).unwrap().date_naive()
}

pub(crate) async fn outcomes_api(app: &TestApp, shop: &str, from: &str, to: &str) -> (u16, Value) {
    let r = app.get_api(&format!("/app/api/outcomes?from={from}&to={to}"), &app.session_token(shop)).await;
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The hand-built fixture of the outcomes API and the Outcomes page: SHOP and OTHER installed,
/// orders of "today" (IST) in every status with their shipping outcomes, and one confirmed,
/// delivered order of tomorrow (the app clock is then at 01:00 IST tomorrow). Returns today.
///
/// Today, SHOP: confirmed 101–105 (delivered 3, failure 1, in transit 1), no response 111–113
/// (failure 2, delivered 1), skipped 121–122 (returning to sender 1), cancelled 131 (in transit,
/// then cancelled), pending 141; a prepaid delivered order (not counted: COD only). OTHER:
/// pending 101 (failure) and 111 (delivered). Tomorrow, SHOP: confirmed 106, delivered.
pub(crate) async fn hand_built_fixture(app: &TestApp) -> chrono::NaiveDate {
    install(app, SHOP).await;
    install(app, OTHER).await;
    let day = today(app);
    // Today: confirmed 101–105, no response 111–113, skipped 121–122, cancelled 131, pending 141.
    take_orders(app, SHOP, &[101, 102, 103, 104, 105, 111, 112, 113, 121, 122, 131, 141]).await;
    // A prepaid order (skipped: the shop verifies COD only) that was delivered: not counted.
    app.post_webhook("orders/create", SHOP, "prepaid", &order_payload(151, "shopify_payments", Some("9876543210"))).await;
    // The other shop's orders, delivered and returned: not this shop's numbers.
    take_orders(app, OTHER, &[101, 111]).await;
    app.wait_for_jobs().await;
    let set = |status: &str, ids: &str| {
        format!("UPDATE orders SET status = '{status}' WHERE shopify_order_id IN ({ids}) AND shop_id = (SELECT id FROM shops WHERE domain = '{SHOP}')")
    };
    for sql in [set("confirmed", "101, 102, 103, 104, 105"), set("no_response", "111, 112, 113"), set("skipped", "121, 122")] {
        exec(app, &sql).await;
    }
    settle_fixture(app).await;
    let d = "2026-11-25T10:00:00Z";
    let outcomes: [(&str, i64, &str); 13] = [
        (SHOP, 101, "delivered"), (SHOP, 102, "delivered"), (SHOP, 103, "delivered"), (SHOP, 104, "failure"), (SHOP, 105, "in_transit"),
        (SHOP, 111, "failure"), (SHOP, 112, "failure"), (SHOP, 113, "delivered"),
        (SHOP, 121, "returning_to_sender"), (SHOP, 131, "in_transit"), (SHOP, 151, "delivered"),
        (OTHER, 101, "failure"), (OTHER, 111, "delivered"),
    ];
    for (shop, id, status) in outcomes {
        assert_eq!(app.post_webhook("fulfillment_events/create", shop, &format!("{shop}-{id}"), &event(id, status, d)).await.status(), 200);
    }
    app.wait_for_jobs().await;
    app.post_webhook("orders/cancelled", SHOP, "x131", &cancelled(131, "2026-11-26T10:00:00Z", json!([]))).await;
    app.wait_for_jobs().await;

    // Tomorrow (01:00 IST, before any delayed first call is due): one more confirmed order, delivered.
    app.advance(15 * 3600).await;
    take_orders(app, SHOP, &[106]).await;
    exec(app, &set("confirmed", "106")).await;
    settle_fixture(app).await;
    app.post_webhook("fulfillment_events/create", SHOP, "e106", &event(106, "delivered", d)).await;
    app.wait_for_jobs().await;

    day
}

async fn api_counts_a_hand_built_fixture(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    let (status, body) = outcomes_api(&app, SHOP, &day.to_string(), &day.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let row = |orders: i64, shipped: i64, delivered: i64, returned: i64, cancelled: i64, rate: Value| {
        json!({"orders": orders, "shipped": shipped, "delivered": delivered, "returned": returned,
            "cancelled_after_shipping": cancelled, "rto_rate": rate})
    };
    let expected = json!({
        "pending": row(1, 0, 0, 0, 0, Value::Null),
        "confirmed": row(5, 5, 3, 1, 0, json!(0.25)),
        "cancelled": row(1, 1, 0, 0, 1, Value::Null),
        "callback_requested": row(0, 0, 0, 0, 0, Value::Null),
        "no_response": row(3, 3, 1, 2, 0, json!(0.6667)),
        "skipped": row(2, 1, 0, 1, 0, json!(1.0)),
    });
    assert_eq!(body["by_status"], expected, "{body:#}");
    assert_eq!((body["from"].as_str(), body["to"].as_str()), (Some(day.to_string().as_str()), Some(day.to_string().as_str())));
    // Per channel: the cost report of the same range (its arithmetic is tested in costs.rs).
    let shop_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    let by_channel = codverify::db::costs::by_channel(&app.state.db, &shop_id, day, day).await.unwrap();
    assert_eq!(body["by_channel"], by_channel, "{body:#}");
    let channels: Vec<&str> = body["by_channel"].as_object().unwrap().keys().map(String::as_str).collect();
    for c in ["whatsapp", "ivr", "sms_link", "sms_missed_call"] {
        assert!(channels.contains(&c), "{c} missing from {channels:?}");
    }
    assert!(body["by_channel"]["ivr"]["contacts"].is_i64(), "{body:#}");
    assert!(body["cost"]["contacts"].is_i64(), "{body:#}");
    assert_eq!((body["timezone"].as_str(), body["orders_counted"].as_str()), (Some("Asia/Kolkata"), Some("cod")));

    // Both days: order 106 counts too.
    let tomorrow = day.succ_opt().unwrap().to_string();
    let (_, both) = outcomes_api(&app, SHOP, &day.to_string(), &tomorrow).await;
    assert_eq!(both["by_status"]["confirmed"], row(6, 6, 4, 1, 0, json!(0.2)));
    let (_, later) = outcomes_api(&app, SHOP, &tomorrow, &tomorrow).await;
    assert_eq!(later["by_status"]["confirmed"], row(1, 1, 1, 0, 0, json!(0.0)));
    assert_eq!(later["by_status"]["no_response"]["orders"], 0);
    // The other shop sees its own.
    let (_, other) = outcomes_api(&app, OTHER, &day.to_string(), &day.to_string()).await;
    assert_eq!(other["by_status"]["pending"], row(2, 2, 1, 1, 0, json!(0.5)));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn api_validates_the_range(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    install(&app, SHOP).await;
    let token = app.session_token(SHOP);
    for (query, needle) in [
        ("", "from is required"),
        ("?from=2026-11-01", "to is required"),
        ("?from=2026-11-1&to=2026-11-02", "from must be a date as YYYY-MM-DD"),
        ("?from=2026-02-30&to=2026-03-02", "from must be a date"),
        ("?from=2026-11-01&to=soon", "to must be a date"),
    ] {
        let r = app.get_api(&format!("/app/api/outcomes{query}"), &token).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    for (query, needle) in [("?from=2026-11-05&to=2026-11-04", "before"), ("?from=2026-07-01&to=2026-10-01", "at most 92 days")] {
        let r = app.get_api(&format!("/app/api/outcomes{query}"), &token).await;
        assert_eq!(r.status(), 422, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(body["errors"]["to"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    // A quarter, both days included, is the most it takes.
    let r = app.get_api("/app/api/outcomes?from=2026-07-01&to=2026-09-30", &token).await;
    assert_eq!(r.status(), 200);
    // A session token is required.
    let r = app.client.get(app.url("/app/api/outcomes?from=2026-07-01&to=2026-07-02")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

both_dbs!(
    delivered_and_failure_events_set_the_outcome,
    duplicates_and_out_of_order_give_the_same_result,
    cancelled_after_shipping,
    other_shops_and_unknown_orders_change_nothing,
    api_counts_a_hand_built_fixture,
    api_validates_the_range,
);
