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
    for k in ["greeting", "ivr_confirm", "ivr_cancel", "ivr_callback", "ivr_input", "call_status", "missed_call", "sms_status"] {
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

both_dbs!(settings_document);
