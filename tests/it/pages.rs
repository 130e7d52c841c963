//! The embedded admin's pages (issue 7): document loads authenticated by the `id_token` Shopify
//! adds, rendered with the shop's current settings, the frame-ancestors CSP, the bounce without a
//! token and the refusal of another shop's token.

use serde_json::json;

use crate::both_dbs;
use crate::common::{Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";
const HOST: &str = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ";
const PAGES: [&str; 6] = ["/app", "/app/contact", "/app/settings", "/app/settings/otp", "/app/settings/ivr", "/app/settings/fallback"];

async fn page(app: &TestApp, path: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let token = app.session_token(SHOP);
    let r = app
        .client
        .get(app.url(&format!("{path}?embedded=1&shop={SHOP}&host={HOST}&id_token={token}")))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

async fn pages_show_current_values(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({"sender_id": "ACMEOK", "link_expiry_hours": 36})).await;
    let r = app
        .put_settings(SHOP, json!({"contact": {"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"},
            "ivr": {"exophone": "08047112345", "flow_id": "654321", "retries": 0, "retry_interval_minutes": 0, "timezone": "Asia/Kolkata",
                "window_start": "10:00", "window_end": "20:30", "confirm_tag": "ivr_yes", "cancel_tag": "ivr_no", "callback_tag": ""},
            "otp": {"sender_id": "ACMOTP", "resends": 4}}))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let key = app.exotel_key(SHOP).await;

    for path in PAGES {
        let (status, headers, html) = page(&app, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert_eq!(headers["content-security-policy"], format!("frame-ancestors https://{SHOP} https://admin.shopify.com;"), "{path}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        // The layout: App Bridge, the app's own assets, the nav with the current item, links that
        // authenticate the next document load.
        assert!(html.contains("https://cdn.shopify.com/shopifycloud/app-bridge.js"), "{path}");
        assert!(html.contains(r#"<link rel="stylesheet" href="/static/app.css">"#), "{path}");
        assert!(html.contains(r#"<script src="/static/app.js" defer>"#), "{path}");
        assert_eq!(html.matches(r#"aria-current="page""#).count(), 1, "{path}: one current nav item");
        assert!(html.contains(&format!("/app/settings/ivr?shop={SHOP}&amp;embedded=1&amp;id_token=")), "{path}");
        assert!(html.contains(&format!("/app/history/orders?shop={SHOP}&amp;embedded=1&amp;id_token=")), "{path}");
    }

    let (_, _, info) = page(&app, "/app").await;
    assert!(info.contains("Installed"), "general settings saved");
    assert!(info.contains("Exotel connection"));
    assert!(info.contains("Set up"));

    let (_, _, contact) = page(&app, "/app/contact").await;
    for want in [r#"value="Asha Rao""#, r#"value="asha@example.com""#, r#"name="contact.phone""#] {
        assert!(contact.contains(want), "contact: {want}");
    }

    let (_, _, general) = page(&app, "/app/settings").await;
    assert!(general.contains(r#"value="acme1""#) && general.contains(r#"value="exokey""#));
    assert!(general.contains(r#"<option value="api.in.exotel.com" selected>"#));
    assert!(general.contains(r#"name="general.verify" value="cod" checked"#));
    assert!(general.contains("Cash on Delivery (COD)</textarea>"));
    // The API token: never in the page, only its last four characters.
    assert!(!general.contains("exotoken-secret"));
    assert!(general.contains(r#"placeholder="********cret""#));

    let (_, _, otp) = page(&app, "/app/settings/otp").await;
    assert!(otp.contains(r#"value="ACMOTP""#) && otp.contains(r#"name="otp.resends" type="number" value="4""#));
    assert!(otp.contains("OTP is not your verification method"));

    let (_, _, ivr) = page(&app, "/app/settings/ivr").await;
    for want in [r#"value="654321""#, r#"name="ivr.retries" type="number" value="0""#, r#"value="10:00""#, r#"value="20:30""#,
        r#"value="ivr_yes""#, r#"name="ivr.first_call" value="immediate" checked"#] {
        assert!(ivr.contains(want), "ivr: {want}");
    }
    // Every callback URL with a copy button, and the sample flow.
    for k in ["greeting", "ivr_confirm", "ivr_cancel", "ivr_callback", "ivr_input", "call_status", "missed_call", "sms_status"] {
        assert!(ivr.contains(&format!(r#"data-copy="url-{k}""#)), "copy button for {k}");
    }
    assert!(ivr.contains(&format!("https://codverify.test/exotel/{key}/greeting</code>")));
    assert!(ivr.contains(&format!("https://codverify.test/exotel/{key}/ivr/confirm</code>")));
    assert!(ivr.contains("Sample Exotel flow") && ivr.contains("Press 1 to confirm"));

    let (_, _, fallback) = page(&app, "/app/settings/fallback").await;
    assert!(fallback.contains(r#"name="fallback.mode" value="sms_link" checked"#));
    assert!(fallback.contains(r#"value="ACMEOK""#) && fallback.contains(r#"value="36""#));
    // The link mode's fields are shown, the missed-call ones hidden until that mode is chosen.
    assert!(fallback.contains(r#"data-mode="sms_link">"#) || fallback.contains(r#"aria-labelledby="link-heading" data-mode="sms_link">"#));
    assert!(fallback.contains(r#"data-mode="sms_missed_call" hidden>"#));

    // The assets.
    let css = app.client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains(".badge-critical"));
    let js = app.client.get(app.url("/static/app.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text().await.unwrap().contains("/app/api/settings"));
    app.stop().await;
}

async fn fresh_install_shows_what_is_left(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    // The first document load installs the shop (token exchange) and shows App Info.
    let (status, _, info) = page(&app, "/app").await;
    assert_eq!(status, 200, "{info}");
    assert!(info.contains("Partially installed"));
    assert!(info.contains("not checked"));
    assert!(info.contains("steps left") || info.contains("step left"));
    // Pages of a shop that saved nothing yet show the defaults.
    let (status, _, ivr) = page(&app, "/app/settings/ivr").await;
    assert_eq!(status, 200);
    assert!(ivr.contains(r#"name="ivr.retries" type="number" value="2""#) && ivr.contains(r#"value="09:00""#));
    let (_, _, general) = page(&app, "/app/settings").await;
    assert!(general.contains("No token saved yet."));
    let (_, _, fallback) = page(&app, "/app/settings/fallback").await;
    assert!(fallback.contains(r#"name="fallback.mode" value="none" checked"#));

    // A failed Exotel check is shown as such.
    let r = app
        .put_settings(SHOP, json!({"general": {"verify": "cod", "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
            "account_sid": "acme1", "api_key": "exokey", "api_token": "exotoken-secret"}}))
        .await;
    assert_eq!(r.status(), 200);
    let exotel = app.text("SELECT exotel_status FROM shops").await.unwrap();
    let (_, _, info) = page(&app, "/app").await;
    assert!(info.contains(&exotel), "App Info shows the Exotel status {exotel:?}");
    app.stop().await;
}

async fn pages_authenticate_each_load(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    for path in PAGES {
        // Embedded without a token: bounced to get one, and back here.
        let r = app.client.get(app.url(&format!("{path}?embedded=1&shop={SHOP}&host={HOST}"))).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/auth/session-token?") && location.contains("shopify-reload="), "{path}: {location}");
        let reload = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        assert!(location.contains(&format!("shopify-reload={reload}")), "{path}: comes back to the page: {location}");

        // Another shop's token for this shop's page: refused.
        let other = app.session_token("other.myshopify.com");
        let r = app.client.get(app.url(&format!("{path}?embedded=1&shop={SHOP}&id_token={other}"))).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");

        // A forged token: refused.
        let forged = app.session_token_with(json!({"iss": format!("https://{SHOP}/admin"), "dest": format!("https://{SHOP}"),
            "aud": "x", "sub": "1", "exp": app.now_secs() + 60, "nbf": app.now_secs() - 5}), "not-the-secret");
        let r = app.client.get(app.url(&format!("{path}?embedded=1&shop={SHOP}&id_token={forged}"))).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");

        // Outside Shopify admin: into the app inside the admin.
        let r = app.client.get(app.url(&format!("{path}?shop={SHOP}"))).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
    }
    app.stop().await;
}

both_dbs!(pages_show_current_values, fresh_install_shows_what_is_left, pages_authenticate_each_load);
