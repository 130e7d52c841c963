//! Session tokens on `/app/api/*`: only a valid, current token for an installed shop gets in.

use serde_json::json;

use crate::both_dbs;
use crate::common::{API_KEY, API_SECRET, Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";

async fn session_tokens(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    let now = app.now_secs();
    let claims = |over: serde_json::Value| {
        let mut c = json!({"iss": format!("https://{SHOP}/admin"), "dest": format!("https://{SHOP}"), "aud": API_KEY,
            "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    let valid = app.session_token_with(claims(json!({})), API_SECRET);
    let r = app.get_api("/app/api/settings", &valid).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-security-policy"], format!("frame-ancestors https://{SHOP} https://admin.shopify.com;"));

    // Within the 10 s leeway is still fine.
    let leeway = app.session_token_with(claims(json!({"exp": now - 5})), API_SECRET);
    assert_eq!(app.get_api("/app/api/settings", &leeway).await.status(), 200);

    let cases = [
        ("expired", app.session_token_with(claims(json!({"exp": now - 11})), API_SECRET)),
        ("not yet valid", app.session_token_with(claims(json!({"nbf": now + 30})), API_SECRET)),
        ("wrong audience", app.session_token_with(claims(json!({"aud": "another-app"})), API_SECRET)),
        ("wrong signature", app.session_token_with(claims(json!({})), "not-the-secret")),
        ("wrong shop (issuer differs from destination)", app.session_token_with(claims(json!({"iss": "https://evil.myshopify.com/admin"})), API_SECRET)),
        ("not a shop", app.session_token_with(claims(json!({"dest": "https://evil.com", "iss": "https://evil.com/admin"})), API_SECRET)),
        ("garbage", "abc.def.ghi".to_string()),
    ];
    for (name, token) in cases {
        let r = app.get_api("/app/api/settings", &token).await;
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(r.headers()["x-shopify-retry-invalid-session-request"], "1", "{name}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: a clear message");
    }
    let none = app.client.get(app.url("/app/api/settings")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["x-shopify-retry-invalid-session-request"], "1");

    // The token decides the shop: a valid token for another shop shows that shop, never this one.
    let other = app.session_token("other.myshopify.com");
    let body: serde_json::Value = app.get_api("/app/api/settings", &other).await.json().await.unwrap();
    let own: serde_json::Value = app.get_api("/app/api/settings", &valid).await.json().await.unwrap();
    assert_ne!(body["callback_urls"]["greeting"], own["callback_urls"]["greeting"]);

    // On a document load, a token for another shop than the `shop` parameter is refused.
    let r = app.client.get(app.url(&format!("/app?embedded=1&shop={SHOP}&id_token={other}"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Time moves on: the once-valid token expires.
    app.advance(75).await;
    assert_eq!(app.get_api("/app/api/settings", &valid).await.status(), 401);
    app.stop().await;
}

both_dbs!(session_tokens);
