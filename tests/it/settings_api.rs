//! `GET/PUT /app/api/settings`: the document, partial updates, the write-only token, 422s.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp};

const SHOP: &str = "acme.myshopify.com";

async fn settings_document(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    let token = app.session_token(SHOP);
    let doc: Value = app.get_api("/app/api/settings", &token).await.json().await.unwrap();
    assert_eq!(doc["general"]["verify"], "cod");
    assert_eq!(doc["general"]["cod_gateways"], json!(["Cash on Delivery (COD)"]));
    assert_eq!(doc["general"]["default_country"], "IN");
    assert_eq!(doc["general"]["api_token"], "");
    assert_eq!(doc["status"]["install"], "partially_installed");
    let urls = doc["callback_urls"].as_object().unwrap();
    for k in ["greeting", "ivr_confirm", "ivr_cancel", "ivr_callback", "ivr_input", "call_status", "missed_call", "sms_status", "whatsapp"] {
        assert!(urls[k].as_str().unwrap().starts_with("https://codverify.test/exotel/"), "{k}");
    }

    // An invalid document: every bad field named, nothing saved.
    let r = app.put_settings(SHOP, json!({"general": {"verify": "some", "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
        "account_sid": "", "api_key": "k"}, "contact": {"email": "not-an-email"}})).await;
    assert_eq!(r.status(), 422);
    let errors: Value = r.json().await.unwrap();
    assert_eq!(errors["errors"]["general.verify"], "must be one of: cod, all");
    assert!(errors["errors"]["general.account_sid"].is_string());
    assert!(errors["errors"]["general.api_token"].is_string());
    assert!(errors["errors"]["contact.email"].is_string());
    let unchanged: Value = app.get_api("/app/api/settings", &token).await.json().await.unwrap();
    assert_eq!(unchanged, doc);

    // Malformed JSON: 400 with a message, nothing saved.
    let r = app.client.put(app.url("/app/api/settings")).bearer_auth(&token).body("{oops").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A valid general section: saved, the shop fully installed, the token never shown in full.
    let r = app.put_settings(SHOP, json!({"general": {"verify": "all", "method": "ivr", "exotel_subdomain": "api.exotel.com",
        "account_sid": "acme1", "api_key": "exokey", "api_token": "exotoken-secret-1234"}})).await;
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["general"]["verify"], "all");
    assert_eq!(saved["general"]["api_token"], "********1234");
    assert_eq!(saved["status"]["install"], "installed");
    let stored = app.text("SELECT exotel_api_token_enc FROM shops").await.unwrap();
    assert!(!stored.contains("exotoken"), "encrypted at rest");
    assert!(!app.text("SELECT settings FROM shops").await.unwrap().contains("exotoken"));

    // Sending the masked token back (or leaving it out) keeps the stored one; a subset of sections
    // leaves the others alone.
    let mut round_trip = saved.clone();
    round_trip["contact"] = json!({"name": "Asha Rao", "email": "asha@example.com", "phone": "+91 98765 43210"});
    let r = app.put_settings(SHOP, round_trip).await;
    assert_eq!(r.status(), 200, "the GET document can be PUT back");
    assert_eq!(app.text("SELECT exotel_api_token_enc FROM shops").await.unwrap(), stored);
    let r = app.put_settings(SHOP, json!({"contact": {"name": "Asha R."}})).await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["contact"]["name"], "Asha R.");
    assert_eq!(after["contact"]["phone"], "+919876543210");
    assert_eq!(after["general"]["verify"], "all");
    assert_eq!(after["general"]["api_token"], "********1234");

    // Tags and sections this version does not know are refused by name.
    let r = app.put_settings(SHOP, json!({"nonsense": {}})).await;
    assert_eq!(r.status(), 422);
    app.stop().await;
}

/// Round 2's plan over HTTP: a document without steps shows the derived plan and, PUT back, keeps
/// following the method; steps that are set stay as set, and their GET document PUT back too.
async fn settings_plan_round_trip(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let token = app.session_token(SHOP);
    let get = || async { app.get_api("/app/api/settings", &token).await.json::<Value>().await.unwrap() };
    let doc = get().await;
    assert_eq!(doc["plan"], json!({"steps": ["ivr"], "no_response_action": "tag", "cancel_after_hours": 24}));
    assert_eq!(doc["otp"]["escalate_after_minutes"], 0);
    assert_eq!(doc["whatsapp"]["template_language"], "en");
    assert!(doc["callback_urls"]["whatsapp"].as_str().unwrap().ends_with("/whatsapp"));
    let r = app.put_settings(SHOP, doc.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), doc, "the GET document PUT back changes nothing");
    // Derived: a new fallback is the plan's second step.
    let r = app.put_settings(SHOP, json!({"fallback": {"mode": "sms_link", "sender_id": "ACMEST", "dlt_entity_id": "1101",
        "dlt_template_id": "1107"}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(get().await["plan"]["steps"], json!(["ivr", "sms_link"]));

    // Steps whose sections are not ready: named, nothing saved.
    let r = app.put_settings(SHOP, json!({"general": {"method": "whatsapp"}, "plan": {"steps": ["whatsapp", "sms_link", "ivr"]}})).await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(e["errors"]["whatsapp.sender"].is_string() && e["errors"]["whatsapp.template_name"].is_string(), "{e}");
    let r = app.put_settings(SHOP, json!({"general": {"method": "whatsapp"}, "plan": {"steps": ["whatsapp", "sms_link", "ivr"]},
        "whatsapp": {"sender": "+91 98765 43210", "template_name": "cod_confirm"}})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let set = get().await;
    assert_eq!(set["plan"]["steps"], json!(["whatsapp", "sms_link", "ivr"]));
    assert_eq!(set["whatsapp"]["sender"], "+919876543210");
    let r = app.put_settings(SHOP, set.clone()).await;
    assert_eq!(r.json::<Value>().await.unwrap(), set, "the GET document with steps PUT back changes nothing");
    // Set steps do not follow the fallback.
    let r = app.put_settings(SHOP, json!({"fallback": {"mode": "none"}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get().await["plan"]["steps"], json!(["whatsapp", "sms_link", "ivr"]));
    app.stop().await;
}

both_dbs!(settings_document, settings_plan_round_trip);
