//! `POST /webhooks/shopify`: authenticity, idempotency, limits, and each topic's effect.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload, sign};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";

async fn bad_hmac_is_401_and_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let body = serde_json::to_vec(&order_payload(1, COD, Some("9876543210"))).unwrap();
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    for (raw, hmac) in [
        (body.clone(), "not-base64".to_string()),
        (body.clone(), sign(b"something else")),
        (tampered, sign(&body)),
        (body.clone(), String::new()),
    ] {
        let r = app.post_webhook_raw("orders/create", SHOP, "wh-bad", raw, &hmac).await;
        assert_eq!(r.status(), 401);
    }
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 0);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn same_webhook_twice_is_one_order_one_job(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let body = order_payload(1001, COD, Some("9876543210"));
    for _ in 0..3 {
        assert_eq!(app.post_webhook("orders/create", SHOP, "wh-1", &body).await.status(), 200);
    }
    // The same order under another delivery id (Shopify may send both) is still one order.
    assert_eq!(app.post_webhook("orders/create", SHOP, "wh-2", &body).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'verification_started'").await, 1);
    assert_eq!(app.text("SELECT status FROM orders").await.as_deref(), Some("pending"));
    // Processed deliveries keep no customer data.
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks WHERE body <> '' OR body_enc IS NOT NULL").await, 0);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn concurrent_duplicates_are_one_delivery(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url("/webhooks/shopify");
        let body = serde_json::to_vec(&order_payload(2000 + i % 10, COD, Some("9876543210"))).unwrap();
        let id = format!("wh-{}", i % 10);
        tasks.push(tokio::spawn(async move {
            client.post(url).header("X-Shopify-Topic", "orders/create").header("X-Shopify-Shop-Domain", SHOP)
                .header("X-Shopify-Webhook-Id", id).header("X-Shopify-Hmac-Sha256", sign(&body)).body(body)
                .send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks").await, 10);
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 10);
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'verification_started'").await, 10);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn malformed_and_oversized_rejected_cleanly(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    for raw in [b"{not json".to_vec(), b"[1,2,3]".to_vec(), vec![0xff, 0xfe, 0x00]] {
        let r = app.post_webhook_raw("orders/create", SHOP, "wh-m", raw.clone(), &sign(&raw)).await;
        assert_eq!(r.status(), 400);
    }
    let big = format!("{{\"id\": 1, \"note\": \"{}\"}}", "x".repeat(1024 * 1024 + 10)).into_bytes();
    // The app answers 413 as soon as it sees the length; the client may still be writing and see
    // the connection close instead. Either way nothing is stored (checked below).
    // Its own client: the connection is closed after the 413 and must not be reused.
    let r = reqwest::Client::new().post(app.url("/webhooks/shopify")).header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Shop-Domain", SHOP).header("X-Shopify-Webhook-Id", "wh-big")
        .header("X-Shopify-Hmac-Sha256", sign(&big)).body(big).send().await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // Missing headers and invalid shop domains.
    let body = serde_json::to_vec(&order_payload(1, COD, None)).unwrap();
    let r = app.post_webhook_raw("orders/create", "evil.com", "wh-x", body.clone(), &sign(&body)).await;
    assert_eq!(r.status(), 400);
    let r = app.client.post(app.url("/webhooks/shopify")).header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Shop-Domain", SHOP).header("X-Shopify-Hmac-Sha256", sign(&body)).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 400, "no webhook id");
    // An unknown topic is acknowledged and ignored.
    let r = app.post_webhook_raw("products/update", SHOP, "wh-p", body.clone(), &sign(&body)).await;
    assert_eq!(r.status(), 200);
    // Lower-case `shopify-*` headers of event deliveries are accepted.
    let r = app.client.post(app.url("/webhooks/shopify")).header("shopify-topic", "orders/create")
        .header("shopify-shop-domain", SHOP).header("shopify-webhook-id", "wh-lower").header("shopify-hmac-sha256", sign(&body))
        .body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks").await, 1);
    assert_eq!(app.text("SELECT webhook_id FROM webhooks").await.as_deref(), Some("wh-lower"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn uninstall_is_idempotent_and_stops_work(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"first_call": "after", "first_call_delay_minutes": 1440})).await;
    assert_eq!(app.post_webhook("orders/create", SHOP, "wh-o", &order_payload(5, COD, Some("9876543210"))).await.status(), 200);
    app.wait_for_jobs().await;
    // A job scheduled for later (as the IVR's retries will be) is dropped by the uninstall.
    let shop_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    let order_id = app.text("SELECT id FROM orders").await.unwrap();
    let mut tx = app.state.db.begin().await.unwrap();
    let job = codverify::db::queue::Job::StartVerification { order_id: order_id.clone() };
    tx.schedule(&job, &shop_id, Some(&order_id), app.state.clock.now_ms() + 3_600_000, app.state.clock.now_ms()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.jobs().await.scheduled, 1);

    app.advance(1).await;
    for id in ["un-1", "un-2"] {
        assert_eq!(app.post_webhook("app/uninstalled", SHOP, id, &json!({"id": 1, "domain": SHOP})).await.status(), 200);
    }
    app.wait_for_jobs().await;
    assert_eq!(app.text(&format!("SELECT status FROM shops WHERE domain = '{SHOP}'")).await.as_deref(), Some("uninstalled"));
    assert_eq!(app.count("SELECT COUNT(*) FROM shops WHERE access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL").await, 0);
    assert_eq!(app.jobs().await.scheduled, 0);
    // After the uninstall, new orders are not taken, and an uninstall for an unknown shop is fine.
    assert_eq!(app.post_webhook("orders/create", SHOP, "wh-o2", &order_payload(6, COD, Some("9876543210"))).await.status(), 200);
    assert_eq!(app.post_webhook("app/uninstalled", "ghost.myshopify.com", "un-3", &json!({"id": 2})).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn order_cancelled_stops_verification(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let order = order_payload(11, COD, Some("9876543210"));
    assert_eq!(app.post_webhook("orders/create", SHOP, "c-1", &order).await.status(), 200);
    app.wait_for_jobs().await;
    let mut cancelled = order.clone();
    cancelled["cancelled_at"] = json!("2026-11-22T11:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-2", &cancelled).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.text("SELECT status FROM orders WHERE shopify_order_id = 11").await.as_deref(), Some("cancelled"));
    assert_eq!(app.text("SELECT status_reason FROM orders WHERE shopify_order_id = 11").await.as_deref(), Some("cancelled in Shopify"));

    // Cancelled before the create arrived: the late create starts nothing.
    let mut early = order_payload(12, COD, Some("9876543210"));
    early["cancelled_at"] = json!("2026-11-22T11:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-3", &early).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.post_webhook("orders/create", SHOP, "c-4", &order_payload(12, COD, Some("9876543210"))).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.text("SELECT status FROM orders WHERE shopify_order_id = 12").await.as_deref(), Some("cancelled"));
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'verification_started'").await, 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn compliance_topics(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured("other.myshopify.com", "cod").await;
    for (i, shop) in [(21, SHOP), (22, SHOP), (23, "other.myshopify.com")] {
        let mut o = order_payload(i, COD, Some("9876543210"));
        if i == 22 {
            o["customer"]["id"] = json!(9999);
            o["email"] = json!("ravi@example.com");
            o["customer"]["email"] = json!("ravi@example.com");
            o["shipping_address"]["phone"] = json!("9812345678");
        }
        assert_eq!(app.post_webhook("orders/create", shop, &format!("o-{i}"), &o).await.status(), 200);
    }
    // Calls placed too: the redaction below is checked against a quiet timeline.
    app.settle().await;

    // customers/data_request: recorded, with what the app holds about the customer.
    let req = json!({"shop_id": 1, "shop_domain": SHOP, "orders_requested": [21],
        "customer": {"id": 7001, "email": "asha@example.com", "phone": "+919876543210"}, "data_request": {"id": 555}});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &req).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests WHERE shopify_request_id = 555").await, 1);
    let report = app.sealed_text("SELECT report_enc FROM data_requests").await.unwrap();
    assert!(report.contains("+919876543210") && report.contains("#1021") && !report.contains("#1022"), "{report}");
    // With the calls made about the order (one placed at once in calling hours).
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["orders"][0]["calls"][0]["attempt"], 1, "{report}");

    // customers/redact: that customer's personal data is gone from this shop only.
    let redact = json!({"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 7001, "email": "asha@example.com", "phone": "+919876543210"},
        "orders_to_redact": [21]});
    assert_eq!(app.post_webhook("customers/redact", SHOP, "cr-1", &redact).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE shopify_order_id = 21 AND phone_enc IS NULL AND phone_hash IS NULL AND customer_name IS NULL AND customer_email IS NULL").await, 1);
    assert_eq!(app.sealed_text("SELECT phone_enc FROM orders WHERE shopify_order_id = 22").await.as_deref(), Some("+919812345678"));
    assert_eq!(app.sealed_text("SELECT phone_enc FROM orders WHERE shopify_order_id = 23").await.as_deref(), Some("+919876543210"));
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = 21 AND e.detail <> ''").await, 0);

    // shop/redact while installed is refused; after uninstall it erases the shop.
    assert_eq!(app.post_webhook("shop/redact", SHOP, "sr-1", &json!({"shop_id": 1, "shop_domain": SHOP})).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 3);
    app.advance(1).await;
    assert_eq!(app.post_webhook("app/uninstalled", SHOP, "un-1", &json!({"id": 1})).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.post_webhook("shop/redact", SHOP, "sr-2", &json!({"shop_id": 1, "shop_domain": SHOP})).await.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM shops WHERE domain = '{SHOP}'")).await, 0);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM webhooks WHERE shop_domain = '{SHOP}'")).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM orders").await, 1, "the other shop keeps its order");
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests").await, 0);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(
    bad_hmac_is_401_and_stores_nothing,
    same_webhook_twice_is_one_order_one_job,
    concurrent_duplicates_are_one_delivery,
    malformed_and_oversized_rejected_cleanly,
    uninstall_is_idempotent_and_stops_work,
    order_cancelled_stops_verification,
    compliance_topics,
);
