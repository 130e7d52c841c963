//! The simulation proper: one order walked through a plan by the product's planner, and the
//! totals of a population of orders.

use chrono::{DateTime, NaiveDate, TimeZone, Timelike};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::population::{Model, Shopper};
use crate::settings::{FallbackMode, Settings, Step};
use crate::verification::plan::{self, Contact, History, Next, Outcome, Plan};
use crate::verification::runner::{plan_of, steps_of};
use crate::verification::schedule::Window;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// A call from dialling to hang-up; the next call's interval counts from its end, as in the product.
pub const CALL_MS: i64 = MINUTE_MS;

/// The plans compared when none is given: the reference app's schedule first.
pub const DEFAULT_PLANS: [&[Step]; 4] = [
    &[Step::Ivr, Step::SmsLink],
    &[Step::Whatsapp, Step::Ivr, Step::SmsLink],
    &[Step::Whatsapp, Step::SmsLink],
    &[Step::Whatsapp, Step::Ivr],
];

/// A plan as the product would run it for a shop with these settings.
#[derive(Debug, Clone)]
pub struct SimPlan {
    pub steps: Vec<Step>,
    /// Derived from the method and fallback (the reference app's way: its SMS go at any hour).
    pub derived: bool,
    pub plan: Plan,
    pub window: Window,
    /// Hours an SMS link stays valid: a later click confirms nothing.
    pub link_expiry_ms: i64,
}

/// The settings the simulator starts from: the defaults, with the reference app's SMS-link fallback.
pub fn base_settings() -> Settings {
    let mut s = Settings::default();
    s.fallback.mode = FallbackMode::SmsLink;
    s
}

impl SimPlan {
    /// `steps` over `settings`. As when a merchant saves the plan (settings::plan), steps equal to
    /// the derived ones leave the plan derived; others are set explicitly.
    pub fn new(settings: &Settings, steps: &[Step]) -> SimPlan {
        let mut s = settings.clone();
        if s.plan() != steps {
            s.plan.steps = steps.to_vec();
        }
        let (steps, explicit) = steps_of(&s);
        SimPlan {
            plan: plan_of(&s, &steps, explicit),
            window: Window::of(&s.ivr),
            derived: !explicit,
            link_expiry_ms: s.fallback.link_expiry_hours.max(0) * 3_600_000,
            steps,
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.as_str()).collect()
    }
}

/// One contact the simulation made: its step, when it started, and whether it reached the shopper
/// as a call placed or a message sent (a DND number's call is looked up and never placed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub step: usize,
    pub at: i64,
    pub placed: bool,
}

/// What happened to one order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRun {
    pub ordered_at: i64,
    pub contacts: Vec<Made>,
    /// When the shopper's first answer arrived, if ever.
    pub answered_at: Option<i64>,
    /// ₹ spent on the order.
    pub cost: f64,
}

/// Midnight of the simulated day in the plan's time zone (a Monday; the day is otherwise arbitrary).
fn day_start(window: &Window) -> i64 {
    let date = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
    window
        .tz
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

fn local_hour(window: &Window, ms: i64) -> usize {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&window.tz).hour() as usize).unwrap_or(0)
}

/// Runs one order's plan for `shopper`, placing the order `ordered_at`.
pub fn run_order(sim: &SimPlan, model: &Model, shopper: &Shopper, ordered_at: i64, rng: &mut impl Rng) -> OrderRun {
    let mut history = History { started_at: ordered_at, answered: false, dnd: false, contacts: Vec::new() };
    let mut run = OrderRun { ordered_at, contacts: Vec::new(), answered_at: None, cost: 0.0 };
    let mut now = ordered_at;
    loop {
        let Next::Contact { step, at, .. } = plan::next(&sim.plan, &history, now, &sim.window) else {
            // Done, or given up: an answer still on its way resolves the order when it comes.
            return run;
        };
        if run.answered_at.is_some_and(|a| a <= at) {
            // The answer came first: what was scheduled is dropped.
            return run;
        }
        let kind = sim.steps[step];
        let (outcome, ended) = match kind {
            Step::Ivr if shopper.dnd => {
                // The dialer's DND lookup: no call is placed, the step ends, later IVR steps are skipped.
                history.dnd = true;
                run.contacts.push(Made { step, at, placed: false });
                (Outcome::EndsStep, at)
            }
            Step::Ivr => {
                let ended = at + CALL_MS;
                run.contacts.push(Made { step, at, placed: true });
                run.cost += model.price(kind);
                if answers(sim, model, shopper, kind, at, rng) {
                    run.answered_at = Some(run.answered_at.map_or(ended, |a| a.min(ended)));
                }
                (Outcome::Unanswered, ended)
            }
            Step::Whatsapp if !shopper.on_whatsapp => {
                // Sent, reported failed, not billed (Meta bills delivered messages): the step ends.
                run.contacts.push(Made { step, at, placed: true });
                (Outcome::EndsStep, at)
            }
            Step::Whatsapp | Step::SmsLink | Step::SmsMissedCall => {
                run.contacts.push(Made { step, at, placed: true });
                run.cost += model.price(kind);
                if answers(sim, model, shopper, kind, at, rng) {
                    let delay = (model.reply_delay_minutes(kind, rng) * MINUTE_MS as f64).round() as i64;
                    let expired = kind == Step::SmsLink && delay > sim.link_expiry_ms;
                    if !expired {
                        let arrives = at + delay;
                        run.answered_at = Some(run.answered_at.map_or(arrives, |a| a.min(arrives)));
                    }
                }
                (Outcome::Unanswered, at)
            }
        };
        history.contacts.push(Contact { step, at: ended, outcome });
        now = ended;
    }
}

/// Whether a contact through `kind` at `at` gets an answer.
fn answers(sim: &SimPlan, model: &Model, shopper: &Shopper, kind: Step, at: i64, rng: &mut impl Rng) -> bool {
    shopper.reachable && rng.random::<f64>() < model.answer_chance(kind, local_hour(&sim.window, at))
}

/// Totals of one plan over the population.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub steps: Vec<Step>,
    pub derived: bool,
    pub orders: u64,
    /// Orders answered within 24 hours of being placed.
    pub resolved_24h: u64,
    /// Orders answered at all.
    pub resolved: u64,
    /// Calls placed and messages sent.
    pub contacts: u64,
    pub cost: f64,
    /// Minutes from order to answer, median, over the answered orders.
    pub median_answer_minutes: Option<f64>,
}

impl Summary {
    pub fn resolved_24h_share(&self) -> f64 {
        ratio(self.resolved_24h as f64, self.orders as f64).unwrap_or(0.0)
    }
    pub fn resolved_share(&self) -> f64 {
        ratio(self.resolved as f64, self.orders as f64).unwrap_or(0.0)
    }
    pub fn contacts_per_order(&self) -> f64 {
        ratio(self.contacts as f64, self.orders as f64).unwrap_or(0.0)
    }
    /// `None` when nothing was resolved.
    pub fn cost_per_resolved(&self) -> Option<f64> {
        ratio(self.cost, self.resolved as f64)
    }
    pub fn cost_per_order(&self) -> f64 {
        ratio(self.cost, self.orders as f64).unwrap_or(0.0)
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// The random stream of order `i`: its shopper first, then its answers. The same for every plan,
/// so plans are compared on the same shoppers, and order `i` is the same whatever the order count.
fn order_rng(seed: u64, i: u64) -> StdRng {
    // SplitMix64 of (seed, i), so neighbouring seeds and orders get unrelated streams.
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// Runs `orders` orders through `sim`.
pub fn simulate(sim: &SimPlan, model: &Model, orders: u64, seed: u64) -> Summary {
    let day = day_start(&sim.window);
    let mut s = Summary {
        steps: sim.steps.clone(),
        derived: sim.derived,
        orders,
        resolved_24h: 0,
        resolved: 0,
        contacts: 0,
        cost: 0.0,
        median_answer_minutes: None,
    };
    let mut waits = Vec::new();
    for i in 0..orders {
        let mut rng = order_rng(seed, i);
        let shopper = model.shopper(&mut rng);
        let ordered_at = day + (shopper.ordered_minute * MINUTE_MS as f64) as i64;
        let run = run_order(sim, model, &shopper, ordered_at, &mut rng);
        s.contacts += run.contacts.iter().filter(|c| c.placed).count() as u64;
        s.cost += run.cost;
        if let Some(at) = run.answered_at {
            s.resolved += 1;
            if at - ordered_at <= DAY_MS {
                s.resolved_24h += 1;
            }
            waits.push(at - ordered_at);
        }
    }
    waits.sort_unstable();
    s.median_answer_minutes = waits.get(waits.len() / 2).map(|w| *w as f64 / MINUTE_MS as f64);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::population::slot;

    fn sim(steps: &[Step]) -> SimPlan {
        SimPlan::new(&base_settings(), steps)
    }
    /// Everyone reachable, on WhatsApp, off the DND registry; every channel answers with `p` at
    /// every hour, at once.
    fn flat(p: f64) -> Model {
        let mut m = Model { answer: [p; 4], hourly: [[1.0; 24]; 4], reply_minutes: [0.0; 4], ..Model::default() };
        (m.dnd, m.not_on_whatsapp, m.unreachable) = (0.0, 0.0, 0.0);
        m
    }
    fn shopper() -> Shopper {
        Shopper { ordered_minute: 0.0, dnd: false, on_whatsapp: true, reachable: true }
    }
    /// `hh:mm` IST on the simulated day, `days` later.
    fn ist(days: i64, hh: i64, mm: i64) -> i64 {
        day_start(&sim(&[Step::Ivr]).window) + days * DAY_MS + (hh * 60 + mm) * MINUTE_MS
    }

    #[test]
    fn the_same_seed_gives_the_same_totals_and_another_seed_others() {
        let (p, m) = (sim(&[Step::Whatsapp, Step::Ivr, Step::SmsLink]), Model::default());
        let a = simulate(&p, &m, 2_000, 7);
        assert_eq!(a, simulate(&p, &m, 2_000, 7));
        let b = simulate(&p, &m, 2_000, 8);
        assert_ne!((a.resolved, a.contacts, a.cost), (b.resolved, b.contacts, b.cost));
        // Order i is the same shopper whatever the count: the first 2,000 of 3,000 are these.
        let c = simulate(&p, &m, 3_000, 7);
        assert!(c.resolved >= a.resolved && c.contacts > a.contacts);
    }

    #[test]
    fn a_certain_answer_on_the_first_channel_takes_exactly_one_contact() {
        for steps in [&[Step::Ivr, Step::SmsLink][..], &[Step::Whatsapp, Step::Ivr, Step::SmsLink], &[Step::SmsMissedCall]] {
            let mut m = flat(0.0);
            m.answer[slot(steps[0])] = 1.0;
            let s = simulate(&sim(steps), &m, 1_000, 3);
            assert_eq!((s.resolved, s.resolved_24h, s.contacts), (1_000, 1_000, 1_000), "{steps:?}");
            let price = m.price(steps[0]) * 1_000.0;
            assert!((s.cost - price).abs() < 1e-6, "{steps:?}: {}", s.cost);
        }
    }

    #[test]
    fn no_answer_anywhere_makes_every_configured_contact() {
        let m = flat(0.0);
        // Defaults: IVR 1 + 2 retries, WhatsApp 1 + 1 retry, SMS link 1 (no retries).
        for (steps, per_order, cost) in [
            (&[Step::Ivr, Step::SmsLink][..], 4, 3.0 * 0.60 + 0.25),
            (&[Step::Whatsapp, Step::Ivr, Step::SmsLink], 6, 2.0 * 0.115 + 3.0 * 0.60 + 0.25),
            (&[Step::Whatsapp, Step::SmsLink], 3, 2.0 * 0.115 + 0.25),
        ] {
            let s = simulate(&sim(steps), &m, 1_000, 11);
            assert_eq!((s.resolved, s.contacts), (0, 1_000 * per_order), "{steps:?}");
            assert!((s.cost_per_order() - cost).abs() < 1e-9, "{steps:?}: {}", s.cost_per_order());
            assert_eq!(s.cost_per_resolved(), None);
        }
        // Nobody reachable: the same, whatever the channels' rates.
        let m = Model { unreachable: 1.0, dnd: 0.0, not_on_whatsapp: 0.0, ..flat(1.0) };
        assert_eq!(simulate(&sim(&[Step::Ivr, Step::SmsLink]), &m, 500, 1).contacts, 2_000);
    }

    /// The contacts of an unanswered order, as (step, start) pairs.
    fn trace(p: &SimPlan, shopper: &Shopper, at: i64) -> Vec<(usize, i64)> {
        let run = run_order(p, &flat(0.0), shopper, at, &mut StdRng::seed_from_u64(1));
        assert_eq!(run.answered_at, None);
        run.contacts.iter().map(|c| (c.step, c.at)).collect()
    }

    #[test]
    fn the_planner_is_the_products() {
        // The reference shop's settings (IVR with 2 retries 30 min apart, then the SMS link) through
        // the runner's own plan_of, asked step by step: the simulator makes the same contacts.
        let settings = base_settings();
        let (steps, explicit) = steps_of(&settings);
        assert_eq!((steps.as_slice(), explicit), (&[Step::Ivr, Step::SmsLink][..], false));
        let (plan, window) = (plan_of(&settings, &steps, explicit), Window::of(&settings.ivr));
        let p = sim(&steps);
        assert!(p.derived);
        for start in [ist(0, 10, 0), ist(0, 19, 58), ist(0, 23, 30), ist(0, 3, 0)] {
            let mut expected = Vec::new();
            let mut h = History { started_at: start, answered: false, dnd: false, contacts: vec![] };
            let mut now = start;
            while let Next::Contact { step, at, .. } = plan::next(&plan, &h, now, &window) {
                expected.push((step, at));
                let ended = if steps[step] == Step::Ivr { at + CALL_MS } else { at };
                h.contacts.push(Contact { step, at: ended, outcome: Outcome::Unanswered });
                now = ended;
            }
            assert_eq!(trace(&p, &shopper(), start), expected);
        }
        // By the clock: calls 30 minutes after the last one ended, inside 09:00–21:00 IST (21:00
        // itself allowed); the reference's SMS as the last call ends, at any hour.
        let calls_then_sms = vec![(0, ist(0, 19, 58)), (0, ist(0, 20, 29)), (0, ist(0, 21, 0)), (1, ist(0, 21, 1))];
        assert_eq!(trace(&p, &shopper(), ist(0, 19, 58)), calls_then_sms);
        // The same steps set explicitly keep the SMS to the hours too.
        let explicit = SimPlan::new(&Settings::default(), &[Step::Ivr, Step::SmsLink]);
        assert!(!explicit.derived);
        assert_eq!(trace(&explicit, &shopper(), ist(0, 19, 58))[3], (1, ist(1, 9, 0)));
        // An order at night waits for 09:00.
        assert_eq!(trace(&p, &shopper(), ist(0, 23, 30))[0], (0, ist(1, 9, 0)));
    }

    #[test]
    fn dnd_and_whatsapp_less_numbers_end_their_steps() {
        let p = sim(&[Step::Whatsapp, Step::Ivr, Step::SmsLink]);
        let dnd = Shopper { dnd: true, ..shopper() };
        // Two messages an hour apart, the hour's wait, the DND lookup (no call), the SMS.
        assert_eq!(trace(&p, &dnd, ist(0, 10, 0)), vec![(0, ist(0, 10, 0)), (0, ist(0, 11, 0)), (1, ist(0, 12, 0)), (2, ist(0, 12, 0))]);
        let run = run_order(&p, &flat(0.0), &dnd, ist(0, 10, 0), &mut StdRng::seed_from_u64(1));
        assert_eq!(run.contacts.iter().filter(|c| c.placed).count(), 3);
        assert!((run.cost - (2.0 * 0.115 + 0.25)).abs() < 1e-9);
        // Not on WhatsApp: the first message fails, unbilled, and the calls start at once.
        let no_wa = Shopper { on_whatsapp: false, ..shopper() };
        let t = trace(&p, &no_wa, ist(0, 10, 0));
        assert_eq!(t[..2], [(0, ist(0, 10, 0)), (1, ist(0, 10, 0))]);
        assert_eq!(t.len(), 5);
        let run = run_order(&p, &flat(0.0), &no_wa, ist(0, 10, 0), &mut StdRng::seed_from_u64(1));
        assert!((run.cost - (3.0 * 0.60 + 0.25)).abs() < 1e-9);
    }

    #[test]
    fn late_answers_resolve_and_expired_links_do_not() {
        // Every WhatsApp message answered, about ten hours later: the plan has long given up (after
        // 2 messages and an hour's wait), and the answers still resolve the orders.
        let mut m = flat(0.0);
        m.answer[slot(Step::Whatsapp)] = 1.0;
        m.reply_minutes[slot(Step::Whatsapp)] = 600.0;
        let p = sim(&[Step::Whatsapp]);
        let s = simulate(&p, &m, 1_000, 5);
        assert_eq!(s.resolved, 1_000);
        assert!(s.contacts > 1_000 && s.contacts < 2_000, "some answers came between the messages: {}", s.contacts);
        let mut rng = StdRng::seed_from_u64(5);
        let late = (0..200).filter(|_| {
            let run = run_order(&p, &m, &shopper(), ist(0, 10, 0), &mut rng);
            run.answered_at.is_some_and(|a| a > ist(0, 12, 0))
        });
        assert!(late.count() > 100, "most answers come after the plan gave up at 12:00");
        // A link clicked after it expired (48 h) confirms nothing.
        let mut m = flat(0.0);
        m.answer[slot(Step::SmsLink)] = 1.0;
        m.reply_minutes[slot(Step::SmsLink)] = 1e9;
        assert_eq!(simulate(&sim(&[Step::SmsLink]), &m, 500, 5).resolved, 0);
    }
}
