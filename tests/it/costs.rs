//! Cost per contact and per confirmed order (SPEC §10), black-box: Exotel's callbacks over HTTP
//! record what each contact used; the `costs` settings price it; `db::costs::by_channel` (what the
//! outcomes API serves) adds it up per channel, checked against flows and a hand-built fixture.

use chrono::NaiveDate;
use serde_json::{Value, json};

use codverify::on_db;

use crate::both_dbs;
use crate::common::fake_whatsapp::{WaDlr, WaReply};
use crate::common::{Backend, TestApp};
use crate::fallback::{link_path, order, status, tap};
use crate::ivr::order_id;
use crate::whatsapp::{dlr, reply};

const SHOP: &str = "acme.myshopify.com";
const OTHER: &str = "other.myshopify.com";

/// Today in India (the shops' zone), on the app clock.
fn today(app: &TestApp) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms()).unwrap().with_timezone(&chrono_tz::Asia::Kolkata).date_naive()
}

async fn shop_id(app: &TestApp, shop: &str) -> String {
    app.text(&format!("SELECT id FROM shops WHERE domain = '{shop}'")).await.unwrap()
}

/// `by_channel` of the shop for today's orders.
async fn by_channel(app: &TestApp, shop: &str) -> Value {
    let id = shop_id(app, shop).await;
    codverify::db::costs::by_channel(&app.state.db, &id, today(app), today(app)).await.unwrap()
}

async fn set_costs(app: &TestApp, shop: &str, costs: Value) {
    let r = app.put_settings(shop, json!({"costs": costs})).await;
    assert_eq!(r.status(), 200, "costs: {}", r.text().await.unwrap());
}

async fn exec(app: &TestApp, sql: &str) {
    let sql = sql.to_string();
    on_db!(&app.state.db, exec c => sqlx::query(sqlx::AssertSqlSafe(sql))).unwrap();
}

/// (price_paise, price as reported) of order `id`'s first call.
async fn call_price(app: &TestApp, id: i64) -> (i64, Option<String>) {
    let oid = order_id(app, id).await;
    let q = |col: &str| format!("SELECT {col} FROM call_attempts WHERE order_id = '{oid}' AND attempt_no = 1");
    (app.count(&q("price_paise")).await, app.text(&q("price")).await)
}

fn nth_call(app: &TestApp, n: usize) -> (String, String) {
    let c = app.exotel.calls()[n].clone();
    (c.field("CustomField").unwrap().to_string(), c.sid.clone())
}

async fn call_status(app: &TestApp, body: Value) {
    let key = app.exotel_key(SHOP).await;
    let r = app.client.post(app.url(&format!("/exotel/{key}/call-status"))).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    app.settle().await;
}

/// A call's price comes from the status callback, or from the Call details API when the callback
/// never came; a call Exotel does not price costs its started minutes at the setting.
async fn call_prices_are_recorded(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"retries": 0, "retry_interval_minutes": 0})).await;
    set_costs(&app, SHOP, json!({"call_minute_paise": 100})).await;
    let key = app.exotel_key(SHOP).await;

    // 1: Exotel's terminal callback carries the price (rupees): stored as paise.
    order(&app, SHOP, 1).await;
    let (field, sid) = nth_call(&app, 0);
    call_status(&app, json!({"CallSid": sid, "Status": "completed", "CustomField": field, "ConversationDuration": 12,
        "Price": "2.30", "Legs": [{"Status": "completed", "AnsweredBy": "NA"}]})).await;
    assert_eq!(call_price(&app, 1).await, (230, Some("2.30".into())));

    // 2: unanswered, no price: costs nothing.
    order(&app, SHOP, 2).await;
    let (field, sid) = nth_call(&app, 1);
    call_status(&app, json!({"CallSid": sid, "Status": "no-answer", "CustomField": field, "Legs": [{"Status": "no-answer"}]})).await;

    // 3: the customer presses 1; the callback has a duration of 61 s and no price, and Exotel never
    // fills one in (its price lookups, run while the clock moves on below, find none): two started minutes.
    order(&app, SHOP, 3).await;
    let (field, sid) = nth_call(&app, 2);
    app.exotel.set_call_price(&sid, None);
    let r = app.client.get(app.url(&format!("/exotel/{key}/ivr/input")))
        .query(&[("CallSid", sid.as_str()), ("digits", "\"1\""), ("CustomField", field.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    call_status(&app, json!({"CallSid": sid, "Status": "completed", "CustomField": field, "ConversationDuration": "61"})).await;
    assert_eq!(status(&app, 3).await, "confirmed");

    // 4: the callback never comes: 30 minutes on, the Call details API answers with the price (₹0.90).
    order(&app, SHOP, 4).await;
    let (_, sid) = nth_call(&app, 3);
    app.exotel.set_call_status(&sid, "completed");
    app.advance(30 * 60).await;
    app.settle().await;
    assert_eq!(call_price(&app, 4).await, (90, Some("0.90".into())));

    let j = by_channel(&app, SHOP).await;
    assert_eq!(j["ivr"], json!({"contacts": 4, "confirmed": 1, "cost": 5.2, "cost_paise": 520, "cost_per_confirmed": 5.2,
        "cost_per_confirmed_paise": 520}));
    // A repeated callback changes nothing; one with an unreadable price keeps the known one.
    let (field, sid) = nth_call(&app, 0);
    call_status(&app, json!({"CallSid": sid, "Status": "completed", "CustomField": field, "Price": "n/a"})).await;
    assert_eq!(call_price(&app, 1).await.0, 230);
    assert_eq!(by_channel(&app, SHOP).await["ivr"]["cost_paise"], 520);
    app.stop().await;
}

/// An SMS costs its reported units at `sms_unit_paise`; one nobody reported on counts one unit.
async fn sms_units_are_priced_at_the_setting(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_fallback(SHOP, json!({})).await;
    set_costs(&app, SHOP, json!({"sms_unit_paise": 30})).await;
    let key = app.exotel_key(SHOP).await;
    order(&app, SHOP, 1).await;
    app.last_call_unanswered(SHOP).await;
    let sms = app.exotel.sms();
    assert_eq!(sms.len(), 1, "the link SMS");
    let r = app.client.post(app.url(&format!("/exotel/{key}/sms-status")))
        .form(&[("SmsSid", sms[0].sid.as_str()), ("Status", "sent"), ("SmsUnits", "2"), ("DetailedStatus", "DELIVERED_TO_HANDSET")])
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    let oid = order_id(&app, 1).await;
    assert_eq!(app.count(&format!("SELECT units_count FROM sms_messages WHERE order_id = '{oid}'")).await, 2);
    assert_eq!(app.text(&format!("SELECT units FROM sms_messages WHERE order_id = '{oid}'")).await.as_deref(), Some("2"));
    assert_eq!(tap(&app, &link_path(&app, 0), "confirm").await.0, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");

    // A second order's SMS: no status report yet, so one unit.
    order(&app, SHOP, 2).await;
    app.last_call_unanswered(SHOP).await;
    let j = by_channel(&app, SHOP).await;
    assert_eq!(j["sms_link"], json!({"contacts": 2, "confirmed": 1, "cost": 0.9, "cost_paise": 90, "cost_per_confirmed": 0.9,
        "cost_per_confirmed_paise": 90}));
    assert_eq!((j["ivr"]["contacts"].as_i64(), j["ivr"]["cost_paise"].as_i64(), j["ivr"]["confirmed"].as_i64()), (Some(2), Some(0), Some(0)));
    // A price change reprices what was recorded.
    set_costs(&app, SHOP, json!({"sms_unit_paise": 25})).await;
    assert_eq!(by_channel(&app, SHOP).await["sms_link"]["cost_paise"], 75);
    app.stop().await;
}

/// A WhatsApp message costs `whatsapp_message_paise`, unless Exotel reports it failed.
async fn whatsapp_messages_cost_the_setting(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    crate::whatsapp::setup(&app, SHOP, json!(["whatsapp", "ivr", "sms_link"]), json!({})).await;
    set_costs(&app, SHOP, json!({"whatsapp_message_paise": 15})).await;
    order(&app, SHOP, 1).await;
    let m = app.exotel.whatsapp()[0].clone();
    assert_eq!(dlr(&app, &m, WaDlr::Delivered).await, 200);
    assert_eq!(reply(&app, &m, WaReply::Button(m.payload("confirm"))).await, 200);
    app.settle().await;
    assert_eq!(status(&app, 1).await, "confirmed");
    // Not on WhatsApp: the message failed (not billed) and the plan calls instead.
    order(&app, SHOP, 2).await;
    let m = app.exotel.whatsapp()[1].clone();
    assert_eq!(dlr(&app, &m, WaDlr::Failed).await, 200);
    app.settle().await;
    assert_eq!(app.exotel.calls().len(), 1);
    let j = by_channel(&app, SHOP).await;
    assert_eq!(j["whatsapp"], json!({"contacts": 2, "confirmed": 1, "cost": 0.15, "cost_paise": 15, "cost_per_confirmed": 0.15,
        "cost_per_confirmed_paise": 15}));
    assert_eq!(j["ivr"]["contacts"], 1);
    app.stop().await;
}

/// The `costs` section: defaults, bounds, 422 naming the field with nothing saved, a round trip.
async fn cost_settings_validate(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    let get = || async { app.get_api("/app/api/settings", &app.session_token(SHOP)).await.json::<Value>().await.unwrap() };
    assert_eq!(get().await["costs"], json!({"sms_unit_paise": 25, "whatsapp_message_paise": 12, "call_minute_paise": 120}));
    for (bad, key) in [
        (json!({"sms_unit_paise": -1}), "costs.sms_unit_paise"),
        (json!({"whatsapp_message_paise": 10001}), "costs.whatsapp_message_paise"),
        (json!({"call_minute_paise": 1.2}), "costs.call_minute_paise"),
        (json!({"call_minute_paise": "120"}), "costs.call_minute_paise"),
        (json!({"sms_unit_paise": 30, "minute_paise": 1}), "costs.minute_paise"),
    ] {
        let r = app.put_settings(SHOP, json!({"costs": bad, "privacy": {"retention_days": 30}})).await;
        assert_eq!(r.status(), 422, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(body["errors"][key].is_string(), "{bad}: {body}");
    }
    assert_eq!(get().await["costs"]["sms_unit_paise"], 25, "nothing saved");
    assert_eq!(get().await["privacy"]["retention_days"], 180, "nothing saved");
    set_costs(&app, SHOP, json!({"sms_unit_paise": 0, "call_minute_paise": 10000})).await;
    let doc = get().await;
    assert_eq!(doc["costs"], json!({"sms_unit_paise": 0, "whatsapp_message_paise": 12, "call_minute_paise": 10000}));
    // The GET document goes back unchanged.
    let r = app.put_settings(SHOP, json!({"costs": doc["costs"]})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get().await["costs"], doc["costs"]);
    app.stop().await;
}

/// `by_channel` against hand-built rows: contacts of every channel and state, orders out of the
/// range and another shop's orders left out, confirmations told apart by channel.
async fn by_channel_adds_up_a_fixture(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install(SHOP).await;
    app.install(OTHER).await;
    set_costs(&app, SHOP, json!({"sms_unit_paise": 30, "whatsapp_message_paise": 15, "call_minute_paise": 100})).await;
    let (a, b) = (shop_id(&app, SHOP).await, shop_id(&app, OTHER).await);
    let now = app.state.clock.now_ms();
    let old = now - 2 * 86_400_000;
    let orders = [
        ("a1", &a, 1, "confirmed", "pressed 1 on call 1 (confirm)", "NULL", now),
        ("a2", &a, 2, "confirmed", "confirmed on the confirmation link", "NULL", now),
        ("a3", &a, 3, "no_response", "no answer", "NULL", now),
        ("a4", &a, 4, "confirmed", "confirmed by Asha on the shopper''s behalf", "'Asha'", now),
        ("a5", &a, 5, "confirmed", "pressed 1 on call 1 (confirm)", "NULL", old),
        ("b1", &b, 1, "confirmed", "pressed 1 on call 1 (confirm)", "NULL", now),
    ];
    for (id, shop, n, st, reason, by, at) in orders {
        exec(&app, &format!(
            "INSERT INTO orders (id, shop_id, shopify_order_id, admin_graphql_id, name, total_price, currency, gateways, is_cod, status, \
               status_reason, resolved_by, created_at, updated_at) \
             VALUES ('{id}', '{shop}', {n}, 'gid://shopify/Order/{n}', '#{n}', '499.00', 'INR', 'cod', TRUE, '{st}', '{reason}', {by}, {at}, {at})"
        )).await;
    }
    // (id, shop, order, n, dialed, price, duration, choice, status)
    let calls = [
        ("c1", &a, "a1", 1, "1", "230", "12", "'confirm'", "'completed'"),
        ("c2", &a, "a1", 2, "1", "NULL", "61", "NULL", "'completed'"),
        ("c3", &a, "a1", 3, "NULL", "NULL", "NULL", "NULL", "NULL"),
        ("c4", &a, "a4", 1, "1", "NULL", "NULL", "NULL", "'no-answer'"),
        ("c5", &a, "a5", 1, "1", "999", "60", "'confirm'", "'completed'"),
        ("c6", &b, "b1", 1, "1", "500", "60", "'confirm'", "'completed'"),
    ];
    for (id, shop, o, n, dialed, price, duration, choice, st) in calls {
        exec(&app, &format!(
            "INSERT INTO call_attempts (id, shop_id, order_id, attempt_no, account_sid, state, due_at, dialed_at, price_paise, \
               duration_seconds, choice, exotel_status, created_at, updated_at) \
             VALUES ('{id}', '{shop}', '{o}', {n}, 'acme1', 'ended', {now}, {dialed}, {price}, {duration}, {choice}, {st}, {now}, {now})"
        )).await;
    }
    // (id, order, kind, seq, state, units)
    let sms = [
        ("s1", "a2", "link", 1, "sent", "2"),
        ("s2", "a2", "link", 2, "unknown", "NULL"),
        ("s3", "a2", "link", 3, "failed", "NULL"),
        ("s4", "a2", "missed_call", 1, "sent", "1"),
        ("s5", "a2", "confirmation", 1, "sent", "NULL"),
        ("s6", "a3", "otp", 1, "sent", "1"),
        ("s7", "a3", "link", 4, "queued", "NULL"),
    ];
    for (id, o, kind, seq, st, units) in sms {
        exec(&app, &format!(
            "INSERT INTO sms_messages (id, shop_id, order_id, kind, seq, account_sid, body, unicode, state, due_at, units_count, \
               created_at, updated_at) VALUES ('{id}', '{a}', '{o}', '{kind}', {seq}, 'acme1', 'text', FALSE, '{st}', {now}, {units}, {now}, {now})"
        )).await;
    }
    // (id, seq, state, status)
    let wa = [
        ("w1", 1, "sent", "'delivered'"),
        ("w2", 2, "sent", "'failed'"),
        ("w3", 3, "unknown", "NULL"),
        ("w4", 4, "refused", "NULL"),
        ("w5", 5, "sent", "NULL"),
    ];
    for (id, seq, st, status) in wa {
        exec(&app, &format!(
            "INSERT INTO whatsapp_messages (id, shop_id, order_id, seq, account_sid, token_hash, template, language, state, status, \
               due_at, created_at, updated_at) VALUES ('{id}', '{a}', 'a3', {seq}, 'acme1', 'h{id}', 't', 'en', '{st}', {status}, {now}, {now}, {now})"
        )).await;
    }
    let t = |contacts: i64, confirmed: i64, paise: i64, per: Option<i64>| {
        json!({"contacts": contacts, "confirmed": confirmed, "cost": paise as f64 / 100.0, "cost_paise": paise,
            "cost_per_confirmed": per.map(|p| p as f64 / 100.0), "cost_per_confirmed_paise": per})
    };
    let j = by_channel(&app, SHOP).await;
    assert_eq!(j, json!({
        // 230 reported + 2 started minutes at 100; the agent's confirmation and the call never dialled do not count.
        "ivr": t(3, 1, 430, Some(430)),
        // 2 units + 1 unit (not reported) at 30; the refused and the queued SMS are no contacts.
        "sms_link": t(2, 1, 90, Some(90)),
        "sms_missed_call": t(2, 0, 60, None),
        // Delivered, and taken with no report since: billed; failed, or never known to reach Exotel: not.
        "whatsapp": t(4, 0, 30, None),
        "otp": t(1, 0, 30, None),
    }));
    let id = shop_id(&app, SHOP).await;
    let report = codverify::db::costs::report(&app.state.db, &id, today(&app), today(&app)).await.unwrap();
    assert_eq!(report.overall, codverify::costs::Totals { contacts: 12, confirmed: 3, cost_paise: 640 });
    assert_eq!(report.overall.per_confirmed_paise(), Some(213));
    // Widening the range takes order a5 in; the other shop's rows never count.
    let from = today(&app) - chrono::Days::new(3);
    let wide = codverify::db::costs::by_channel(&app.state.db, &id, from, today(&app)).await.unwrap();
    assert_eq!(wide["ivr"], t(4, 2, 1429, Some(715)));
    let other = by_channel(&app, OTHER).await;
    assert_eq!(other["ivr"], t(1, 1, 500 , Some(500)));
    app.stop().await;
}

/// Price lookups scheduled, of any call.
async fn price_timers(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM timers WHERE job LIKE '{\"kind\":\"price_call\"%'").await
}

/// An answered call whose status report carries no price is looked up in Call details ten minutes
/// later, once; while Exotel has no price yet, again after 20, 40 and 80 minutes, then it is
/// priced by its minutes. Unanswered calls and calls reported with a price are never looked up.
async fn answered_calls_are_priced_later(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.install_with_ivr(SHOP, "cod", json!({"retries": 0, "retry_interval_minutes": 0})).await;
    let key = app.exotel_key(SHOP).await;
    let press = |sid: String, field: String| {
        let (app, key) = (&app, &key);
        async move {
            let r = app.client.get(app.url(&format!("/exotel/{key}/ivr/input")))
                .query(&[("CallSid", sid.as_str()), ("digits", "\"1\""), ("CustomField", field.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    };

    // 1: answered (key 1), reported without a price: nothing asked until ten minutes on, then once.
    order(&app, SHOP, 1).await;
    let (field, sid) = nth_call(&app, 0);
    press(sid.clone(), field.clone()).await;
    call_status(&app, json!({"CallSid": sid, "Status": "completed", "CustomField": field, "ConversationDuration": "61"})).await;
    assert_eq!(status(&app, 1).await, "confirmed");
    assert_eq!(price_timers(&app).await, 1, "one lookup scheduled with the terminal status");
    // A repeated report schedules nothing more.
    call_status(&app, json!({"CallSid": sid, "Status": "completed", "CustomField": field, "ConversationDuration": "61"})).await;
    assert_eq!(price_timers(&app).await, 1);
    app.advance(9 * 60).await;
    app.settle().await;
    assert!(app.exotel.call_lookups().is_empty(), "not before ten minutes");
    app.advance(60).await;
    app.settle().await;
    assert_eq!(app.exotel.call_lookups(), vec![sid.clone()]);
    assert_eq!(call_price(&app, 1).await, (90, Some("0.90".into())));
    assert_eq!(price_timers(&app).await, 0, "done once priced");

    // 2: unanswered: nothing to price, nothing looked up.
    order(&app, SHOP, 2).await;
    let (field, sid2) = nth_call(&app, 1);
    call_status(&app, json!({"CallSid": sid2, "Status": "no-answer", "CustomField": field, "Legs": [{"Status": "no-answer"}]})).await;
    // 3: answered and reported with its price: kept, nothing looked up.
    order(&app, SHOP, 3).await;
    let (field, sid3) = nth_call(&app, 2);
    call_status(&app, json!({"CallSid": sid3, "Status": "completed", "CustomField": field, "ConversationDuration": "30", "Price": "1.10"})).await;
    assert_eq!(call_price(&app, 3).await, (110, Some("1.10".into())));
    assert_eq!(price_timers(&app).await, 0, "no lookup for unanswered or priced calls");

    // 4: answered, and Exotel never fills the price in: looked up 4 times (10, 20, 40, 80 minutes
    // apart), then left to its minutes (answered with no talk time reported: one minute).
    order(&app, SHOP, 4).await;
    let (field, sid4) = nth_call(&app, 3);
    app.exotel.set_call_price(&sid4, None);
    press(sid4.clone(), field.clone()).await;
    call_status(&app, json!({"CallSid": sid4, "Status": "completed", "CustomField": field})).await;
    let lookups = |app: &TestApp| app.exotel.call_lookups().iter().filter(|s| **s == sid4).count();
    for (minutes, seen) in [(10, 1), (19, 1), (1, 2), (40, 3), (79, 3), (1, 4), (1000, 4)] {
        app.advance(minutes * 60).await;
        app.settle().await;
        assert_eq!(lookups(&app), seen, "after {minutes} more minutes");
    }
    assert_eq!(price_timers(&app).await, 0, "given up");
    let oid = order_id(&app, 4).await;
    assert_eq!(app.text(&format!("SELECT price FROM call_attempts WHERE order_id = '{oid}'")).await, None);
    // The clock moved on a day: the range reaches back to the orders' day.
    let id = shop_id(&app, SHOP).await;
    let j = codverify::db::costs::by_channel(&app.state.db, &id, today(&app) - chrono::Days::new(2), today(&app)).await.unwrap();
    // 90 (Exotel's) + 0 (unanswered) + 110 (Exotel's) + one minute at the default 120.
    assert_eq!(j["ivr"]["cost_paise"], 320);
    assert_eq!(app.exotel.call_lookups().len(), 5, "only the two unpriced answered calls were looked up");
    app.assert_no_jobs_left().await;
    app.stop().await;
}

both_dbs!(
    call_prices_are_recorded,
    answered_calls_are_priced_later,
    sms_units_are_priced_at_the_setting,
    whatsapp_messages_cost_the_setting,
    cost_settings_validate,
    by_channel_adds_up_a_fixture,
);
