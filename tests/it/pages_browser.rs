//! The embedded admin's settings pages in a real browser: `tests/browser/admin_pages.mjs` (Chromium
//! via playwright-core) opens each at desktop size with a session token, checks it with axe-core,
//! saves an invalid then a valid IVR value (and Targeting rules, Prices), switches the fallback mode, checks the admin's save bar,
//! toast and framed layout (App Bridge stubbed), and leaves screenshots in
//! `target/browser/pages/` for review. Needs `/usr/bin/chromium` and `npm ci --prefix tests/browser`;
//! without them the test is skipped, unless `REQUIRE_BROWSER=1` (CI sets it), when it fails.
//!
//! SQLite only, like `browser.rs`: the pages' data paths are tested on both databases in `pages.rs`
//! and `settings_api.rs`.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_in_a_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !crate::browser::browser_available(&dir) {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    let r = app.put_settings(SHOP, json!({"contact": {"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"},
        "ivr": {"exophone": "08047112345", "flow_id": "123456", "retries": 2, "retry_interval_minutes": 30, "timezone": "Asia/Kolkata",
            "window_start": "09:00", "window_end": "21:00", "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled",
            "callback_tag": "cod_callback"}})).await;
    assert_eq!(r.status(), 200);
    // A data request, so that its page has a row (and a report to download).
    let req = json!({"shop_id": 1, "shop_domain": SHOP, "orders_requested": [], "data_request": {"id": 9},
        "customer": {"id": 7001, "email": "asha@example.com", "phone": "+919876543210"}});
    assert_eq!(app.post_webhook("customers/data_request", SHOP, "dr-1", &req).await.status(), 200);
    app.settle().await;
    let query = crate::browser::admin_query(&app, SHOP);
    let origin = app.url("");

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser/pages");
    let args = [origin.trim_end_matches('/').as_ref(), query.as_ref(), shots.as_os_str()];
    crate::browser::run_script("admin_pages.mjs", &args, Duration::from_secs(180)).await;
    for shot in ["app-info", "contact", "settings", "otp", "ivr", "ivr-error", "ivr-saved", "fallback", "fallback-missed-call", "plan", "plan-saved", "whatsapp", "rules", "rules-saved", "ivr-phone", "ivr-embedded", "data-requests"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png not saved in {}", shots.display());
    }

    // What the browser saved last is what the API has: retries 2 (saved with App Bridge's toast),
    // never the rejected 9 nor the discarded 4.
    let doc: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    assert_eq!(doc["ivr"]["retries"], 2);
    assert_eq!(doc["privacy"]["retention_days"], 90);
    assert_eq!(app.count("SELECT COUNT(*) FROM data_requests WHERE opened_at IS NOT NULL").await, 1, "the download was recorded");
    app.stop().await;
}
