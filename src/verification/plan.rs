//! The verification plan as a pure function (SPEC §8): given the plan's steps, what has been done
//! for an order so far, the time and the shop's allowed hours, what happens next and when. No IO:
//! the plan runner reads the order's history, asks [`next`] and makes the answer so (a queued
//! call, WhatsApp message or SMS, or a timer), and asks again after every event.
//!
//! A step contacts the shopper up to `contacts` times, `interval` apart (each placed inside the
//! window when the step is windowed); once its contacts are spent and `wait` has passed since the
//! last, the next step starts; after the last step the order gives up (`no_response`). A contact
//! that ends its step at once (a WhatsApp message refused or failed, a number on the DND registry)
//! skips the rest of the step and its wait. Nothing follows an answer.

use chrono::DateTime;

use super::schedule::Window;

/// How one step of a plan contacts the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRule {
    /// How many times the shopper is contacted in this step (1 + retries), at least 1.
    pub contacts: u32,
    /// From one contact (its end for a call, its sending for a message) to the next.
    pub interval_ms: i64,
    /// From the last contact to the next step (or to giving up).
    pub wait_ms: i64,
    /// Whether the contacts keep to the shop's allowed hours.
    pub windowed: bool,
    /// An IVR step: skipped for a number known to be on the DND registry.
    pub calls: bool,
}

/// A plan: its steps in order, and the delay before the first contact of the first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<StepRule>,
    pub first_delay_ms: i64,
}

/// How a contact the order has had ended, as far as the plan cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still going (a call ringing, a message being sent): nothing else starts meanwhile.
    InFlight,
    /// It went out and got no answer (yet); the step goes on.
    Unanswered,
    /// It ends its step at once: refused, failed, not on WhatsApp, a DND number.
    EndsStep,
}

/// One contact made in step `step` (an index into [`Plan::steps`]), ended (or sent) at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub step: usize,
    pub at: i64,
    pub outcome: Outcome,
}

/// What the order has been through, oldest contact first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// When verification began (the first step's delay counts from here).
    pub started_at: i64,
    /// The shopper answered (any step, any channel): nothing more happens.
    pub answered: bool,
    /// The number is on the DND registry: IVR steps are skipped.
    pub dnd: bool,
    pub contacts: Vec<Contact>,
}

/// The plan's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing more, ever: the order was answered, or the plan has no steps.
    Done,
    /// A contact is in flight: decide again when it ends.
    Wait,
    /// Contact the shopper: the `n`-th contact (1-based) of step `step`, at `at`.
    Contact { step: usize, n: u32, at: i64 },
    /// Every step is spent: the order ends `no_response` at `at`, with step `last`'s limit tag.
    GiveUp { last: usize, at: i64 },
}

/// The next action for an order. `now` bounds every time from below: nothing is scheduled in the
/// past, and a contact that could not go when it was due goes at the next allowed moment.
pub fn next(plan: &Plan, history: &History, now: i64, window: &Window) -> Next {
    if history.answered || plan.steps.is_empty() {
        return Next::Done;
    }
    if history.contacts.iter().any(|c| c.outcome == Outcome::InFlight) {
        return Next::Wait;
    }
    // The step the order is in: the furthest one it has had a contact in (steps only move forward,
    // so a late report about an earlier step's message changes nothing); its latest contact. A
    // contact of a step that is no longer in the plan — the merchant changed it — does not count.
    let last = history.contacts.iter().filter(|c| c.step < plan.steps.len()).max_by_key(|c| (c.step, c.at));
    let Some(last) = last else {
        let at = (history.started_at + plan.first_delay_ms.max(0)).max(now);
        return start_step(plan, history, 0, at, window);
    };
    let rule = plan.steps[last.step];
    let made = history.contacts.iter().filter(|c| c.step == last.step).count() as u32;
    if last.outcome != Outcome::EndsStep && made < rule.contacts.max(1) && !(rule.calls && history.dnd) {
        let at = place(&rule, (last.at + rule.interval_ms.max(0)).max(now), window);
        return Next::Contact { step: last.step, n: made + 1, at };
    }
    let step_over = if last.outcome == Outcome::EndsStep || (rule.calls && history.dnd) {
        last.at
    } else {
        last.at + rule.wait_ms.max(0)
    };
    start_step(plan, history, last.step + 1, step_over.max(now), window)
}

/// The first contact of step `from` or, when it is skipped, of the first later step that is not;
/// giving up when none is left.
fn start_step(plan: &Plan, history: &History, from: usize, at: i64, window: &Window) -> Next {
    match (from..plan.steps.len()).find(|&i| !(plan.steps[i].calls && history.dnd)) {
        Some(step) => Next::Contact { step, n: 1, at: place(&plan.steps[step], at, window) },
        None => Next::GiveUp { last: plan.steps.len() - 1, at },
    }
}

fn place(rule: &StepRule, at: i64, window: &Window) -> i64 {
    if !rule.windowed {
        return at;
    }
    match DateTime::from_timestamp_millis(at) {
        Some(t) => window.place(t).timestamp_millis(),
        None => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;
    // 2026-12-07 00:00 UTC = 05:30 IST, a Monday.
    const DAY0: i64 = 1_796_601_600_000;

    fn window() -> Window {
        Window {
            tz: chrono_tz::Asia::Kolkata,
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        }
    }
    /// 10:00 IST on DAY0 plus `m` minutes.
    fn ist10(m: i64) -> i64 {
        DAY0 + (4 * 60 + 30) * MIN + m * MIN
    }
    fn rule(contacts: u32, interval_min: i64, wait_min: i64) -> StepRule {
        StepRule { contacts, interval_ms: interval_min * MIN, wait_ms: wait_min * MIN, windowed: true, calls: false }
    }
    fn ivr(contacts: u32, interval_min: i64) -> StepRule {
        StepRule { calls: true, ..rule(contacts, interval_min, 0) }
    }
    /// WhatsApp (2 messages 60 min apart, 120 min wait) → IVR (3 calls 30 min apart) → SMS link (1, wait 60).
    fn plan() -> Plan {
        Plan { steps: vec![rule(2, 60, 120), ivr(3, 30), rule(1, 0, 60)], first_delay_ms: 0 }
    }
    fn contact(step: usize, at: i64, outcome: Outcome) -> Contact {
        Contact { step, at, outcome }
    }
    fn history(contacts: Vec<Contact>) -> History {
        History { started_at: ist10(0), answered: false, dnd: false, contacts }
    }

    #[test]
    fn walks_every_step_in_order() {
        let (p, w) = (plan(), window());
        let mut h = history(vec![]);
        assert_eq!(next(&p, &h, ist10(0), &w), Next::Contact { step: 0, n: 1, at: ist10(0) });
        h.contacts.push(contact(0, ist10(0), Outcome::Unanswered));
        assert_eq!(next(&p, &h, ist10(1), &w), Next::Contact { step: 0, n: 2, at: ist10(60) });
        h.contacts.push(contact(0, ist10(60), Outcome::Unanswered));
        // The last message's wait, then the first call.
        assert_eq!(next(&p, &h, ist10(61), &w), Next::Contact { step: 1, n: 1, at: ist10(180) });
        h.contacts.push(contact(1, ist10(181), Outcome::Unanswered));
        assert_eq!(next(&p, &h, ist10(181), &w), Next::Contact { step: 1, n: 2, at: ist10(211) });
        h.contacts.push(contact(1, ist10(212), Outcome::Unanswered));
        h.contacts.push(contact(1, ist10(243), Outcome::Unanswered));
        // The IVR waits 0: the SMS goes as the last call ends.
        assert_eq!(next(&p, &h, ist10(243), &w), Next::Contact { step: 2, n: 1, at: ist10(243) });
        h.contacts.push(contact(2, ist10(243), Outcome::Unanswered));
        assert_eq!(next(&p, &h, ist10(244), &w), Next::GiveUp { last: 2, at: ist10(303) });
    }

    #[test]
    fn a_refused_message_ends_its_step_at_once() {
        let (p, w) = (plan(), window());
        let h = history(vec![contact(0, ist10(5), Outcome::EndsStep)]);
        assert_eq!(next(&p, &h, ist10(5), &w), Next::Contact { step: 1, n: 1, at: ist10(5) });
    }

    #[test]
    fn a_dnd_number_skips_the_ivr_step() {
        let (p, w) = (plan(), window());
        let mut h = history(vec![contact(0, ist10(0), Outcome::Unanswered), contact(0, ist10(60), Outcome::Unanswered)]);
        h.dnd = true;
        assert_eq!(next(&p, &h, ist10(61), &w), Next::Contact { step: 2, n: 1, at: ist10(180) });
        // Learnt on the first call: the step ends with it, and the next one starts.
        let ivr_first = Plan { steps: vec![ivr(3, 30), rule(2, 30, 30)], first_delay_ms: 0 };
        let learnt = History { dnd: true, ..history(vec![contact(0, ist10(1), Outcome::EndsStep)]) };
        assert_eq!(next(&ivr_first, &learnt, ist10(1), &w), Next::Contact { step: 1, n: 1, at: ist10(1) });
        // DND with the IVR the only step: give up at once.
        let only_ivr = Plan { steps: vec![ivr(3, 30)], first_delay_ms: 0 };
        let known = History { dnd: true, ..history(vec![]) };
        assert_eq!(next(&only_ivr, &known, ist10(0), &w), Next::GiveUp { last: 0, at: ist10(0) });
    }

    #[test]
    fn nothing_after_an_answer_or_while_in_flight() {
        let (p, w) = (plan(), window());
        let mut h = history(vec![contact(0, ist10(0), Outcome::InFlight)]);
        assert_eq!(next(&p, &h, ist10(0), &w), Next::Wait);
        h.answered = true;
        assert_eq!(next(&p, &h, ist10(0), &w), Next::Done);
    }

    #[test]
    fn contacts_wait_for_the_window_unless_the_step_is_not_windowed() {
        let w = window();
        // Sent at 20:30 IST: the retry at 21:30 waits for 09:00 the next day.
        let p = Plan { steps: vec![rule(2, 60, 60)], first_delay_ms: 0 };
        let h = history(vec![contact(0, ist10(630), Outcome::Unanswered)]);
        assert_eq!(next(&p, &h, ist10(631), &w), Next::Contact { step: 0, n: 2, at: ist10(23 * 60) });
        let free = Plan { steps: vec![StepRule { windowed: false, ..rule(2, 60, 60) }], first_delay_ms: 0 };
        assert_eq!(next(&free, &h, ist10(631), &w), Next::Contact { step: 0, n: 2, at: ist10(690) });
        // The first step's delay, then the window.
        let delayed = Plan { steps: vec![rule(1, 0, 60)], first_delay_ms: 30 * MIN };
        let h = History { started_at: ist10(650), ..history(vec![]) };
        assert_eq!(next(&delayed, &h, ist10(650), &w), Next::Contact { step: 0, n: 1, at: ist10(23 * 60) });
    }

    #[test]
    fn a_late_report_on_an_earlier_step_changes_nothing() {
        let (p, w) = (plan(), window());
        // The IVR step is under way when WhatsApp reports its message failed.
        let h = history(vec![
            contact(0, ist10(0), Outcome::Unanswered),
            contact(1, ist10(180), Outcome::Unanswered),
            contact(0, ist10(200), Outcome::EndsStep),
        ]);
        assert_eq!(next(&p, &h, ist10(200), &w), Next::Contact { step: 1, n: 2, at: ist10(210) });
    }

    #[test]
    fn nothing_is_scheduled_in_the_past() {
        let (p, w) = (plan(), window());
        let h = history(vec![contact(0, ist10(0), Outcome::Unanswered)]);
        // The worker looks again long after the retry was due: it goes now.
        assert_eq!(next(&p, &h, ist10(300), &w), Next::Contact { step: 0, n: 2, at: ist10(300) });
    }

    #[test]
    fn contacts_of_steps_no_longer_in_the_plan_do_not_count() {
        let w = window();
        let p = Plan { steps: vec![rule(1, 0, 60)], first_delay_ms: 0 };
        let h = history(vec![contact(2, ist10(0), Outcome::Unanswered)]);
        assert_eq!(next(&p, &h, ist10(1), &w), Next::Contact { step: 0, n: 1, at: ist10(1) });
    }

    fn arb_rule() -> impl Strategy<Value = StepRule> {
        (1u32..5, 0i64..300, 0i64..1500, any::<bool>(), any::<bool>()).prop_map(|(contacts, interval, wait, windowed, calls)| StepRule {
            contacts,
            interval_ms: interval * MIN,
            wait_ms: wait * MIN,
            windowed,
            calls,
        })
    }
    fn arb_plan() -> impl Strategy<Value = Plan> {
        (proptest::collection::vec(arb_rule(), 1..5), 0i64..2000).prop_map(|(steps, d)| Plan { steps, first_delay_ms: d * MIN })
    }

    /// Runs a plan to its end with the shopper never answering; each contact ends `lag` minutes
    /// after it started and `ends_step[i]` says whether it ends its step.
    fn run(p: &Plan, dnd: bool, start: i64, lag: i64, ends_step: &[bool]) -> (Vec<Contact>, Next) {
        let w = window();
        let mut h = History { started_at: start, answered: false, dnd, contacts: vec![] };
        let mut now = start;
        for i in 0..200 {
            match next(p, &h, now, &w) {
                Next::Contact { step, at, .. } => {
                    assert!(at >= now, "scheduled in the past");
                    let ended = at + lag * MIN;
                    let outcome = if ends_step.get(i).copied().unwrap_or(false) { Outcome::EndsStep } else { Outcome::Unanswered };
                    h.contacts.push(Contact { step, at: ended, outcome });
                    now = ended;
                }
                other => return (h.contacts, other),
            }
        }
        panic!("the plan never ended");
    }

    proptest! {
        #[test]
        fn every_plan_ends_within_its_limits(p in arb_plan(), dnd: bool, start_min in 0i64..20_000, lag in 0i64..5,
                                              ends in proptest::collection::vec(any::<bool>(), 0..20)) {
            let w = window();
            let (contacts, end) = run(&p, dnd, DAY0 + start_min * MIN, lag, &ends);
            // It ends by giving up on the last step.
            let gave_up_on_the_last = matches!(end, Next::GiveUp { last, .. } if last == p.steps.len() - 1);
            prop_assert!(gave_up_on_the_last, "ended with {:?}", end);
            // Steps in order, never going back; never more contacts than configured.
            for pair in contacts.windows(2) {
                prop_assert!(pair[0].step <= pair[1].step);
            }
            for (i, r) in p.steps.iter().enumerate() {
                let made = contacts.iter().filter(|c| c.step == i).count() as u32;
                prop_assert!(made <= r.contacts);
                if dnd && r.calls {
                    prop_assert_eq!(made, 0, "a DND number was called");
                } else {
                    // Every step not skipped is reached.
                    prop_assert!(made >= 1, "step {} never reached", i);
                }
            }
            // Every windowed contact starts inside the window.
            for c in &contacts {
                if p.steps[c.step].windowed {
                    let started = DateTime::from_timestamp_millis(c.at - lag * MIN).unwrap();
                    prop_assert!(w.contains(started), "contact outside the window");
                }
            }
        }

        #[test]
        fn nothing_follows_an_answer(p in arb_plan(), contacts in proptest::collection::vec((0usize..6, 0i64..100_000, 0u8..3), 0..10), now in 0i64..100_000) {
            let contacts = contacts.into_iter().map(|(step, at, o)| Contact {
                step, at: DAY0 + at * MIN,
                outcome: [Outcome::InFlight, Outcome::Unanswered, Outcome::EndsStep][o as usize],
            }).collect();
            let h = History { started_at: DAY0, answered: true, dnd: false, contacts };
            prop_assert_eq!(next(&p, &h, DAY0 + now * MIN, &window()), Next::Done);
        }
    }
}
