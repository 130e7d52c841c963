//! OTP verification, black-box: the OTP SMS at intake, the extensions' API (status, verify, resend)
//! with its tokens, limits, expiry, CORS and concurrency.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{API_KEY, API_SECRET, Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";

async fn setup(app: &TestApp, shop: &str, otp: Value) {
    app.install_configured(shop, "cod").await;
    let mut section = json!({"sender_id": "ACMEOT", "dlt_entity_id": "1101234567890", "dlt_template_id": "1107000000000009",
        "encoding": "plain", "template": "%otp% is your OTP for order %ordernumber%", "resends": 2, "resend_after_seconds": 30,
        "incorrect_attempts": 3, "tag": "otp_verified"});
    for (k, v) in otp.as_object().unwrap() {
        section[k] = v.clone();
    }
    let r = app.put_settings(shop, json!({"general": {"method": "otp"}, "otp": section})).await;
    assert_eq!(r.status(), 200, "otp settings: {}", r.text().await.unwrap());
}

async fn order(app: &TestApp, shop: &str, id: i64) {
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &order_payload(id, COD, Some("9876543210"))).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

/// The checkout extension's session token for a shop.
fn token(app: &TestApp, shop: &str) -> String {
    let now = app.now_secs();
    app.session_token_with(json!({"dest": shop, "aud": API_KEY, "exp": now + 300, "nbf": now - 5, "iat": now - 5, "jti": "x"}), API_SECRET)
}

/// The code in the n-th SMS.
fn code(app: &TestApp, n: usize) -> String {
    let body = app.exotel.sms()[n].field("Body").unwrap().to_string();
    body.split_whitespace().next().unwrap().to_string()
}

async fn status(app: &TestApp, tok: &str, id: &str) -> (u16, Value) {
    let r = app.client.get(app.url("/api/otp/status")).query(&[("order_id", id)]).bearer_auth(tok).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn call(app: &TestApp, path: &str, tok: &str, body: Value) -> (u16, Value) {
    let r = app.client.post(app.url(path)).bearer_auth(tok).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn verify(app: &TestApp, tok: &str, id: i64, otp: &str) -> Value {
    let (code, v) = call(app, "/api/otp/verify", tok, json!({"order_id": id.to_string(), "otp": otp})).await;
    assert_eq!(code, 200, "{v}");
    v
}

async fn resend(app: &TestApp, tok: &str, id: i64) -> Value {
    let (code, v) = call(app, "/api/otp/resend", tok, json!({"order_id": id})).await;
    assert_eq!(code, 200, "{v}");
    v
}

async fn order_status(app: &TestApp, id: i64) -> String {
    app.text(&format!("SELECT status FROM orders WHERE shopify_order_id = {id}")).await.unwrap()
}

async fn otp_sms_then_verify(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({})).await;
    order(&app, SHOP, 1).await;
    assert!(app.exotel.calls().is_empty(), "no IVR call for an OTP shop");
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 1);
    let m = &sms[0];
    assert_eq!(m.field("From"), Some("ACMEOT"));
    assert_eq!(m.field("To"), Some("+919876543210"));
    assert_eq!(m.field("DltEntityId"), Some("1101234567890"));
    assert_eq!(m.field("DltTemplateId"), Some("1107000000000009"));
    let otp = code(&app, 0);
    assert_eq!(otp.len(), 6);
    assert_eq!(m.field("Body").unwrap(), format!("{otp} is your OTP for order 1001"));
    // The code is nowhere in the database.
    assert_eq!(app.text("SELECT body FROM sms_messages").await.as_deref(), Some("****** is your OTP for order 1001"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sms_messages WHERE body_enc IS NOT NULL").await, 0);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM otps WHERE code_hash LIKE '%{otp}%'")).await, 0);

    let tok = token(&app, SHOP);
    let (c, v) = status(&app, &tok, "1").await;
    assert_eq!(c, 200);
    assert_eq!((v["state"].as_str(), v["attempts_left"].as_i64(), v["resends_left"].as_i64()), (Some("pending"), Some(3), Some(2)));
    assert_eq!((v["resend_in_seconds"].as_i64(), v["expires_in_seconds"].as_i64()), (Some(30), Some(900)));
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    let v = verify(&app, &tok, 1, wrong).await;
    assert_eq!((v["result"].as_str(), v["attempts_left"].as_i64()), (Some("incorrect"), Some(2)));
    let v = verify(&app, &tok, 1, &otp).await;
    assert_eq!((v["result"].as_str(), v["state"].as_str()), (Some("verified"), Some("verified")));
    let v = verify(&app, &tok, 1, &otp).await;
    assert_eq!(v["result"], "verified", "a repeat is harmless");
    app.settle().await;
    assert_eq!(order_status(&app, 1).await, "confirmed");
    assert_eq!(app.tags_added(), vec!["otp_verified"]);
    // The GID form of the id works too.
    let (c, v) = status(&app, &tok, "gid://shopify/OrderIdentity/1").await;
    assert_eq!((c, v["state"].as_str()), (200, Some("verified")));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn wrong_otps_lock_the_order(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"incorrect_attempts": 2})).await;
    order(&app, SHOP, 2).await;
    let (tok, otp) = (token(&app, SHOP), code(&app, 0));
    let wrong = if otp == "000000" { "111111" } else { "000000" };
    assert_eq!(verify(&app, &tok, 2, wrong).await["result"], "incorrect");
    let v = verify(&app, &tok, 2, wrong).await;
    assert_eq!((v["result"].as_str(), v["state"].as_str(), v["attempts_left"].as_i64()), (Some("locked"), Some("locked"), Some(0)));
    assert_eq!(verify(&app, &tok, 2, &otp).await["result"], "locked", "the right OTP is refused once locked");
    assert_eq!(resend(&app, &tok, 2).await["result"], "locked");
    app.settle().await;
    // Any checkout token of the shop reaches any of its orders, so the lock must not end the
    // order: it stays pending (for the shop to confirm another way), tagged once.
    assert_eq!(order_status(&app, 2).await, "pending", "wrong codes cannot end an order");
    assert_eq!(app.tags_added(), vec!["incorrect_otp_limit_reached"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'incorrect_otp_limit_reached'").await, 1);
    let (_, v) = status(&app, &tok, "2").await;
    assert_eq!((v["state"].as_str(), v["attempts_left"].as_i64()), (Some("locked"), Some(0)));
    assert!(v["message"].as_str().unwrap().contains("still placed"), "{v}");
    assert_eq!(verify(&app, &tok, 2, wrong).await["result"], "locked", "nothing more is spent or tagged");
    assert_eq!(verify(&app, &tok, 2, &otp).await["result"], "locked");
    app.settle().await;
    assert_eq!(app.tags_added(), vec!["incorrect_otp_limit_reached"]);
    assert_eq!(app.count("SELECT wrong_count FROM otps").await, 2);
    assert_eq!(order_status(&app, 2).await, "pending");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn resends_wait_and_replace_the_code(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"resends": 1})).await;
    order(&app, SHOP, 3).await;
    let (tok, first) = (token(&app, SHOP), code(&app, 0));
    let v = resend(&app, &tok, 3).await;
    assert_eq!((v["result"].as_str(), v["resend_in_seconds"].as_i64()), (Some("too_soon"), Some(30)));
    app.advance(30).await;
    let v = resend(&app, &tok, 3).await;
    assert_eq!((v["result"].as_str(), v["resends_left"].as_i64()), (Some("resent"), Some(0)));
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 2);
    let second = code(&app, 1);
    app.advance(30).await;
    assert_eq!(resend(&app, &tok, 3).await["result"], "no_resends_left");
    app.advance(30).await;
    assert_eq!(resend(&app, &tok, 3).await["result"], "no_resends_left", "resends stay capped per order");
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 2);
    assert_eq!(order_status(&app, 3).await, "pending", "spent resends do not end the order");
    if first != second {
        assert_eq!(verify(&app, &tok, 3, &first).await["result"], "incorrect", "the old code is dead");
    }
    assert_eq!(verify(&app, &tok, 3, &second).await["result"], "verified");
    app.settle().await;
    assert_eq!(app.tags_added(), vec!["resend_otp_limit_reached", "otp_verified"]);
    app.stop().await;
}

async fn otps_expire(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({})).await;
    order(&app, SHOP, 4).await;
    let otp = code(&app, 0);
    app.advance(15 * 60).await;
    // Extension tokens live 5 minutes: the page fetches a fresh one for each call.
    assert_eq!(status(&app, &token(&app, SHOP), "4").await.1["state"], "pending", "valid through its 15th minute");
    app.advance(1).await;
    let tok = token(&app, SHOP);
    let (_, v) = status(&app, &tok, "4").await;
    assert_eq!(v["state"], "expired");
    assert!(v["message"].as_str().unwrap().contains("expired"));
    assert_eq!(verify(&app, &tok, 4, &otp).await["result"], "expired");
    // A new code after expiry works.
    assert_eq!(resend(&app, &tok, 4).await["result"], "resent");
    app.settle().await;
    assert_eq!(verify(&app, &tok, 4, &code(&app, 1)).await["result"], "verified");
    app.stop().await;
}

async fn tokens_and_cors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({})).await;
    setup(&app, "other.myshopify.com", json!({})).await;
    order(&app, SHOP, 5).await;
    let now = app.now_secs();
    let forged = app.session_token_with(json!({"dest": SHOP, "aud": API_KEY, "exp": now + 300}), "not-the-secret");
    let expired = app.session_token_with(json!({"dest": SHOP, "aud": API_KEY, "exp": now - 60}), API_SECRET);
    let other_app = app.session_token_with(json!({"dest": SHOP, "aud": "another-app", "exp": now + 300}), API_SECRET);
    for tok in [forged, expired, other_app, String::new()] {
        assert_eq!(status(&app, &tok, "5").await.0, 401);
    }
    // Another shop's token does not reach this shop's order.
    assert_eq!(status(&app, &token(&app, "other.myshopify.com"), "5").await.0, 404);
    assert_eq!(call(&app, "/api/otp/verify", &token(&app, "other.myshopify.com"), json!({"order_id": "5", "otp": "123456"})).await.0, 404);
    let (c, _) = call(&app, "/api/otp/verify", &token(&app, SHOP), json!({"otp": "123456"})).await;
    assert_eq!(c, 400);
    assert_eq!(app.count("SELECT wrong_count FROM otps").await, 0, "refused requests spend nothing");
    // CORS preflight from the checkout.
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/otp/verify"))
        .header("Origin", "https://extensions.shopifycdn.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    app.stop().await;
}

async fn concurrent_wrong_guesses_spend_no_more_than_allowed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"incorrect_attempts": 5})).await;
    order(&app, SHOP, 6).await;
    let (tok, otp) = (token(&app, SHOP), code(&app, 0));
    let guesses: Vec<String> = (0..50).map(|i| format!("{:06}", i)).filter(|g| *g != otp).take(50).collect();
    let mut tasks = Vec::new();
    for g in guesses {
        let (client, url, tok) = (app.client.clone(), app.url("/api/otp/verify"), tok.clone());
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).bearer_auth(tok).json(&json!({"order_id": "6", "otp": g})).send().await.unwrap();
            r.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(app.count("SELECT wrong_count FROM otps").await, 5, "exactly the allowed attempts were spent");
    assert_eq!(app.count("SELECT COUNT(*) FROM order_events WHERE kind = 'otp_incorrect'").await, 5);
    assert_eq!(verify(&app, &tok, 6, &otp).await["result"], "locked");
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.stop().await;
}

/// Any checkout token of the shop can name any of its orders: a stranger spending an order's
/// resends and wrong codes leaves it pending (tagged once each), with its SMS capped.
async fn a_stranger_cannot_end_an_order(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    setup(&app, SHOP, json!({"incorrect_attempts": 5, "resends": 2})).await;
    order(&app, SHOP, 7).await;
    order(&app, SHOP, 8).await;
    let stranger = token(&app, SHOP);
    for _ in 0..4 {
        app.advance(30).await;
        resend(&app, &stranger, 7).await;
    }
    let codes: Vec<String> = (0..app.exotel.sms().len()).map(|n| code(&app, n)).collect();
    for g in (0..20).map(|i| format!("{:06}", 123_456 + i)).filter(|g| !codes.contains(g)).take(8) {
        verify(&app, &stranger, 7, &g).await;
    }
    app.settle().await;
    assert_eq!(app.exotel.sms().len(), 2 + 2, "one OTP per order and two resends, however many asked");
    assert_eq!(order_status(&app, 7).await, "pending");
    assert_eq!(app.count("SELECT wrong_count FROM otps o JOIN orders r ON r.id = o.order_id WHERE r.shopify_order_id = 7").await, 5);
    let mut tags = app.tags_added();
    tags.sort();
    assert_eq!(tags, vec!["incorrect_otp_limit_reached", "resend_otp_limit_reached"]);
    let (_, v) = status(&app, &stranger, "7").await;
    assert_eq!((v["state"].as_str(), v["attempts_left"].as_i64(), v["resends_left"].as_i64()), (Some("locked"), Some(0), Some(0)));
    // The other order is untouched, and the counts still see both as pending.
    assert_eq!(status(&app, &stranger, "8").await.1["state"], "pending");
    assert_eq!(app.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await, 2);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(
    a_stranger_cannot_end_an_order,
    otp_sms_then_verify,
    wrong_otps_lock_the_order,
    resends_wait_and_replace_the_code,
    otps_expire,
    tokens_and_cors,
    concurrent_wrong_guesses_spend_no_more_than_allowed,
);
