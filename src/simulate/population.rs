//! The simulated shoppers: when they order, whether a contact reaches them, whether and when they
//! answer it, and what each contact costs. Every figure is a flag of `codverify simulate`; the
//! defaults and where they come from are in the README ("Plan simulator").

use rand::Rng;

use crate::settings::Step;

/// One value per channel, in [`Step::ALL`] order (whatsapp, ivr, sms_link, sms_missed_call).
pub type PerChannel<T> = [T; 4];

/// Where a channel's value sits in a [`PerChannel`].
pub fn slot(step: Step) -> usize {
    Step::ALL.iter().position(|s| *s == step).expect("every step is in ALL")
}

/// An hour-of-day profile in the shop's time zone, hour 0 first.
pub type Hours = [f64; 24];

/// Phone-call profile: the Exotel automated-calls guide's "timing best practices" (S003: 10–12 peak
/// answer rates, 9–10 high attention, afternoon and evening somewhat lower).
const CALL_HOURS: Hours = [
    0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.4, 0.6, 0.9, 1.0, 1.0, 0.9, 0.8, 0.85, 0.85, 0.9, 0.9, 0.85, 0.85, 0.8, 0.7, 0.5, 0.3,
];
/// Messages are read whenever the phone is picked up: flat over the day, lower at night (assumption).
const MESSAGE_HOURS: Hours = [
    0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.7, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.5,
];
/// Indian shoppers' orders over the day: a midday plateau and the evening peak (assumption).
const ARRIVALS: Hours = [
    3.0, 2.0, 1.0, 0.5, 0.5, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.0, 6.0, 5.0, 5.0, 5.0, 5.0, 6.0, 7.0, 8.0, 8.0, 7.0, 5.0,
];

/// The population and the prices.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Relative weight of the orders placed in each hour of the day.
    pub arrivals: Hours,
    /// Probability that one contact, at the channel's best hour, gets an answer (a choice: confirm,
    /// cancel or callback) from a reachable shopper.
    pub answer: PerChannel<f64>,
    /// Per channel, the answer probability's multiplier for the hour the contact is made in.
    pub hourly: PerChannel<Hours>,
    /// Mean minutes from a message to its answer (exponential). A call is answered while it rings.
    pub reply_minutes: PerChannel<f64>,
    /// Share of numbers on the DND registry: the planner skips their IVR steps.
    pub dnd: f64,
    /// Share of numbers without WhatsApp: a WhatsApp message to them fails and ends its step.
    pub not_on_whatsapp: f64,
    /// Share of shoppers no channel ever gets an answer from (wrong numbers, fake orders).
    pub unreachable: f64,
    /// ₹ per contact: per placed call, per SMS, per delivered WhatsApp message.
    pub price: PerChannel<f64>,
}

impl Default for Model {
    fn default() -> Model {
        let mut answer = [0.0; 4];
        answer[slot(Step::Whatsapp)] = 0.45;
        answer[slot(Step::Ivr)] = 0.35;
        answer[slot(Step::SmsLink)] = 0.15;
        answer[slot(Step::SmsMissedCall)] = 0.10;
        let mut hourly = [MESSAGE_HOURS; 4];
        hourly[slot(Step::Ivr)] = CALL_HOURS;
        let mut reply_minutes = [0.0; 4];
        reply_minutes[slot(Step::Whatsapp)] = 30.0;
        reply_minutes[slot(Step::SmsLink)] = 120.0;
        reply_minutes[slot(Step::SmsMissedCall)] = 90.0;
        let mut price = [0.0; 4];
        price[slot(Step::Whatsapp)] = 0.115;
        price[slot(Step::Ivr)] = 0.60;
        price[slot(Step::SmsLink)] = 0.25;
        price[slot(Step::SmsMissedCall)] = 0.25;
        Model {
            arrivals: ARRIVALS,
            answer,
            hourly,
            reply_minutes,
            dnd: 0.20,
            not_on_whatsapp: 0.10,
            unreachable: 0.15,
            price,
        }
    }
}

/// One shopper's fixed traits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shopper {
    /// Minutes after midnight (shop's time zone) the order was placed.
    pub ordered_minute: f64,
    pub dnd: bool,
    pub on_whatsapp: bool,
    pub reachable: bool,
}

impl Model {
    /// Draws a shopper. Always the same number of draws, so the answers drawn after it line up
    /// between plans.
    pub fn shopper(&self, rng: &mut impl Rng) -> Shopper {
        let total: f64 = self.arrivals.iter().sum();
        let mut pick = rng.random::<f64>() * total;
        let mut hour = 23;
        for (h, w) in self.arrivals.iter().enumerate() {
            if pick < *w {
                hour = h;
                break;
            }
            pick -= w;
        }
        let within: f64 = rng.random();
        Shopper {
            ordered_minute: (hour as f64 + within) * 60.0,
            dnd: rng.random::<f64>() < self.dnd,
            on_whatsapp: rng.random::<f64>() >= self.not_on_whatsapp,
            reachable: rng.random::<f64>() >= self.unreachable,
        }
    }

    /// The chance that a contact through `step`, made in local hour `hour`, is answered by a
    /// reachable shopper.
    pub fn answer_chance(&self, step: Step, hour: usize) -> f64 {
        let i = slot(step);
        (self.answer[i] * self.hourly[i][hour % 24]).clamp(0.0, 1.0)
    }

    /// Minutes until a message's answer arrives.
    pub fn reply_delay_minutes(&self, step: Step, rng: &mut impl Rng) -> f64 {
        let mean = self.reply_minutes[slot(step)];
        if mean <= 0.0 {
            return 0.0;
        }
        // Inverse transform of the exponential; 1 - u is in (0, 1].
        -mean * (1.0 - rng.random::<f64>()).ln()
    }

    pub fn price(&self, step: Step) -> f64 {
        self.price[slot(step)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn shares_and_arrivals_follow_the_model() {
        let model = Model::default();
        let mut rng = StdRng::seed_from_u64(3);
        let n = 200_000;
        let shoppers: Vec<Shopper> = (0..n).map(|_| model.shopper(&mut rng)).collect();
        let share = |f: &dyn Fn(&Shopper) -> bool| shoppers.iter().filter(|s| f(s)).count() as f64 / n as f64;
        assert!((share(&|s| s.dnd) - model.dnd).abs() < 0.01);
        assert!((share(&|s| !s.on_whatsapp) - model.not_on_whatsapp).abs() < 0.01);
        assert!((share(&|s| !s.reachable) - model.unreachable).abs() < 0.01);
        // The evening hour 20 gets 8 of the 106 weights, 03:00 half of one.
        let total: f64 = model.arrivals.iter().sum();
        let in_hour = |h: f64| share(&|s| s.ordered_minute >= h * 60.0 && s.ordered_minute < (h + 1.0) * 60.0);
        assert!((in_hour(20.0) - 8.0 / total).abs() < 0.005);
        assert!((in_hour(3.0) - 0.5 / total).abs() < 0.002);
        assert!(shoppers.iter().all(|s| (0.0..1440.0).contains(&s.ordered_minute)));
    }

    #[test]
    fn hours_scale_the_answer_and_delays_have_their_mean() {
        let mut model = Model::default();
        assert_eq!(model.answer_chance(Step::Ivr, 10), 0.35);
        assert!((model.answer_chance(Step::Ivr, 3) - 0.07).abs() < 1e-9);
        model.answer[slot(Step::Ivr)] = 3.0;
        assert_eq!(model.answer_chance(Step::Ivr, 10), 1.0, "a chance is at most 1");
        let mut rng = StdRng::seed_from_u64(5);
        let n = 100_000;
        let mean = (0..n).map(|_| model.reply_delay_minutes(Step::Whatsapp, &mut rng)).sum::<f64>() / n as f64;
        assert!((mean - 30.0).abs() < 1.0, "mean {mean}");
        assert_eq!(model.reply_delay_minutes(Step::Ivr, &mut rng), 0.0);
    }
}
