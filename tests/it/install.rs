//! Installing: the authorization-code grant, token exchange, expiring tokens and their refresh.

use codverify::crypto::hmac_sha256;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::both_dbs;
use crate::common::{API_KEY, API_SECRET, Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";

/// Starts an install; returns (state, cookie header).
async fn begin(app: &TestApp, shop: &str) -> (String, String) {
    let r = app.client.get(app.url(&format!("/auth?shop={shop}"))).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("https://{shop}/admin/oauth/authorize?")), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], API_KEY);
    assert_eq!(q["scope"], codverify::config::DEFAULT_SCOPES);
    assert_eq!(q["redirect_uri"], "https://codverify.test/auth/callback");
    assert_eq!(q["grant_options[]"], "");
    let state = q["state"].clone();
    assert!(state.len() >= 43, "32 random bytes");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly"));
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    (state, cookie)
}

fn signed_query(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<_> = pairs.to_vec();
    sorted.sort();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
    let msg = sorted.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let hmac = hex::encode(hmac_sha256(API_SECRET.as_bytes(), msg.as_bytes()));
    format!("{msg}&hmac={hmac}")
}

fn callback_pairs(app: &TestApp, shop: &str, state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("code", "good-code".to_string()),
        ("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ".to_string()),
        ("shop", shop.to_string()),
        ("state", state.to_string()),
        ("timestamp", app.now_secs().to_string()),
    ]
}

async fn callback(app: &TestApp, query: &str, cookie: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/auth/callback?{query}"))).header("Cookie", cookie).send().await.unwrap()
}

async fn stored_access_token(app: &TestApp, shop: &str) -> Option<String> {
    let enc = app.text(&format!("SELECT access_token_enc FROM shops WHERE domain = '{shop}'")).await?;
    assert!(!enc.contains("shpat_"), "tokens are encrypted at rest");
    Some(app.state.cipher.decrypt(&enc).unwrap().expose_secret().to_string())
}

async fn authorization_code_install(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (state, cookie) = begin(&app, SHOP).await;
    let r = callback(&app, &signed_query(&callback_pairs(&app, SHOP, &state)), &cookie).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], format!("https://admin.shopify.com/store/acme/apps/{API_KEY}"));
    let reqs = app.shopify.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["code"], "good-code");
    assert_eq!(reqs[0]["expiring"], "1");
    assert_eq!(reqs[0]["client_id"], API_KEY);
    assert_eq!(stored_access_token(&app, SHOP).await.as_deref(), Some("shpat_1"));
    assert_eq!(app.text(&format!("SELECT status FROM shops WHERE domain = '{SHOP}'")).await.as_deref(), Some("installed"));

    // The same callback again (a replay) is refused and asks Shopify for nothing.
    let again = callback(&app, &signed_query(&callback_pairs(&app, SHOP, &state)), &cookie).await;
    assert_eq!(again.status(), 400);
    assert_eq!(app.shopify.token_requests().len(), 1);
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn bad_callbacks_request_no_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let (state, cookie) = begin(&app, SHOP).await;

    // Bad hmac.
    let good = signed_query(&callback_pairs(&app, SHOP, &state));
    let forged = good.replace("code=good-code", "code=other-code");
    assert_eq!(callback(&app, &forged, &cookie).await.status(), 400);
    let no_hmac = good.split("&hmac=").next().unwrap().to_string();
    assert_eq!(callback(&app, &no_hmac, &cookie).await.status(), 400);

    // Stale timestamp: 91 s old, and 91 s in the future.
    for skew in [-91i64, 91] {
        let mut pairs = callback_pairs(&app, SHOP, &state);
        pairs[4].1 = (app.now_secs() + skew).to_string();
        let r = callback(&app, &signed_query(&pairs), &cookie).await;
        assert_eq!(r.status(), 400, "skew {skew}");
        assert!(r.text().await.unwrap().contains("expired"));
    }

    // State mismatch: another state, no cookie, a cookie from another install.
    let wrong_state = callback(&app, &signed_query(&callback_pairs(&app, SHOP, "forged-state")), &cookie).await;
    assert_eq!(wrong_state.status(), 400);
    assert_eq!(callback(&app, &good, "").await.status(), 400);
    let (_, other_cookie) = begin(&app, SHOP).await;
    assert_eq!(callback(&app, &good, &other_cookie).await.status(), 400);
    let unsigned_cookie = format!("codverify_oauth_state={state}");
    assert_eq!(callback(&app, &good, &unsigned_cookie).await.status(), 400);

    // Invalid shop domains: at /auth, and in a correctly signed callback.
    for bad in ["evil.com", "acme.myshopify.com.evil.com", "", "acme%2Fadmin.myshopify.com"] {
        let r = app.client.get(app.url(&format!("/auth?shop={bad}"))).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = callback(&app, &signed_query(&callback_pairs(&app, "evil.com", &state)), &cookie).await;
    assert_eq!(r.status(), 400);
    // The state is bound to the shop it was issued for.
    let r = callback(&app, &signed_query(&callback_pairs(&app, "other.myshopify.com", &state)), &cookie).await;
    assert_eq!(r.status(), 400);

    assert!(app.shopify.token_requests().is_empty(), "no token request for any bad callback");
    assert_eq!(app.count("SELECT COUNT(*) FROM shops").await, 0);

    // The untouched, correct callback still works afterwards.
    assert_eq!(callback(&app, &good, &cookie).await.status(), 303);
    assert_eq!(app.shopify.token_requests().len(), 1);
    app.stop().await;
}

async fn token_exchange_install(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let id_token = app.session_token(SHOP);
    let r = app
        .client
        .get(app.url(&format!("/app?embedded=1&shop={SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ&id_token={id_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-security-policy"], format!("frame-ancestors https://{SHOP} https://admin.shopify.com;"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Partially installed"), "settings not saved yet");
    assert!(html.contains("app-bridge.js"));
    let reqs = app.shopify.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(reqs[0]["subject_token"], id_token.as_str());
    assert_eq!(reqs[0]["requested_token_type"], "urn:shopify:params:oauth:token-type:offline-access-token");
    assert_eq!(reqs[0]["expiring"], "1");
    assert_eq!(stored_access_token(&app, SHOP).await.as_deref(), Some("shpat_1"));

    // Later loads reuse the stored token.
    let r = app.client.get(app.url(&format!("/app?embedded=1&shop={SHOP}&id_token={}", app.session_token(SHOP)))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.shopify.token_requests().len(), 1);

    // Re-install through the authorization-code grant replaces the token.
    let (state, cookie) = begin(&app, SHOP).await;
    assert_eq!(callback(&app, &signed_query(&callback_pairs(&app, SHOP, &state)), &cookie).await.status(), 303);
    assert_eq!(stored_access_token(&app, SHOP).await.as_deref(), Some("shpat_2"));
    assert_eq!(app.count("SELECT COUNT(*) FROM shops").await, 1);
    app.stop().await;
}

async fn embedded_load_without_token_bounces(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let r = app.client.get(app.url(&format!("/app?embedded=1&shop={SHOP}&host=abc"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/auth/session-token?") && location.contains("shopify-reload="), "{location}");
    let bounce = app.client.get(app.url(&location)).send().await.unwrap();
    assert_eq!(bounce.status(), 200);
    assert_eq!(bounce.headers()["content-security-policy"], format!("frame-ancestors https://{SHOP} https://admin.shopify.com;"));
    let html = bounce.text().await.unwrap();
    assert!(html.contains("app-bridge.js") && html.contains(API_KEY));

    // Outside Shopify admin and not installed: off to the install.
    let r = app.client.get(app.url(&format!("/app?shop={SHOP}"))).send().await.unwrap();
    assert_eq!(r.headers()["location"], format!("/auth?shop={SHOP}"));
    assert!(app.shopify.token_requests().is_empty());
    app.stop().await;
}

async fn expired_token_refreshed_once_by_many(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    let shop_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    app.advance(3600).await;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let state = app.state.clone();
        let shop_id = shop_id.clone();
        tasks.push(tokio::spawn(async move {
            codverify::shopify::tokens::access_token(&state, &shop_id, None).await.map(|t| t.expose_secret().to_string())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "shpat_2");
    }
    assert_eq!(app.shopify.grant_count("refresh_token"), 1, "{:?}", app.shopify.token_requests());
    let refresh = app.shopify.token_requests().into_iter().find(|r| r["grant_type"] == "refresh_token").unwrap();
    assert_eq!(refresh["refresh_token"], "shprt_1");
    assert_eq!(stored_access_token(&app, SHOP).await.as_deref(), Some("shpat_2"));

    // Not yet near expiry: no refresh.
    app.advance(600).await;
    let t = codverify::shopify::tokens::access_token(&app.state, &shop_id, None).await.unwrap();
    assert_eq!(t.expose_secret(), "shpat_2");
    assert_eq!(app.shopify.grant_count("refresh_token"), 1);
    app.stop().await;
}

async fn uninstall_then_token_exchange_reinstalls(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    app.advance(5).await;
    let r = app.post_webhook("app/uninstalled", SHOP, "un-1", &serde_json::json!({"id": 1, "domain": SHOP})).await;
    assert_eq!(r.status(), 200);
    app.wait_for_jobs().await;
    assert_eq!(app.text(&format!("SELECT status FROM shops WHERE domain = '{SHOP}'")).await.as_deref(), Some("uninstalled"));
    assert_eq!(app.text(&format!("SELECT access_token_enc FROM shops WHERE domain = '{SHOP}'")).await, None);
    app.advance(5).await;
    app.install(SHOP).await;
    assert_eq!(stored_access_token(&app, SHOP).await.as_deref(), Some("shpat_2"));
    let v: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    assert_eq!(v["status"]["install"], "partially_installed");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// `/auth` does not sweep the whole table on each request: each one removes at most one batch of
/// expired states (by the `expires_at` index), and a live state is never touched.
async fn expired_install_states_are_removed_a_batch_at_a_time(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let batch = codverify::db::shops::OAUTH_STATE_PURGE_BATCH;
    let now = app.state.clock.now_ms();
    let expired = 2 * batch + 10;
    let rows: Vec<String> = (0..expired).map(|i| format!("('old-{i}', 'old.myshopify.com', {})", now - 1 - i)).collect();
    let sql = format!("INSERT INTO oauth_states (state_hash, shop_domain, expires_at) VALUES {}", rows.join(", "));
    codverify::on_db!(&app.state.db, c => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(c).await.map(|_| ())).unwrap();
    let stale = format!("SELECT COUNT(*) FROM oauth_states WHERE expires_at < {now}");
    let (state, cookie) = begin(&app, SHOP).await;
    assert_eq!(app.count(&stale).await, expired - batch, "one request removes one batch");
    begin(&app, "beta.myshopify.com").await;
    assert_eq!(app.count(&stale).await, expired - 2 * batch);
    begin(&app, "gamma.myshopify.com").await;
    assert_eq!(app.count(&stale).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM oauth_states").await, 3, "live states stay");
    let r = callback(&app, &signed_query(&callback_pairs(&app, SHOP, &state)), &cookie).await;
    assert_eq!(r.status(), 303, "the first install still completes");
    app.stop().await;
}

both_dbs!(
    expired_install_states_are_removed_a_batch_at_a_time,
    authorization_code_install,
    bad_callbacks_request_no_token,
    token_exchange_install,
    embedded_load_without_token_bounces,
    expired_token_refreshed_once_by_many,
    uninstall_then_token_exchange_reinstalls,
);
