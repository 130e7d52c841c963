//! Address confirmation (SPEC §9), black-box: the link page shows the shipping address and lets
//! the shopper correct it before confirming; the corrected address goes to Shopify (`orderUpdate`,
//! the whole address), retried while Shopify throttles, a refusal recorded; the merchant's
//! timeline shows old → new; invalid corrections change nothing; the merchant can switch it off.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};
use crate::fallback::link_path;

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";

/// An order with a whole Indian shipping address; its call goes unanswered and the link SMS goes
/// out. Returns the link's path.
async fn order_with_link(app: &TestApp, id: i64) -> String {
    let mut body = order_payload(id, COD, Some(PHONE));
    body["shipping_address"] = json!({"first_name": "Asha", "last_name": "Rao", "phone": PHONE, "company": null,
        "address1": "12 MG Road", "address2": null, "city": "Pune", "province": "Maharashtra", "province_code": "MH",
        "zip": "411001", "country": "India", "country_code": "IN"});
    let r = app.post_webhook("orders/create", SHOP, &format!("w-{id}"), &body).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    app.last_call_unanswered(SHOP).await;
    link_path(app, app.exotel.sms().len() - 1)
}

async fn setup(app: &TestApp) {
    app.install_with_fallback(SHOP, json!({})).await;
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = app.client.post(app.url(path)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> String {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn status(app: &TestApp, id: i64) -> String {
    app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await.unwrap()
}

/// The order's stored (sealed) shipping address, opened.
async fn stored_address(app: &TestApp, id: i64) -> Value {
    let json = app.sealed_text(&format!("SELECT shipping_address_enc FROM orders WHERE shopify_order_id = {id}")).await.expect("an address");
    serde_json::from_str(&json).unwrap()
}

async fn timeline(app: &TestApp, id: i64) -> Value {
    let r = app.get_api(&format!("/app/api/orders/{id}"), &app.session_token(SHOP)).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn kinds(t: &Value) -> Vec<String> {
    t["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

async fn pending_update(app: &TestApp, id: i64) -> bool {
    let (shop_id, order_id): (String, String) = {
        let sql = format!("SELECT shop_id, id FROM orders WHERE shopify_order_id = {id}");
        codverify::on_db!(&app.state.db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(c).await).unwrap()
    };
    codverify::db::orders::address_update_pending(&app.state.db, &shop_id, &order_id).await.unwrap()
}

fn throttled() -> Value {
    json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 9.99, "restoreRate": 100.0}}}})
}

/// Form fields sent with a button.
type Form<'a> = &'a [(&'a str, &'a str)];

const NEW: [(&str, &str); 5] =
    [("action", "confirm"), ("address1", "Flat 4, Lotus Apartments"), ("address2", "  Near the park "), ("city", "Pune"), ("zip", "411038")];

async fn a_correction_confirms_and_reaches_shopify(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    let html = get(&app, &path).await;
    for text in ["Delivery address", "12 MG Road", "Pune, Maharashtra 411001", "Edit address", r#"name="address1" value="12 MG Road""#,
        r#"name="zip" value="411001""#, r#"autocomplete="postal-code""#] {
        assert!(html.contains(text), "{text} missing from the page");
    }
    assert!(!html.contains("<script"), "no JavaScript");

    let (code, html) = post(&app, &path, &NEW).await;
    assert_eq!(code, 200, "{html}");
    assert!(html.contains("Your order is confirmed") && html.contains("Flat 4, Lotus Apartments"), "{html}");
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    // The whole address went to Shopify: the shopper's fields trimmed, every other field kept.
    let updates = app.shopify.operation_requests("orderUpdate");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0], json!({"input": {"id": "gid://shopify/Order/1", "shippingAddress": {
        "firstName": "Asha", "lastName": "Rao", "address1": "Flat 4, Lotus Apartments", "address2": "Near the park", "city": "Pune",
        "provinceCode": "MH", "zip": "411038", "countryCode": "IN", "phone": PHONE}}}));
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached", "sms_confirmed"]);
    // Stored sealed, as corrected.
    let a = stored_address(&app, 1).await;
    assert_eq!((a["address1"].as_str(), a["zip"].as_str(), a["first_name"].as_str()), (Some("Flat 4, Lotus Apartments"), Some("411038"), Some("Asha")));
    // The merchant sees old → new; the event itself stores no address.
    let t = timeline(&app, 1).await;
    let k = kinds(&t);
    assert!(k.contains(&"address_corrected".to_string()) && k.contains(&"address_updated".to_string()), "{k:?}");
    let corrected = t["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "address_corrected").unwrap();
    assert_eq!(
        corrected["detail"],
        "shipping address corrected by the shopper: 12 MG Road, Pune, Maharashtra 411001 → Flat 4, Lotus Apartments, Near the park, Pune, Maharashtra 411038"
    );
    assert_eq!(t["address_corrections"][0]["old"], "12 MG Road, Pune, Maharashtra 411001");
    assert_eq!(t["address_corrections"][0]["shopify_update"], "updated");
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE detail LIKE '%Lotus%' OR detail LIKE '%MG Road%'").await, 0);
    let page = app.client.get(app.url(&format!("/app/orders/1?shop={SHOP}&id_token={}", app.session_token(SHOP)))).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("12 MG Road, Pune, Maharashtra 411001 → Flat 4, Lotus Apartments"), "the timeline page shows old → new");
    assert!(!pending_update(&app, 1).await);
    // A second submit changes nothing and sends nothing.
    let (code, _) = post(&app, &path, &NEW).await;
    assert_eq!(code, 200);
    app.settle().await;
    assert_eq!(app.shopify.operation_requests("orderUpdate").len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM address_corrections").await, 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn invalid_corrections_change_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    let long = "x".repeat(121);
    let cases: [(Form, &[&str]); 5] = [
        (&[("zip", "011001")], &["Enter a 6-digit PIN code."]),
        (&[("zip", "41100")], &["Enter a 6-digit PIN code."]),
        (&[("city", "   ")], &["Please fill this in."]),
        (&[("address1", &long)], &["This is too long."]),
        (&[("address1", "12 MG\u{0}Road"), ("city", "")], &["This contains characters that cannot be used.", "Please fill this in."]),
    ];
    for (fields, messages) in cases {
        let mut form = vec![("action", "confirm")];
        form.extend_from_slice(fields);
        let (code, html) = post(&app, &path, &form).await;
        assert_eq!(code, 422, "{fields:?}");
        assert!(html.contains("Please check your address") && html.contains("<details open>"), "{html}");
        for m in messages {
            assert!(html.contains(m), "{m} missing for {fields:?}");
        }
        assert!(html.contains(r#"aria-invalid="true""#));
        assert_eq!(status(&app, 1).await, "pending", "{fields:?}");
    }
    // What was sent is shown back, escaped.
    let (code, html) = post(&app, &path, &[("action", "confirm"), ("city", "<b>Pune</b>"), ("zip", "1")]).await;
    assert_eq!(code, 422);
    assert!(!html.contains("<b>Pune</b>") && (html.contains("&lt;b&gt;Pune") || html.contains("&#60;b&#62;Pune")), "{html}");
    app.settle().await;
    assert!(app.shopify.operation_requests("orderUpdate").is_empty());
    assert_eq!(app.tags_added(), vec!["ivr_retry_limit_reached"], "nothing confirmed");
    assert_eq!(app.count("SELECT COUNT(*) FROM links WHERE used_at IS NOT NULL").await, 0);
    assert_eq!(stored_address(&app, 1).await["address1"], "12 MG Road");
    // Unchanged fields: a plain confirmation, no update at all. Cancel ignores address fields.
    let (code, _) = post(&app, &path, &[("action", "confirm"), ("address1", " 12 MG Road "), ("city", "Pune"), ("zip", "411001")]).await;
    assert_eq!(code, 200);
    let path2 = order_with_link(&app, 2).await;
    let (code, html) = post(&app, &path2, &[("action", "cancel"), ("address1", "Elsewhere 1"), ("zip", "bad")]).await;
    assert_eq!(code, 200);
    assert!(html.contains("Your order is cancelled"));
    app.settle().await;
    assert_eq!((status(&app, 1).await, status(&app, 2).await), ("confirmed".to_string(), "cancelled".to_string()));
    assert!(app.shopify.operation_requests("orderUpdate").is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM address_corrections").await, 0);
    assert_eq!(stored_address(&app, 2).await["address1"], "12 MG Road");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn correction_can_be_switched_off(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    assert_eq!(app.put_settings(SHOP, json!({"fulfillment": {"address_correction": false}})).await.status(), 200);
    let path = order_with_link(&app, 1).await;
    let html = get(&app, &path).await;
    assert!(html.contains("12 MG Road") && html.contains("Delivery address"), "the address is still shown");
    assert!(!html.contains("Edit address") && !html.contains(r#"name="address1""#), "no form");
    let (code, html) = post(&app, &path, &NEW).await;
    assert_eq!(code, 200);
    assert!(html.contains("Your order is confirmed"));
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert!(app.shopify.operation_requests("orderUpdate").is_empty(), "the address fields are ignored");
    assert_eq!(stored_address(&app, 1).await["address1"], "12 MG Road");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn throttled_then_updated(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    // Throttled twice: the client waits for the bucket and tries again.
    for _ in 0..2 {
        app.shopify.script_operation("orderUpdate", 200, throttled());
    }
    assert_eq!(post(&app, &path, &NEW).await.0, 200);
    app.settle().await;
    assert_eq!(app.shopify.operation_requests("orderUpdate").len(), 3);
    assert!(kinds(&timeline(&app, 1).await).contains(&"address_updated".to_string()));
    assert!(!pending_update(&app, 1).await);

    // Throttled past the client's attempts: tried again a minute later on the app clock, and
    // pending until then (the fulfillment hold waits for it).
    let path = order_with_link(&app, 2).await;
    for _ in 0..6 {
        app.shopify.script_operation("orderUpdate", 200, throttled());
    }
    assert_eq!(post(&app, &path, &NEW).await.0, 200);
    app.settle().await;
    assert_eq!(app.shopify.operation_requests("orderUpdate").len(), 3 + 6);
    let t = timeline(&app, 2).await;
    assert!(t["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "shopify_update_failed"
        && e["detail"].as_str().unwrap().starts_with("shipping address not updated in Shopify yet, will retry in 1 min")), "{t}");
    assert!(pending_update(&app, 2).await);
    assert_eq!(t["address_corrections"][0]["shopify_update"], "pending");
    app.advance(60).await;
    app.settle().await;
    assert_eq!(app.shopify.operation_requests("orderUpdate").len(), 3 + 6 + 1);
    assert!(kinds(&timeline(&app, 2).await).contains(&"address_updated".to_string()));
    assert!(!pending_update(&app, 2).await);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn a_refusal_is_recorded(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    app.shopify.script_operation("orderUpdate", 200, json!({"data": {"orderUpdate": {"order": null,
        "userErrors": [{"field": ["shippingAddress", "zip"], "message": "Zip is not valid for India"}]}}}));
    assert_eq!(post(&app, &path, &NEW).await.0, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed", "the confirmation stands");
    let t = timeline(&app, 1).await;
    let refused = t["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "address_update_refused").expect("recorded");
    assert_eq!(refused["detail"], "Shopify refused the address: Zip is not valid for India");
    assert_eq!(refused["label"], "Address not updated in Shopify");
    assert_eq!(t["address_corrections"][0]["shopify_update"], "refused");
    assert!(!pending_update(&app, 1).await, "a refusal ends the wait");
    assert_eq!(app.shopify.operation_requests("orderUpdate").len(), 1, "not tried again");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// The shipping address is the customer's: listed in a data request's report, and erased with the
/// other details by `customers/redact` — the order's address and both sides of its corrections.
async fn the_address_is_reported_and_erased(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    assert_eq!(post(&app, &path, &NEW).await.0, 200);
    app.settle().await;
    let customer = json!({"id": 7001, "email": "asha@example.com", "phone": "+919876543210"});
    let r = app.post_webhook("customers/data_request", SHOP, "dr-1", &crate::privacy::data_request(customer.clone(), &[1], 5)).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    let report: Value = serde_json::from_str(&app.sealed_text("SELECT report_enc FROM data_requests").await.unwrap()).unwrap();
    assert_eq!(report["orders"][0]["shipping_address"]["address1"], "Flat 4, Lotus Apartments", "{report}");
    let redact = json!({"shop_id": 1, "shop_domain": SHOP, "customer": customer, "orders_to_redact": [1]});
    assert_eq!(app.post_webhook("customers/redact", SHOP, "cr-1", &redact).await.status(), 200);
    app.settle().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE shipping_address_enc IS NULL AND erased_at IS NOT NULL").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM address_corrections").await, 0);
    assert_eq!(timeline(&app, 1).await["address_corrections"], json!([]));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// A confirmed order's fulfillment hold is released only once its corrected address reached
/// Shopify: released earlier, the warehouse could ship to the old address.
async fn the_hold_waits_for_the_corrected_address(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.shopify.grant_scopes("read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders");
    setup(&app).await;
    let gid = "gid://shopify/Order/1";
    app.shopify.add_fulfillment_orders(gid, 1);
    let path = order_with_link(&app, 1).await;
    assert!(app.shopify.fulfill(gid).is_err(), "held while unverified");
    // Shopify throttles the address update past the client's attempts: it is retried a minute later.
    for _ in 0..6 {
        app.shopify.script_operation("orderUpdate", 200, throttled());
    }
    assert_eq!(post(&app, &path, &NEW).await.0, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert!(pending_update(&app, 1).await);
    assert!(app.shopify.fulfill(gid).is_err(), "still held: the corrected address has not reached Shopify");
    assert!(kinds(&timeline(&app, 1).await).contains(&"fulfillment_release_waiting".to_string()));
    assert_eq!(app.shopify.requests_naming("fulfillmentOrderReleaseHold("), 0);

    app.advance(60).await;
    app.settle().await;
    assert!(!pending_update(&app, 1).await);
    // The release went after the successful update, and the order can ship.
    let ops: Vec<String> = app.shopify.graphql_requests().iter().map(|(_, b)| b["query"].as_str().unwrap_or("").to_string()).collect();
    let last_update = ops.iter().rposition(|q| q.contains("orderUpdate")).unwrap();
    let release = ops.iter().position(|q| q.contains("fulfillmentOrderReleaseHold(")).expect("released");
    assert!(last_update < release, "the hold was released before the address reached Shopify");
    assert!(app.shopify.fulfill(gid).is_ok());
    // A backstop retry of the hold job may still be waiting: it finds nothing to do.
    app.advance(10 * 60).await;
    app.settle().await;
    assert_eq!(app.shopify.requests_naming("fulfillmentOrderReleaseHold("), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn ship_state(app: &TestApp, id: i64) -> Option<String> {
    app.text(&format!("SELECT ship_state FROM orders WHERE shopify_order_id = {id}")).await
}

/// The order's state (plain text, for the Outcomes page) is read off the PIN code at intake and
/// follows the shopper's correction; a refused correction leaves it.
async fn the_state_follows_the_corrected_pin(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app).await;
    let path = order_with_link(&app, 1).await;
    assert_eq!(ship_state(&app, 1).await.as_deref(), Some("MH"), "411001 is Pune");
    let (code, _) = post(&app, &path, &[("action", "confirm"), ("zip", "41100")]).await;
    assert_eq!(code, 422);
    assert_eq!(ship_state(&app, 1).await.as_deref(), Some("MH"));
    // Moved to Bengaluru.
    let (code, html) = post(&app, &path, &[("action", "confirm"), ("city", "Bengaluru"), ("zip", "560001")]).await;
    assert_eq!(code, 200, "{html}");
    app.settle().await;
    assert_eq!((status(&app, 1).await.as_str(), ship_state(&app, 1).await.as_deref()), ("confirmed", Some("KA")));
    assert_eq!(stored_address(&app, 1).await["zip"], "560001");
    app.stop().await;
}

both_dbs!(
    the_state_follows_the_corrected_pin,
    the_hold_waits_for_the_corrected_address,
    the_address_is_reported_and_erased,
    a_correction_confirms_and_reaches_shopify,
    invalid_corrections_change_nothing,
    correction_can_be_switched_off,
    throttled_then_updated,
    a_refusal_is_recorded,
);
