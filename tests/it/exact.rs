//! Exact with Shopify (SPEC §11): `app/uninstalled` and `orders/cancelled` take effect before their
//! 200, and every `/app` route takes the session token as a bearer token or as `id_token`.

use serde_json::json;

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const GONE: &str = "acme.myshopify.com";
const CANCELS: &str = "zeta.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";

/// Each shop has an order whose first call went unanswered and whose retry is due one second
/// after the webhooks arrive. The webhooks go to a process that runs no job (`RUN_MODE=web`): the
/// database must show their effect as soon as they are answered 200. Then a full process runs past
/// the due time, and no call goes out.
async fn uninstall_and_cancel_take_effect_before_the_200(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    for (shop, id) in [(GONE, 31), (CANCELS, 32)] {
        app.install_with_ivr(shop, "cod", json!({"retries": 2, "retry_interval_minutes": 30})).await;
        assert_eq!(app.post_webhook("orders/create", shop, &format!("create-{id}"), &order_payload(id, COD, Some("9876543210"))).await.status(), 200);
        app.settle().await;
        app.last_call_unanswered(shop).await;
    }
    assert_eq!(app.exotel.calls().len(), 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM call_attempts WHERE state = 'queued'").await, 2, "a retry queued for each order");
    app.advance(30 * 60 - 1).await;

    let web = app.restart_with(&[("RUN_MODE", "web")]).await;
    let r = web.post_webhook("app/uninstalled", GONE, "gone-1", &json!({"id": 1, "domain": GONE})).await;
    assert_eq!(r.status(), 200);
    let shop = format!("SELECT COUNT(*) FROM shops WHERE domain = '{GONE}' AND status = 'uninstalled' AND access_token_enc IS NULL AND refresh_token_enc IS NULL");
    assert_eq!(web.count(&shop).await, 1, "uninstalled, tokens deleted, before the 200");
    let queued = |shop: &str| {
        format!("SELECT COUNT(*) FROM call_attempts a JOIN shops s ON s.id = a.shop_id WHERE s.domain = '{shop}' AND a.state = 'queued'")
    };
    assert_eq!(web.count(&queued(GONE)).await, 0, "the due retry dropped before the 200");
    assert_eq!(web.count(&format!("SELECT COUNT(*) FROM timers t JOIN shops s ON s.id = t.shop_id WHERE s.domain = '{GONE}'")).await, 0);

    let mut cancelled = order_payload(32, COD, Some("9876543210"));
    cancelled["cancelled_at"] = json!("2026-11-22T11:00:00+05:30");
    assert_eq!(web.post_webhook("orders/cancelled", CANCELS, "cancel-1", &cancelled).await.status(), 200);
    assert_eq!(web.text("SELECT status FROM orders WHERE shopify_order_id = 32").await.as_deref(), Some("cancelled"));
    assert_eq!(web.count(&queued(CANCELS)).await, 0, "the due retry dropped before the 200");
    assert_eq!(web.count("SELECT COUNT(*) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.shopify_order_id = 32 AND e.kind = 'order_cancelled'").await, 1);

    // Both deliveries are done, bodies erased, no job left for them; repeats change nothing.
    assert_eq!(web.count("SELECT COUNT(*) FROM webhooks WHERE webhook_id IN ('gone-1', 'cancel-1') AND processed_at IS NOT NULL AND body_enc IS NULL").await, 2);
    assert_eq!(web.jobs().await.queued, 0, "nothing deferred to a job");
    assert_eq!(web.post_webhook("app/uninstalled", GONE, "gone-1", &json!({"id": 1, "domain": GONE})).await.status(), 200);
    assert_eq!(web.post_webhook("orders/cancelled", CANCELS, "cancel-1", &cancelled).await.status(), 200);
    assert_eq!(web.count("SELECT COUNT(*) FROM webhooks").await, 4, "two creates, one uninstall, one cancellation");
    assert_eq!(web.count("SELECT COUNT(*) FROM order_events WHERE kind = 'order_cancelled'").await, 1);

    // A cancellation of an order not taken yet still records it cancelled, so its late create starts nothing.
    let mut early = order_payload(33, COD, Some("9876543210"));
    early["cancelled_at"] = json!("2026-11-22T11:00:00+05:30");
    assert_eq!(web.post_webhook("orders/cancelled", CANCELS, "cancel-2", &early).await.status(), 200);
    assert_eq!(web.text("SELECT status FROM orders WHERE shopify_order_id = 33").await.as_deref(), Some("cancelled"));

    let app = web.restart_with(&[("RUN_MODE", "all")]).await;
    assert_eq!(app.post_webhook("orders/create", CANCELS, "create-33", &order_payload(33, COD, Some("9876543210"))).await.status(), 200);
    app.settle().await;
    app.advance(60).await;
    app.settle().await;
    app.advance(3600).await;
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 2, "no call after Shopify said the app is gone or the order is cancelled");
    assert_eq!(app.text("SELECT status FROM orders WHERE shopify_order_id = 33").await.as_deref(), Some("cancelled"));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

const SHOP: &str = "acme.myshopify.com";

/// Shopify retries a delivery it could not make for up to 48 hours: an `app/uninstalled`
/// triggered before the shop installed the app again must not uninstall the new installation,
/// however late it arrives (`X-Shopify-Triggered-At`).
async fn uninstall_triggered_before_a_reinstall_is_ignored(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let installed_at = app.count(&format!("SELECT installed_at FROM shops WHERE domain = '{SHOP}'")).await;
    app.advance(600).await;
    let uninstall = |id: &'static str, triggered_ms: i64| {
        let body = serde_json::to_vec(&json!({"id": 1, "domain": SHOP})).unwrap();
        let at = chrono::DateTime::from_timestamp_millis(triggered_ms).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        app.client
            .post(app.url("/webhooks/shopify"))
            .header("X-Shopify-Topic", "app/uninstalled")
            .header("X-Shopify-Shop-Domain", SHOP)
            .header("X-Shopify-Webhook-Id", id)
            .header("X-Shopify-Triggered-At", at)
            .header("X-Shopify-Hmac-Sha256", crate::common::sign(&body))
            .body(body)
            .send()
    };
    let installed = format!("SELECT COUNT(*) FROM shops WHERE domain = '{SHOP}' AND status = 'installed' AND access_token_enc IS NOT NULL");
    assert_eq!(uninstall("before", installed_at - 30_000).await.unwrap().status(), 200);
    assert_eq!(app.count(&installed).await, 1, "an uninstall from before the install changes nothing");
    assert!(app.text("SELECT outcome FROM webhooks WHERE webhook_id = 'before'").await.unwrap().starts_with("ignored"));
    // Control: one triggered after the install takes effect.
    assert_eq!(uninstall("after", installed_at + 1_000).await.unwrap().status(), 200);
    assert_eq!(app.count(&installed).await, 0);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// Page, CSV and JSON routes, each with the token as `Authorization: Bearer` (App Bridge's
/// authenticated `fetch`) and as `id_token` (a document load): the same answer both ways.
async fn every_app_route_takes_the_token_either_way(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    assert_eq!(app.post_webhook("orders/create", SHOP, "o-41", &order_payload(41, COD, Some("9876543210"))).await.status(), 200);
    let request = json!({"shop_id": 1, "shop_domain": SHOP, "orders_requested": [41], "customer": {"id": 7001}, "data_request": {"id": 9}});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-41", &request).await.status(), 200);
    app.settle().await;
    let request_id = app.text("SELECT id FROM data_requests").await.unwrap();
    let report = format!("/app/data-requests/{request_id}");
    let report_csv = format!("{report}?format=csv");
    let routes = [
        ("/app", "text/html"),
        ("/app/data-requests", "text/html"),
        (report.as_str(), "application/json"),
        (report_csv.as_str(), "text/csv"),
        ("/app/settings", "text/html"),
        ("/app/history/orders", "text/html"),
        ("/app/review", "text/html"),
        ("/app/orders/41", "text/html"),
        ("/app/history/calls?format=csv", "text/csv"),
        ("/app/history/orders?format=csv", "text/csv"),
        ("/app/api/settings", "application/json"),
        ("/app/api/orders/41", "application/json"),
    ];
    for (path, kind) in routes {
        let sep = if path.contains('?') { '&' } else { '?' };
        let bearer = app.client.get(app.url(path)).bearer_auth(app.session_token(SHOP)).send().await.unwrap();
        let query = app.client.get(app.url(&format!("{path}{sep}shop={SHOP}&id_token={}", app.session_token(SHOP)))).send().await.unwrap();
        let mut bodies = vec![];
        for (how, r) in [("bearer", bearer), ("id_token", query)] {
            assert_eq!(r.status(), 200, "{path} with the token as {how}");
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            assert!(ct.starts_with(kind), "{path} as {how}: {ct}");
            bodies.push(r.text().await.unwrap());
        }
        if kind != "text/html" {
            // Pages embed the token in their links; data answers are identical.
            assert_eq!(bodies[0], bodies[1], "{path}");
        }
        if path.contains("calls?format=csv") {
            assert!(bodies[0].lines().count() >= 2, "the call is in the CSV: {}", bodies[0]);
        }
        // Either way the token is checked: a forged one is refused.
        let forged = app.session_token_with(json!({"iss": format!("https://{SHOP}/admin"), "dest": format!("https://{SHOP}"),
            "aud": crate::common::API_KEY, "exp": app.now_secs() + 60, "nbf": app.now_secs() - 5}), "not-the-secret");
        let r = app.client.get(app.url(path)).bearer_auth(&forged).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} with a forged bearer token");
        let r = app.client.get(app.url(&format!("{path}{sep}id_token={forged}"))).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} with a forged id_token");
    }
    // The POST API takes it either way too.
    let r = app.client.post(app.url("/app/api/settings/rotate-exotel-key")).bearer_auth(app.session_token(SHOP)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.post(app.url(&format!("/app/api/settings/rotate-exotel-key?id_token={}", app.session_token(SHOP)))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(
    uninstall_and_cancel_take_effect_before_the_200,
    uninstall_triggered_before_a_reinstall_is_ignored,
    every_app_route_takes_the_token_either_way,
);
