//! The confirmation link page in a real browser: `tests/browser/link_page.mjs` (Chromium via
//! playwright-core) opens it at 360×640, checks it with axe-core, corrects the shipping address,
//! taps Confirm (the corrected address reaches Shopify), and leaves
//! screenshots in `target/browser/` for review. Needs `/usr/bin/chromium` and
//! `npm ci --prefix tests/browser`; without them the test is skipped, unless `REQUIRE_BROWSER=1`
//! (CI sets it), when it fails.
//!
//! SQLite only: what this test adds over `fallback.rs` is the browser's view of the page (layout,
//! touch, accessibility), which does not depend on the database; the confirm path itself is tested
//! on both databases there. One Chromium launch instead of two also keeps the suite quicker on
//! small CI machines.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{API_KEY, API_SECRET, Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether the browser and the npm packages are here: `false` with a note when the test is to be
/// skipped, a panic when `REQUIRE_BROWSER=1` and something is missing.
pub(crate) fn browser_available(dir: &Path) -> bool {
    let missing: Vec<String> = [Path::new(CHROMIUM).to_path_buf(), dir.join("node_modules/playwright-core"), dir.join("node_modules/axe-core")]
        .into_iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let what = format!("{} missing (apt-get install chromium; npm ci --prefix tests/browser)", missing.join(", "));
    if std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_BROWSER=1 but {what}");
    }
    println!("SKIPPED: browser test: {what}");
    false
}

/// Runs `tests/browser/{script}` with Node (Chromium through playwright-core) and `args`, at most
/// `limit`; prints what it said and fails the test when it failed.
pub(crate) async fn run_script(script: &str, args: &[&std::ffi::OsStr], limit: Duration) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let started = Instant::now();
    let run = tokio::process::Command::new("node").arg(dir.join(script)).args(args).kill_on_drop(true).output();
    let out = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("{script} took over {} s", limit.as_secs()))
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}node {script}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{script} failed ({}):\n{stdout}{stderr}", out.status);
}

/// The query of an embedded admin document load for `shop`, with a session token valid for the
/// whole browser run (minted right before it starts).
pub(crate) fn admin_query(app: &TestApp, shop: &str) -> String {
    let now = app.now_secs();
    let token = app.session_token_with(
        json!({"iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": API_KEY, "sub": "42",
            "exp": now + 600, "nbf": now - 5, "iat": now - 5, "jti": uuid::Uuid::new_v4().to_string(), "sid": "s1"}),
        API_SECRET,
    );
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("shop", shop)
        .append_pair("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ")
        .append_pair("embedded", "1")
        .append_pair("id_token", &token)
        .finish()
}

/// The link in the first SMS, as a path (`/v/…`).
fn link_path(app: &TestApp) -> String {
    let sms = app.exotel.sms();
    let body = sms.first().expect("the link SMS was sent").field("Body").unwrap().to_string();
    let url = body.split_whitespace().find(|w| w.starts_with("https://codverify.test/v/")).unwrap_or_else(|| panic!("no link in {body:?}"));
    url.trim_start_matches("https://codverify.test").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_page_on_a_small_phone() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !browser_available(&dir) {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    // A DND number is not called: the link SMS goes out at once.
    app.exotel.set_dnd(PHONE, true);
    app.install_with_fallback(SHOP, json!({})).await;
    let mut order = order_payload(1, COD, Some(PHONE));
    order["shipping_address"] = json!({"first_name": "Asha", "last_name": "Rao", "phone": PHONE, "address1": "12 MG Road",
        "city": "Pune", "province": "Maharashtra", "province_code": "MH", "zip": "411001", "country_code": "IN"});
    let r = app.post_webhook("orders/create", SHOP, "w-browser-1", &order).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
    assert!(app.exotel.calls().is_empty());
    let url = app.url(&link_path(&app));

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    run_script("link_page.mjs", &[url.as_ref(), shots.as_os_str()], Duration::from_secs(120)).await;
    for shot in ["link-page.png", "link-page-address.png", "link-page-confirmed.png"] {
        assert!(shots.join(shot).is_file(), "{shot} not saved in {}", shots.display());
    }

    app.settle().await;
    assert_eq!(app.text("SELECT status FROM orders WHERE shopify_order_id = 1").await.as_deref(), Some("confirmed"));
    let updates = app.shopify.operation_requests("orderUpdate");
    assert_eq!(updates.len(), 1, "the corrected address went to Shopify");
    let sent = &updates[0]["input"]["shippingAddress"];
    assert_eq!((sent["address1"].as_str(), sent["zip"].as_str(), sent["city"].as_str()), (Some("Flat 4, Lotus Apartments"), Some("411038"), Some("Pune")));
    app.stop().await;
}
