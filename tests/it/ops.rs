//! Operator endpoints: health, the test clock, graceful shutdown.

use crate::both_dbs;
use crate::common::{Backend, TestApp};

async fn health_and_clock(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let index = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("Shopify app") && !index.contains("Demo mode"));
    let t0 = app.state.clock.now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(app.state.clock.now_ms(), t0, "the test clock stands still");
    let r = app.client.post(app.url("/_test/clock/advance?seconds=90")).send().await.unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["now_ms"], t0 + 90_000);
    for bad in ["-5", "abc", ""] {
        let r = app.client.post(app.url(&format!("/_test/clock/advance?seconds={bad}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    assert_eq!(app.state.clock.now_ms(), t0 + 90_000);
    app.stop().await;
}

async fn clock_route_is_404_without_test_clock(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("TEST_CLOCK", "0")]).await else { return };
    let r = app.client.post(app.url("/_test/clock/advance?seconds=10")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = app.client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Not Found"));
    app.stop().await;
}

/// Without Shopify credentials the app starts in demo mode, says so, and takes no real Shopify
/// traffic: only deliveries signed by its own demo app, and no installs.
/// SQLite only: the demo refuses PostgreSQL (SPEC §11; `startup.rs` checks the refusal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_without_credentials() {
    let unset = [("SHOPIFY_API_KEY", ""), ("SHOPIFY_API_SECRET", ""), ("APP_ENCRYPTION_KEY", "")];
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, &unset).await else { return };
    let index = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains("Demo mode"));
    let r = app.post_webhook("orders/create", "acme.myshopify.com", "d-1", &serde_json::json!({"id": 1})).await;
    assert_eq!(r.status(), 401, "signed with another app's secret");
    let r = app.client.get(app.url("/auth?shop=acme.myshopify.com")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhooks").await, 0);
    app.stop().await;
}

both_dbs!(health_and_clock, clock_route_is_404_without_test_clock);

/// `RUN_MODE=web` takes webhooks but runs no jobs; a `worker` process on the same database runs them.
async fn web_and_worker_processes_split_the_work(backend: Backend) {
    let Some(web) = TestApp::spawn_with(backend, &[("RUN_MODE", "web")]).await else { return };
    web.install_configured("acme.myshopify.com", "cod").await;
    let order = crate::common::order_payload(1, "Cash on Delivery (COD)", Some("9876543210"));
    assert_eq!(web.post_webhook("orders/create", "acme.myshopify.com", "w-1", &order).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(web.jobs().await.queued, 1, "a web process runs no jobs");
    assert_eq!(web.count("SELECT COUNT(*) FROM orders").await, 0);

    let url = web.state.config.database_url.clone();
    let worker = TestApp::spawn_with(backend, &[("RUN_MODE", "worker"), ("DATABASE_URL", url.as_str())]).await.unwrap();
    worker.assert_no_jobs_left().await;
    assert_eq!(worker.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await, 1);
    worker.stop().await;
    web.stop().await;
}

both_dbs!(web_and_worker_processes_split_the_work);

/// A job scheduled for later runs when the app clock reaches its time, not before, and once.
async fn timers_follow_the_app_clock(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    // The order's first call waits a day, so the only timer is the test's own.
    app.install_with_ivr("acme.myshopify.com", "cod", serde_json::json!({"first_call": "after", "first_call_delay_minutes": 1440})).await;
    let order = crate::common::order_payload(1, "Cash on Delivery (COD)", Some("9876543210"));
    app.post_webhook("orders/create", "acme.myshopify.com", "t-1", &order).await;
    app.wait_for_jobs().await;
    let shop_id = app.text("SELECT id FROM shops").await.unwrap();
    let order_id = app.text("SELECT id FROM orders").await.unwrap();
    let started = "SELECT COUNT(*) FROM order_events WHERE kind = 'verification_started'";
    let remove = format!("DELETE FROM order_events WHERE order_id = '{order_id}' AND kind = 'verification_started'");
    codverify::on_db!(&app.state.db, c => sqlx::query(sqlx::AssertSqlSafe(remove)).execute(c).await.map(|_| ())).unwrap();

    let now = app.state.clock.now_ms();
    let mut tx = app.state.db.begin().await.unwrap();
    let job = codverify::db::queue::Job::StartVerification { order_id: order_id.clone() };
    tx.schedule(&job, &shop_id, Some(&order_id), now + 600_000, now).await.unwrap();
    tx.commit().await.unwrap();

    app.advance(599).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(app.jobs().await.scheduled, 1, "not due yet on the app clock");
    assert_eq!(app.count(started).await, 0);

    app.advance(1).await;
    for _ in 0..100 {
        if app.jobs().await.scheduled == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.assert_no_jobs_left().await;
    assert_eq!(app.count(started).await, 1);
    app.stop().await;
}

both_dbs!(timers_follow_the_app_clock);
