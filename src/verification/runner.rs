//! Carries out the shop's verification plan for one pending order: reads what the order has been
//! through, asks the planner ([`plan::next`]) what follows, and makes it so inside the caller's
//! transaction — a call or an SMS queued, a timer for a wait, or the order given up.
//!
//! It runs when verification begins, after every contact ends (a call settled) and when a wait's
//! timer fires. It holds the order's row for the transaction, so two runs never act on one order
//! at once, and whatever it decided is already in the tables the next run reads: running it twice
//! changes nothing.

use super::plan::{self, Contact, History, Next, Outcome, Plan, StepRule};
use super::schedule::Window;
use super::{dialer, fallback, ivr, sms, whatsapp};
use crate::app::App;
use crate::db::contacts::{self, ContactRow};
use crate::db::events::{add_event, add_event_once};
use crate::db::queue::Job;
use crate::db::{Tx, attempts, orders};
use crate::domain::{AttemptState, OrderStatus, ShopStatus, SmsState, WaDelivery, WaState};
use crate::settings::{CANCEL_AFTER_HOURS, FirstCall, NoResponseAction, Settings, Step};

const MINUTE_MS: i64 = 60_000;

/// The plan's steps and whether the merchant wrote them: a plan derived from the reference's
/// settings (`method` then `fallback.mode`) keeps their timing exactly, SMS at any hour included.
pub fn steps_of(settings: &Settings) -> (Vec<Step>, bool) {
    (settings.plan(), !settings.plan.steps.is_empty())
}

/// What the planner needs of each step's settings.
pub fn plan_of(settings: &Settings, steps: &[Step], explicit: bool) -> Plan {
    let rule = |step: &Step| match step {
        Step::Ivr => StepRule {
            contacts: contacts(settings.ivr.retries),
            interval_ms: settings.ivr.retry_interval_minutes.max(0) * MINUTE_MS,
            // The next step starts as the last call ends.
            wait_ms: 0,
            windowed: true,
            calls: true,
        },
        Step::SmsLink | Step::SmsMissedCall => {
            let fb = &settings.fallback;
            StepRule {
                contacts: contacts(fb.retries),
                interval_ms: fb.retry_interval_minutes.max(0) * MINUTE_MS,
                // One interval after the last SMS; 60 minutes when there are no retries.
                wait_ms: if fb.retries <= 0 { 60 } else { fb.retry_interval_minutes.max(1) } * MINUTE_MS,
                windowed: explicit,
                calls: false,
            }
        }
        Step::Whatsapp => {
            let wa = &settings.whatsapp;
            StepRule {
                contacts: contacts(wa.retries),
                interval_ms: wa.retry_interval_minutes.max(0) * MINUTE_MS,
                wait_ms: wa.wait_minutes.max(0) * MINUTE_MS,
                windowed: true,
                calls: false,
            }
        }
    };
    // The first call's delay (`ivr.first_call` "after") holds when the plan begins with the calls.
    let first_delay_ms = if steps.first() == Some(&Step::Ivr) && settings.ivr.first_call == FirstCall::After {
        settings.ivr.first_call_delay_minutes.max(0) * MINUTE_MS
    } else {
        0
    };
    Plan { steps: steps.iter().map(rule).collect(), first_delay_ms }
}

fn contacts(retries: i64) -> u32 {
    u32::try_from(retries.max(0)).unwrap_or(0).saturating_add(1)
}

/// The order's contacts read for the planner, with what the runner needs besides.
struct Seen {
    history: History,
    /// Calls queued and not yet dialled: (step, attempt number).
    queued: Vec<(usize, u32)>,
    /// Contacts made in each step of the plan.
    made: Vec<u32>,
    /// Whether a step ended on a DND number (its call was not placed).
    ended_by_dnd: Vec<bool>,
    /// Whether a step ended on a message that cannot be delivered (refused, failed).
    ended_undelivered: Vec<bool>,
    /// What the latest ended call meant.
    last_call_result: Option<String>,
}

impl Seen {
    fn read(rows: &[ContactRow], steps: &[Step], now: i64) -> Seen {
        let mut seen = Seen {
            history: History { started_at: now, answered: false, dnd: false, contacts: Vec::new() },
            queued: Vec::new(),
            made: vec![0; steps.len()],
            ended_by_dnd: vec![false; steps.len()],
            ended_undelivered: vec![false; steps.len()],
            last_call_result: None,
        };
        for row in rows {
            let Some(kind) = step_of_channel(&row.channel) else { continue };
            // A contact of a step the merchant has since taken out of the plan does not count.
            let Some(step) = steps.iter().position(|s| *s == kind) else { continue };
            let seq = u32::try_from(row.seq).unwrap_or(0);
            let outcome = if kind == Step::Ivr {
                match AttemptState::parse(&row.state) {
                    Some(AttemptState::Queued) => {
                        seen.queued.push((step, seq));
                        continue;
                    }
                    Some(AttemptState::Cancelled) | None => continue,
                    Some(AttemptState::Dialing | AttemptState::Placed | AttemptState::Unknown) => Outcome::InFlight,
                    Some(AttemptState::Ended) => {
                        seen.last_call_result = row.result.clone();
                        if row.result.as_deref() == Some("dnd") {
                            seen.history.dnd = true;
                            seen.ended_by_dnd[step] = true;
                            Outcome::EndsStep
                        } else {
                            Outcome::Unanswered
                        }
                    }
                }
            } else if kind == Step::Whatsapp {
                // A message is written when due, so a queued one is about to go: in flight until
                // its send is recorded; then it counts from when it went.
                match WaState::parse(&row.state) {
                    Some(WaState::Cancelled) | None => continue,
                    Some(WaState::Queued | WaState::Sending) => Outcome::InFlight,
                    Some(WaState::Refused | WaState::Failed) => {
                        seen.ended_undelivered[step] = true;
                        Outcome::EndsStep
                    }
                    Some(WaState::Sent | WaState::Unknown) if row.result.as_deref() == Some(WaDelivery::Failed.as_str()) => {
                        seen.ended_undelivered[step] = true;
                        Outcome::EndsStep
                    }
                    Some(WaState::Sent | WaState::Unknown) => Outcome::Unanswered,
                }
            } else {
                // An SMS counts from when it was due: it goes out whatever the clock says next.
                match SmsState::parse(&row.state) {
                    Some(SmsState::Cancelled) | None => continue,
                    Some(_) => Outcome::Unanswered,
                }
            };
            let at = row.finished_at.unwrap_or(row.due_at);
            seen.made[step] += 1;
            seen.history.contacts.push(Contact { step, at, outcome });
        }
        seen.history.contacts.sort_by_key(|c| (c.at, c.step));
        seen
    }

    /// The step of the latest contact.
    fn current_step(&self) -> Option<usize> {
        self.history.contacts.last().map(|c| c.step)
    }
}

fn step_of_channel(channel: &str) -> Option<Step> {
    match channel {
        "ivr" => Some(Step::Ivr),
        "link" => Some(Step::SmsLink),
        "missed_call" => Some(Step::SmsMissedCall),
        "whatsapp" => Some(Step::Whatsapp),
        _ => None,
    }
}

/// The timeline kind, the reason and the order tag of a step whose contacts all went unanswered.
fn limit_of(step: Step, made: u32) -> (&'static str, String, &'static str) {
    match step {
        Step::Ivr => ("ivr_retry_limit_reached", format!("no answer after {made} call(s)"), ivr::RETRY_LIMIT_TAG),
        Step::SmsLink | Step::SmsMissedCall => ("fallback_retry_limit_reached", format!("no answer to {made} SMS"), fallback::LIMIT_TAG),
        Step::Whatsapp => ("whatsapp_retry_limit_reached", format!("no reply to {made} WhatsApp message(s)"), "whatsapp_retry_limit_reached"),
    }
}

/// Job (`AdvancePlan`, and `FallbackStep` queued by earlier versions): a wait is over.
pub async fn advance_job(app: &App, order_id: &str) -> anyhow::Result<()> {
    let Some(o) = sms::load_order(app, order_id).await? else { return Ok(()) };
    if o.status != OrderStatus::Pending || o.shop_status != ShopStatus::Installed {
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    advance(app, &mut tx, &o.shop_id, order_id, &o.settings(), app.clock.now_ms()).await?;
    tx.commit().await?;
    dialer::wake();
    Ok(())
}

/// Decides and arranges the next move of a pending order's plan, inside `tx`.
pub async fn advance(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings, now: i64) -> anyhow::Result<()> {
    if !super::order_still_pending(tx, shop_id, order_id).await? {
        return Ok(());
    }
    let (steps, explicit) = steps_of(settings);
    let plan = plan_of(settings, &steps, explicit);
    let window = Window::of(&settings.ivr);
    // An SMS counts as a contact once queued, so after one the plan is asked again at once: that
    // answer (the next SMS's time, or giving up) becomes a timer.
    loop {
        let rows = contacts::of_order(tx, shop_id, order_id).await?;
        let seen = Seen::read(&rows, &steps, now);
        match plan::next(&plan, &seen.history, now, &window) {
            Next::Done | Next::Wait => return Ok(()),
            Next::Contact { step, n, at } => {
                if seen.queued.contains(&(step, n)) {
                    return Ok(());
                }
                let kind = steps[step];
                // Calls wait in their queue; other steps' contacts are written when due (an SMS
                // link expires counting from then), and so is a step's first contact after an
                // earlier step (that step ends then: its limit tag, and an answer to it, come first).
                let after_a_step = n == 1 && seen.current_step().is_some_and(|p| p < step);
                if (kind != Step::Ivr || after_a_step) && at > now {
                    return wait_until(tx, shop_id, order_id, at, now).await;
                }
                let mut why = String::from("the first step of the plan");
                if n == 1
                    && let Some(prev) = seen.current_step().filter(|&p| p < step)
                {
                    why = step_over(tx, shop_id, order_id, steps[prev], &seen, prev, now).await?;
                }
                contact(app, tx, shop_id, order_id, settings, kind, n, at, &why, &seen, now).await?;
                if kind == Step::Ivr {
                    return Ok(());
                }
            }
            Next::GiveUp { at, .. } => {
                if at > now {
                    return wait_until(tx, shop_id, order_id, at, now).await;
                }
                return give_up(tx, shop_id, order_id, settings, &steps, &seen, now).await;
            }
        }
    }
}

/// The plan is asked again at `at` (one timer per order: the latest decision replaces the last).
async fn wait_until(tx: &mut Tx, shop_id: &str, order_id: &str, at: i64, now: i64) -> anyhow::Result<()> {
    let job = Job::AdvancePlan { order_id: order_id.to_string() };
    tx.reschedule(&job, shop_id, order_id, at, now).await
}

/// A step whose contacts are spent, as the next one starts: its limit on the timeline and its
/// tag on the order (a DND number's call step ends without either). Returns why the next starts.
async fn step_over(tx: &mut Tx, shop_id: &str, order_id: &str, step: Step, seen: &Seen, index: usize, now: i64) -> anyhow::Result<String> {
    if seen.ended_by_dnd[index] {
        return Ok("the number is on the DND registry".into());
    }
    if seen.ended_undelivered[index] && step == Step::Whatsapp {
        let reason = "the WhatsApp message could not be delivered (not on WhatsApp, or refused)";
        add_event(tx, shop_id, order_id, "whatsapp_undelivered", reason, now).await?;
        return Ok(reason.into());
    }
    let (kind, reason, tag) = limit_of(step, seen.made[index]);
    add_event(tx, shop_id, order_id, kind, &reason, now).await?;
    super::tag(tx, order_id, &[tag]).await?;
    Ok(reason)
}

/// Every step is spent: the order ends `no_response` with the limit tag of the last step that
/// reached the shopper — or `skipped` when the only step was calling a DND number. With the
/// `cancel` no-response action, its cancellation is scheduled.
async fn give_up(tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings, steps: &[Step], seen: &Seen, now: i64) -> anyhow::Result<()> {
    let reached = (0..steps.len()).rev().find(|&i| seen.made[i] > 0 && !seen.ended_by_dnd[i]);
    let Some(last) = reached else {
        let reason = "DND number: calls not allowed and no fallback configured";
        return super::resolve(tx, shop_id, order_id, OrderStatus::Skipped, reason, &[], false, now).await.map(|_| ());
    };
    let (kind, reason, tag) = limit_of(steps[last], seen.made[last]);
    add_event(tx, shop_id, order_id, kind, &reason, now).await?;
    let ended = super::resolve(tx, shop_id, order_id, OrderStatus::NoResponse, &reason, &[tag], false, now).await?;
    if ended && settings.plan.no_response_action == NoResponseAction::Cancel {
        // After the resolution, which drops the order's timers.
        let hours = settings.plan.cancel_after_hours.clamp(*CANCEL_AFTER_HOURS.start(), *CANCEL_AFTER_HOURS.end());
        let at = now + hours * 3_600_000;
        tx.schedule(&Job::CancelUnanswered { order_id: order_id.to_string() }, shop_id, Some(order_id), at, now).await?;
        let detail = format!("no answer: the order will be cancelled in Shopify at {} unless the customer answers first", ivr::local_time(settings, at));
        add_event(tx, shop_id, order_id, "cancel_scheduled", &detail, now).await?;
    }
    Ok(())
}

/// Job (`CancelUnanswered`): an order still `no_response` when its time is up is cancelled, in
/// the app and in Shopify — unless the merchant has since switched the action back to `tag`. A
/// late answer before this dropped the job with the order's other timers.
pub async fn cancel_unanswered(app: &App, order_id: &str) -> anyhow::Result<()> {
    let Some(o) = sms::load_order(app, order_id).await? else { return Ok(()) };
    let settings = o.settings();
    if o.status != OrderStatus::NoResponse || o.shop_status != ShopStatus::Installed || settings.plan.no_response_action != NoResponseAction::Cancel {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let reason = "no answer: cancelled as the shop's settings ask";
    let mut tx = app.db.begin().await?;
    if orders::cancel_unanswered(&mut tx, &o.shop_id, order_id, reason, now).await? {
        add_event(&mut tx, &o.shop_id, order_id, OrderStatus::Cancelled.as_str(), reason, now).await?;
        tx.push_jobs(&[Job::SyncOrder { order_id: order_id.to_string(), tags: Vec::new(), cancel: true, failures: 0 }]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Job (`EscalateOtp`): an OTP order whose code was not entered in time goes to the plan's steps.
pub async fn escalate_otp(app: &App, order_id: &str) -> anyhow::Result<()> {
    let Some(o) = sms::load_order(app, order_id).await? else { return Ok(()) };
    if o.status != OrderStatus::Pending || o.shop_status != ShopStatus::Installed {
        return Ok(());
    }
    let settings = o.settings();
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let detail = format!("the checkout code was not entered within {} minutes: the plan's steps begin", settings.otp.escalate_after_minutes);
    let event_id = format!("{order_id}-otp-escalated");
    if add_event_once(&mut tx, &event_id, &o.shop_id, order_id, "otp_escalated", &detail, now).await? {
        advance(app, &mut tx, &o.shop_id, order_id, &settings, now).await?;
    }
    tx.commit().await?;
    dialer::wake();
    Ok(())
}

/// Writes contact `n` of step `kind`, due at `at`, to its channel's outbox.
#[allow(clippy::too_many_arguments)]
async fn contact(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings, kind: Step, n: u32, at: i64, why: &str, seen: &Seen, now: i64) -> anyhow::Result<()> {
    let account = &settings.general.account_sid;
    match kind {
        Step::Ivr => {
            attempts::queue_call(tx, shop_id, order_id, i64::from(n), account, at, now).await?;
            let when = ivr::local_time(settings, at);
            let detail = match (n, seen.last_call_result.as_deref()) {
                (1, _) if at == now => "first call queued now".to_string(),
                (1, _) => format!("first call scheduled for {when}"),
                (_, result) => format!("retry {} of {} scheduled for {when} ({})", n - 1, settings.ivr.retries, result.unwrap_or("no answer")),
            };
            add_event(tx, shop_id, order_id, "call_scheduled", &detail, now).await
        }
        Step::SmsLink | Step::SmsMissedCall => {
            let Some(o) = sms::load_order_tx(app, tx, order_id).await? else { return Ok(()) };
            if n == 1 {
                let detail = format!("SMS fallback ({}) started: {why}", kind.as_str().replace('_', " "));
                add_event(tx, shop_id, order_id, "fallback_started", &detail, now).await?;
            }
            fallback::queue_plan_sms(app, tx, &o, &settings.fallback, kind, account, i64::from(n), at.max(now)).await
        }
        Step::Whatsapp => {
            let Some(o) = sms::load_order_tx(app, tx, order_id).await? else { return Ok(()) };
            if n == 1 {
                add_event(tx, shop_id, order_id, "whatsapp_started", &format!("WhatsApp step started: {why}"), now).await?;
            }
            whatsapp::queue(app, tx, &o, settings, n, at.max(now)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{FallbackMode, Settings};

    fn ms(s: &str) -> i64 {
        s.parse::<chrono::DateTime<chrono::Utc>>().expect("time").timestamp_millis()
    }
    fn settings() -> Settings {
        let mut s = Settings::default();
        s.ivr.timezone = "Asia/Kolkata".into();
        s.ivr.window_start = "09:00".into();
        s.ivr.window_end = "21:00".into();
        s
    }
    fn ivr_next(s: &Settings, contacts: Vec<Contact>, started: i64, now: i64) -> Next {
        let (steps, explicit) = steps_of(s);
        let history = History { started_at: started, answered: false, dnd: false, contacts };
        plan::next(&plan_of(s, &steps, explicit), &history, now, &Window::of(&s.ivr))
    }
    fn ended_call(at: i64) -> Contact {
        Contact { step: 0, at, outcome: Outcome::Unanswered }
    }

    #[test]
    fn the_first_call_goes_now_or_after_the_delay_inside_the_window() {
        let mut s = settings();
        let noon = ms("2026-11-23T06:30:00Z");
        assert_eq!(ivr_next(&s, vec![], noon, noon), Next::Contact { step: 0, n: 1, at: noon });
        s.ivr.first_call = FirstCall::After;
        s.ivr.first_call_delay_minutes = 90;
        assert_eq!(ivr_next(&s, vec![], noon, noon), Next::Contact { step: 0, n: 1, at: ms("2026-11-23T08:00:00Z") });
        // A delay that lands after 21:00 moves to the next morning.
        let late = ms("2026-11-23T14:30:00Z");
        assert_eq!(ivr_next(&s, vec![], late, late), Next::Contact { step: 0, n: 1, at: ms("2026-11-24T03:30:00Z") });
    }

    #[test]
    fn calls_are_retried_then_the_fallback_starts_then_the_order_gives_up() {
        let mut s = settings();
        s.ivr.retries = 2;
        s.ivr.retry_interval_minutes = 30;
        s.fallback.mode = FallbackMode::Off;
        let ended = ms("2026-11-23T06:30:00Z");
        let retry = ms("2026-11-23T07:00:00Z");
        assert_eq!(ivr_next(&s, vec![ended_call(ended)], ended, ended), Next::Contact { step: 0, n: 2, at: retry });
        let two = vec![ended_call(ended), ended_call(retry)];
        assert_eq!(ivr_next(&s, two.clone(), ended, retry), Next::Contact { step: 0, n: 3, at: ms("2026-11-23T07:30:00Z") });
        let three = [two, vec![ended_call(ms("2026-11-23T07:30:00Z"))]].concat();
        assert_eq!(ivr_next(&s, three.clone(), ended, ms("2026-11-23T07:30:00Z")), Next::GiveUp { last: 0, at: ms("2026-11-23T07:30:00Z") });
        // With an SMS fallback: its first SMS as the last call ends, at any hour.
        s.fallback.mode = FallbackMode::SmsLink;
        s.fallback.retries = 0;
        let night = ms("2026-11-23T18:00:00Z");
        let late_calls = vec![ended_call(night - 60_000), ended_call(night - 30_000), ended_call(night)];
        assert_eq!(ivr_next(&s, late_calls, ended, night), Next::Contact { step: 1, n: 1, at: night });
        // No retries: one call, then the order gives up as it ends.
        s.fallback.mode = FallbackMode::Off;
        s.ivr.retries = 0;
        s.ivr.retry_interval_minutes = 0;
        assert_eq!(ivr_next(&s, vec![ended_call(ended)], ended, ended), Next::GiveUp { last: 0, at: ended });
    }

    #[test]
    fn whatsapp_messages_are_read_as_contacts() {
        let row = |seq: i64, state: &str, result: Option<&str>, finished_at: Option<i64>| ContactRow {
            channel: "whatsapp".into(), seq, state: state.into(), result: result.map(str::to_string), finished_at, due_at: 100,
        };
        let steps = [Step::Whatsapp, Step::Ivr];
        let outcomes = |rows: &[ContactRow]| Seen::read(rows, &steps, 1_000).history.contacts.iter().map(|c| (c.outcome, c.at)).collect::<Vec<_>>();
        assert_eq!(outcomes(&[row(1, "queued", None, None)]), [(Outcome::InFlight, 100)]);
        assert_eq!(outcomes(&[row(1, "sending", None, None)]), [(Outcome::InFlight, 100)]);
        assert_eq!(outcomes(&[row(1, "sent", Some("read"), Some(200))]), [(Outcome::Unanswered, 200)]);
        assert_eq!(outcomes(&[row(1, "unknown", None, Some(200))]), [(Outcome::Unanswered, 200)]);
        assert_eq!(outcomes(&[row(1, "sent", Some("failed"), Some(300))]), [(Outcome::EndsStep, 300)]);
        assert_eq!(outcomes(&[row(1, "refused", None, Some(300))]), [(Outcome::EndsStep, 300)]);
        assert!(outcomes(&[row(1, "cancelled", None, None)]).is_empty());
        // A plan without the WhatsApp step does not count its messages.
        assert!(Seen::read(&[row(1, "sent", None, Some(200))], &[Step::Ivr], 1_000).history.contacts.is_empty());
    }

    #[test]
    fn the_reference_settings_mean_ivr_then_the_fallback() {
        let mut s = settings();
        s.fallback.mode = FallbackMode::Off;
        assert_eq!(steps_of(&s), (vec![Step::Ivr], false));
        s.fallback.mode = FallbackMode::SmsMissedCall;
        assert_eq!(steps_of(&s), (vec![Step::Ivr, Step::SmsMissedCall], false));
        let plan = plan_of(&s, &[Step::Ivr, Step::SmsMissedCall], false);
        assert!(plan.steps[0].windowed && !plan.steps[1].windowed, "SMS of a derived plan go at any hour, as before plans");
        s.fallback.retries = 0;
        assert_eq!(plan_of(&s, &[Step::SmsLink], true).steps[0].wait_ms, 60 * MINUTE_MS);
    }
}
