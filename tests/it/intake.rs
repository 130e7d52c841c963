//! Order intake: COD detection under both verify modes, the phone's source, unusable phones.

use serde_json::json;

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";

async fn status_of(app: &TestApp, id: i64) -> (String, Option<String>) {
    (
        app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await.unwrap(),
        app.text(&format!("SELECT status_reason FROM orders WHERE shopify_order_id = {id}")).await,
    )
}

async fn cod_and_prepaid_under_both_modes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured("all.myshopify.com", "all").await;
    for (shop, id, gateway) in [(SHOP, 1, COD), (SHOP, 2, "shopify_payments"), ("all.myshopify.com", 3, COD), ("all.myshopify.com", 4, "shopify_payments")] {
        assert_eq!(app.post_webhook("orders/create", shop, &format!("w{id}"), &order_payload(id, gateway, Some("9876543210"))).await.status(), 200);
    }
    app.wait_for_jobs().await;
    assert_eq!(status_of(&app, 1).await.0, "pending");
    let (s, reason) = status_of(&app, 2).await;
    assert_eq!(s, "skipped");
    assert!(reason.unwrap().contains("not a COD order"));
    assert_eq!(status_of(&app, 3).await.0, "pending");
    assert_eq!(status_of(&app, 4).await.0, "pending");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE is_cod").await, 2);
    // Only pending orders start a verification.
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'verification_started'").await, 3);

    // A shop's own COD gateway names.
    let r = app.put_settings(SHOP, json!({"general": {"cod_gateways": ["COD", "Cash on Delivery (COD)"]}})).await;
    assert_eq!(r.status(), 200);
    app.post_webhook("orders/create", SHOP, "w5", &order_payload(5, "cod", Some("9876543210"))).await;
    app.wait_for_jobs().await;
    assert_eq!(status_of(&app, 5).await.0, "pending");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn phone_from_each_source(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let mut shipping = order_payload(10, COD, Some("09876543210"));
    shipping["billing_address"] = json!({"phone": "9000000001"});
    let mut billing = order_payload(11, COD, None);
    billing["billing_address"] = json!({"phone": "+91 90000 00002"});
    billing["customer"]["phone"] = json!("9000000003");
    let mut customer = order_payload(12, COD, Some(""));
    customer["customer"]["phone"] = json!("9000000003");
    customer["phone"] = json!("9000000004");
    let mut order = order_payload(13, COD, None);
    order["phone"] = json!("919000000004");
    let mut none = order_payload(14, COD, None);
    none["customer"] = json!(null);
    let unusable = order_payload(15, COD, Some("12345"));
    for (i, o) in [shipping, billing, customer, order, none, unusable].iter().enumerate() {
        app.post_webhook("orders/create", SHOP, &format!("p{i}"), o).await;
    }
    app.wait_for_jobs().await;
    for (id, phone, source) in [
        (10, "+919876543210", "shipping_address"),
        (11, "+919000000002", "billing_address"),
        (12, "+919000000003", "customer"),
        (13, "+919000000004", "order"),
    ] {
        let stored = app.sealed_text(&format!("SELECT phone_enc FROM orders WHERE shopify_order_id = {id}")).await;
        assert_eq!(stored.as_deref(), Some(phone));
        assert_eq!(app.text(&format!("SELECT phone_source FROM orders WHERE shopify_order_id = {id}")).await.as_deref(), Some(source));
        let index = app.text(&format!("SELECT phone_hash FROM orders WHERE shopify_order_id = {id}")).await;
        assert_eq!(index, Some(app.state.cipher.phone_index(phone)));
    }
    let (s, reason) = status_of(&app, 14).await;
    assert_eq!((s.as_str(), reason.as_deref()), ("skipped", Some("the order has no phone number")));
    let (s, reason) = status_of(&app, 15).await;
    assert_eq!(s, "skipped");
    assert!(reason.unwrap().contains("no usable phone number"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn unconfigured_or_unknown_shops(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    app.post_webhook("orders/create", SHOP, "u1", &order_payload(30, COD, Some("9876543210"))).await;
    app.post_webhook("orders/create", "stranger.myshopify.com", "u2", &order_payload(31, COD, Some("9876543210"))).await;
    app.wait_for_jobs().await;
    let (s, reason) = status_of(&app, 30).await;
    assert_eq!(s, "skipped");
    assert!(reason.unwrap().contains("settings not saved"));
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE shopify_order_id = 31").await, 0);
    assert_eq!(app.text("SELECT outcome FROM webhooks WHERE webhook_id = 'u2'").await.as_deref(), Some("ignored: unknown shop"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(cod_and_prepaid_under_both_modes, phone_from_each_source, unconfigured_or_unknown_shops);
