//! What verification costs (SPEC §10), as pure arithmetic in whole paise: the price of one contact
//! from what was recorded about it and the merchant's per-unit prices (`settings.costs`), usage
//! summed per channel, and the cost per confirmed order. No floats: money is integer paise until
//! it is shown.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::stored_enum;
use crate::settings::Costs;

stored_enum! {
    /// The channels a contact goes through, as the outcomes API names them (`by_channel`).
    Channel {
        Whatsapp = "whatsapp",
        Ivr = "ivr",
        SmsLink = "sms_link",
        /// The SMS asking for a missed call, and the thanks sent after one confirmed an order.
        SmsMissedCall = "sms_missed_call",
        Otp = "otp",
    }
}

/// What was recorded about one contact that reached Exotel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// An IVR call: Exotel's price when it reported one, else its duration and whether it was answered.
    Call { price_paise: Option<i64>, duration_seconds: Option<i64>, answered: bool },
    /// An SMS: the units Exotel reported (one when it reported none).
    Sms { units: Option<i64> },
    /// A WhatsApp message: billed unless Exotel reported it failed (Meta charges delivered messages).
    Whatsapp { billed: bool },
}

/// What contacts used, in the units they are priced by; contacts' usages add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub contacts: i64,
    /// Prices Exotel reported (calls), already in paise.
    pub reported_paise: i64,
    /// Started minutes of calls Exotel did not price.
    pub call_minutes: i64,
    pub sms_units: i64,
    pub whatsapp_messages: i64,
}

/// Minutes a call of `seconds` is billed for: every started minute (pulses of 60 s).
pub fn started_minutes(seconds: i64) -> i64 {
    if seconds <= 0 { 0 } else { (seconds + 59) / 60 }
}

impl Usage {
    pub fn of(contact: Contact) -> Usage {
        let mut u = Usage { contacts: 1, ..Usage::default() };
        match contact {
            Contact::Call { price_paise: Some(p), .. } => u.reported_paise = p.max(0),
            Contact::Call { duration_seconds: Some(d), .. } if d > 0 => u.call_minutes = started_minutes(d),
            // Answered with no talk time known: its first minute is billed.
            Contact::Call { answered, .. } => u.call_minutes = i64::from(answered),
            Contact::Sms { units } => u.sms_units = units.unwrap_or(1).max(0),
            Contact::Whatsapp { billed } => u.whatsapp_messages = i64::from(billed),
        }
        u
    }

    /// `n` contacts like this one.
    pub fn times(self, n: i64) -> Usage {
        Usage {
            contacts: self.contacts * n,
            reported_paise: self.reported_paise * n,
            call_minutes: self.call_minutes * n,
            sms_units: self.sms_units * n,
            whatsapp_messages: self.whatsapp_messages * n,
        }
    }

    /// What it cost, in paise, at the merchant's prices.
    pub fn cost_paise(&self, prices: &Costs) -> i64 {
        let p = prices.bounded();
        self.reported_paise.max(0)
            + self.call_minutes.max(0) * p.call_minute_paise
            + self.sms_units.max(0) * p.sms_unit_paise
            + self.whatsapp_messages.max(0) * p.whatsapp_message_paise
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, o: Usage) -> Usage {
        Usage {
            contacts: self.contacts + o.contacts,
            reported_paise: self.reported_paise + o.reported_paise,
            call_minutes: self.call_minutes + o.call_minutes,
            sms_units: self.sms_units + o.sms_units,
            whatsapp_messages: self.whatsapp_messages + o.whatsapp_messages,
        }
    }
}

/// The price of one contact, in paise.
pub fn contact_paise(contact: Contact, prices: &Costs) -> i64 {
    Usage::of(contact).cost_paise(prices)
}

/// A price as Exotel writes it (rupees: `2.3`, `"0.115"`, `-0.5` — some APIs sign charges) in paise,
/// rounded half up; `None` when it is not a decimal number.
pub fn parse_price_paise(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_prefix('-').or_else(|| t.strip_prefix('+')).unwrap_or(t);
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || whole.len() > 12 {
        return None;
    }
    let rupees: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac = frac.as_bytes();
    let digit = |i: usize| frac.get(i).map_or(0, |b| i64::from(b - b'0'));
    let round_up = i64::from(digit(2) >= 5);
    Some(rupees * 100 + digit(0) * 10 + digit(1) + round_up)
}

/// A channel's (or every channel's) contacts, confirmed orders and cost over a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub contacts: i64,
    pub confirmed: i64,
    pub cost_paise: i64,
}

impl Totals {
    pub fn new(usage: Usage, confirmed: i64, prices: &Costs) -> Totals {
        Totals { contacts: usage.contacts, confirmed, cost_paise: usage.cost_paise(prices) }
    }

    /// Cost per confirmed order in paise, rounded half up; `None` when nothing was confirmed.
    pub fn per_confirmed_paise(&self) -> Option<i64> {
        (self.confirmed > 0).then(|| (2 * self.cost_paise.max(0) + self.confirmed) / (2 * self.confirmed))
    }

    /// `{"contacts", "confirmed", "cost", "cost_paise", "cost_per_confirmed", "cost_per_confirmed_paise"}`;
    /// `cost*` in rupees (two decimals), the per-confirmed ones null when nothing was confirmed.
    pub fn to_json(&self) -> Value {
        let per = self.per_confirmed_paise();
        json!({
            "contacts": self.contacts,
            "confirmed": self.confirmed,
            "cost": rupees(self.cost_paise),
            "cost_paise": self.cost_paise,
            "cost_per_confirmed": per.map(rupees),
            "cost_per_confirmed_paise": per,
        })
    }
}

impl Channel {
    /// The channel's name on the admin pages.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Whatsapp => "WhatsApp",
            Channel::Ivr => "IVR call",
            Channel::SmsLink => "SMS link",
            Channel::SmsMissedCall => "Missed call (SMS)",
            Channel::Otp => "OTP SMS",
        }
    }
}

/// Paise as rupees for pages and CSV, two decimals, exact ("1234.50"; never a float).
pub fn rupees_text(paise: i64) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let p = paise.unsigned_abs();
    format!("{sign}{}.{:02}", p / 100, p % 100)
}

/// Paise as a rupee amount for JSON (output only; nothing stored is a float).
fn rupees(paise: i64) -> f64 {
    paise as f64 / 100.0
}

/// Cost per channel and overall for a range of orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostReport {
    pub by_channel: Vec<(Channel, Totals)>,
    /// Every channel's contacts and cost; confirmed = every confirmed order of the range
    /// (also those an agent confirmed, or no channel can claim).
    pub overall: Totals,
}

impl CostReport {
    /// From each channel's usage and orders confirmed through it, and the range's confirmed orders.
    pub fn new(channels: &[(Channel, Usage, i64)], confirmed_orders: i64, prices: &Costs) -> CostReport {
        let by_channel: Vec<(Channel, Totals)> = Channel::ALL
            .iter()
            .map(|&ch| {
                let (usage, confirmed) = channels
                    .iter()
                    .filter(|(c, _, _)| *c == ch)
                    .fold((Usage::default(), 0), |(u, n), (_, u2, n2)| (u + *u2, n + n2));
                (ch, Totals::new(usage, confirmed, prices))
            })
            .collect();
        let overall = Totals {
            contacts: by_channel.iter().map(|(_, t)| t.contacts).sum(),
            confirmed: confirmed_orders,
            cost_paise: by_channel.iter().map(|(_, t)| t.cost_paise).sum(),
        };
        CostReport { by_channel, overall }
    }

    /// The outcomes API's `by_channel`: one object per channel key.
    pub fn by_channel_json(&self) -> Value {
        Value::Object(self.by_channel.iter().map(|(c, t)| (c.as_str().to_string(), t.to_json())).collect())
    }
}

/// A channel's funnel over a range of orders (issue 18): orders a contact of the channel left
/// for, orders Exotel reported it reached, orders whose shopper answered on it, and orders
/// confirmed through it. An order counts once per stage, and a later stage implies the earlier
/// ones, so no stage counts more orders than the one before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    pub sent: i64,
    pub delivered: i64,
    pub answered: i64,
    pub confirmed: i64,
}

/// A funnel row as `db::outcomes::funnel` gives it: (channel key, sent, delivered, answered,
/// confirmed) counts of orders. Rows of disjoint sets of orders add up.
pub type FunnelRow = (String, i64, i64, i64, i64);

fn ratio(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

impl Funnel {
    /// One row's counts, each stage raised to the one after it (and none below zero), so that a
    /// row that is not monotone cannot make a bar grow; done per row, so rows still add up.
    fn of_row(sent: i64, delivered: i64, answered: i64, confirmed: i64) -> Funnel {
        let confirmed = confirmed.max(0);
        let answered = answered.max(confirmed);
        let delivered = delivered.max(answered);
        Funnel { sent: sent.max(delivered), delivered, answered, confirmed }
    }

    /// delivered ÷ sent; `None` when nothing was sent (the same for the other rates).
    pub fn delivered_rate(&self) -> Option<f64> {
        ratio(self.delivered, self.sent)
    }
    /// answered ÷ delivered.
    pub fn answered_rate(&self) -> Option<f64> {
        ratio(self.answered, self.delivered)
    }
    /// confirmed ÷ answered.
    pub fn confirmed_rate(&self) -> Option<f64> {
        ratio(self.confirmed, self.answered)
    }
    /// confirmed ÷ sent: the whole funnel.
    pub fn sent_to_confirmed(&self) -> Option<f64> {
        ratio(self.confirmed, self.sent)
    }

    /// `{"sent", "delivered", "answered", "confirmed"}` (orders).
    pub fn to_json(&self) -> Value {
        json!({"sent": self.sent, "delivered": self.delivered, "answered": self.answered, "confirmed": self.confirmed})
    }
}

impl std::ops::Add for Funnel {
    type Output = Funnel;

    fn add(self, o: Funnel) -> Funnel {
        Funnel {
            sent: self.sent + o.sent,
            delivered: self.delivered + o.delivered,
            answered: self.answered + o.answered,
            confirmed: self.confirmed + o.confirmed,
        }
    }
}

/// Every channel's funnel, in `Channel::ALL` order, summing the rows of each (rows of an unknown
/// channel key are left out). Rows of [s, m) followed by rows of [m, e) give the funnel of [s, e).
pub fn funnel(rows: &[FunnelRow]) -> Vec<(Channel, Funnel)> {
    Channel::ALL
        .iter()
        .map(|&ch| {
            let f = rows
                .iter()
                .filter(|(key, ..)| Channel::parse(key) == Some(ch))
                .fold(Funnel::default(), |f, (_, s, d, a, c)| f + Funnel::of_row(*s, *d, *a, *c));
            (ch, f)
        })
        .collect()
}

/// The outcomes API's `funnel`: one `{"sent", "delivered", "answered", "confirmed"}` per channel key.
pub fn funnel_json(funnel: &[(Channel, Funnel)]) -> Value {
    Value::Object(funnel.iter().map(|(c, f)| (c.as_str().to_string(), f.to_json())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P: Costs = Costs { sms_unit_paise: 25, whatsapp_message_paise: 12, call_minute_paise: 120 };

    #[test]
    fn each_contact_is_priced_from_what_was_recorded() {
        let call = |price, duration, answered| Contact::Call { price_paise: price, duration_seconds: duration, answered };
        // Exotel's price wins over the minutes.
        assert_eq!(contact_paise(call(Some(230), Some(123), true), &P), 230);
        // No price: every started minute at the setting.
        assert_eq!(contact_paise(call(None, Some(60), true), &P), 120);
        assert_eq!(contact_paise(call(None, Some(61), true), &P), 240);
        assert_eq!(contact_paise(call(None, Some(1), true), &P), 120);
        // Answered but no duration: one minute; never answered: nothing.
        assert_eq!(contact_paise(call(None, None, true), &P), 120);
        assert_eq!(contact_paise(call(None, Some(0), false), &P), 0);
        assert_eq!(contact_paise(call(None, None, false), &P), 0);
        assert_eq!(contact_paise(Contact::Sms { units: Some(2) }, &P), 50);
        assert_eq!(contact_paise(Contact::Sms { units: None }, &P), 25);
        assert_eq!(contact_paise(Contact::Whatsapp { billed: true }, &P), 12);
        assert_eq!(contact_paise(Contact::Whatsapp { billed: false }, &P), 0);
    }

    #[test]
    fn rupees_are_written_exactly() {
        assert_eq!(rupees_text(0), "0.00");
        assert_eq!(rupees_text(5), "0.05");
        assert_eq!(rupees_text(123_450), "1234.50");
        assert_eq!(rupees_text(-250), "-2.50");
    }

    #[test]
    fn exotel_prices_become_paise() {
        for (text, paise) in [("2.3", Some(230)), ("0.115", Some(12)), ("0.114", Some(11)), ("-0.5", Some(50)), ("1", Some(100)),
            (".25", Some(25)), ("3.", Some(300)), (" 1.20 ", Some(120)), ("0.0", Some(0)), ("", None), (".", None), ("1.2.3", None),
            ("abc", None), ("1e3", None), ("₹1", None), ("9999999999999", None)]
        {
            assert_eq!(parse_price_paise(text), paise, "{text:?}");
        }
    }

    #[test]
    fn cost_per_confirmed_order_is_null_without_confirmations() {
        let usage = Usage { contacts: 3, reported_paise: 100, call_minutes: 0, sms_units: 1, whatsapp_messages: 0 };
        assert_eq!(Totals::new(usage, 0, &P).per_confirmed_paise(), None);
        assert_eq!(Totals::new(usage, 0, &P).to_json()["cost_per_confirmed"], Value::Null);
        // 125 paise over 2 orders: 62.5, rounded half up.
        assert_eq!(Totals::new(usage, 2, &P).per_confirmed_paise(), Some(63));
        assert_eq!(Totals::new(usage, 2, &P).to_json()["cost"], json!(1.25));
        let r = CostReport::new(&[(Channel::Ivr, usage, 2), (Channel::Whatsapp, Usage::of(Contact::Whatsapp { billed: true }), 0)], 5, &P);
        assert_eq!(r.overall, Totals { contacts: 4, confirmed: 5, cost_paise: 137 });
        let j = r.by_channel_json();
        assert_eq!(j["ivr"]["cost_paise"], 125);
        assert_eq!(j["whatsapp"]["cost_per_confirmed"], Value::Null);
        assert_eq!(j["otp"], json!({"contacts": 0, "confirmed": 0, "cost": 0.0, "cost_paise": 0, "cost_per_confirmed": null,
            "cost_per_confirmed_paise": null}));
    }

    #[test]
    fn funnel_sums_rows_per_channel_and_never_grows() {
        let row = |k: &str, s, d, a, c| (k.to_string(), s, d, a, c);
        let f = funnel(&[row("ivr", 10, 6, 4, 3), row("whatsapp", 5, 5, 2, 1), row("ivr", 2, 2, 2, 2), row("sms", 9, 9, 9, 9),
            // Not monotone (2 answered of 1 delivered): raised, so the bars never grow.
            row("otp", 1, 1, 2, 0)]);
        let of = |ch| f.iter().find(|(c, _)| *c == ch).unwrap().1;
        assert_eq!(f.len(), Channel::ALL.len());
        assert_eq!(of(Channel::Ivr), Funnel { sent: 12, delivered: 8, answered: 6, confirmed: 5 });
        assert_eq!(of(Channel::Whatsapp), Funnel { sent: 5, delivered: 5, answered: 2, confirmed: 1 });
        assert_eq!(of(Channel::Otp), Funnel { sent: 2, delivered: 2, answered: 2, confirmed: 0 });
        assert_eq!(of(Channel::SmsLink), Funnel::default(), "an unknown key counts nowhere");
        let ivr = of(Channel::Ivr);
        assert_eq!((ivr.delivered_rate(), ivr.answered_rate(), ivr.sent_to_confirmed()), (Some(8.0 / 12.0), Some(0.75), Some(5.0 / 12.0)));
        assert_eq!(of(Channel::Otp).confirmed_rate(), Some(0.0));
        assert_eq!(Funnel::default().sent_to_confirmed(), None);
        assert_eq!(funnel_json(&f)["ivr"], json!({"sent": 12, "delivered": 8, "answered": 6, "confirmed": 5}));
    }

    fn contact() -> impl Strategy<Value = Contact> {
        prop_oneof![
            (proptest::option::of(-1000i64..100_000), proptest::option::of(-5i64..20_000), any::<bool>())
                .prop_map(|(price_paise, duration_seconds, answered)| Contact::Call { price_paise, duration_seconds, answered }),
            proptest::option::of(-3i64..20).prop_map(|units| Contact::Sms { units }),
            any::<bool>().prop_map(|billed| Contact::Whatsapp { billed }),
        ]
    }

    fn funnel_row() -> impl Strategy<Value = FunnelRow> {
        let key = prop_oneof![Just("ivr"), Just("whatsapp"), Just("sms_link"), Just("sms_missed_call"), Just("otp"), Just("other")];
        (key, -2i64..50, -2i64..50, -2i64..50, -2i64..50).prop_map(|(k, s, d, a, c)| (k.to_string(), s, d, a, c))
    }

    fn prices() -> impl Strategy<Value = Costs> {
        (-10i64..20_000, -10i64..20_000, -10i64..20_000)
            .prop_map(|(s, w, c)| Costs { sms_unit_paise: s, whatsapp_message_paise: w, call_minute_paise: c })
    }

    proptest! {
        #[test]
        fn totals_are_the_sum_of_contacts_and_never_negative(contacts in proptest::collection::vec(contact(), 0..60), p in prices(),
            confirmed in 0i64..50) {
            let each: Vec<i64> = contacts.iter().map(|c| contact_paise(*c, &p)).collect();
            prop_assert!(each.iter().all(|&c| c >= 0));
            let usage = contacts.iter().fold(Usage::default(), |u, c| u + Usage::of(*c));
            prop_assert_eq!(usage.contacts, contacts.len() as i64);
            let total = Totals::new(usage, confirmed, &p);
            prop_assert_eq!(total.cost_paise, each.iter().sum::<i64>());
            match total.per_confirmed_paise() {
                None => prop_assert_eq!(confirmed, 0),
                Some(per) => {
                    prop_assert!(per >= 0);
                    // Rounded to the nearest paisa: within half a paisa per order of the exact share.
                    prop_assert!((per * confirmed - total.cost_paise).abs() * 2 <= confirmed);
                }
            }
            // Splitting the contacts over channels changes nothing overall.
            let split: Vec<(Channel, Usage, i64)> = contacts.iter().enumerate()
                .map(|(i, c)| (Channel::ALL[i % 5], Usage::of(*c), 0)).collect();
            let r = CostReport::new(&split, confirmed, &p);
            prop_assert_eq!(r.overall.cost_paise, total.cost_paise);
            prop_assert_eq!(r.overall.contacts, usage.contacts);
        }

        #[test]
        fn funnel_is_monotone_and_rows_add_up(rows in proptest::collection::vec(funnel_row(), 0..40), cut in 0usize..40) {
            let whole = funnel(&rows);
            let cut = cut.min(rows.len());
            let (a, b) = (funnel(&rows[..cut]), funnel(&rows[cut..]));
            for (((ch, f), (ch_a, fa)), (ch_b, fb)) in whole.iter().zip(&a).zip(&b) {
                prop_assert!(ch == ch_a && ch == ch_b);
                // Additive: the per-day cache concatenates days' rows.
                prop_assert_eq!(*f, *fa + *fb);
                prop_assert!(f.sent >= f.delivered && f.delivered >= f.answered && f.answered >= f.confirmed && f.confirmed >= 0, "{:?}", f);
                for r in [f.delivered_rate(), f.answered_rate(), f.confirmed_rate(), f.sent_to_confirmed()].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&r));
                }
            }
        }

        #[test]
        fn written_prices_read_back(paise in 0i64..10_000_000_000) {
            prop_assert_eq!(parse_price_paise(&format!("{}.{:02}", paise / 100, paise % 100)), Some(paise));
            prop_assert_eq!(parse_price_paise(&format!("-{}.{:02}0", paise / 100, paise % 100)), Some(paise));
        }
    }
}
