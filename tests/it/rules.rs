//! Targeting rules (SPEC §9), black-box: the `rules` settings section through the settings API,
//! orders in through webhooks, and what the rules make of them — skipped without a call, trusted
//! and tagged, blocklisted and flagged (called) or cancelled in Shopify (no one contacted) — with
//! the rule that fired on the timeline.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";
const COD: &str = "Cash on Delivery (COD)";
const PHONE: &str = "9876543210";
const HOST: &str = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ";

async fn put_rules(app: &TestApp, shop: &str, rules: Value) {
    let r = app.put_settings(shop, json!({ "rules": rules })).await;
    assert_eq!(r.status(), 200, "rules: {}", r.text().await.unwrap());
}

/// Takes order `id` of `shop` in (COD), with `changes` over the usual payload, and settles.
async fn order_with(app: &TestApp, shop: &str, id: i64, phone: &str, changes: Value) {
    let mut body = order_payload(id, COD, Some(phone));
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post_webhook("orders/create", shop, &format!("w-{shop}-{id}"), &body).await;
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn order_text(app: &TestApp, shop: &str, id: i64, column: &str) -> Option<String> {
    app.text(&format!(
        "SELECT o.{column} FROM orders o JOIN shops s ON s.id = o.shop_id WHERE s.domain = '{shop}' AND o.shopify_order_id = {id}"
    ))
    .await
}

async fn status(app: &TestApp, shop: &str, id: i64) -> String {
    order_text(app, shop, id, "status").await.unwrap()
}

/// The details of an order's timeline events of `kind`.
async fn events(app: &TestApp, shop: &str, id: i64, kind: &str) -> Vec<String> {
    let oid = order_text(app, shop, id, "id").await.unwrap();
    let n = app.count(&format!("SELECT COUNT(*) FROM order_events WHERE order_id = '{oid}' AND kind = '{kind}'")).await;
    let mut out = Vec::new();
    for i in 0..n {
        let sql = format!("SELECT detail FROM order_events WHERE order_id = '{oid}' AND kind = '{kind}' ORDER BY at, id LIMIT 1 OFFSET {i}");
        out.push(app.text(&sql).await.unwrap_or_default());
    }
    out
}

fn mutations(app: &TestApp, name: &str) -> Vec<Value> {
    app.shopify
        .graphql_requests()
        .into_iter()
        .filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(name))
        .map(|(_, b)| b["variables"].clone())
        .collect()
}

/// The latest call goes through: the shopper presses 1 (Exotel's passthru), the call ends.
async fn confirm_last_call(app: &TestApp, shop: &str) {
    let key = app.exotel_key(shop).await;
    let call = app.exotel.calls().last().cloned().expect("a call was placed");
    let attempt = call.field("CustomField").unwrap().to_string();
    let r = app
        .client
        .get(app.url(&format!("/exotel/{key}/ivr/confirm")))
        .query(&[("CustomField", attempt.as_str()), ("CallSid", call.sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json!({"CallSid": call.sid, "Status": "completed", "EventType": "terminal", "CustomField": attempt,
        "ConversationDuration": 9, "Legs": [{"Status": "completed", "AnsweredBy": "HUMAN"}]});
    let r = app.client.post(app.url(&format!("/exotel/{key}/call-status"))).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
}

async fn amount_bounds_skip_without_a_call(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    put_rules(&app, SHOP, json!({"min_amount": 500, "max_amount": 5000})).await;

    order_with(&app, SHOP, 1, PHONE, json!({"total_price": "499.99"})).await;
    order_with(&app, SHOP, 2, PHONE, json!({"total_price": "5000.01"})).await;
    assert!(app.exotel.calls().is_empty(), "no call for an order outside the bounds");
    for (id, why) in [(1, "the amount 499.99 is below the minimum of 500.00"), (2, "the amount 5000.01 is above the maximum of 5000.00")] {
        assert_eq!(status(&app, SHOP, id).await, "skipped");
        assert_eq!(order_text(&app, SHOP, id, "status_reason").await.as_deref(), Some(why));
        let fired = events(&app, SHOP, id, "rule_applied").await;
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(fired[0].contains(why) && fired[0].contains(if id == 1 { "rule min_amount" } else { "rule max_amount" }), "{fired:?}");
        assert!(events(&app, SHOP, id, "verification_started").await.is_empty());
    }
    assert!(mutations(&app, "tagsAdd").is_empty(), "an amount rule tags nothing");

    // The bounds themselves are inside: verified as usual.
    order_with(&app, SHOP, 3, PHONE, json!({"total_price": "500.00"})).await;
    order_with(&app, SHOP, 4, PHONE, json!({"total_price": "5000"})).await;
    assert_eq!((status(&app, SHOP, 3).await, status(&app, SHOP, 4).await), ("pending".into(), "pending".into()));
    assert_eq!(app.exotel.calls().len(), 2);
    assert!(events(&app, SHOP, 3, "rule_applied").await.is_empty());

    // The order history counts a skipped order as not verified, with its reason.
    let r = app.get_api("/app/api/orders/1", &app.session_token(SHOP)).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!((doc["status"].as_str(), doc["reason"].as_str()), (Some("skipped"), Some("the amount 499.99 is below the minimum of 500.00")));
    let fired: Vec<&Value> = doc["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "rule_applied").collect();
    assert_eq!(fired.len(), 1, "{doc}");
    assert_eq!(fired[0]["label"], "Targeting rule applied");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// A phone with `trusted_after_confirmed` earlier confirmed orders in this shop is not called:
/// an order confirmed and later cancelled in Shopify does not count, nor does another shop's.
async fn trusted_repeat_buyers_are_skipped_and_tagged(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    app.install_configured(OTHER, "cod").await;
    put_rules(&app, SHOP, json!({"trusted_after_confirmed": 2})).await;

    // Order 1 confirmed; order 2 confirmed, then cancelled in Shopify; another shop's order confirmed.
    for id in [1, 2] {
        order_with(&app, SHOP, id, PHONE, json!({})).await;
        confirm_last_call(&app, SHOP).await;
        assert_eq!(status(&app, SHOP, id).await, "confirmed");
    }
    let mut cancelled = order_payload(2, COD, Some(PHONE));
    cancelled["cancelled_at"] = json!("2026-11-23T12:00:00+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-2", &cancelled).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, SHOP, 2).await, "confirmed", "the answer stands");
    let noted = "SELECT COUNT(*) FROM orders WHERE shopify_cancelled_at IS NOT NULL";
    assert_eq!(app.count(noted).await, 1, "the cancellation is noted on the order");
    order_with(&app, OTHER, 51, PHONE, json!({})).await;
    confirm_last_call(&app, OTHER).await;
    assert_eq!(status(&app, OTHER, 51).await, "confirmed");

    // One order counts: order 3 is verified as usual (a call).
    let calls = app.exotel.calls().len();
    order_with(&app, SHOP, 3, "+91 98765 43210", json!({})).await;
    assert_eq!(status(&app, SHOP, 3).await, "pending");
    assert_eq!(app.exotel.calls().len(), calls + 1, "called: only one earlier order counts");
    assert!(events(&app, SHOP, 3, "rule_applied").await.is_empty());
    confirm_last_call(&app, SHOP).await;

    // Two count now: order 4 is skipped, tagged, not called.
    let calls = app.exotel.calls().len();
    order_with(&app, SHOP, 4, PHONE, json!({})).await;
    assert_eq!(status(&app, SHOP, 4).await, "skipped");
    assert_eq!(app.exotel.calls().len(), calls, "a trusted buyer is not called");
    let reason = order_text(&app, SHOP, 4, "status_reason").await.unwrap();
    assert_eq!(reason, "a trusted buyer: 2 earlier confirmed orders from this phone (trusted after 2)");
    let fired = events(&app, SHOP, 4, "rule_applied").await;
    assert!(fired.len() == 1 && fired[0].starts_with("rule trusted_after_confirmed: a trusted buyer"), "{fired:?}");
    assert_eq!(order_text(&app, SHOP, 4, "outcome_tags").await.as_deref(), Some("cod_trusted"));
    let tagged: Vec<Value> = mutations(&app, "tagsAdd").into_iter().filter(|v| v["id"] == "gid://shopify/Order/4").collect();
    assert_eq!(tagged.len(), 1, "{tagged:?}");
    assert_eq!(tagged[0]["tags"], json!(["cod_trusted"]));

    // The other shop has no such rule: its buyer is called.
    let calls = app.exotel.calls().len();
    order_with(&app, OTHER, 52, PHONE, json!({})).await;
    assert_eq!((status(&app, OTHER, 52).await, app.exotel.calls().len()), ("pending".into(), calls + 1));
    app.assert_no_jobs_left().await;
    app.stop().await;
}

async fn blocklisted_phone_is_flagged_and_called(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    // Flagged buyers are verified whatever their amount, and never trusted.
    put_rules(&app, SHOP, json!({"blocklist_phones": ["098765 43210"], "blocklist_action": "flag", "min_amount": 1000})).await;

    order_with(&app, SHOP, 1, "+919876543210", json!({})).await;
    assert_eq!(status(&app, SHOP, 1).await, "pending");
    assert_eq!(app.exotel.calls_to("+919876543210").len(), 1, "a flagged order is verified as usual");
    let fired = events(&app, SHOP, 1, "rule_applied").await;
    assert_eq!(fired, ["rule blocklist_phones: the phone number is on the blocklist; tagged and verified as usual"]);
    assert!(!fired[0].contains("3210"), "no number in the timeline");
    let tags = mutations(&app, "tagsAdd");
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0]["id"].clone(), tags[0]["tags"].clone()), (json!("gid://shopify/Order/1"), json!(["cod_blocked"])));
    assert!(mutations(&app, "orderCancel").is_empty());

    // Another number of the same amount is skipped by the amount rule.
    order_with(&app, SHOP, 2, "9876543211", json!({})).await;
    assert_eq!(status(&app, SHOP, 2).await, "skipped");
    assert_eq!(app.exotel.calls().len(), 1);

    // The answer still settles the flagged order.
    confirm_last_call(&app, SHOP).await;
    assert_eq!(status(&app, SHOP, 1).await, "confirmed");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

/// A blocklisted PIN code with "cancel": tagged and cancelled in Shopify, no call, SMS or WhatsApp
/// message, on a plan that has all three.
async fn blocklisted_pincode_is_cancelled_uncontacted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    crate::whatsapp::setup(&app, SHOP, json!(["whatsapp", "ivr", "sms_link"]), json!({})).await;
    put_rules(&app, SHOP, json!({"blocklist_pincodes": ["411 001"], "blocklist_action": "cancel", "blocked_tag": "fraud_pin"})).await;

    let address = |zip: &str| json!({"first_name": "Asha", "last_name": "Rao", "phone": PHONE, "city": "Pune", "zip": zip, "country_code": "IN"});
    order_with(&app, SHOP, 1, PHONE, json!({"shipping_address": address("411001")})).await;
    assert_eq!(status(&app, SHOP, 1).await, "cancelled");
    assert_eq!(order_text(&app, SHOP, 1, "status_reason").await.as_deref(), Some("the shipping PIN code 411001 is on the blocklist"));
    let fired = events(&app, SHOP, 1, "rule_applied").await;
    assert_eq!(
        fired,
        ["rule blocklist_pincodes: the shipping PIN code 411001 is on the blocklist; tagged and cancelled in Shopify; the shopper is not contacted"]
    );
    let cancels = mutations(&app, "orderCancel");
    assert_eq!(cancels.len(), 1, "cancelled in Shopify");
    assert_eq!(cancels[0]["orderId"], "gid://shopify/Order/1");
    let tags = mutations(&app, "tagsAdd");
    assert_eq!((tags.len(), tags[0]["tags"].clone()), (1, json!(["fraud_pin"])));
    assert_eq!(events(&app, SHOP, 1, "shopify_cancelled").await.len(), 1);
    assert!(app.exotel.calls().is_empty() && app.exotel.sms().is_empty(), "no call, no SMS");
    assert_eq!(app.count("SELECT COUNT(*) FROM whatsapp_messages").await, 0, "no WhatsApp message");
    assert!(events(&app, SHOP, 1, "verification_started").await.is_empty());

    // Shopify's own orders/cancelled that follows changes nothing but the note.
    let mut cancelled = order_payload(1, COD, Some(PHONE));
    cancelled["shipping_address"] = address("411001");
    cancelled["cancelled_at"] = json!("2026-11-23T10:00:05+05:30");
    assert_eq!(app.post_webhook("orders/cancelled", SHOP, "c-1", &cancelled).await.status(), 200);
    app.settle().await;
    assert_eq!(status(&app, SHOP, 1).await, "cancelled");
    assert_eq!(mutations(&app, "orderCancel").len(), 1);

    // Another PIN code goes through the plan: its WhatsApp message is queued.
    order_with(&app, SHOP, 2, PHONE, json!({"shipping_address": address("411002")})).await;
    assert_eq!(status(&app, SHOP, 2).await, "pending");
    assert_eq!(app.count("SELECT COUNT(*) FROM whatsapp_messages").await, 1);
    app.stop().await;
}

/// The section through the API: bad input gets 422 with every key and saves nothing; a valid one
/// reads back normalised, its GET document can be PUT back, and the blocklisted numbers are
/// nowhere in the database in plaintext.
async fn rules_settings_validation_and_round_trip(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    let token = app.session_token(SHOP);
    let get = || async { app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json::<Value>().await.unwrap() };
    let before = get().await;
    assert_eq!(
        before["rules"],
        json!({"min_amount": null, "max_amount": null, "trusted_after_confirmed": 0, "trusted_tag": "cod_trusted",
            "blocklist_phones": [], "blocklist_pincodes": [], "blocklist_action": "flag", "blocked_tag": "cod_blocked"})
    );

    let bad = json!({"rules": {"min_amount": -5, "max_amount": "lots", "trusted_after_confirmed": 21,
        "blocklist_phones": ["98111 22233", "12"], "blocklist_pincodes": ["012345"], "blocklist_action": "block", "colour": 1}});
    let r = app.client.put(app.url("/app/api/settings")).bearer_auth(&token).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let errors = r.json::<Value>().await.unwrap()["errors"].clone();
    for key in ["rules.min_amount", "rules.max_amount", "rules.trusted_after_confirmed", "rules.blocklist_phones", "rules.blocklist_pincodes",
        "rules.blocklist_action", "rules.colour"] {
        assert!(errors.get(key).is_some(), "{key}: {errors}");
    }
    assert_eq!(errors["rules.blocklist_phones"], "entry 2 (**): not a valid phone number");
    let r = app.put_settings(SHOP, json!({"rules": {"min_amount": 900, "max_amount": 800}})).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["errors"]["rules.max_amount"], "must be at least the minimum amount");
    assert_eq!(get().await, before, "nothing saved");
    assert_eq!(app.count("SELECT COUNT(*) FROM shops WHERE blocklist_phones_enc IS NOT NULL").await, 0);

    put_rules(&app, SHOP, json!({"min_amount": 199.5, "max_amount": 25000, "trusted_after_confirmed": 3, "trusted_tag": "loyal",
        "blocklist_phones": ["98111 22233", "+91 98111 22233", "08111122234"], "blocklist_pincodes": ["110 001", "560034"],
        "blocklist_action": "cancel", "blocked_tag": "cod_blocked"}))
    .await;
    let doc = get().await;
    assert_eq!(
        doc["rules"],
        json!({"min_amount": 199.5, "max_amount": 25000, "trusted_after_confirmed": 3, "trusted_tag": "loyal",
            "blocklist_phones": ["+919811122233", "+918111122234"], "blocklist_pincodes": ["110001", "560034"],
            "blocklist_action": "cancel", "blocked_tag": "cod_blocked"})
    );
    // The whole GET document goes back as it is.
    let r = app.put_settings(SHOP, doc.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(get().await["rules"], doc["rules"]);
    // A PUT without the rules keeps them, numbers included.
    let r = app.put_settings(SHOP, json!({"contact": {"name": "Support"}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get().await["rules"], doc["rules"]);

    // The numbers are sealed apart from the settings JSON.
    let stored = app.text(&format!("SELECT settings FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    assert!(stored.contains("\"blocklist_pincodes\"") && !stored.contains("blocklist_phones") && !stored.contains("98111"), "{stored}");
    let sealed = app.sealed_text(&format!("SELECT blocklist_phones_enc FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    assert_eq!(sealed, r#"["+919811122233","+918111122234"]"#);
    // An order from a blocklisted number: cancelled, and its number is nowhere in plaintext either.
    order_with(&app, SHOP, 1, "98111 22233", json!({"total_price": "1999.00"})).await;
    assert_eq!(status(&app, SHOP, 1).await, "cancelled");
    assert!(app.exotel.calls().is_empty());
    let bytes = crate::secrets::database_bytes(app.database_url()).await;
    for needle in ["9811122233", "98111 22233", "8111122234"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{needle} in the database in plaintext");
    }

    // Emptying the list clears the column.
    put_rules(&app, SHOP, json!({"blocklist_phones": []})).await;
    assert_eq!(get().await["rules"]["blocklist_phones"], json!([]));
    assert_eq!(app.count("SELECT COUNT(*) FROM shops WHERE blocklist_phones_enc IS NOT NULL").await, 0);
    app.stop().await;
}

async fn rules_page_renders(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_configured(SHOP, "cod").await;
    put_rules(&app, SHOP, json!({"min_amount": 250, "max_amount": 9999.5, "trusted_after_confirmed": 4,
        "blocklist_phones": ["9876543210"], "blocklist_pincodes": ["400001"], "blocklist_action": "cancel"}))
    .await;
    let token = app.session_token(SHOP);
    let r = app
        .client
        .get(app.url(&format!("/app/settings/rules?embedded=1&shop={SHOP}&host={HOST}&id_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-security-policy"], format!("frame-ancestors https://{SHOP} https://admin.shopify.com;"));
    let html = r.text().await.unwrap();
    for want in [
        "<h1>Targeting rules</h1>",
        r#"data-section="rules""#,
        r#"name="rules.min_amount" type="text" value="250.00""#,
        r#"name="rules.max_amount" type="text" value="9999.50""#,
        r#"name="rules.trusted_after_confirmed" type="number" value="4""#,
        r#"value="cod_trusted""#,
        "+919876543210</textarea>",
        "400001</textarea>",
        r#"name="rules.blocklist_action" value="cancel" checked"#,
        r#"data-error-for="rules.blocklist_phones""#,
        r#"href="/app/settings/rules?shop=acme.myshopify.com&amp;embedded=1&amp;id_token="#,
    ] {
        assert!(html.contains(want), "{want}");
    }
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 1);
    assert!(html.contains(r#"aria-current="page">Targeting rules</a>"#));
    // Every other page links to it.
    let r = app.client.get(app.url(&format!("/app/settings?embedded=1&shop={SHOP}&host={HOST}&id_token={token}"))).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("/app/settings/rules?shop="));
    // Without a token it is bounced like the other pages; another shop's token is refused.
    let r = app.client.get(app.url(&format!("/app/settings/rules?embedded=1&shop={SHOP}&host={HOST}"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    app.install_configured(OTHER, "cod").await;
    let other = app.session_token(OTHER);
    let r = app.client.get(app.url(&format!("/app/settings/rules?embedded=1&shop={SHOP}&id_token={other}"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

both_dbs!(
    amount_bounds_skip_without_a_call,
    trusted_repeat_buyers_are_skipped_and_tagged,
    blocklisted_phone_is_flagged_and_called,
    blocklisted_pincode_is_cancelled_uncontacted,
    rules_settings_validation_and_round_trip,
    rules_page_renders,
);
