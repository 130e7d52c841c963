//! IVR verification, the IO around the rules in `schedule`: queue the first call, dial a claimed
//! attempt, settle an ended one (retry or give up), and resolve the order on a key press.
//!
//! An attempt row exists before its call is dialled; every state change is a conditional UPDATE,
//! so repeated, late or reordered callbacks and several processes never act twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::dialer::Outbox;
use super::schedule::{self, Choice, GIVE_UP_AFTER_MS, RECHECK_AFTER_MS, RECONCILE_AFTER_MS, Window, local_time};
use crate::db::attempts::{self, CallReport};
use crate::db::events::add_event;
use crate::db::{Tx, orders};
use crate::domain::{AttemptState, OrderStatus, ShopStatus, mask};
use crate::exotel::{self, Account, ConnectCall, Dnd, ExotelError};
use crate::db::queue::Job;
use crate::settings::Settings;
use crate::app::App;

pub use crate::db::attempts::{Attempt, Scope};

/// Hard limit on one call's length (Exotel `TimeLimit`), and how long it rings (`TimeOut`).
const CALL_TIME_LIMIT_SECS: u32 = 600;
const RING_SECS: u32 = 40;

/// An answered call Exotel reported without a price is looked up this long after it ended (Call
/// details fills the price in a few minutes later), then after twice, four and eight times as long
/// while Exotel still has none; after `PRICE_TRIES` lookups the call stays priced by its minutes.
const PRICE_AFTER_MS: i64 = 10 * 60 * 1000;
const PRICE_TRIES: u32 = 4;
/// How long a price lookup waits for room in the account's calls budget before it tries later.
const PRICE_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub async fn load_attempt(app: &App, id: &str) -> anyhow::Result<Option<Attempt>> {
    Ok(attempts::find(&app.db, id).await?)
}

/// The attempt an Exotel callback is about, within one shop: by our id in `CustomField`, else by
/// `CallSid` (a flow reached some other way, or a callback that lost the field).
pub async fn find_attempt(app: &App, scope: Scope<'_>, custom_field: Option<&str>, call_sid: Option<&str>) -> anyhow::Result<Option<Attempt>> {
    if let Some(id) = custom_field.filter(|v| !v.is_empty())
        && let Some(found) = attempts::find_within(&app.db, scope, id).await?
    {
        return Ok(Some(found));
    }
    match call_sid.filter(|v| !v.is_empty()) {
        Some(sid) => Ok(attempts::find_by_call_sid_within(&app.db, scope, sid).await?),
        None => Ok(None),
    }
}

impl Attempt {
    pub fn settings(&self) -> Settings {
        Settings::from_stored(&self.settings)
    }

    fn account(&self, app: &App, settings: &Settings) -> Option<Account> {
        Account::for_shop(&settings.general, &app.cipher, self.exotel_api_token_enc.as_deref(), app.config.exotel_api_origin.as_deref())
    }

    async fn back_off(&self, app: &App, why: &str) -> anyhow::Result<()> {
        let label = format!("call {}", self.attempt_no);
        super::dialer::back_off(app, Outbox::Calls, &self.id, &self.shop_id, Some(&self.order_id), self.transient_failures, &label, why).await
    }

    fn callback_url(&self, app: &App, path: &str) -> String {
        format!("{}/exotel/{}/{path}", app.config.app_url, self.exotel_key)
    }
}

/// Dials an attempt this process has claimed (state `dialing`). Exactly one Calls/connect request
/// is ever sent per attempt: after a timeout the outcome is reconciled, never redialled. `sent` is
/// set just before the request goes: an error while it is unset means nothing reached Exotel.
pub async fn dial(app: &App, attempt_id: &str, sent: &AtomicBool) -> anyhow::Result<()> {
    let Some(a) = load_attempt(app, attempt_id).await? else { return Ok(()) };
    if a.state != AttemptState::Dialing {
        return Ok(());
    }
    let settings = a.settings();
    let now = app.clock.now();
    if a.order_status != OrderStatus::Pending || a.shop_status != ShopStatus::Installed {
        attempts::cancel_claimed(&app.db, &a.id, ms(now)).await?;
        return Ok(());
    }
    // The schedule put it inside the window, but a backoff may have carried it past the end.
    let window = Window::of(&settings.ivr);
    let placed_at = window.place(now);
    if placed_at != now {
        let due = ms(placed_at);
        if attempts::requeue_claimed_at(&app.db, &a.id, due, ms(now)).await? {
            let mut tx = app.db.begin().await?;
            let detail = format!("outside calling hours; call {} moved to {}", a.attempt_no, local_time(&settings.ivr, due));
            add_event(&mut tx, &a.shop_id, &a.order_id, "call_scheduled", &detail, ms(now)).await?;
            tx.commit().await?;
        }
        return Ok(());
    }
    let Some(phone) = app.cipher.open_opt(a.phone_enc.as_deref()) else {
        return settle(app, &a, "not-placed", Some("the order has no phone number")).await;
    };
    let Some(account) = a.account(app, &settings) else {
        return settle(app, &a, "not-placed", Some("the Exotel API token is missing; save the settings again")).await;
    };

    if a.attempt_no == 1 && a.dnd.is_none() {
        match exotel::number_info(&app.http, &account, &phone).await {
            Ok(info) => {
                let dnd = match info.dnd {
                    Dnd::Yes => "yes",
                    Dnd::No => "no",
                    Dnd::Unavailable => "unavailable",
                };
                orders::set_dnd(&app.db, &a.shop_id, &a.order_id, dnd).await?;
                if info.dnd == Dnd::Yes && !settings.ivr.dnd_calling_enabled {
                    return settle(app, &a, "dnd", Some("the number is on the DND registry and DND calling is not enabled")).await;
                }
            }
            Err(e) if e.is_transient() => return a.back_off(app, &format!("DND lookup: {e}")).await,
            // Exotel refuses DND calls itself when they are not allowed; an unknown status is no reason not to call.
            Err(e) => tracing::warn!(order = %a.order_id, error = %e, "DND lookup failed; calling anyway"),
        }
    }

    let flow = exotel::flow_url(&settings.general.exotel_subdomain, &settings.general.account_sid, &settings.ivr.flow_id);
    let status_callback = a.callback_url(app, "call-status");
    let req = ConnectCall {
        from: &phone,
        to: None,
        caller_id: &settings.ivr.exophone,
        url: &flow,
        status_callback: &status_callback,
        custom_field: &a.id,
        time_limit_secs: Some(CALL_TIME_LIMIT_SECS),
        time_out_secs: Some(RING_SECS),
    };
    sent.store(true, Ordering::SeqCst);
    let result = exotel::connect_call(&app.http, &account, &req, app.config.exotel_timeout).await;
    // The request went out: its outcome is recorded through a database blip too (every step is
    // conditional on the attempt's state, so a try whose commit was in fact made changes nothing).
    let mut tries = 0;
    loop {
        match record_dial(app, &a, &phone, &result).await {
            Err(e) if tries < super::dialer::RECORD_TRIES => {
                tries += 1;
                tracing::warn!(attempt = %a.id, error = %e, "could not record a dial's outcome; trying again");
                tokio::time::sleep(super::dialer::RECORD_PAUSE).await;
            }
            done => return done,
        }
    }
}

async fn record_dial(app: &App, a: &Attempt, phone: &str, result: &Result<exotel::CallPlaced, ExotelError>) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    match result {
        Ok(placed) => {
            let mut tx = app.db.begin().await?;
            // The order's row first, then the attempt's: the order in which every writer locks them.
            let pending = super::order_still_pending(&mut tx, &a.shop_id, &a.order_id).await?;
            if attempts::mark_placed(&mut tx, &a.id, &placed.sid, &placed.status, now).await? {
                let detail = format!("call {} placed to {} (CallSid {})", a.attempt_no, mask(phone), placed.sid);
                add_event(&mut tx, &a.shop_id, &a.order_id, "call_placed", &detail, now).await?;
                schedule_reconcile(&mut tx, pending, &a.id, &a.shop_id, &a.order_id, now + RECONCILE_AFTER_MS, now).await?;
            }
            tx.commit().await?;
            tracing::info!(attempt = %a.id, to = %mask(phone), "call placed");
            Ok(())
        }
        Err(e @ (ExotelError::Timeout | ExotelError::BadResponse(_))) => {
            // The call may well be ringing: wait for Exotel's status callback, never redial.
            let mut tx = app.db.begin().await?;
            let pending = super::order_still_pending(&mut tx, &a.shop_id, &a.order_id).await?;
            if attempts::mark_unconfirmed(&mut tx, &a.id, &e.to_string(), now).await? {
                let detail = format!("call {}: no answer from Exotel ({e}); waiting for its status report", a.attempt_no);
                add_event(&mut tx, &a.shop_id, &a.order_id, "call_unconfirmed", &detail, now).await?;
                schedule_reconcile(&mut tx, pending, &a.id, &a.shop_id, &a.order_id, now + RECONCILE_AFTER_MS, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        Err(e) if e.is_transient() => a.back_off(app, &e.to_string()).await,
        Err(ExotelError::Dnd(m)) => settle(app, a, "dnd", Some(&format!("Exotel refused the call: {m}"))).await,
        Err(e) => settle(app, a, "not-placed", Some(&format!("Exotel refused the call: {e}"))).await,
    }
}

/// Schedules the lookup of a call Exotel may not report on — only while its order is pending
/// (`pending`, read under the order's row lock): a call that raced with the order's resolution
/// needs no settling (its report is still recorded).
async fn schedule_reconcile(tx: &mut Tx, pending: bool, attempt_id: &str, shop_id: &str, order_id: &str, due: i64, now: i64) -> anyhow::Result<()> {
    if pending {
        tx.schedule(&Job::ReconcileCall { attempt_id: attempt_id.to_string() }, shop_id, Some(order_id), due, now).await?;
    }
    Ok(())
}

/// Ends an attempt with `result` (from any state but `ended`/`cancelled`) and decides what follows:
/// nothing when the caller chose, else the next call, the DND path or the retry limit.
pub async fn settle(app: &App, a: &Attempt, result: &str, error: Option<&str>) -> anyhow::Result<()> {
    settle_reported(app, a, result, error, false).await
}

/// [`settle`], and when `price_lookup` (an answered call reported without a price) the lookup of
/// its price is scheduled in the same transaction — once, by whichever report ends the attempt.
async fn settle_reported(app: &App, a: &Attempt, result: &str, error: Option<&str>, price_lookup: bool) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let pending = super::order_still_pending(&mut tx, &a.shop_id, &a.order_id).await?;
    if attempts::finish(&mut tx, &a.id, result, error, now).await? {
        after_attempt(app, &mut tx, a, pending, result, error, now).await?;
        if price_lookup {
            // The shop's timer, not the order's: it outlives the order's resolution (which drops those).
            let job = Job::PriceCall { shop_id: a.shop_id.clone(), attempt_id: a.id.clone(), tries: 0 };
            tx.schedule(&job, &a.shop_id, None, now + PRICE_AFTER_MS, now).await?;
        }
    }
    tx.commit().await?;
    super::dialer::wake();
    Ok(())
}

async fn after_attempt(app: &App, tx: &mut Tx, a: &Attempt, pending: bool, result: &str, error: Option<&str>, now: i64) -> anyhow::Result<()> {
    // Its reconcile timer is no longer needed (an order has one call in flight at a time).
    tx.cancel_timers(&a.shop_id, Some(&a.order_id)).await?;
    if Choice::parse(result).is_some() {
        return Ok(());
    }
    let ended = format!(
        "call {} ended: {result}{}",
        a.attempt_no,
        error.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    add_event(tx, &a.shop_id, &a.order_id, "call_ended", &ended, now).await?;
    if !pending {
        return Ok(());
    }
    // What follows an unanswered call (the next call, the plan's next step, or giving up) is the plan's.
    super::runner::advance(app, tx, &a.shop_id, &a.order_id, &a.settings(), now).await
}

/// What a key press did.
#[derive(Debug, PartialEq)]
pub enum Pressed {
    /// The order was pending and is now resolved.
    Applied,
    /// Already resolved (a repeat, a late press, or resolved some other way): nothing changed.
    AlreadyResolved,
    /// Not an offered choice: recorded; the call counts as answered with an invalid key.
    Invalid,
}

/// A key press reported by a passthru: records it on the attempt and, the first time, resolves
/// the order, stops what was still scheduled and queues the Shopify update.
pub async fn press(app: &App, a: &Attempt, digits: &str, choice: Result<Choice, String>) -> anyhow::Result<Pressed> {
    // Repeats change nothing, so they write nothing: a key on a call whose choice is already
    // recorded, or on an order that is no longer pending (the timeline has its outcome already).
    // An order that ended `no_response` still takes a late key press.
    let settled = a.choice.as_deref().and_then(Choice::parse).is_some() || !super::takes_answer(&a.order_status);
    match &choice {
        Ok(_) if settled => return Ok(Pressed::AlreadyResolved),
        Err(_) if settled || (a.choice.as_deref() == Some("invalid") && a.digits.as_deref() == Some(digits)) => {
            return Ok(Pressed::Invalid);
        }
        _ => {}
    }
    let now = app.clock.now_ms();
    let settings = a.settings();
    let mut tx = app.db.begin().await?;
    // The order's row before the attempt's, like every other writer.
    super::order_still_pending(&mut tx, &a.shop_id, &a.order_id).await?;
    let (recorded, outcome) = match &choice {
        Ok(c) => (c.as_str(), None),
        Err(_) => ("invalid", Some(Pressed::Invalid)),
    };
    // A valid choice is never overwritten by a later invalid key.
    attempts::record_key(&mut tx, &a.id, digits, recorded, now).await?;
    let result = match choice {
        Err(input) => {
            let detail = format!("call {}: key {input:?} is not an offered choice", a.attempt_no);
            add_event(&mut tx, &a.shop_id, &a.order_id, "key_pressed", &detail, now).await?;
            outcome.unwrap_or(Pressed::Invalid)
        }
        Ok(c) => {
            let tag = settings.ivr.tag(c).unwrap_or_default();
            let reason = format!("pressed {} on call {} ({})", key_of(c), a.attempt_no, c.as_str());
            let cancel = c == Choice::Cancel && settings.ivr.cancel_order;
            if super::answer(&mut tx, &a.shop_id, &a.order_id, c.status(), &reason, &[tag], cancel, now).await? {
                Pressed::Applied
            } else {
                let detail = format!("call {}: pressed {} after the order was already {}", a.attempt_no, key_of(c), a.order_status);
                add_event(&mut tx, &a.shop_id, &a.order_id, "key_pressed", &detail, now).await?;
                Pressed::AlreadyResolved
            }
        }
    };
    tx.commit().await?;
    Ok(result)
}

fn key_of(c: Choice) -> u8 {
    match c {
        Choice::Confirm => 1,
        Choice::Cancel => 2,
        Choice::Callback => 3,
    }
}

/// The customer's leg of an IVR call's report. Calls/connect puts the customer (`From`) on the
/// first leg and connects it to the flow; a later leg is someone the flow dialled (an agent).
/// Exotel runs answering-machine detection on the second leg only, so on the customer's leg
/// `AnsweredBy` is documented to be `NA` (see README, "Retries").
const CUSTOMER_LEG: usize = 0;

fn customer_leg(fields: &HashMap<String, String>, name: &str) -> Option<String> {
    fields
        .get(&format!("Legs[{CUSTOMER_LEG}][{name}]"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("NA"))
}

/// Records a status report on its attempt; a terminal one settles the attempt (once). A key in
/// the report's `Digits` counts as pressed when no passthru reported one.
pub async fn status_report(app: &App, a: &Attempt, fields: &HashMap<String, String>) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let status = get("Status").or_else(|| get("CallStatus")).unwrap_or_default().to_ascii_lowercase();
    let answered_by = customer_leg(fields, "AnsweredBy");
    let machine = answered_by.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("MACHINE"));
    let amd_cause = customer_leg(fields, "AmdCause");
    let duration = get("ConversationDuration")
        .or_else(|| get("Duration"))
        .and_then(|d| d.trim().parse::<f64>().ok())
        .map(|d| d.round() as i64);
    let reported_price = get("Price").as_deref().and_then(crate::costs::parse_price_paise);
    let report = CallReport {
        call_sid: get("CallSid"),
        exotel_status: status.clone(),
        answered_by,
        amd_cause,
        duration_seconds: duration,
        price_paise: reported_price,
        price: get("Price"),
        recording_url: get("RecordingUrl"),
        started_at: get("StartTime"),
        ended_at: get("EndTime"),
    };
    attempts::record_report(&app.db, &a.id, report, now).await?;
    if !schedule::is_terminal(&status) {
        return Ok(());
    }
    // The key press (if any) was recorded by the passthru while the call was live; when the
    // passthru never came, the report's `Digits` stand for it (applied once, like a passthru).
    let recorded = a.choice.as_deref().and_then(Choice::parse).is_some();
    if let Some(digits) = get("Digits").or_else(|| get("digits")).filter(|_| !recorded) {
        let shown = digits.trim_matches('"').trim().to_string();
        if !shown.is_empty() {
            press(app, a, &shown, schedule::read_digits(&a.settings().ivr, &digits)).await?;
        }
    }
    let choice = attempts::choice(&app.db, &a.id).await?;
    let valid = choice.as_deref().and_then(Choice::parse);
    let invalid = choice.as_deref() == Some("invalid");
    let result = match schedule::retry_cause(&status, valid, invalid, machine) {
        None => valid.map(Choice::as_str).unwrap_or("completed"),
        Some(cause) => cause,
    };
    // Billed: answered (Exotel's `completed`, or a key recorded); the cost report counts it so too.
    let answered = status == "completed" || choice.is_some();
    settle_reported(app, a, result, None, answered && reported_price.is_none() && a.price_paise.is_none()).await
}

/// Job: the price of an answered call, from Exotel's Call details (`PriceCall`). Takes one request
/// of the account's calls budget, like every Calls API request; when Exotel has no price yet it
/// looks again later (`PRICE_TRIES` in all), then leaves the call priced by its minutes.
pub async fn price_call(app: &App, shop_id: &str, attempt_id: &str, tries: u32) -> anyhow::Result<()> {
    let Some(a) = attempts::find_within(&app.db, Scope::Shop(shop_id), attempt_id).await? else { return Ok(()) };
    if a.price_paise.is_some() || a.shop_status != ShopStatus::Installed {
        return Ok(());
    }
    let settings = a.settings();
    let (Some(sid), Some(account)) = (a.call_sid.clone(), a.account(app, &settings)) else { return Ok(()) };
    let interval = super::dialer::emission_interval_ms(app.config.exotel_calls_per_minute);
    let budget = format!("{}/calls", account.sid);
    let waited_since = std::time::Instant::now();
    loop {
        let mut tx = app.db.begin().await?;
        match super::dialer::take_budget(&mut tx, &budget, interval, chrono::Utc::now().timestamp_millis()).await? {
            Ok(()) => {
                tx.commit().await?;
                break;
            }
            Err(wait_ms) => {
                let wait = std::time::Duration::from_millis(wait_ms.max(1) as u64);
                if waited_since.elapsed() + wait > PRICE_BUDGET_WAIT {
                    // No room soon: try again in a minute on the app clock, no try spent.
                    let now = app.clock.now_ms();
                    let job = Job::PriceCall { shop_id: shop_id.to_string(), attempt_id: attempt_id.to_string(), tries };
                    tx.schedule(&job, shop_id, None, now + 60_000, now).await?;
                    tx.commit().await?;
                    return Ok(());
                }
                drop(tx);
                tokio::time::sleep(wait).await;
            }
        }
    }
    let found = exotel::call_details(&app.http, &account, &sid).await;
    let now = app.clock.now_ms();
    let why = match found {
        Ok(d) => match d.price.as_deref().and_then(|p| crate::costs::parse_price_paise(p).map(|paise| (p, paise))) {
            Some((price, paise)) => {
                let duration = d.duration.as_deref().and_then(|t| t.trim().parse::<f64>().ok()).map(|t| t.round() as i64);
                attempts::record_price(&app.db, shop_id, attempt_id, price.trim(), paise, duration, now).await?;
                return Ok(());
            }
            None => "no price yet".to_string(),
        },
        Err(e) if e.is_transient() => e.to_string(),
        Err(e) => {
            tracing::warn!(attempt = %attempt_id, error = %e, "Call details refused the price lookup; the call is priced by its minutes");
            return Ok(());
        }
    };
    let tries = tries + 1;
    if tries >= PRICE_TRIES {
        tracing::info!(attempt = %attempt_id, why = %why, "no price from Exotel; the call is priced by its minutes");
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    let job = Job::PriceCall { shop_id: shop_id.to_string(), attempt_id: attempt_id.to_string(), tries };
    tx.schedule(&job, shop_id, None, now + (PRICE_AFTER_MS << tries), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Job: settles an attempt Exotel never reported on, from the Call details API when the call is
/// known. A call whose dial outcome stays unknown counts as an attempt: the customer may have been
/// called.
pub async fn reconcile(app: &App, attempt_id: &str) -> anyhow::Result<()> {
    let Some(a) = load_attempt(app, attempt_id).await? else { return Ok(()) };
    if a.finished_at.is_some() || !matches!(AttemptState::parse(&a.state), Some(AttemptState::Placed | AttemptState::Unknown)) {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let settings = a.settings();
    let (Some(sid), Some(account)) = (a.call_sid.clone(), a.account(app, &settings)) else {
        return settle(app, &a, "unknown", Some("Exotel never confirmed the call was placed")).await;
    };
    let gave_up = a.dialed_at.is_some_and(|d| now - d > GIVE_UP_AFTER_MS);
    match exotel::call_details(&app.http, &account, &sid).await {
        Ok(d) if schedule::is_terminal(&d.status) => {
            let fields: HashMap<String, String> = [("Status", Some(d.status)), ("Duration", d.duration), ("Price", d.price),
                ("StartTime", d.start_time), ("EndTime", d.end_time)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                .collect();
            status_report(app, &a, &fields).await
        }
        // Still ringing or talking, or Exotel is unavailable: look again later.
        Ok(_) | Err(_) if !gave_up => {
            let mut tx = app.db.begin().await?;
            let pending = super::order_still_pending(&mut tx, &a.shop_id, &a.order_id).await?;
            schedule_reconcile(&mut tx, pending, &a.id, &a.shop_id, &a.order_id, now + RECHECK_AFTER_MS, now).await?;
            tx.commit().await?;
            Ok(())
        }
        Ok(d) => settle(app, &a, "unknown", Some(&format!("Exotel still reports the call as {}", d.status))).await,
        Err(e) => settle(app, &a, "unknown", Some(&format!("no status from Exotel: {e}"))).await,
    }
}

/// Greeting text: the order number read digit by digit and the amount with its currency.
pub fn greeting_text(a: &Attempt) -> String {
    let number = a
        .order_number
        .map(|n| n.to_string())
        .unwrap_or_else(|| a.order_name.chars().filter(char::is_ascii_alphanumeric).collect());
    let spelled: Vec<String> = number.chars().map(|c| c.to_string()).collect();
    let amount = a.total_price.trim();
    let amount = amount.strip_suffix(".00").or_else(|| amount.strip_suffix(".0")).unwrap_or(amount);
    let shop = a.shop_domain.split('.').next().unwrap_or_default().replace('-', " ");
    let shop: String = shop
        .split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    format!("Your order number {} of {} {amount} from {shop}", spelled.join(" "), currency_words(&a.currency))
}

fn currency_words(code: &str) -> &str {
    match code {
        "INR" => "rupees",
        "USD" | "SGD" | "AUD" | "CAD" => "dollars",
        "EUR" => "euros",
        "GBP" => "pounds",
        "AED" => "dirhams",
        other => other,
    }
}

/// Dials stuck in `dialing` (their process died mid-request) cannot be known not to have rung:
/// they are treated like a timeout and reconciled.
pub async fn recover_stale_dials(app: &App, older_than_wall: i64) -> anyhow::Result<()> {
    let stale = attempts::stale_dials(&app.db, older_than_wall).await?;
    for (id, shop_id, order_id) in stale {
        let now = app.clock.now_ms();
        let mut tx = app.db.begin().await?;
        let pending = super::order_still_pending(&mut tx, &shop_id, &order_id).await?;
        if attempts::mark_dial_interrupted(&mut tx, &id, now).await? {
            schedule_reconcile(&mut tx, pending, &id, &shop_id, &order_id, now + RECONCILE_AFTER_MS, now).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
