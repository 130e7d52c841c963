//! The embedded admin's pages (issue 7): document loads authenticated by the `id_token` Shopify
//! adds, rendered with the shop's current settings, the frame-ancestors CSP, the bounce without a
//! token and the refusal of another shop's token.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";
const HOST: &str = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ";
const PAGES: [&str; 9] = [
    "/app",
    "/app/contact",
    "/app/settings",
    "/app/settings/plan",
    "/app/settings/otp",
    "/app/settings/whatsapp",
    "/app/settings/ivr",
    "/app/settings/fallback",
    "/app/settings/costs",
];

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

/// The plan page as the form sends it: `{"plan": {...}}` through the settings API.
async fn put_plan(app: &TestApp, plan: Value) -> (u16, Value) {
    let r = app.put_settings(SHOP, json!({ "plan": plan })).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The position of `needle` in `html`, which must hold it.
fn at(html: &str, needle: &str) -> usize {
    html.find(needle).unwrap_or_else(|| panic!("{needle} missing"))
}

/// Round 2's pages (SPEC §8): the Verification plan page shows the effective steps in order with
/// their sections' summaries and saves through the API; the WhatsApp page with the template's
/// rules and its callback URL; WhatsApp as a method; OTP escalation; App Info lists the plan.
async fn plan_and_whatsapp_pages(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    let key = app.exotel_key(SHOP).await;

    // The derived plan [ivr, sms_link]: in order, with summaries and links; the others offered.
    let (status, _, plan) = page(&app, "/app/settings/plan").await;
    assert_eq!(status, 200, "{plan}");
    assert!(plan.contains("<h1>Verification plan</h1>") && plan.contains(r#"data-section="plan""#) && plan.contains("data-save-bar"));
    assert!(plan.contains(">ivr\nsms_link</textarea>"), "the steps the form saves");
    let (list, unused) = (at(&plan, "data-plan-steps"), at(&plan, "data-plan-unused"));
    let (ivr, link) = (at(&plan, r#"data-step="ivr""#), at(&plan, r#"data-step="sms_link""#));
    let (wa, missed) = (at(&plan, r#"data-step="whatsapp""#), at(&plan, r#"data-step="sms_missed_call""#));
    assert!(list < ivr && ivr < link && link < unused && unused < wa && wa < missed, "plan in order, then the others");
    assert!(plan.contains("From 08047112345: 1 call, between 09:00 and 21:00."), "the IVR step's summary");
    assert!(plan.contains("From ACMEST: 2 SMS, 10 minutes apart; the link works for 48 hours."), "the link step's summary");
    assert!(plan.contains("Not set up yet: needs your WhatsApp Business number"));
    assert!(plan.contains(&format!("/app/settings/whatsapp?shop={SHOP}&amp;embedded=1")) && plan.contains(r#"data-plan-move="up""#));
    assert!(plan.contains(r#"name="plan.no_response_action" value="tag" checked"#));
    assert!(plan.contains(r#"name="plan.cancel_after_hours" type="number" value="24""#));
    assert!(plan.contains(r#"data-error-for="plan.steps""#) && plan.contains(r#"data-error-for="plan.cancel_after_hours""#));
    assert!(plan.contains("Your verification method is the IVR call"));

    // The WhatsApp page before WhatsApp is in use: the template's rules and the callback URL.
    let (status, _, wa) = page(&app, "/app/settings/whatsapp").await;
    assert_eq!(status, 200, "{wa}");
    for want in ["WhatsApp settings", "<strong>Utility</strong>", "<code>{{1}}</code> the order name", "<code>{{2}}</code> the amount",
        "<code>{{3}}</code> the items", "quick-reply", "<strong>Confirm</strong> · <strong>Cancel</strong> · <strong>Call me</strong>",
        "a blank cancel or call-back tag hides that button", "WhatsApp is not a step of your verification plan",
        r#"data-section="whatsapp""#, r#"name="whatsapp.template_language" type="text" value="en""#,
        r#"name="whatsapp.wait_minutes" type="number" value="60""#, r#"name="whatsapp.cancel_order" type="checkbox""#] {
        assert!(wa.contains(want), "whatsapp page: {want}");
    }
    assert!(wa.contains(&format!("https://codverify.test/exotel/{key}/whatsapp</code>")) && wa.contains(r#"data-copy="url-whatsapp""#));
    let (_, _, general) = page(&app, "/app/settings").await;
    assert!(general.contains(r#"name="general.method" value="whatsapp">"#) && general.contains(r#"name="general.method" value="ivr" checked"#));
    let (_, _, otp) = page(&app, "/app/settings/otp").await;
    assert!(otp.contains(r#"name="otp.escalate_after_minutes" type="number" value="0""#));
    assert!(otp.contains("Your plan: an IVR call, then an SMS with a link"));
    let (_, _, info) = page(&app, "/app").await;
    assert!(info.contains("by an IVR call, then an SMS with a link"));
    assert!(at(&info, r#"data-plan-step="ivr""#) < at(&info, r#"data-plan-step="sms_link""#));

    // WhatsApp first: its section, the method, then the plan as the plan page saves it.
    let r = app.put_settings(SHOP, json!({"whatsapp": {"sender": "+91 98765 43210", "template_name": "cod_confirm", "template_language": "en",
        "template_name_hi": "", "retries": 1, "retry_interval_minutes": 30, "wait_minutes": 90, "confirm_tag": "wa_yes",
        "cancel_tag": "wa_no", "callback_tag": "", "cancel_order": false}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.put_settings(SHOP, json!({"general": {"method": "whatsapp"}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Refusals come back keyed by the page's fields, and change nothing.
    let (status, e) = put_plan(&app, json!({"steps": ["ivr", "whatsapp"], "no_response_action": "tag", "cancel_after_hours": 24})).await;
    assert_eq!((status, e["errors"]["plan.steps"].as_str()), (422, Some("must start with whatsapp, the verification method (general.method)")));
    let (status, e) = put_plan(&app, json!({"steps": [], "no_response_action": "tag", "cancel_after_hours": 24})).await;
    assert_eq!((status, e["errors"]["plan.steps"].as_str()), (422, Some("must name at least one step")));
    let (status, e) = put_plan(&app, json!({"steps": ["whatsapp", "ivr", "whatsapp"], "no_response_action": "tag", "cancel_after_hours": 24})).await;
    assert_eq!((status, e["errors"]["plan.steps"].as_str()), (422, Some("must not repeat a step (whatsapp)")));
    let (status, e) = put_plan(&app, json!({"steps": ["whatsapp", "ivr"], "no_response_action": "cancel", "cancel_after_hours": 0})).await;
    assert_eq!((status, e["errors"]["plan.cancel_after_hours"].as_str()), (422, Some("must be between 1 and 168")));
    let (status, doc) = put_plan(&app, json!({"steps": ["whatsapp", "ivr"], "no_response_action": "cancel", "cancel_after_hours": 12})).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["plan"], json!({"steps": ["whatsapp", "ivr"], "no_response_action": "cancel", "cancel_after_hours": 12}));
    let got: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    assert_eq!(got["plan"], doc["plan"], "stored as sent");
    let (status, again) = put_plan(&app, got["plan"].clone()).await;
    assert_eq!((status, &again["plan"]), (200, &doc["plan"]), "sent back: the same plan");

    // The pages show it.
    let (_, _, plan) = page(&app, "/app/settings/plan").await;
    assert!(plan.contains(">whatsapp\nivr</textarea>"));
    let (list, unused) = (at(&plan, "data-plan-steps"), at(&plan, "data-plan-unused"));
    let (wa, ivr, link) = (at(&plan, r#"data-step="whatsapp""#), at(&plan, r#"data-step="ivr""#), at(&plan, r#"data-step="sms_link""#));
    assert!(list < wa && wa < ivr && ivr < unused && unused < link, "whatsapp, ivr; sms_link no longer in the plan");
    assert!(plan.contains("Template cod_confirm (en) from +919876543210: 2 messages, 30 minutes apart; then waits 90 minutes for a reply."));
    assert!(plan.contains(r#"name="plan.no_response_action" value="cancel" checked"#) && plan.contains(r#"type="number" value="12""#));
    assert!(plan.contains("Your verification method is the WhatsApp message"));
    let (_, _, wa) = page(&app, "/app/settings/whatsapp").await;
    assert!(wa.contains(r#"value="cod_confirm""#) && wa.contains(r#"value="wa_yes""#) && wa.contains(r#"name="whatsapp.wait_minutes" type="number" value="90""#));
    assert!(!wa.contains("WhatsApp is not a step"));
    let (_, _, general) = page(&app, "/app/settings").await;
    assert!(general.contains(r#"name="general.method" value="whatsapp" checked"#));
    assert!(general.contains(&format!("/app/settings/whatsapp?shop={SHOP}&amp;embedded=1&amp;id_token=")) && general.contains("WhatsApp →"));
    let (_, _, info) = page(&app, "/app").await;
    assert!(info.contains("by a WhatsApp message, then an IVR call"), "App Info: the plan");
    assert!(at(&info, r#"data-plan-step="whatsapp""#) < at(&info, r#"data-plan-step="ivr""#) && !info.contains(r#"data-plan-step="sms_link""#));
    assert!(info.contains("Set up the WhatsApp message"));
    // With OTP the method the plan is what unverified codes escalate to.
    let r = app.put_settings(SHOP, json!({"general": {"method": "otp"}, "otp": {"sender_id": "ACMOTP", "dlt_entity_id": "1101",
        "dlt_template_id": "1107", "escalate_after_minutes": 45}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (_, _, otp) = page(&app, "/app/settings/otp").await;
    assert!(otp.contains(r#"name="otp.escalate_after_minutes" type="number" value="45""#));
    let (_, _, info) = page(&app, "/app").await;
    assert!(info.contains("by an OTP SMS at checkout; when the code is not entered within 45 minutes, a WhatsApp message, then an IVR call"), "{info}");
    let (_, _, plan) = page(&app, "/app/settings/plan").await;
    assert!(plan.contains("orders whose code is not entered within 45 minutes go through these steps"));
    app.stop().await;
}

/// The Prices page (SPEC §10): the merchant's prices with their defaults and what each is for,
/// saved through the settings API as its form sends them; refusals are keyed by its fields and
/// change nothing.
async fn prices_page(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    let (status, _, html) = page(&app, "/app/settings/costs").await;
    assert_eq!(status, 200, "{html}");
    for want in ["<h1>Prices</h1>", r#"data-section="costs""#, "data-save-bar",
        r#"name="costs.sms_unit_paise" type="number" value="25""#, "Now ₹0.25; default 25 (₹0.25).",
        r#"name="costs.whatsapp_message_paise" type="number" value="12""#, "Now ₹0.12; default 12 (₹0.12).",
        r#"name="costs.call_minute_paise" type="number" value="120""#, "Now ₹1.20; default 120 (₹1.20).",
        "Each started minute of an answered call that Exotel has not priced", "Each unit of every SMS sent",
        "unless Exotel reported it failed", r#"data-type="int" min="0" max="10000""#,
        r#"data-error-for="costs.sms_unit_paise""#, r#"data-error-for="costs.whatsapp_message_paise""#,
        r#"data-error-for="costs.call_minute_paise""#, r#"<a href="/app/settings/costs?shop="#] {
        assert!(html.contains(want), "prices page: {want}");
    }
    assert!(html.contains(r#"/app/settings/costs?shop=acme.myshopify.com&amp;embedded=1&amp;id_token="#) && html.contains(r#"aria-current="page">Prices</a>"#));

    // Saved as the form sends it: the whole section.
    let r = app.put_settings(SHOP, json!({"costs": {"sms_unit_paise": 30, "whatsapp_message_paise": 0, "call_minute_paise": 150}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let got: Value = app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json().await.unwrap();
    assert_eq!(got["costs"], json!({"sms_unit_paise": 30, "whatsapp_message_paise": 0, "call_minute_paise": 150}));
    // Refused field by field (the page shows each message under its field), nothing stored.
    let r = app.put_settings(SHOP, json!({"costs": {"sms_unit_paise": -1, "whatsapp_message_paise": 1.5, "call_minute_paise": 10001}})).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    for key in ["costs.sms_unit_paise", "costs.whatsapp_message_paise", "costs.call_minute_paise"] {
        assert!(e["errors"][key].is_string(), "{key}: {e}");
    }
    let (_, _, html) = page(&app, "/app/settings/costs").await;
    assert!(html.contains(r#"name="costs.sms_unit_paise" type="number" value="30""#) && html.contains("Now ₹0.30; default 25 (₹0.25)."));
    assert!(html.contains(r#"name="costs.whatsapp_message_paise" type="number" value="0""#) && html.contains("Now ₹0.00;"));
    assert!(html.contains(r#"name="costs.call_minute_paise" type="number" value="150""#) && html.contains("Now ₹1.50;"));
    app.stop().await;
}

both_dbs!(pages_show_current_values, fresh_install_shows_what_is_left, pages_authenticate_each_load, plan_and_whatsapp_pages, prices_page);
