//! The outside world of the app during a crash or scale-out run: Shopify delivering orders (and
//! re-delivering any that got no 200, as Shopify does), shoppers answering the calls the fake
//! Exotel placed (a key press through the passthru, then Exotel's terminal status callback) and
//! the WhatsApp messages it took (a delivery report, and for some a button reply), and the
//! invariants checked against the fakes' records and the database at the end.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_exotel::FakeExotel;
use crate::fake_whatsapp::{FakeWhatsApp, WaDlr, WaReply, dlr_body, reply_body};
use crate::fake_shop::FakeShop;
use crate::harness::{Reader, post_order, session_token};

/// What the shopper does on one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Answers and presses a key (1 confirm, 2 cancel), then hangs up.
    Press(u8),
    /// The call ends without an answer ("no-answer", "busy").
    Ring(&'static str),
}

/// Shopper behaviours, by order kind: what happens on the n-th call (the last repeats).
pub const SCRIPTS: [&[Act]; 5] = [
    &[Act::Press(1)],
    &[Act::Press(2)],
    &[Act::Ring("no-answer"), Act::Press(1)],
    &[Act::Ring("no-answer"), Act::Ring("busy"), Act::Ring("no-answer")],
    &[Act::Ring("busy"), Act::Press(2)],
];

/// On a WhatsApp shop, what the shopper answers on WhatsApp, by order kind (the button of the
/// first message they get); `None`: no reply, the plan goes on to the calls of `SCRIPTS`.
pub const WA_REPLIES: [Option<&str>; 5] = [Some("confirm"), None, Some("cancel"), None, None];

/// The APP_URL the app writes into its WhatsApp status_callback (the harness posts to the live process instead).
pub const APP_URL: &str = "https://codverify.test";

pub fn act_for(kind: usize, call_index: usize) -> Act {
    let s = SCRIPTS[kind];
    s[call_index.min(s.len() - 1)]
}

pub struct Shop {
    pub domain: String,
    pub key: String,
    pub cancel_order: bool,
    /// Plan [whatsapp, ivr] instead of IVR alone.
    pub whatsapp: bool,
}

pub struct OrderPlan {
    pub shop: usize,
    pub id: i64,
    /// 10 digits, unique per order: the fake Exotel's `From` tells whose call it is.
    pub phone: String,
    pub kind: usize,
}

pub struct CallState {
    pub order: usize,
    pub act: Act,
    pub custom: String,
    /// The passthru's answer, once one came back.
    pub press_status: Option<u16>,
    pub reported: bool,
}

/// One WhatsApp message Exotel took, and what its shopper did about it.
pub struct WaMsg {
    pub order: usize,
    pub message: FakeWhatsApp,
    /// The reply the shopper sends (the button's choice), if any.
    pub reply: Option<&'static str>,
    /// The delivery report and the reply got their 200.
    pub dlr_done: bool,
    pub reply_done: bool,
}

/// An answer the app acknowledged (200), in the order acknowledged.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: &'static str,
    pub on_whatsapp: bool,
    pub at: Instant,
}

#[derive(Default)]
pub struct World {
    pub shops: Vec<Shop>,
    pub orders: Vec<OrderPlan>,
    /// Whether each order's webhook got a 200 (then it is never sent again).
    pub accepted: Vec<bool>,
    /// Webhooks to (re)send.
    pub queue: VecDeque<usize>,
    pub webhook_posts: usize,
    pub webhook_unanswered: usize,
    pub webhook_non200: usize,
    /// CallSid → what the shopper did on it.
    pub calls: HashMap<String, CallState>,
    pub by_phone: HashMap<String, usize>,
    /// Web-serving processes up now (the load is spread over them).
    pub targets: Vec<String>,
    rr: usize,
    pub callbacks_sent: usize,
    pub callbacks_unanswered: usize,
    pub anomalies: Vec<String>,
    /// Fake message sid → the WhatsApp message and its shopper.
    pub wa: HashMap<String, WaMsg>,
    /// Each order's answers the app acknowledged, first first (the first one decides).
    pub answers: HashMap<usize, Vec<Answer>>,
    pub wa_callbacks_sent: usize,
    pub wa_callbacks_unanswered: usize,
}

pub type Shared = Arc<Mutex<World>>;

impl World {
    pub fn next_target(&mut self) -> Option<String> {
        if self.targets.is_empty() {
            return None;
        }
        self.rr = self.rr.wrapping_add(1);
        Some(self.targets[self.rr % self.targets.len()].clone())
    }

    /// Plans `n` more orders, round-robin over the shops, and queues their webhooks.
    pub fn add_orders(&mut self, n: usize, kinds: Option<&[usize]>) {
        for _ in 0..n {
            let idx = self.orders.len();
            let kind = match kinds {
                Some(k) => k[idx % k.len()],
                None => idx % SCRIPTS.len(),
            };
            let phone = format!("98{:08}", 10_000 + idx);
            self.by_phone.insert(phone.clone(), idx);
            self.orders.push(OrderPlan { shop: idx % self.shops.len(), id: 500_000 + idx as i64, phone, kind });
            self.accepted.push(false);
            self.queue.push_back(idx);
        }
    }

    pub fn all_accepted(&self) -> bool {
        self.queue.is_empty() && self.accepted.iter().all(|a| *a)
    }

    pub fn unfinished_calls(&self) -> usize {
        self.calls.values().filter(|c| !c.reported).count() + self.wa.values().filter(|m| !m.dlr_done || (m.reply.is_some() && !m.reply_done)).count()
    }

    fn answered(&mut self, order: usize, status: &'static str, on_whatsapp: bool) {
        self.answers.entry(order).or_default().push(Answer { status, on_whatsapp, at: Instant::now() });
    }
}

fn last10(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].iter().collect()
}

/// Delivers queued webhooks with `workers` concurrent senders until `stop`.
pub fn spawn_senders(world: Shared, http: reqwest::Client, workers: usize, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|_| {
            let (world, http, stop) = (world.clone(), http.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let job = {
                        let mut w = world.lock().unwrap();
                        match w.queue.is_empty() {
                            true => None,
                            false => match w.next_target() {
                                Some(t) => {
                                    let i = w.queue.pop_front().unwrap();
                                    let o = &w.orders[i];
                                    Some((i, t, w.shops[o.shop].domain.clone(), o.id, o.phone.clone()))
                                }
                                None => None,
                            },
                        }
                    };
                    let Some((i, target, shop, id, phone)) = job else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let status = post_order(&http, &target, &shop, &format!("wh-{id}"), &crate::harness::order_payload(id, &phone)).await;
                    let ok = {
                        let mut w = world.lock().unwrap();
                        w.webhook_posts += 1;
                        match status {
                            Some(200) => {
                                w.accepted[i] = true;
                                true
                            }
                            Some(_) => {
                                w.webhook_non200 += 1;
                                w.queue.push_back(i);
                                false
                            }
                            None => {
                                w.webhook_unanswered += 1;
                                w.queue.push_back(i);
                                false
                            }
                        }
                    };
                    if !ok {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect()
}

/// Answers every call the fake Exotel placed, as its shopper would, until `stop`. A callback that
/// got no answer (the app was down) is sent again, as a flow's retry would.
pub fn spawn_driver(world: Shared, exotel: FakeExotel, http: reqwest::Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let work = {
                let mut w = world.lock().unwrap();
                let mut seen: HashMap<usize, usize> = HashMap::new();
                let mut work = Vec::new();
                for c in exotel.calls() {
                    let phone = last10(c.field("From").unwrap_or(""));
                    let Some(&order) = w.by_phone.get(&phone) else {
                        w.anomalies.push(format!("a call to an unknown number {phone}"));
                        continue;
                    };
                    let k = seen.entry(order).or_default();
                    let index = *k;
                    *k += 1;
                    let kind = w.orders[order].kind;
                    let st = w.calls.entry(c.sid.clone()).or_insert_with(|| CallState {
                        order,
                        act: act_for(kind, index),
                        custom: c.field("CustomField").unwrap_or("").to_string(),
                        press_status: None,
                        reported: false,
                    });
                    if !st.reported {
                        let key = w.shops[w.orders[order].shop].key.clone();
                        let st = &w.calls[&c.sid];
                        work.push((c.sid.clone(), st.custom.clone(), key, st.act, st.press_status.is_none()));
                    }
                }
                work
            };
            for (sid, custom, key, act, needs_press) in work {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Some(target) = world.lock().unwrap().next_target() else { break };
                if let (Act::Press(d), true) = (act, needs_press) {
                    let digits = format!("\"{d}\"");
                    let r = http
                        .get(format!("{target}/exotel/{key}/ivr/input"))
                        .query(&[("CallSid", sid.as_str()), ("CustomField", custom.as_str()), ("digits", digits.as_str())])
                        .send()
                        .await;
                    let mut w = world.lock().unwrap();
                    w.callbacks_sent += 1;
                    match r {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            if s != 200 {
                                w.anomalies.push(format!("passthru for call {sid} answered {s}"));
                            }
                            let st = w.calls.get_mut(&sid).unwrap();
                            st.press_status = Some(s);
                            if s == 200 {
                                let order = st.order;
                                w.answered(order, if d == 1 { "confirmed" } else { "cancelled" }, false);
                            }
                        }
                        Err(_) => {
                            w.callbacks_unanswered += 1;
                            continue;
                        }
                    }
                }
                let status = match act {
                    Act::Press(_) => "completed",
                    Act::Ring(s) => s,
                };
                let answered_by = if matches!(act, Act::Press(_)) { "HUMAN" } else { "NA" };
                let body = json!({"CallSid": sid, "Status": status, "EventType": "terminal", "CustomField": custom,
                    "DateUpdated": "2026-11-23 10:01:00", "ConversationDuration": if answered_by == "HUMAN" { 12 } else { 0 },
                    "Legs": [{"Status": status, "AnsweredBy": "NA"}, {"Status": status, "AnsweredBy": answered_by}]});
                let r = http.post(format!("{target}/exotel/{key}/call-status")).json(&body).send().await;
                let mut w = world.lock().unwrap();
                w.callbacks_sent += 1;
                match r {
                    Ok(r) if r.status() == 200 => {
                        w.calls.get_mut(&sid).unwrap().reported = true;
                        // What the Call details API says from now on (for a reconcile).
                        exotel.set_call_status(&sid, status);
                    }
                    Ok(r) => w.anomalies.push(format!("status callback for call {sid} answered {}", r.status())),
                    Err(_) => w.callbacks_unanswered += 1,
                }
            }
            answer_whatsapp(&world, &exotel, &http, &stop).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    })
}

/// Posts a callback to the live process (the message's status_callback names APP_URL); the status,
/// or `None` when no answer came back.
async fn post_wa(http: &reqwest::Client, target: &str, m: &FakeWhatsApp, body: &Value) -> Option<u16> {
    let url = format!("{target}{}", m.status_callback().trim_start_matches(APP_URL));
    http.post(url).json(body).send().await.ok().map(|r| r.status().as_u16())
}

/// For each WhatsApp message Exotel took: a "delivered" report, then the shopper's button if their
/// script replies (the first message they get; no reply once the order was answered otherwise).
/// Anything that got no answer (the app was down) is sent again.
async fn answer_whatsapp(world: &Shared, exotel: &FakeExotel, http: &reqwest::Client, stop: &AtomicBool) {
    let work = {
        let mut w = world.lock().unwrap();
        let mut work = Vec::new();
        for m in exotel.whatsapp() {
            if !w.wa.contains_key(&m.sid) {
                let Some(&order) = w.by_phone.get(&last10(m.to())) else {
                    w.anomalies.push(format!("a WhatsApp message to an unknown number {}", last10(m.to())));
                    continue;
                };
                let first = !w.wa.values().any(|x| x.order == order);
                let answered = w.answers.contains_key(&order);
                let reply = if first && !answered { WA_REPLIES[w.orders[order].kind] } else { None };
                w.wa.insert(m.sid.clone(), WaMsg { order, message: m.clone(), reply, dlr_done: false, reply_done: false });
            }
            let x = &w.wa[&m.sid];
            if !x.dlr_done || (x.reply.is_some() && !x.reply_done) {
                work.push((m.sid.clone(), x.message.clone(), x.dlr_done, x.reply.filter(|_| !x.reply_done)));
            }
        }
        work
    };
    for (sid, m, dlr_done, reply) in work {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(target) = world.lock().unwrap().next_target() else { return };
        if !dlr_done {
            let r = post_wa(http, &target, &m, &dlr_body(&m, WaDlr::Delivered)).await;
            let mut w = world.lock().unwrap();
            w.wa_callbacks_sent += 1;
            match r {
                Some(200) => w.wa.get_mut(&sid).unwrap().dlr_done = true,
                Some(s) => w.anomalies.push(format!("WhatsApp report for {sid} answered {s}")),
                None => {
                    w.wa_callbacks_unanswered += 1;
                    continue;
                }
            }
        }
        if let Some(choice) = reply {
            let r = post_wa(http, &target, &m, &reply_body(&m, WaReply::Button(m.payload(choice)))).await;
            let mut w = world.lock().unwrap();
            w.wa_callbacks_sent += 1;
            match r {
                Some(200) => {
                    let x = w.wa.get_mut(&sid).unwrap();
                    x.reply_done = true;
                    let order = x.order;
                    w.answered(order, if choice == "confirm" { "confirmed" } else { "cancelled" }, true);
                }
                Some(s) => w.anomalies.push(format!("WhatsApp reply to {sid} answered {s}")),
                None => w.wa_callbacks_unanswered += 1,
            }
        }
    }
}

/// Puts a shop on the plan [whatsapp, ivr]: one template message at once, one more 10 minutes
/// later, then the calls 10 minutes after that; a "cancel" cancels in Shopify as the IVR's does.
pub async fn plan_whatsapp(http: &reqwest::Client, addr: &str, now_secs: i64, domain: &str, cancel_order: bool) {
    let doc = json!({"general": {"method": "whatsapp"}, "plan": {"steps": ["whatsapp", "ivr"]},
        "whatsapp": {"sender": "+919812345678", "template_name": "cod_confirmation", "template_language": "en", "retries": 1,
            "retry_interval_minutes": 10, "wait_minutes": 10, "confirm_tag": "wa_confirmed", "cancel_tag": "wa_cancelled",
            "callback_tag": "wa_callback", "cancel_order": cancel_order}});
    let r = http.put(format!("{addr}/app/api/settings")).bearer_auth(session_token(domain, now_secs)).json(&doc).send().await.unwrap();
    assert_eq!(r.status(), 200, "WhatsApp plan of {domain}: {}", r.text().await.unwrap());
}

/// Installs a shop through token exchange and saves IVR settings; returns its callback key.
pub async fn install_shop(http: &reqwest::Client, addr: &str, now_secs: i64, domain: &str, account: &str, ivr: Value) -> String {
    let r = http.get(format!("{addr}/app/api/settings")).bearer_auth(session_token(domain, now_secs)).send().await.unwrap();
    assert_eq!(r.status(), 200, "install of {domain}: {}", r.text().await.unwrap());
    let mut section = json!({"first_call": "immediate", "exophone": "08047112345", "flow_id": "123456", "retries": 2,
        "retry_interval_minutes": 10, "timezone": "Asia/Kolkata", "window_start": "00:00", "window_end": "23:59",
        "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled", "callback_tag": "cod_callback", "cancel_order": false});
    for (k, v) in ivr.as_object().unwrap() {
        section[k] = v.clone();
    }
    let doc = json!({"general": {"verify": "cod", "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
        "account_sid": account, "api_key": "exokey", "api_token": "exotoken-secret"}, "ivr": section});
    let r = http.put(format!("{addr}/app/api/settings")).bearer_auth(session_token(domain, now_secs)).json(&doc).send().await.unwrap();
    assert_eq!(r.status(), 200, "settings of {domain}: {}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    let url = v["callback_urls"]["call_status"].as_str().unwrap_or_else(|| panic!("no callback_urls.call_status in {v}"));
    url.split("/exotel/").nth(1).unwrap().split('/').next().unwrap().to_string()
}

/// What the end state must be for one order, from what the shopper actually did: the first answer
/// the app acknowledged (a key press, a WhatsApp button) decides; without one, the retries ran out.
pub fn expected_status(world: &World, order: usize) -> &'static str {
    world.answers.get(&order).and_then(|a| a.first()).map_or("no_response", |a| a.status)
}

/// The outcome tag on a WhatsApp shop: the answer's channel's tag, and the WhatsApp step's limit
/// tag when that step ended without an answer (the calls came after it).
pub fn wa_shop_tags(world: &World, order: usize, status: &str, wa_step_ran_out: bool) -> BTreeSet<String> {
    let on_whatsapp = world.answers.get(&order).and_then(|a| a.first()).is_some_and(|a| a.on_whatsapp);
    let mut tags = match (on_whatsapp, status) {
        (true, "confirmed") => ["wa_confirmed".to_string()].into_iter().collect(),
        (true, _) => ["wa_cancelled".to_string()].into_iter().collect(),
        _ => tags_for(status),
    };
    if wa_step_ran_out {
        tags.insert("whatsapp_retry_limit_reached".into());
    }
    tags
}

pub fn tags_for(status: &str) -> BTreeSet<String> {
    let tag = match status {
        "confirmed" => "cod_confirmed",
        "cancelled" => "cod_cancelled",
        _ => "ivr_retry_limit_reached",
    };
    [tag.to_string()].into_iter().collect()
}

/// Figures of one run's final check.
#[derive(Debug, Default)]
pub struct Figures {
    pub orders: usize,
    pub calls: usize,
    pub attempts: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    pub no_response: usize,
    pub tag_resends: usize,
    pub cancel_resends: usize,
    pub jobs_rerun: i64,
    pub unknown_attempts: usize,
    /// Orders whose only unsettled attempt was claimed by a killed process before its request
    /// went out: recovered as `unknown`, waiting for their reconcile timer (scale-out only).
    pub parked: usize,
    /// WhatsApp: orders of the WhatsApp shops, messages Exotel took, their rows sent / unknown,
    /// orders answered on WhatsApp, orders that went on to the calls.
    pub wa_orders: usize,
    pub wa_messages: usize,
    pub wa_sent: usize,
    pub wa_unknown: usize,
    /// Rows that came due after their order was answered, not sent.
    pub wa_cancelled: usize,
    pub wa_answered: usize,
    pub wa_then_called: usize,
    /// Requests beyond the first for one message row (must stay 0).
    pub wa_resends: usize,
}

/// Orders parked after a kill: still pending, an attempt recovered as `unknown` that never reached
/// Exotel (no CallSid), and its reconcile timer scheduled.
pub const PARKED_SQL: &str = "SELECT o.id FROM orders o WHERE o.status = 'pending' \
    AND EXISTS (SELECT 1 FROM call_attempts a WHERE a.order_id = o.id AND a.state = 'unknown' AND a.call_sid IS NULL) \
    AND EXISTS (SELECT 1 FROM timers t WHERE t.order_id = o.id)";

/// Every invariant over the whole run, against the fakes' records and the database. `max_calls`:
/// how many calls an order may get (retries + 1).
pub async fn check_invariants(world: &World, exotel: &FakeExotel, shopify: &FakeShop, db: &Reader, max_calls: usize, allow_parked: bool) -> Figures {
    let mut fig = Figures::default();
    let mut errors: Vec<String> = world.anomalies.clone();
    let fake_calls = exotel.calls();
    let requests = exotel.connect_requests();
    fig.calls = fake_calls.len();

    // Orders: exactly one row per accepted delivery, in the state the shopper's answers call for.
    let rows = db
        .rows("SELECT CAST(o.shopify_order_id AS TEXT), s.domain, o.status, o.id FROM orders o JOIN shops s ON s.id = o.shop_id", 4)
        .await;
    let mut db_orders: HashMap<i64, (String, String, String)> = HashMap::new();
    for r in rows {
        let id: i64 = r[0].as_deref().unwrap().parse().unwrap();
        if db_orders.insert(id, (r[1].clone().unwrap(), r[2].clone().unwrap(), r[3].clone().unwrap())).is_some() {
            errors.push(format!("order {id} stored twice"));
        }
    }
    let started = db
        .rows("SELECT o.id, CAST(COUNT(*) AS TEXT) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE e.kind = 'verification_started' GROUP BY o.id", 2)
        .await;
    let started: HashMap<String, i64> = started.into_iter().map(|r| (r[0].clone().unwrap(), r[1].as_deref().unwrap().parse().unwrap())).collect();
    let event_counts = |kinds: &'static str| async move {
        let sql = format!(
            "SELECT o.id, CAST(COUNT(*) AS TEXT) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE e.kind IN ({kinds}) GROUP BY o.id"
        );
        db.rows(&sql, 2).await.into_iter().map(|r| (r[0].clone().unwrap(), r[1].as_deref().unwrap().parse::<usize>().unwrap())).collect::<HashMap<String, usize>>()
    };
    // The timeline: an order resolved once, a call recorded as placed at most once per attempt.
    let resolved_events = event_counts("'confirmed', 'cancelled', 'no_response'").await;
    let placed_events = event_counts("'call_placed'").await;
    let wa_ran_out = event_counts("'whatsapp_retry_limit_reached'").await;
    let attempts = db
        .rows(
            "SELECT a.id, CAST(o.shopify_order_id AS TEXT), CAST(a.attempt_no AS TEXT), a.state, a.result FROM call_attempts a \
             JOIN orders o ON o.id = a.order_id",
            5,
        )
        .await;
    fig.attempts = attempts.len();
    let parked: std::collections::HashSet<String> =
        if allow_parked { db.rows(PARKED_SQL, 1).await.into_iter().map(|r| r[0].clone().unwrap()).collect() } else { Default::default() };
    let dialled_ids: std::collections::HashSet<String> = requests.iter().map(|r| r.field("CustomField").unwrap_or("").to_string()).collect();
    let mut attempt_of: HashMap<String, (i64, i64)> = HashMap::new();
    let mut attempts_per_order: HashMap<i64, Vec<i64>> = HashMap::new();
    for a in &attempts {
        let oid: i64 = a[1].as_deref().unwrap().parse().unwrap();
        let no: i64 = a[2].as_deref().unwrap().parse().unwrap();
        attempt_of.insert(a[0].clone().unwrap(), (oid, no));
        attempts_per_order.entry(oid).or_default().push(no);
        let state = a[3].as_deref().unwrap_or("");
        let row_id = db_orders.get(&oid).map(|o| o.2.clone()).unwrap_or_default();
        if state == "unknown" && parked.contains(&row_id) && !dialled_ids.contains(a[0].as_deref().unwrap()) {
            continue;
        }
        if matches!(state, "dialing" | "queued" | "placed" | "unknown") {
            errors.push(format!("order {oid}: attempt {no} left {state} at the end"));
        }
        if a[4].as_deref() == Some("unknown") {
            fig.unknown_attempts += 1;
        }
    }
    for (i, o) in world.orders.iter().enumerate() {
        if !world.accepted[i] {
            errors.push(format!("order {} never got a 200", o.id));
            continue;
        }
        fig.orders += 1;
        let Some((domain, status, row_id)) = db_orders.get(&o.id) else {
            errors.push(format!("order {}: webhook got a 200 but no order was stored", o.id));
            continue;
        };
        if *domain != world.shops[o.shop].domain {
            errors.push(format!("order {}: stored for {domain}", o.id));
        }
        if started.get(row_id).copied().unwrap_or(0) != 1 {
            errors.push(format!("order {}: {} verification(s) started", o.id, started.get(row_id).copied().unwrap_or(0)));
        }
        let resolutions = resolved_events.get(row_id).copied().unwrap_or(0);
        if resolutions != 1 && !parked.contains(row_id) {
            errors.push(format!("order {}: resolved {resolutions} times in its timeline", o.id));
        }
        let placed = placed_events.get(row_id).copied().unwrap_or(0);
        if placed > attempts_per_order.get(&o.id).map_or(0, Vec::len) {
            errors.push(format!("order {}: {placed} 'call placed' events for {} attempts", o.id, attempts_per_order.get(&o.id).map_or(0, Vec::len)));
        }
        let mut nos = attempts_per_order.get(&o.id).cloned().unwrap_or_default();
        nos.sort();
        // An order answered on WhatsApp has no call attempt at all.
        let none_needed = nos.is_empty() && world.shops[o.shop].whatsapp;
        if !none_needed && (nos.first() != Some(&1) || nos.iter().enumerate().any(|(i, n)| *n != i as i64 + 1)) {
            errors.push(format!("order {}: attempts {nos:?}", o.id));
        }
        if parked.contains(row_id) {
            fig.parked += 1;
            continue;
        }
        let expected = expected_status(world, i);
        if status != expected {
            errors.push(format!("order {} (kind {}): status {status}, expected {expected}", o.id, o.kind));
        }
        match status.as_str() {
            "confirmed" => fig.confirmed += 1,
            "cancelled" => fig.cancelled += 1,
            _ => fig.no_response += 1,
        }
        let calls_to = fake_calls.iter().filter(|c| last10(c.field("From").unwrap_or("")) == o.phone).count();
        if calls_to > max_calls {
            errors.push(format!("order {}: {calls_to} calls placed, at most {max_calls} allowed", o.id));
        }
    }

    // Calls: each attempt dialled at most once, every dial an attempt of ours, one per retry slot.
    let mut dialled: HashMap<String, usize> = HashMap::new();
    for r in &requests {
        *dialled.entry(r.field("CustomField").unwrap_or("").to_string()).or_default() += 1;
    }
    let mut slots: HashMap<(i64, i64), usize> = HashMap::new();
    for (custom, n) in &dialled {
        if *n > 1 {
            errors.push(format!("attempt {custom} dialled {n} times"));
        }
        match attempt_of.get(custom) {
            Some(slot) => *slots.entry(*slot).or_default() += n,
            None => errors.push(format!("a call with CustomField {custom:?} that is no attempt")),
        }
    }
    for (slot, n) in slots {
        if n > 1 {
            errors.push(format!("order {} attempt {}: {n} calls", slot.0, slot.1));
        }
    }

    // WhatsApp: each message row sent at most once (custom_data = row id), at most one per (order,
    // seq), never one after the order was answered; every WhatsApp order got its message, and its
    // call when it was not answered on WhatsApp.
    let wa_rows = db
        .rows("SELECT m.id, CAST(o.shopify_order_id AS TEXT), CAST(m.seq AS TEXT), m.state FROM whatsapp_messages m JOIN orders o ON o.id = m.order_id", 4)
        .await;
    let mut wa_row: HashMap<String, (i64, i64)> = HashMap::new();
    let mut wa_cancelled = std::collections::HashSet::new();
    for r in &wa_rows {
        let (oid, seq): (i64, i64) = (r[1].as_deref().unwrap().parse().unwrap(), r[2].as_deref().unwrap().parse().unwrap());
        wa_row.insert(r[0].clone().unwrap(), (oid, seq));
        match r[3].as_deref().unwrap_or("") {
            "sent" => fig.wa_sent += 1,
            "unknown" => fig.wa_unknown += 1,
            // Due after the order was answered: never sent (checked against the fake below).
            "cancelled" => {
                fig.wa_cancelled += 1;
                wa_cancelled.insert(r[0].clone().unwrap());
            }
            s => errors.push(format!("order {oid}: WhatsApp message {seq} left {s} at the end")),
        }
    }
    let wa_requests = exotel.whatsapp_requests();
    fig.wa_messages = wa_requests.len();
    let mut per_row: HashMap<String, usize> = HashMap::new();
    let mut per_slot: HashMap<(i64, i64), usize> = HashMap::new();
    let mut per_order: HashMap<usize, usize> = HashMap::new();
    for m in &wa_requests {
        if !m.accepted {
            errors.push(format!("a WhatsApp message refused by the fake ({})", m.status));
        }
        *per_row.entry(m.custom_data().to_string()).or_default() += 1;
        match wa_row.get(m.custom_data()) {
            Some(slot) => *per_slot.entry(*slot).or_default() += 1,
            None => errors.push(format!("a WhatsApp message with custom_data {:?} that is no row", m.custom_data())),
        }
        let Some(&order) = world.by_phone.get(&last10(m.to())) else {
            errors.push("a WhatsApp message to an unknown number".into());
            continue;
        };
        *per_order.entry(order).or_default() += 1;
        if !world.shops[world.orders[order].shop].whatsapp {
            errors.push(format!("order {}: a WhatsApp message on an IVR shop", world.orders[order].id));
        }
        if let Some(a) = world.answers.get(&order).and_then(|a| a.first())
            && m.at > a.at
        {
            errors.push(format!("order {}: a WhatsApp message sent after the order was answered", world.orders[order].id));
        }
    }
    for (row, n) in &per_row {
        fig.wa_resends += n - 1;
        if *n > 1 {
            errors.push(format!("WhatsApp message {row} sent {n} times"));
        }
        if wa_cancelled.contains(row) {
            errors.push(format!("WhatsApp message {row} was sent but is recorded as cancelled"));
        }
    }
    for ((oid, seq), n) in &per_slot {
        if *n > 1 {
            errors.push(format!("order {oid}: WhatsApp message {seq} sent {n} times"));
        }
    }
    for (i, o) in world.orders.iter().enumerate() {
        if !world.shops[o.shop].whatsapp || !world.accepted[i] {
            continue;
        }
        fig.wa_orders += 1;
        let sent = per_order.get(&i).copied().unwrap_or(0);
        if sent == 0 || sent > 2 {
            errors.push(format!("order {}: {sent} WhatsApp messages (1 or 2 expected)", o.id));
        }
        let first = world.answers.get(&i).and_then(|a| a.first());
        let calls: Vec<_> = fake_calls.iter().filter(|c| last10(c.field("From").unwrap_or("")) == o.phone).collect();
        if let Some(a) = first
            && calls.iter().any(|c| c.at > a.at)
        {
            errors.push(format!("order {}: a call placed after the order was answered", o.id));
        }
        if first.is_some_and(|a| a.on_whatsapp) {
            fig.wa_answered += 1;
        } else {
            let ran_out = db_orders.get(&o.id).and_then(|x| wa_ran_out.get(&x.2)).copied().unwrap_or(0);
            if calls.is_empty() || ran_out != 1 {
                errors.push(format!("order {} (kind {}): not answered on WhatsApp, {} call(s), WhatsApp step ended {ran_out} time(s)", o.id, o.kind, calls.len()));
            }
        }
        if !calls.is_empty() {
            fig.wa_then_called += 1;
        }
    }

    // Shopify: each order's outcome tag exactly, never two outcomes, a cancellation iff asked for.
    {
        let s = shopify.state.lock().unwrap();
        for (i, o) in world.orders.iter().enumerate() {
            let gid = format!("gid://shopify/Order/{}", o.id);
            let status = db_orders.get(&o.id).map(|x| x.1.clone()).unwrap_or_default();
            if db_orders.get(&o.id).is_some_and(|x| parked.contains(&x.2)) {
                continue;
            }
            let status = if status.is_empty() { expected_status(world, i).to_string() } else { status };
            let want = if world.shops[o.shop].whatsapp {
                let ran_out = db_orders.get(&o.id).is_some_and(|x| wa_ran_out.get(&x.2).is_some_and(|n| *n > 0));
                wa_shop_tags(world, i, &status, ran_out)
            } else {
                tags_for(&status)
            };
            let got = s.tags.get(&gid).cloned().unwrap_or_default();
            if got != want {
                errors.push(format!("order {}: Shopify tags {got:?}, expected {want:?}", o.id));
            }
            let requests = s.tag_requests.get(&gid).copied().unwrap_or(0);
            fig.tag_resends += requests.saturating_sub(1);
            let applied = s.cancels_applied.get(&gid).copied().unwrap_or(0);
            let want_cancel = usize::from(status == "cancelled" && world.shops[o.shop].cancel_order);
            if applied != want_cancel {
                errors.push(format!("order {}: cancelled in Shopify {applied} time(s), expected {want_cancel}", o.id));
            }
            fig.cancel_resends += s.cancel_requests.get(&gid).copied().unwrap_or(0).saturating_sub(1);
            // Holds: a confirmed order released, every other verified order held, never two holds
            // of ours on one fulfillment order, each placed once at most.
            let holds = s.holds.get(&gid).map_or(0, Vec::len);
            let placed = s.holds_placed.get(&gid).copied().unwrap_or(0);
            let want_holds = usize::from(status != "confirmed");
            if holds != want_holds {
                errors.push(format!("order {} ({status}): {holds} hold(s) of ours in Shopify, expected {want_holds}", o.id));
            }
            if placed > 1 {
                errors.push(format!("order {}: held {placed} times", o.id));
            }
        }
    }
    let hold_states = db.rows("SELECT o.status, o.hold_state, o.id FROM orders o WHERE o.status <> 'skipped'", 3).await;
    for r in hold_states.iter().filter(|r| !parked.contains(r[2].as_deref().unwrap_or(""))) {
        let want = if r[0].as_deref() == Some("confirmed") { "released" } else { "held" };
        if r[1].as_deref() != Some(want) {
            errors.push(format!("an order {:?} with hold state {:?}, expected {want}", r[0], r[1]));
        }
    }

    // Nothing left behind: no job queued or dead, no timer of a resolved order, every delivery acted on.
    let (queued, dead) = db.job_counts().await;
    if queued != 0 || dead != 0 {
        errors.push(format!("jobs left: {queued} queued, {dead} dead"));
    }
    // A call's price lookup (`price_call`, 10+ minutes after an answered call) belongs to the shop,
    // not the order: it contacts nobody and may still be waiting when the run ends.
    let orphans = db
        .count(
            "SELECT COUNT(*) FROM timers t LEFT JOIN orders o ON o.id = t.order_id WHERE (o.id IS NULL OR o.status <> 'pending') \
             AND t.job NOT LIKE '{\"kind\":\"price_call\"%'",
        )
        .await;
    let pending = db.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await;
    if pending as usize != parked.len() {
        errors.push(format!("{pending} orders still pending ({} of them parked)", parked.len()));
    }
    if orphans != 0 {
        errors.push(format!("{orphans} timers left for orders no longer pending"));
    }
    let unprocessed = db.count("SELECT COUNT(*) FROM webhooks WHERE processed_at IS NULL").await;
    if unprocessed != 0 {
        errors.push(format!("{unprocessed} stored webhooks never processed"));
    }
    fig.jobs_rerun = db.jobs_rerun().await;
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(40);
        panic!("{n} invariant violation(s):\n  {}", errors.join("\n  "));
    }
    fig
}
