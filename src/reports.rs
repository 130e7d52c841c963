//! The report rules: which reports there are, their filters as asked and checked (the 7-day rule,
//! the number and status filters), the shop's zone and day boundaries, and the channel that
//! resolved an order. The queries are `db::reports`; the pages, labels, SVG and CSV `web::reports`.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::{OrderStatus, Phone};
use crate::settings::{Settings, Verify};

/// The widest From–To range a report takes, in days between the two dates.
pub const MAX_RANGE_DAYS: i64 = 7;
pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];

/// The shop's zone (`ivr.timezone`), India's when unset or unknown.
pub fn shop_tz(settings: &Settings) -> Tz {
    settings.ivr.timezone.trim().parse().unwrap_or(chrono_tz::Asia::Kolkata)
}

/// Unix ms of local midnight starting `d` in `tz` (the first instant of the day when midnight is skipped).
pub fn day_start(tz: Tz, d: NaiveDate) -> i64 {
    let mut t = d.and_hms_opt(0, 0, 0).expect("midnight");
    for _ in 0..48 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x.timestamp_millis();
        }
        t += chrono::TimeDelta::minutes(30);
    }
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")).timestamp_millis()
}

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Calls,
    Sms,
    Missed,
    Orders,
    Whatsapp,
}

impl Report {
    pub fn from_slug(s: &str) -> Option<Report> {
        Some(match s {
            "calls" => Report::Calls,
            "sms" => Report::Sms,
            "missed-calls" => Report::Missed,
            "orders" => Report::Orders,
            "whatsapp" => Report::Whatsapp,
            _ => return None,
        })
    }
    pub fn slug(self) -> &'static str {
        match self {
            Report::Calls => "calls",
            Report::Sms => "sms",
            Report::Missed => "missed-calls",
            Report::Orders => "orders",
            Report::Whatsapp => "whatsapp",
        }
    }
}

pub const ORDER_STATUSES: [(&str, &str); 6] = [
    (OrderStatus::Pending.as_str(), "Pending verification"),
    (OrderStatus::Confirmed.as_str(), "Confirmed"),
    (OrderStatus::Cancelled.as_str(), "Cancelled"),
    (OrderStatus::CallbackRequested.as_str(), "Callback requested"),
    (OrderStatus::NoResponse.as_str(), "No response"),
    (OrderStatus::Skipped.as_str(), "Not verified"),
];
pub const CALL_STATUSES: [&str; 6] = ["completed", "busy", "no-answer", "failed", "canceled", "in-progress"];
pub const CALL_DIRECTIONS: [(&str, &str); 2] = [("outbound", "Outbound (IVR)"), ("click_to_call", "Click-to-call")];
pub const IVR_INPUTS: [(&str, &str); 5] =
    [("confirm", "Confirm"), ("cancel", "Cancel"), ("callback", "Callback"), ("invalid", "Invalid key"), ("none", "No input")];
pub const SMS_STATUSES: [&str; 7] = ["queued", "sending", "submitted", "sent", "failed", "failed-dnd", "unknown"];
/// A WhatsApp message's status: Exotel's latest delivery report, else the row's state.
pub const WHATSAPP_STATUSES: [&str; 9] = ["queued", "sending", "sent", "delivered", "read", "failed", "refused", "unknown", "cancelled"];
/// The customer's answer to a WhatsApp message (`none`: no answer).
pub const WHATSAPP_REPLIES: [(&str, &str); 5] =
    [("confirm", "Confirm"), ("cancel", "Cancel"), ("callback", "Call me"), ("other", "Other text"), ("none", "No reply")];

/// A report's filters as asked (query string), checked.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub customer: String,
    pub agent: String,
    pub order: String,
    pub status: String,
    pub direction: String,
    pub input: String,
    /// WhatsApp history: the reply (`WHATSAPP_REPLIES`).
    pub reply: String,
    pub from: String,
    pub to: String,
    pub page: i64,
    pub per_page: i64,
    /// Unix ms: [start, end).
    pub start_ms: i64,
    pub end_ms: i64,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// E.164 forms of the number filters.
    pub customer_e164: Option<String>,
    pub agent_e164: Option<String>,
    /// Their lookup hashes (numbers are stored encrypted), set by [`Filters::index_phones`].
    pub customer_index: Option<String>,
    pub agent_index: Option<String>,
    /// field → message; the report is not run while any is set.
    pub errors: BTreeMap<&'static str, String>,
    /// Order history of a shop that verifies COD orders only: prepaid orders are not its business
    /// and are neither listed nor counted.
    pub cod_only: bool,
}

impl Filters {
    /// Order history leaves prepaid orders out when the shop verifies COD orders only.
    pub fn for_shop(mut self, settings: &Settings) -> Filters {
        self.cod_only = settings.general.verify == Verify::Cod;
        self
    }

    pub fn index_phones(mut self, cipher: &crate::crypto::Cipher) -> Filters {
        self.customer_index = self.customer_e164.as_deref().map(|p| cipher.phone_index(p));
        self.agent_index = self.agent_e164.as_deref().map(|p| cipher.phone_index(p));
        self
    }

    pub fn parse(q: &HashMap<String, String>, report: Report, tz: Tz, today: NaiveDate, default_country: &str) -> Filters {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let mut f = Filters {
            customer: get("customer"),
            agent: get("agent"),
            order: get("order"),
            status: get("status"),
            direction: get("direction"),
            input: get("input"),
            reply: get("reply"),
            from: get("from"),
            to: get("to"),
            ..Filters::default()
        };
        f.per_page = get("per_page").parse().ok().filter(|n| PAGE_SIZES.contains(n)).unwrap_or(25);
        f.page = get("page").parse().ok().filter(|n: &i64| *n >= 1 && *n <= 1_000_000).unwrap_or(1);
        let phone = |raw: &str| Phone::parse(raw, if default_country.is_empty() { "IN" } else { default_country });
        if !f.customer.is_empty() {
            match phone(&f.customer) {
                Ok(p) => f.customer_e164 = Some(p.e164().to_string()),
                Err(_) => {
                    f.errors.insert("customer", "Enter a phone number, with its country code (e.g. +919876543210) or as dialled locally.".into());
                }
            }
        }
        if report == Report::Calls && !f.agent.is_empty() {
            match phone(&f.agent) {
                Ok(p) => f.agent_e164 = Some(p.e164().to_string()),
                Err(_) => {
                    f.errors.insert("agent", "Enter the agent's phone number with its country code (e.g. +919812345678).".into());
                }
            }
        }
        let allowed: Vec<&str> = match report {
            Report::Orders => ORDER_STATUSES.iter().map(|s| s.0).collect(),
            Report::Calls => CALL_STATUSES.to_vec(),
            Report::Sms => SMS_STATUSES.to_vec(),
            Report::Whatsapp => WHATSAPP_STATUSES.to_vec(),
            Report::Missed => vec![],
        };
        if !f.status.is_empty() && !allowed.contains(&f.status.as_str()) {
            f.errors.insert("status", format!("Unknown status {:?}.", f.status));
        }
        if !f.direction.is_empty() && !CALL_DIRECTIONS.iter().any(|d| d.0 == f.direction) {
            f.errors.insert("direction", format!("Unknown direction {:?}.", f.direction));
        }
        if !f.input.is_empty() && !IVR_INPUTS.iter().any(|d| d.0 == f.input) {
            f.errors.insert("input", format!("Unknown IVR input {:?}.", f.input));
        }
        if !f.reply.is_empty() && !WHATSAPP_REPLIES.iter().any(|r| r.0 == f.reply) {
            f.errors.insert("reply", format!("Unknown reply {:?}.", f.reply));
        }
        if f.order.len() > 64 {
            f.errors.insert("order", "An order number is at most 64 characters.".into());
        }
        let date = |s: &str, field: &'static str, errors: &mut BTreeMap<&'static str, String>| -> Option<NaiveDate> {
            if s.is_empty() {
                return None;
            }
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.insert(field, "Enter a date as YYYY-MM-DD.".into());
                    None
                }
            }
        };
        let from = date(&f.from, "from", &mut f.errors);
        let to = date(&f.to, "to", &mut f.errors);
        if f.errors.contains_key("from") || f.errors.contains_key("to") {
            return f;
        }
        let week = Days::new((MAX_RANGE_DAYS - 1) as u64);
        let (from, to) = match (from, to) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, (a + week).min(today.max(a))),
            (None, Some(b)) => (b - week, b),
            (None, None) => (today - week, today),
        };
        if to < from {
            f.errors.insert("to", "The To date is before the From date.".into());
        } else if (to - from).num_days() > MAX_RANGE_DAYS {
            f.errors.insert(
                "to",
                format!(
                    "From and To can be at most {MAX_RANGE_DAYS} days apart: pick a To date no later than {} or a later From date.",
                    from + Days::new(MAX_RANGE_DAYS as u64)
                ),
            );
        }
        f.from = from.to_string();
        f.to = to.to_string();
        f.from_date = Some(from);
        f.to_date = Some(to);
        f.start_ms = day_start(tz, from);
        f.end_ms = day_start(tz, to + Days::new(1));
        f
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// The first error, for a one-line message (CSV answers, banners).
    pub fn message(&self) -> String {
        self.errors.values().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// The channel that resolved an order, from its reason.
pub fn channel_of(reason: &str) -> Option<&'static str> {
    // An agent's resolution (the review queue) names the agent, who may be called anything.
    if reason.ends_with(AGENT_REASON_END) {
        None
    } else if reason.starts_with("pressed ") {
        Some("ivr")
    } else if reason.ends_with("on the confirmation link") {
        Some("sms_link")
    } else if reason.starts_with("confirmed by a missed call") {
        Some("missed_call")
    } else if reason.starts_with("OTP ") {
        Some("otp")
    } else if reason.contains("WhatsApp") {
        Some("whatsapp")
    } else {
        None
    }
}

/// How the reason of a resolution by an agent on the shopper's behalf ends.
pub const AGENT_REASON_END: &str = "on the shopper's behalf";

pub fn status_label(status: &str) -> &'static str {
    ORDER_STATUSES.iter().find(|s| s.0 == status).map(|s| s.1).unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_seven_day_rule() {
        let tz = chrono_tz::Asia::Kolkata;
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        let f = Filters::parse(&q(&[]), Report::Orders, tz, today, "IN");
        assert_eq!((f.from.as_str(), f.to.as_str(), f.is_valid()), ("2026-11-17", "2026-11-23", true));
        assert_eq!(f.end_ms - f.start_ms, 7 * 86_400_000);
        let f = Filters::parse(&q(&[("from", "2026-11-01"), ("to", "2026-11-08")]), Report::Orders, tz, today, "IN");
        assert!(f.is_valid());
        let f = Filters::parse(&q(&[("from", "2026-11-01"), ("to", "2026-11-09")]), Report::Orders, tz, today, "IN");
        assert!(f.errors["to"].contains("at most 7 days apart"), "{:?}", f.errors);
        let f = Filters::parse(&q(&[("from", "2026-11-05"), ("to", "2026-11-01")]), Report::Orders, tz, today, "IN");
        assert!(f.errors["to"].contains("before"));
        let f = Filters::parse(&q(&[("customer", "98765 43210"), ("per_page", "7"), ("page", "0")]), Report::Orders, tz, today, "IN");
        assert_eq!((f.customer_e164.as_deref(), f.per_page, f.page), (Some("+919876543210"), 25, 1));
        let f = Filters::parse(&q(&[("customer", "abc"), ("status", "nope")]), Report::Orders, tz, today, "IN");
        assert!(f.errors.contains_key("customer") && f.errors.contains_key("status"));
    }

    #[test]
    fn channels_from_reasons() {
        assert_eq!(channel_of("pressed 1 on call 2 (confirm)"), Some("ivr"));
        assert_eq!(channel_of("confirmed on the confirmation link"), Some("sms_link"));
        assert_eq!(channel_of("confirmed by a missed call from ******3210"), Some("missed_call"));
        assert_eq!(channel_of("OTP verified"), Some("otp"));
        assert_eq!(channel_of("confirmed on WhatsApp (message 1)"), Some("whatsapp"));
        assert_eq!(channel_of("cancelled in Shopify"), None);
        assert_eq!(channel_of("confirmed by WhatsApp desk on the shopper's behalf"), None);
        assert_eq!(channel_of("confirmed by a missed call on the shopper's behalf"), None);
    }
}
