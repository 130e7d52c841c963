//! The `ivr` section: the verification call (SPEC §3 "IVR call"; bounds from the reference app).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::{Fields, choices, lenient, valid_exophone};
use crate::domain::{Choice, stored_enum};

stored_enum! {
    /// When the first IVR call goes (`ivr.first_call`).
    #[derive(Default)]
    FirstCall { #[default] Immediate = "immediate", After = "after" }
}
choices!(FirstCall);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ivr {
    #[serde(deserialize_with = "lenient")]
    pub first_call: FirstCall,
    pub first_call_delay_minutes: i64,
    pub exophone: String,
    pub flow_id: String,
    pub retries: i64,
    pub retry_interval_minutes: i64,
    pub timezone: String,
    pub window_start: String,
    pub window_end: String,
    pub confirm_tag: String,
    pub cancel_tag: String,
    pub callback_tag: String,
    pub cancel_order: bool,
    pub dnd_calling_enabled: bool,
}

impl Default for Ivr {
    fn default() -> Self {
        Ivr {
            first_call: FirstCall::Immediate,
            first_call_delay_minutes: 0,
            exophone: String::new(),
            flow_id: String::new(),
            retries: 2,
            retry_interval_minutes: 30,
            timezone: "Asia/Kolkata".into(),
            // TRAI hours for commercial calls.
            window_start: "09:00".into(),
            window_end: "21:00".into(),
            confirm_tag: "cod_confirmed".into(),
            cancel_tag: "cod_cancelled".into(),
            callback_tag: "cod_callback_requested".into(),
            cancel_order: false,
            dnd_calling_enabled: false,
        }
    }
}

impl Ivr {
    /// The tag a key's choice adds; `None` when the merchant does not offer it (blank tag).
    pub fn tag(&self, choice: Choice) -> Option<&str> {
        let t = match choice {
            Choice::Confirm => &self.confirm_tag,
            Choice::Cancel => &self.cancel_tag,
            Choice::Callback => &self.callback_tag,
        };
        (!t.is_empty()).then_some(t.as_str())
    }

    /// Whether the merchant filled in what a call needs.
    pub fn is_ready(&self) -> bool {
        !self.exophone.is_empty() && !self.flow_id.is_empty()
    }
}

/// "HH:MM" (24-hour) as minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub(super) fn apply_ivr(v: &mut Ivr, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("ivr", map, errors);
    f.unknown(&[
        "first_call",
        "first_call_delay_minutes",
        "exophone",
        "flow_id",
        "retries",
        "retry_interval_minutes",
        "timezone",
        "window_start",
        "window_end",
        "confirm_tag",
        "cancel_tag",
        "callback_tag",
        "cancel_order",
        "dnd_calling_enabled",
    ]);
    // The IVR section is checked whenever it is sent, so its choice is always in use.
    f.choice("first_call", &mut v.first_call, true);
    f.int("first_call_delay_minutes", &mut v.first_call_delay_minutes);
    f.string("exophone", &mut v.exophone);
    f.string("flow_id", &mut v.flow_id);
    f.int("retries", &mut v.retries);
    f.int("retry_interval_minutes", &mut v.retry_interval_minutes);
    f.string("timezone", &mut v.timezone);
    f.string("window_start", &mut v.window_start);
    f.string("window_end", &mut v.window_end);
    f.string("confirm_tag", &mut v.confirm_tag);
    f.string("cancel_tag", &mut v.cancel_tag);
    f.string("callback_tag", &mut v.callback_tag);
    f.bool("cancel_order", &mut v.cancel_order);
    f.bool("dnd_calling_enabled", &mut v.dnd_calling_enabled);

    match v.first_call {
        FirstCall::After => f.range("first_call_delay_minutes", v.first_call_delay_minutes, 1, 1440),
        FirstCall::Immediate if v.first_call_delay_minutes != 0 => f.range("first_call_delay_minutes", v.first_call_delay_minutes, 0, 1440),
        FirstCall::Immediate => {}
    }
    v.exophone = v.exophone.replace([' ', '-'], "");
    if v.exophone.is_empty() {
        f.err("exophone", "is required (Exotel dashboard → ExoPhones)");
    } else if !valid_exophone(&v.exophone) {
        f.err("exophone", "must be a phone number: digits with an optional leading +");
    }
    if v.flow_id.is_empty() {
        f.err("flow_id", "is required (Exotel dashboard → App Bazaar → your flow's id)");
    } else if v.flow_id.len() > 32 || !v.flow_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        f.err("flow_id", "must be the flow's id: letters and digits only");
    }
    f.retries((v.retries, 5), v.retry_interval_minutes, (10, 120));
    if v.timezone.parse::<chrono_tz::Tz>().is_err() {
        f.err("timezone", "must be an IANA time zone such as Asia/Kolkata");
    }
    let start = parse_hhmm(&v.window_start);
    let end = parse_hhmm(&v.window_end);
    if start.is_none() {
        f.err("window_start", "must be a time as HH:MM (24-hour)");
    }
    if end.is_none() {
        f.err("window_end", "must be a time as HH:MM (24-hour)");
    }
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        f.err("window_end", "must be later than window_start");
    }
    f.tag("confirm_tag", &mut v.confirm_tag, true);
    f.tag("cancel_tag", &mut v.cancel_tag, false);
    f.tag("callback_tag", &mut v.callback_tag, false);
    if v.cancel_order && v.cancel_tag.is_empty() {
        f.err("cancel_order", "needs a cancel tag: without one, callers are not offered cancellation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
    use serde_json::json;

    pub(crate) fn ivr_ok() -> Value {
        json!({"ivr": {"first_call": "immediate", "exophone": "080 4711 2345", "flow_id": "123456", "retries": 2,
            "retry_interval_minutes": 30, "timezone": "Asia/Kolkata", "window_start": "09:00", "window_end": "21:00",
            "confirm_tag": " cod_confirmed ", "cancel_tag": "", "callback_tag": "callback", "cancel_order": false, "dnd_calling_enabled": true}})
    }

    #[test]
    fn valid_ivr_is_applied() {
        let a = apply(&Settings::default(), true, &ivr_ok()).unwrap();
        assert_eq!(a.settings.ivr.exophone, "08047112345");
        assert_eq!(a.settings.ivr.confirm_tag, "cod_confirmed");
        assert_eq!(a.settings.ivr.cancel_tag, "");
        assert!(a.settings.ivr.dnd_calling_enabled && a.settings.ivr.is_ready());
        let mut doc = ivr_ok();
        doc["ivr"]["first_call"] = json!("after");
        doc["ivr"]["first_call_delay_minutes"] = json!(15);
        assert_eq!(apply(&Settings::default(), true, &doc).unwrap().settings.ivr.first_call, FirstCall::After);
    }

    #[test]
    fn ivr_bounds_are_enforced() {
        let bad = |patch: Value| {
            let mut doc = ivr_ok();
            for (k, v) in patch.as_object().unwrap() {
                doc["ivr"][k] = v.clone();
            }
            apply(&Settings::default(), true, &doc).unwrap_err()
        };
        assert!(bad(json!({"first_call": "after", "first_call_delay_minutes": 0})).contains_key("ivr.first_call_delay_minutes"));
        assert!(bad(json!({"first_call": "after", "first_call_delay_minutes": 1441})).contains_key("ivr.first_call_delay_minutes"));
        assert_eq!(bad(json!({"first_call": "later"}))["ivr.first_call"], "must be one of: immediate, after");
        assert_eq!(bad(json!({"first_call": ""}))["ivr.first_call"], "must be one of: immediate, after");
        assert!(bad(json!({"retries": 6})).contains_key("ivr.retries"));
        assert!(bad(json!({"retry_interval_minutes": 9})).contains_key("ivr.retry_interval_minutes"));
        assert!(bad(json!({"retry_interval_minutes": 121})).contains_key("ivr.retry_interval_minutes"));
        assert_eq!(
            bad(json!({"retries": 0, "retry_interval_minutes": 10}))["ivr.retry_interval_minutes"],
            "must be 0 when retries is 0"
        );
        assert!(apply(&Settings::default(), true, &{
            let mut d = ivr_ok();
            d["ivr"]["retries"] = json!(0);
            d["ivr"]["retry_interval_minutes"] = json!(0);
            d
        })
        .is_ok());
        assert!(bad(json!({"timezone": "Mars/Olympus"})).contains_key("ivr.timezone"));
        assert!(bad(json!({"window_start": "9am"})).contains_key("ivr.window_start"));
        assert!(bad(json!({"window_start": "21:00", "window_end": "09:00"})).contains_key("ivr.window_end"));
        assert!(bad(json!({"confirm_tag": ""})).contains_key("ivr.confirm_tag"));
        assert!(bad(json!({"cancel_tag": "a,b"})).contains_key("ivr.cancel_tag"));
        assert!(bad(json!({"cancel_order": true})).contains_key("ivr.cancel_order"));
        assert!(bad(json!({"exophone": ""})).contains_key("ivr.exophone"));
        assert!(bad(json!({"flow_id": "../x"})).contains_key("ivr.flow_id"));
        assert!(bad(json!({"retries": "two"})).contains_key("ivr.retries"));
        assert!(bad(json!({"ring": 1})).contains_key("ivr.ring"));
    }
}
