//! The review queue in a real browser: `tests/browser/review.mjs` (Chromium via playwright-core)
//! opens `/app/review` with a session token, checks it with axe-core, confirms the callback order
//! and cancels the unanswered one through the page's buttons, with the agent's name typed once and
//! remembered. Screenshots go to `target/browser/review/`. Skipped without Chromium and the npm
//! packages unless `REQUIRE_BROWSER=1`, like `browser.rs`. SQLite only: the queue's queries are
//! tested on both databases in `review.rs`; here the question is what the browser shows and does.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::{Backend, TestApp, order_payload};
use crate::reports::press;

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
/// Ends `no_response` (its only call unanswered), then B asks for a callback.
const SILENT: i64 = 21;
const CALLBACK: i64 = 22;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_queue_in_a_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !crate::browser::browser_available(&dir) {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"retries": 0, "retry_interval_minutes": 0, "cancel_order": true})).await;
    for id in [SILENT, CALLBACK] {
        let r = app.post_webhook("orders/create", SHOP, &format!("w-{id}"), &order_payload(id, COD, Some("9876543210"))).await;
        assert_eq!(r.status(), 200);
        app.settle().await;
        if id == SILENT {
            app.last_call_unanswered(SHOP).await;
            app.advance(60).await;
        }
    }
    press(&app, SHOP, CALLBACK, "3").await;
    app.settle().await;

    let query = crate::browser::admin_query(&app, SHOP);
    let origin = app.url("");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser/review");
    let (callback, silent) = (CALLBACK.to_string(), SILENT.to_string());
    let args = [origin.trim_end_matches('/').as_ref(), query.as_ref(), shots.as_os_str(), callback.as_ref(), silent.as_ref()];
    crate::browser::run_script("review.mjs", &args, Duration::from_secs(180)).await;

    // What the clicks did, as stored.
    app.settle().await;
    let q = |id: i64, c: &str| format!("SELECT {c} FROM orders WHERE shopify_order_id = {id}");
    assert_eq!(app.text(&q(CALLBACK, "status")).await.as_deref(), Some("confirmed"));
    assert_eq!(app.text(&q(SILENT, "status")).await.as_deref(), Some("cancelled"));
    for id in [CALLBACK, SILENT] {
        assert_eq!(app.text(&q(id, "resolved_by")).await.as_deref(), Some("Priya S"));
    }
    let cancels = app.shopify.graphql_requests().iter().filter(|(_, b)| b["query"].as_str().unwrap_or("").contains("orderCancel")).count();
    assert_eq!(cancels, 1, "the unanswered order cancelled in Shopify");
    for shot in ["review", "review-empty"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png not saved in {}", shots.display());
    }
    app.stop().await;
}
