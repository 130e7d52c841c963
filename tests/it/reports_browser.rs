//! The history reports and the order timeline in a real browser: `tests/browser/reports.mjs`
//! (Chromium via playwright-core) opens the four history pages at desktop size with a session token,
//! checks each with axe-core, narrows the Order history to one order through the page's filter form,
//! downloads its CSV from the Export link, follows the order's link to its timeline and reads the
//! IVR → SMS-link fallback story there. Screenshots go to `target/browser/reports/` for review.
//! Needs `/usr/bin/chromium` and `npm ci --prefix tests/browser`; without them the test is skipped,
//! unless `REQUIRE_BROWSER=1` (CI sets it), when it fails.
//!
//! The data is made by the real flows, as in `reports.rs`: orders by webhook, calls to the fake
//! Exotel, a key press, status callbacks, the fallback SMS and its link page.
//!
//! SQLite only, like `browser.rs`: the reports' queries are tested on both databases in `reports.rs`;
//! here the question is what the browser shows and does, which does not depend on the database.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
/// Order A: confirmed by key 1 on its call. B: no answer, SMS link, confirmed on the link page.
/// C: called, nothing heard back yet (pending).
const ORDERS: [(i64, &str); 3] = [(1, "9876543201"), (2, "9876543202"), (3, "9876543203")];

async fn attempt_of(app: &TestApp, id: i64) -> String {
    app.text(&format!(
        "SELECT a.id FROM call_attempts a JOIN orders o ON o.id = a.order_id JOIN shops s ON s.id = o.shop_id \
         WHERE s.domain = '{SHOP}' AND o.shopify_order_id = {id} ORDER BY a.attempt_no LIMIT 1"
    ))
    .await
    .unwrap()
}

/// Exotel's status callback for the call placed to `phone`.
async fn call_status(app: &TestApp, phone: &str, status: &str) {
    let key = app.exotel_key(SHOP).await;
    let calls = app.exotel.calls_to(phone);
    assert_eq!(calls.len(), 1, "one call to {phone}");
    let call = &calls[0];
    let r = app
        .client
        .post(app.url(&format!("/exotel/{key}/call-status")))
        .json(&json!({"CallSid": call.sid, "Status": status, "CustomField": call.field("CustomField"),
            "Legs": [{"Status": status, "AnsweredBy": if status == "completed" { "human" } else { "NA" }}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_in_a_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !crate::browser::browser_available(&dir) {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    // IVR without retries, then an SMS with a confirmation link.
    app.install_with_fallback(SHOP, json!({})).await;
    for (id, phone) in ORDERS {
        let r = app.post_webhook("orders/create", SHOP, &format!("w-{id}"), &order_payload(id, COD, Some(phone))).await;
        assert_eq!(r.status(), 200);
    }
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 3, "one IVR call per order");
    let key = app.exotel_key(SHOP).await;

    // A: the customer presses 1, then the call ends.
    let attempt = attempt_of(&app, ORDERS[0].0).await;
    let r = app
        .client
        .get(app.url(&format!("/exotel/{key}/ivr/input")))
        .query(&[("CustomField", attempt.as_str()), ("digits", "\"1\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    call_status(&app, ORDERS[0].1, "completed").await;

    // B: nobody answers; the fallback SMS goes out, is delivered, and the customer confirms on the link.
    call_status(&app, ORDERS[1].1, "no-answer").await;
    app.settle().await;
    let sms = app.exotel.sms_to(ORDERS[1].1);
    assert_eq!(sms.len(), 1, "one fallback SMS to B: {:?}", app.exotel.sms());
    let sms = sms[0].clone();
    app.sms_delivered_and_link_confirmed(SHOP, &sms).await;
    // C: its call is still out, nothing heard.
    let statuses = order_statuses(&app).await;
    assert_eq!(statuses, [Some("confirmed".into()), Some("confirmed".into()), Some("pending".into())]);

    let query = crate::browser::admin_query(&app, SHOP);
    let origin = app.url("");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser/reports");
    let ids: Vec<String> = ORDERS.iter().map(|(id, _)| id.to_string()).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec![origin.trim_end_matches('/').as_ref(), query.as_ref(), shots.as_os_str()];
    args.extend(ids.iter().map(|id| std::ffi::OsStr::new(id.as_str())));
    crate::browser::run_script("reports.mjs", &args, Duration::from_secs(180)).await;
    for shot in ["calls", "sms", "missed-calls", "orders", "orders-filtered", "timeline"] {
        assert!(shots.join(format!("{shot}.png")).is_file(), "{shot}.png not saved in {}", shots.display());
    }
    app.stop().await;
}

/// The verification status of A, B and C.
async fn order_statuses(app: &TestApp) -> Vec<Option<String>> {
    let mut v = Vec::new();
    for (id, _) in ORDERS {
        v.push(app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await);
    }
    v
}
