//! The Outcomes page (issue 18): a document load of `/app/outcomes` shows, for the hand-built
//! fixture of the outcomes API, the same numbers the API gives, written out by hand here; its CSV;
//! the range rules; authentication; and only the shop's own orders.

use serde_json::{Value, json};

use crate::both_dbs;
use crate::common::{Backend, TestApp, order_payload};
use crate::outcomes::{COD, OTHER, SHOP, event, exec, hand_built_fixture, outcomes_api, settle_fixture};

/// A document load: (status, content type, body).
async fn load(app: &TestApp, shop: &str, query: &[(&str, &str)]) -> (u16, String, String) {
    let token = app.session_token(shop);
    let mut q: Vec<(&str, &str)> = vec![("shop", shop), ("embedded", "1"), ("id_token", token.as_str())];
    q.extend_from_slice(query);
    let r = app.client.get(app.url("/app/outcomes")).query(&q).send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for ch in s.chars() {
        match ch {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the cell `data-col="col"` in the row marked `attr="key"`.
fn cell(html: &str, attr: &str, key: &str, col: &str) -> String {
    let marker = format!("<tr {attr}=\"{key}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no row {key}"));
    let tr = &html[at..at + html[at..].find("</tr>").unwrap()];
    let c = format!("data-col=\"{col}\">");
    let from = tr.find(&c).unwrap_or_else(|| panic!("no {col} in {key}")) + c.len();
    strip_tags(&tr[from..from + tr[from..].find("</td>").unwrap()])
}

fn count(html: &str, key: &str) -> String {
    let marker = format!("data-count=\"{key}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no count {key}"));
    let v = html[at..].split("class=\"count-value\">").nth(1).unwrap();
    v[..v.find('<').unwrap()].to_string()
}

async fn csv(app: &TestApp, shop: &str, query: &[(&str, &str)]) -> (u16, String, Vec<String>) {
    let mut q = query.to_vec();
    q.push(("format", "csv"));
    let (status, ctype, body) = load(app, shop, &q).await;
    (status, ctype, body.split("\r\n").filter(|l| !l.is_empty()).map(String::from).collect())
}

async fn page_shows_the_fixture(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    // One IVR call of order 101 that Exotel priced at ₹2.30 and that confirmed it, and the time each
    // confirmed order of the day took: 1 min, 5 min, 10 min, 1 h, 3 h.
    let shop_of = format!("(SELECT id FROM shops WHERE domain = '{SHOP}')");
    exec(&app, &format!("UPDATE call_attempts SET dialed_at = created_at, price_paise = 230 WHERE order_id = \
        (SELECT id FROM orders WHERE shopify_order_id = 101 AND shop_id = {shop_of})")).await;
    exec(&app, &format!("UPDATE orders SET status_reason = 'pressed 1 (confirm)' WHERE shopify_order_id = 101 AND shop_id = {shop_of}")).await;
    for (id, minutes) in [(101, 1), (102, 5), (103, 10), (104, 60), (105, 180)] {
        exec(&app, &format!("UPDATE orders SET resolved_at = created_at + {} WHERE shopify_order_id = {id} AND shop_id = {shop_of}",
            minutes * 60_000)).await;
    }
    let d = day.to_string();
    let (status, ctype, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(ctype.starts_with("text/html"));
    assert_eq!(html.matches(r#"aria-current="page""#).count(), 1);
    assert!(html.contains(r#"aria-current="page">Outcomes</a>"#));

    // Per status: orders, shipped, delivered, returned, cancelled after shipping, rate (n).
    let expected = [
        ("confirmed", ["5", "5", "3", "1", "0"], "25.0% (n = 4) small sample"),
        ("skipped", ["2", "1", "0", "1", "0"], "100.0% (n = 1) small sample"),
        ("no_response", ["3", "3", "1", "2", "0"], "66.7% (n = 3) small sample"),
        ("cancelled", ["1", "1", "0", "0", "1"], "– (n = 0) small sample"),
        ("callback_requested", ["0", "0", "0", "0", "0"], "– (n = 0) small sample"),
        ("pending", ["1", "0", "0", "0", "0"], "– (n = 0) small sample"),
    ];
    for (key, counts, rate) in expected {
        for (col, want) in ["orders", "shipped", "delivered", "returned", "cancelled"].iter().zip(counts) {
            assert_eq!(cell(&html, "data-status", key, col), want, "{key} {col}");
        }
        assert_eq!(cell(&html, "data-status", key, "rate"), rate, "{key}");
    }
    // In short: confirmed against not verified + no response (1 + 3 returned of 4), and the cost.
    let said = |i: &str| {
        let marker = format!("data-headline=\"{i}\">");
        let from = html.find(&marker).unwrap_or_else(|| panic!("no headline {i}")) + marker.len();
        html[from..from + html[from..].find("</p>").unwrap()].to_string()
    };
    assert_eq!(said("1"), "Confirmed orders came back less often: 25.0% returned (n = 4) for confirmed orders against 75.0% \
        returned (n = 4) for orders not verified or not answered. Fewer than 30 known outcomes on a side: a small sample.");
    assert_eq!(said("2"), "A confirmation cost ₹0.46 on average: the cost of all channels in these dates over the 5 confirmed orders.");
    // Confirmed first, then the ones it is compared against.
    let (c, s, n) = (html.find("data-status=\"confirmed\"").unwrap(), html.find("data-status=\"skipped\"").unwrap(),
        html.find("data-status=\"no_response\"").unwrap());
    assert!(c < s && s < n);
    // The chart: an SVG with the rates and their counts, no script.
    let svg = &html[html.find("<svg xmlns").unwrap()..];
    assert!(svg.contains("Confirmed: 25.0% (n = 4)") && svg.contains("No response: 66.7% (n = 3)"), "{svg}");
    assert!(!html.contains("<script>") && !html.to_lowercase().contains("chart.js"));

    // Per channel, and overall: ₹2.30 over the day's 5 confirmed orders.
    for (col, want) in [("contacts", "1"), ("confirmed", "1"), ("cost", "2.30"), ("per_confirmed", "2.30")] {
        assert_eq!(cell(&html, "data-channel", "ivr", col), want, "ivr {col}");
    }
    for (col, want) in [("contacts", "0"), ("confirmed", "0"), ("cost", "0.00"), ("per_confirmed", "–")] {
        assert_eq!(cell(&html, "data-channel", "whatsapp", col), want, "whatsapp {col}");
    }
    for (col, want) in [("contacts", "1"), ("confirmed", "5"), ("cost", "2.30"), ("per_confirmed", "0.46")] {
        assert_eq!(cell(&html, "data-channel", "all", col), want, "all {col}");
    }
    // Time to confirm: nearest rank of 5 durations.
    assert_eq!((count(&html, "confirmed"), count(&html, "p50"), count(&html, "p90")), ("5".into(), "10 min".into(), "3 h 00 min".into()));

    // By hour of day (IST): the day's 12 COD orders were all taken at the same moment.
    let taken: i64 = app.count(&format!("SELECT created_at FROM orders WHERE shopify_order_id = 101 AND shop_id = {shop_of}")).await;
    let hour = chrono::Timelike::hour(&(chrono::DateTime::from_timestamp_millis(taken).unwrap() + chrono::Duration::minutes(330)));
    let h = hour.to_string();
    assert_eq!([cell(&html, "data-hour", &h, "orders"), cell(&html, "data-hour", &h, "confirmed"), cell(&html, "data-hour", &h, "rate")],
        ["12".to_string(), "5".into(), "41.7%".into()]);
    let other_hour = ((hour + 1) % 24).to_string();
    assert_eq!(cell(&html, "data-hour", &other_hour, "rate"), "–");
    assert_eq!(html.matches("data-hour=").count(), 24);

    // The same numbers as the API.
    let (_, api) = outcomes_api(&app, SHOP, &d, &d).await;
    assert_eq!(api["by_status"]["confirmed"]["rto_rate"], json!(0.25));
    assert_eq!(api["by_channel"]["ivr"]["cost"], json!(2.3));
    assert_eq!(api["cost"]["cost_per_confirmed_paise"], json!(46));

    // Both days: order 106 (delivered, no resolved_at) counts in the table.
    let tomorrow = day.succ_opt().unwrap().to_string();
    let (_, _, both) = load(&app, SHOP, &[("from", &d), ("to", &tomorrow)]).await;
    assert_eq!(cell(&both, "data-status", "confirmed", "rate"), "20.0% (n = 5) small sample");
    assert_eq!(count(&both, "confirmed"), "5", "106 has no confirmation time");

    // Without dates: the last 30 days, today (tomorrow, by the app clock) included.
    let (status, _, default) = load(&app, SHOP, &[]).await;
    assert_eq!(status, 200);
    let from = (day.succ_opt().unwrap() - chrono::Days::new(29)).to_string();
    assert!(default.contains(&format!("name=\"from\" type=\"date\" value=\"{from}\"")), "default from {from}");
    assert!(default.contains(&format!("name=\"to\" type=\"date\" value=\"{tomorrow}\"")));
    assert_eq!(cell(&default, "data-status", "confirmed", "orders"), "6");
    app.stop().await;
}

async fn csv_of_each_table(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    let d = day.to_string();
    let (status, ctype, lines) = csv(&app, SHOP, &[("from", &d), ("to", &d), ("table", "status")]).await;
    assert_eq!(status, 200, "{lines:?}");
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert_eq!(lines, [
        "Verification status,Orders,Shipped,Delivered,Returned,Cancelled after shipping,Known outcomes (n),RTO rate",
        "confirmed,5,5,3,1,0,4,0.2500",
        "skipped,2,1,0,1,0,1,1.0000",
        "no_response,3,3,1,2,0,3,0.6667",
        "cancelled,1,1,0,0,1,0,",
        "callback_requested,0,0,0,0,0,0,",
        "pending,1,0,0,0,0,0,",
    ]);
    let (status, _, lines) = csv(&app, SHOP, &[("from", &d), ("to", &d), ("table", "channel")]).await;
    assert_eq!(status, 200);
    assert_eq!(lines, [
        "Channel,Contacts,Confirmed,Cost (INR),Cost per confirmed (INR)",
        "whatsapp,0,0,0.00,",
        "ivr,0,0,0.00,",
        "sms_link,0,0,0.00,",
        "sms_missed_call,0,0,0.00,",
        "otp,0,0,0.00,",
        "all,0,5,0.00,0.00",
    ]);
    // The other shop's CSV has its own orders only.
    let (_, _, lines) = csv(&app, OTHER, &[("from", &d), ("to", &d), ("table", "status")]).await;
    assert_eq!(lines[1], "confirmed,0,0,0,0,0,0,");
    assert_eq!(lines[6], "pending,2,2,1,1,0,2,0.5000");
    // No such table; a bad range.
    let (status, _, lines) = csv(&app, SHOP, &[("from", &d), ("to", &d), ("table", "orders")]).await;
    assert_eq!((status, lines.join("")), (400, "table must be status, channel, funnel or state".to_string()));
    let (status, _, lines) = csv(&app, SHOP, &[("from", "2026-07-01"), ("to", "2026-10-01"), ("table", "status")]).await;
    assert_eq!(status, 422);
    assert!(lines.join("").contains("at most 92 days"), "{lines:?}");
    app.stop().await;
}

async fn range_errors_and_authentication(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    hand_built_fixture(&app).await;
    for (query, needle) in [
        (vec![("from", "2026-07-01"), ("to", "2026-10-01")], "the range is at most 92 days, both dates included: pick a to no later than 2026-09-30"),
        (vec![("from", "2026-11-05"), ("to", "2026-11-04")], "to must not be before from"),
        (vec![("from", "2026-11-5"), ("to", "2026-11-06")], "from must be a date as YYYY-MM-DD"),
        (vec![("from", "2026-11-01"), ("to", "soon")], "to must be a date as YYYY-MM-DD"),
    ] {
        let (status, _, html) = load(&app, SHOP, &query).await;
        assert_eq!(status, 422, "{query:?}");
        assert!(html.contains("role=\"alert\"") && html.contains(needle), "{query:?}: {needle}");
        assert!(!html.contains("data-status="), "no numbers for a refused range");
    }
    // 92 days, both included, is the most.
    let (status, _, _) = load(&app, SHOP, &[("from", "2026-07-01"), ("to", "2026-09-30")]).await;
    assert_eq!(status, 200);

    // Without a valid token: refused, or bounced for one when embedded.
    let r = app.client.get(app.url(&format!("/app/outcomes?shop={SHOP}&embedded=1&id_token=not-a-token"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let other = app.session_token(OTHER);
    let r = app.client.get(app.url(&format!("/app/outcomes?shop={SHOP}&embedded=1&id_token={other}"))).send().await.unwrap();
    assert_eq!(r.status(), 401, "another shop's token");
    let r = app.client.get(app.url(&format!("/app/outcomes?shop={SHOP}&embedded=1"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/auth/session-token?"));
    let r = app.client.get(app.url("/app/outcomes?format=csv&table=status")).send().await.unwrap();
    assert_eq!(r.status(), 400, "no shop, no token");
    app.stop().await;
}

async fn another_shops_orders_are_not_shown(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    let d = day.to_string();
    let (_, _, html) = load(&app, OTHER, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "pending", "orders"), "2");
    assert_eq!(cell(&html, "data-status", "pending", "rate"), "50.0% (n = 2) small sample");
    for key in ["confirmed", "skipped", "no_response", "cancelled"] {
        assert_eq!(cell(&html, "data-status", key, "orders"), "0", "{key}");
    }
    assert_eq!(cell(&html, "data-channel", "all", "confirmed"), "0");
    assert_eq!(count(&html, "confirmed"), "0");
    assert_eq!(count(&html, "p50"), "–");
    // The shop's page does not count the other's orders (its pending row is its own order 141).
    let (_, _, mine) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&mine, "data-status", "pending", "orders"), "1");
    let api: Value = outcomes_api(&app, OTHER, &d, &d).await.1;
    assert_eq!(api["by_status"]["pending"]["orders"], 2);
    app.stop().await;
}

/// The page reads per-day summaries (the 1,000,000-order bar): a day is computed once, read from
/// its summary while nothing of it changes, and computed again as soon as one of its orders or
/// their contacts is written — by any statement, as the marks are the database's own triggers.
async fn days_are_kept_until_an_order_or_contact_of_them_changes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    let d = day.to_string();
    let shop_of = format!("(SELECT id FROM shops WHERE domain = '{SHOP}')");
    let order = |n: i64| format!("(SELECT id FROM orders WHERE shopify_order_id = {n} AND shop_id = {shop_of})");
    let (_, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "confirmed", "orders"), "5");
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outcome_days WHERE shop_id = {shop_of} AND day = '{d}' AND facts IS NOT NULL")).await, 1);
    let quarter = format!("(SELECT created_at / 900000 FROM orders WHERE id = {})", order(101));
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outcome_marks WHERE shop_id = {shop_of} AND quarter = {quarter}")).await, 0);

    // A summary changed behind the app's back (nothing marks that) is what the page shows: it is read.
    let planted = r#"{"counts":[["confirmed",null,99,0]],"confirm":[],"quarters":[],"usage":[],"confirmed":0,"funnel":[],"states":[],"v":1}"#;
    let plant = format!("UPDATE outcome_days SET facts = '{planted}' WHERE shop_id = {shop_of} AND day = '{d}'");
    exec(&app, &plant).await;
    let (_, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "confirmed", "orders"), "99");

    // A contact's write marks its order's day: Exotel's price of the IVR call arrives.
    exec(&app, &format!("UPDATE call_attempts SET dialed_at = created_at, price_paise = 500 WHERE order_id = {}", order(101))).await;
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outcome_marks WHERE shop_id = {shop_of} AND quarter = {quarter}")).await, 1);
    let (_, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "confirmed", "orders"), "5");
    assert_eq!(cell(&html, "data-channel", "ivr", "cost"), "5.00");

    // An order's write marks its day: a confirmed order is cancelled.
    exec(&app, &plant).await;
    exec(&app, &format!("UPDATE orders SET status = 'cancelled' WHERE id = {}", order(105))).await;
    let (_, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "confirmed", "orders"), "4");
    assert_eq!(cell(&html, "data-status", "cancelled", "orders"), "2");

    // A summary made for other settings is not used: the shop moves to another zone.
    exec(&app, &plant).await;
    exec(&app, &format!("UPDATE outcome_days SET zone = 'Asia/Kathmandu' WHERE shop_id = {shop_of}")).await;
    let (_, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(cell(&html, "data-status", "confirmed", "orders"), "4");
    // A day left without a summary (a load stopped half-way) is computed.
    exec(&app, &format!("UPDATE outcome_days SET facts = NULL, token = 'gone' WHERE shop_id = {shop_of}")).await;
    let (_, api) = outcomes_api(&app, SHOP, &d, &d).await;
    assert_eq!(api["by_status"]["confirmed"]["orders"], json!(4));
    app.stop().await;
}

/// The shop's order with this Shopify id, as SQL.
fn order_of(shop: &str, id: i64) -> String {
    format!("(SELECT id FROM orders WHERE shopify_order_id = {id} AND shop_id = (SELECT id FROM shops WHERE domain = '{shop}'))")
}

fn shop_of(shop: &str) -> String {
    format!("(SELECT id FROM shops WHERE domain = '{shop}')")
}

/// Contacts of the fixture's orders whose delivery and answer are set by hand (what Exotel's
/// callbacks, the link page and the OTP check record), and the resolving reasons the cost table
/// attributes confirmations by.
async fn funnel_fixture(app: &TestApp) {
    let call = |id: i64, status: &str, choice: &str, result: &str| {
        format!("UPDATE call_attempts SET dialed_at = created_at, exotel_status = '{status}', choice = {choice}, result = {result} WHERE order_id = {}",
            order_of(SHOP, id))
    };
    let reason = |id: i64, r: &str| format!("UPDATE orders SET status_reason = '{r}' WHERE id = {}", order_of(SHOP, id));
    for sql in [
        // IVR: 101 pressed 1; 111 not picked up; 112 a machine; 113 picked up, no key; 102 confirmed
        // by a key press whose call is not on record (counts at every stage: it must have been sent).
        call(101, "completed", "'confirm'", "'confirm'"), call(111, "no-answer", "NULL", "'no-answer'"),
        call(112, "completed", "NULL", "'machine'"), call(113, "completed", "NULL", "'no-input'"),
        reason(101, "pressed 1 (confirm)"), reason(102, "pressed 1 (confirm)"),
        reason(103, "confirmed on WhatsApp"), reason(104, "confirmed on the confirmation link"), reason(105, "confirmed by a missed call"),
        // The other shop's call, picked up: never this shop's.
        format!("UPDATE call_attempts SET dialed_at = created_at, exotel_status = 'completed' WHERE order_id = {}", order_of(OTHER, 101)),
    ] {
        exec(app, &sql).await;
    }
    // (order, seq, state, status, reply): 103 read and answered; 111 delivered; 112 failed at
    // Meta (still sent); 121 never left; the prepaid 151 is not counted (COD only).
    let wa = [(103, 1, "sent", "'read'", "'confirm'"), (111, 1, "sent", "'delivered'", "NULL"), (112, 1, "sent", "'failed'", "NULL"),
        (121, 1, "failed", "NULL", "NULL"), (151, 1, "sent", "'read'", "'confirm'")];
    for (id, seq, state, status, reply) in wa {
        exec(app, &format!(
            "INSERT INTO whatsapp_messages (id, shop_id, order_id, seq, account_sid, token_hash, template, language, state, status, reply, \
               due_at, created_at, updated_at) SELECT 'w{id}', {}, o.id, {seq}, 'acme1', 'hw{id}', 't', 'en', '{state}', {status}, {reply}, \
               o.created_at, o.created_at, o.created_at FROM orders o WHERE o.id = {}", shop_of(SHOP), order_of(SHOP, id))).await;
    }
    // (order, kind, seq, state, Exotel status): 104 link delivered (and used); 113 two links, never
    // reported delivered (counted once); 131 a link, used to cancel; 105 asked for a missed call,
    // delivered (and its thanks: not the ask); 111 perhaps sent; 141 still queued; 122 an OTP
    // delivered (a wrong code entered); 141 an OTP that failed at the operator (still sent).
    let sms = [(104, "link", 1, "sent", "'sent'"), (113, "link", 1, "sent", "'submitted'"), (113, "link", 2, "sent", "NULL"),
        (131, "link", 1, "sent", "NULL"), (105, "missed_call", 1, "sent", "'sent'"), (105, "confirmation", 2, "sent", "'sent'"),
        (111, "missed_call", 1, "unknown", "NULL"), (141, "missed_call", 1, "queued", "NULL"), (122, "otp", 1, "sent", "'sent'"),
        (141, "otp", 2, "sent", "'failed'")];
    for (id, kind, seq, state, status) in sms {
        exec(app, &format!(
            "INSERT INTO sms_messages (id, shop_id, order_id, kind, seq, account_sid, body, unicode, state, status, due_at, created_at, updated_at) \
             SELECT 's{id}-{seq}', {}, o.id, '{kind}', {seq}, 'acme1', 'text', FALSE, '{state}', {status}, o.created_at, o.created_at, o.created_at \
             FROM orders o WHERE o.id = {}", shop_of(SHOP), order_of(SHOP, id))).await;
    }
    for (id, action) in [(104, "confirm"), (131, "cancel")] {
        exec(app, &format!(
            "INSERT INTO links (token_hash, shop_id, order_id, expires_at, used_at, action, created_at) \
             SELECT 'l{id}', {}, o.id, o.created_at + 86400000, o.created_at + 60000, '{action}', o.created_at FROM orders o WHERE o.id = {}",
            shop_of(SHOP), order_of(SHOP, id))).await;
    }
    exec(app, &format!(
        "INSERT INTO otps (order_id, shop_id, code_hash, version, issued_at, expires_at, wrong_count, created_at, updated_at) \
         SELECT o.id, {}, 'h', 1, o.created_at, o.created_at + 600000, 1, o.created_at, o.created_at FROM orders o WHERE o.id = {}",
        shop_of(SHOP), order_of(SHOP, 122))).await;
    // Tomorrow's 106: confirmed on WhatsApp, after a reply.
    exec(app, &format!(
        "INSERT INTO whatsapp_messages (id, shop_id, order_id, seq, account_sid, token_hash, template, language, state, status, reply, \
           due_at, created_at, updated_at) SELECT 'w106', {}, o.id, 1, 'acme1', 'hw106', 't', 'en', 'sent', 'delivered', 'confirm', \
           o.created_at, o.created_at, o.created_at FROM orders o WHERE o.id = {}", shop_of(SHOP), order_of(SHOP, 106))).await;
    exec(app, &format!("UPDATE orders SET status_reason = 'confirmed on WhatsApp' WHERE id = {}", order_of(SHOP, 106))).await;
}

async fn funnel_per_channel(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    funnel_fixture(&app).await;
    let d = day.to_string();
    // (channel, sent, delivered, answered, confirmed) of the day.
    let want = [("whatsapp", 3, 2, 1, 1), ("ivr", 5, 3, 2, 2), ("sms_link", 3, 2, 2, 1), ("sms_missed_call", 2, 1, 1, 1), ("otp", 2, 1, 1, 0)];
    let (status, api) = outcomes_api(&app, SHOP, &d, &d).await;
    assert_eq!(status, 200, "{api}");
    for (key, s, dl, a, c) in want {
        assert_eq!(api["funnel"][key], json!({"sent": s, "delivered": dl, "answered": a, "confirmed": c}), "{key}");
        // Confirmed as the cost table attributes it.
        assert_eq!(api["funnel"][key]["confirmed"], api["by_channel"][key]["confirmed"], "{key}");
    }

    let (status, _, html) = load(&app, SHOP, &[("from", &d), ("to", &d)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Funnel per channel") && html.contains("no bar is taller than the one before it"));
    let row = |key: &str| ["sent", "delivered", "answered", "confirmed", "sent_to_confirmed"].map(|c| cell(&html, "data-funnel", key, c));
    assert_eq!(row("ivr"), ["5", "3 (60.0%)", "2 (66.7%)", "2 (100.0%)", "40.0%"]);
    assert_eq!(row("otp"), ["2", "1 (50.0%)", "1 (100.0%)", "0 (0.0%)", "0.0%"]);
    assert_eq!(row("sms_missed_call"), ["2", "1 (50.0%)", "1 (100.0%)", "1 (100.0%)", "50.0%"]);
    // The chart: grouped bars with the counts in its description, no script.
    let svg = &html[html.find("aria-labelledby=\"funnel-chart-title").unwrap()..];
    assert!(svg.contains("IVR call: 5 sent, 3 delivered, 2 answered, 2 confirmed"), "{svg}");
    assert!(svg.contains("<title>WhatsApp, delivered: 2 orders</title>"));

    let (status, ctype, lines) = csv(&app, SHOP, &[("from", &d), ("to", &d), ("table", "funnel")]).await;
    assert_eq!(status, 200, "{lines:?}");
    assert!(ctype.starts_with("text/csv"));
    assert_eq!(lines, [
        "Channel,Sent,Delivered,Answered,Confirmed,Delivered/sent,Answered/delivered,Confirmed/answered,Sent to confirmed",
        "whatsapp,3,2,1,1,0.6667,0.5000,1.0000,0.3333",
        "ivr,5,3,2,2,0.6000,0.6667,1.0000,0.4000",
        "sms_link,3,2,2,1,0.6667,1.0000,0.5000,0.3333",
        "sms_missed_call,2,1,1,1,0.5000,1.0000,1.0000,0.5000",
        "otp,2,1,1,0,0.5000,1.0000,0.0000,0.0000",
    ]);

    // Two days: tomorrow's 106 adds to WhatsApp; the query's rows of two ranges add up to the rows
    // of both (what a per-day cache of rows relies on).
    let tomorrow = day.succ_opt().unwrap();
    let (_, both) = outcomes_api(&app, SHOP, &d, &tomorrow.to_string()).await;
    assert_eq!(both["funnel"]["whatsapp"], json!({"sent": 4, "delivered": 3, "answered": 2, "confirmed": 2}));
    assert_eq!(both["funnel"]["ivr"], api["funnel"]["ivr"]);
    let id: String = codverify::on_db!(&app.state.db, c => sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1").bind(SHOP).fetch_one(c).await).unwrap();
    let tz = chrono_tz::Asia::Kolkata;
    let (start, end) = (codverify::reports::day_start(tz, day), codverify::reports::day_start(tz, tomorrow + chrono::Days::new(1)));
    // Cut at the moment order 106 was taken (it falls in the second half).
    let cut: i64 = app.count(&format!("SELECT created_at FROM orders WHERE id = {}", order_of(SHOP, 106))).await;
    let q = |s: i64, e: i64| codverify::db::outcomes::funnel(&app.state.db, &id, s, e, true);
    let mut halves = q(start, cut).await.unwrap();
    halves.extend(q(cut, end).await.unwrap());
    let whole = codverify::costs::funnel(&q(start, end).await.unwrap());
    assert_eq!(codverify::costs::funnel(&halves), whole);
    assert_eq!(codverify::costs::funnel_json(&whole), both["funnel"]);

    // The other shop: its own picked-up call only.
    let (_, other) = outcomes_api(&app, OTHER, &d, &d).await;
    assert_eq!(other["funnel"]["ivr"], json!({"sent": 1, "delivered": 1, "answered": 0, "confirmed": 0}));
    assert_eq!(other["funnel"]["whatsapp"]["sent"], 0);
    app.stop().await;
}

/// An order taken through the webhook with this shipping zip and country: its state is set by intake.
async fn take_shipped_to(app: &TestApp, shop: &str, id: i64, gateway: &str, zip: &str, country: &str) {
    let mut body = order_payload(id, gateway, Some("9876543210"));
    body["shipping_address"] = json!({"first_name": "Asha", "last_name": "Rao", "phone": "9876543210", "address1": "12 MG Road",
        "city": "Somewhere", "zip": zip, "country_code": country});
    assert_eq!(app.post_webhook("orders/create", shop, &format!("{shop}-state-{id}"), &body).await.status(), 200);
}

async fn by_state_table_csv_and_api(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let day = hand_built_fixture(&app).await;
    // Tomorrow, besides 106 (confirmed, delivered, no PIN code): orders shipping to four states,
    // one to the US with an Indian-looking zip and one with no PIN code (both unknown).
    for (id, zip, country) in [(201, "411001", "IN"), (202, "400 001", "IN"), (203, "411038", "in"), (204, "560001", "IN"), (205, "560001", "IN"),
        (206, "110001", "IN"), (207, "400001", "US"), (208, "Pune", "IN"), (209, "700001", "IN")]
    {
        take_shipped_to(&app, SHOP, id, COD, zip, country).await;
    }
    // Not counted: a prepaid order (the shop verifies COD only; it keeps no address, so no state)
    // and the other shop's order.
    take_shipped_to(&app, SHOP, 210, "shopify_payments", "560001", "IN").await;
    take_shipped_to(&app, OTHER, 201, COD, "411001", "IN").await;
    app.wait_for_jobs().await;
    let shop_of = |shop: &str| format!("(SELECT id FROM shops WHERE domain = '{shop}')");
    let state_of = |id: i64| format!("SELECT ship_state FROM orders WHERE shopify_order_id = {id} AND shop_id = {}", shop_of(SHOP));
    assert_eq!(app.text(&state_of(202)).await.as_deref(), Some("MH"), "the space Shopify keeps");
    assert_eq!(app.text(&state_of(203)).await.as_deref(), Some("MH"), "country code in any case");
    for id in [207, 208, 210, 106] {
        assert_eq!(app.text(&state_of(id)).await, None, "{id}");
    }
    let other_201 = format!("SELECT ship_state FROM orders WHERE shopify_order_id = 201 AND shop_id = {}", shop_of(OTHER));
    assert_eq!(app.text(&other_201).await.as_deref(), Some("MH"));
    for (status, ids) in [("confirmed", "201, 202, 204, 206, 207"), ("no_response", "203, 205")] {
        exec(&app, &format!("UPDATE orders SET status = '{status}' WHERE shopify_order_id IN ({ids}) AND shop_id = {}", shop_of(SHOP))).await;
    }
    settle_fixture(&app).await;
    let at = "2026-11-25T10:00:00Z";
    for (id, status) in [(201, "delivered"), (202, "failure"), (203, "delivered"), (204, "delivered"), (205, "in_transit"), (207, "failure")] {
        assert_eq!(app.post_webhook("fulfillment_events/create", SHOP, &format!("state-{id}"), &event(id, status, at)).await.status(), 200);
    }
    app.wait_for_jobs().await;

    // (key, orders, confirmed, confirmation rate, RTO rate (n)), the most orders first, ties in the
    // states' order, unknown last though it has as many as the first.
    let expected = [
        ("MH", "3", "2", "66.7% small sample", "33.3% (n = 3) small sample"),
        ("KA", "2", "1", "50.0% small sample", "0.0% (n = 1) small sample"),
        ("DL", "1", "1", "100.0% small sample", "– (n = 0) small sample"),
        ("WB", "1", "0", "0.0% small sample", "– (n = 0) small sample"),
        ("unknown", "3", "2", "66.7% small sample", "50.0% (n = 2) small sample"),
    ];
    let t = day.succ_opt().unwrap().to_string();
    let (status, _, html) = load(&app, SHOP, &[("from", &t), ("to", &t)]).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Confirmation rate by state"));
    let mut last = 0;
    for (key, orders, confirmed, rate, rto) in expected {
        let got = [cell(&html, "data-state", key, "orders"), cell(&html, "data-state", key, "confirmed"), cell(&html, "data-state", key, "rate"),
            cell(&html, "data-state", key, "rto")];
        assert_eq!(got, [orders, confirmed, rate, rto], "{key}");
        let at = html.find(&format!("<tr data-state=\"{key}\">")).unwrap();
        assert!(at > last, "{key} in order");
        last = at;
    }
    assert_eq!(html.matches("<tr data-state=").count(), 5);
    assert!(html.contains("<th scope=\"row\">Maharashtra</th>") && html.contains("<th scope=\"row\">Unknown</th>"));

    let (status, ctype, lines) = csv(&app, SHOP, &[("from", &t), ("to", &t), ("table", "state")]).await;
    assert_eq!(status, 200, "{lines:?}");
    assert!(ctype.starts_with("text/csv"));
    assert_eq!(lines, [
        "State code,State,Orders,Confirmed,Confirmation rate,Known outcomes (n),Returned,RTO rate",
        "MH,Maharashtra,3,2,0.6667,3,1,0.3333",
        "KA,Karnataka,2,1,0.5000,1,0,0.0000",
        "DL,Delhi,1,1,1.0000,0,0,",
        "WB,West Bengal,1,0,0.0000,0,0,",
        "unknown,Unknown,3,2,0.6667,2,1,0.5000",
    ]);

    let (_, api) = outcomes_api(&app, SHOP, &t, &t).await;
    let row = |orders: i64, confirmed: i64, rate: Value, known: i64, returned: i64, rto: Value| {
        json!({"orders": orders, "confirmed": confirmed, "confirmation_rate": rate, "known_outcomes": known, "returned": returned, "rto_rate": rto})
    };
    assert_eq!(api["by_state"], json!({
        "MH": row(3, 2, json!(0.6667), 3, 1, json!(0.3333)),
        "KA": row(2, 1, json!(0.5), 1, 0, json!(0.0)),
        "DL": row(1, 1, json!(1.0), 0, 0, Value::Null),
        "WB": row(1, 0, json!(0.0), 0, 0, Value::Null),
        "unknown": row(3, 2, json!(0.6667), 2, 1, json!(0.5)),
    }), "{api:#}");

    // Both days: the fixture's 12 orders of the day have no PIN code. The rows of each day together
    // are the rows of both (what a per-day cache relies on).
    let d = day.to_string();
    let (_, both) = outcomes_api(&app, SHOP, &d, &t).await;
    assert_eq!(both["by_state"]["unknown"]["orders"], 15);
    assert_eq!(both["by_state"]["MH"], api["by_state"]["MH"]);
    let shop_id = app.text(&format!("SELECT id FROM shops WHERE domain = '{SHOP}'")).await.unwrap();
    let tz = chrono_tz::Asia::Kolkata;
    let start = |date: chrono::NaiveDate| codverify::reports::day_start(tz, date);
    let (d0, d1, d2) = (start(day), start(day.succ_opt().unwrap()), start(day.succ_opt().unwrap().succ_opt().unwrap()));
    let rows = |s, e| codverify::db::outcomes::by_state(&app.state.db, &shop_id, s, e, true);
    let (first, second, whole) = (rows(d0, d1).await.unwrap(), rows(d1, d2).await.unwrap(), rows(d0, d2).await.unwrap());
    assert_eq!(codverify::outcomes::by_state(&[first, second].concat()), codverify::outcomes::by_state(&whole));
    // The other shop sees its own.
    let (_, other) = outcomes_api(&app, OTHER, &t, &t).await;
    assert_eq!(other["by_state"], json!({"MH": row(1, 0, json!(0.0), 0, 0, Value::Null)}));
    app.stop().await;
}

both_dbs!(
    page_shows_the_fixture,
    csv_of_each_table,
    range_errors_and_authentication,
    another_shops_orders_are_not_shown,
    days_are_kept_until_an_order_or_contact_of_them_changes,
    funnel_per_channel,
    by_state_table_csv_and_api
);
