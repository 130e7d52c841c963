//! The `plan` section (SPEC §7–8, round 2): the ordered steps that contact the shopper, and what
//! happens when none of them gets an answer.
//!
//! A document written before plans has no steps: its plan is derived from `general.method` and
//! `fallback.mode`, and keeps following them when they change. `GET` shows the effective steps;
//! a plan sent back with the steps it showed leaves that as it is.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::fields::{Fields, choices, lenient};
use super::{Errors, FallbackMode, Method, Settings};
use crate::domain::stored_enum;

stored_enum! {
    /// One step of a verification plan (`plan.steps`).
    Step { Whatsapp = "whatsapp", Ivr = "ivr", SmsLink = "sms_link", SmsMissedCall = "sms_missed_call" }
}
stored_enum! {
    /// What happens to an order no step got an answer for (`plan.no_response_action`).
    #[derive(Default)]
    NoResponseAction { #[default] Tag = "tag", Cancel = "cancel" }
}
choices!(NoResponseAction);

pub const CANCEL_AFTER_HOURS: std::ops::RangeInclusive<i64> = 1..=168;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Plan {
    /// As the merchant set them; empty: derived from the method and the fallback (see
    /// [`Settings::plan`]).
    #[serde(deserialize_with = "stored_steps")]
    pub steps: Vec<Step>,
    #[serde(deserialize_with = "lenient")]
    pub no_response_action: NoResponseAction,
    /// Hours after `no_response` that the order is cancelled, with `cancel`.
    pub cancel_after_hours: i64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            steps: Vec::new(),
            no_response_action: NoResponseAction::Tag,
            cancel_after_hours: 24,
        }
    }
}

/// Stored steps, leniently: unknown names and repeats are dropped (an empty list is the derived
/// plan), so a hand-edited document still loads.
fn stored_steps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Step>, D::Error> {
    let v = Value::deserialize(d)?;
    let mut steps = Vec::new();
    for s in v.as_array().into_iter().flatten().filter_map(Value::as_str).filter_map(Step::parse) {
        if !steps.contains(&s) {
            steps.push(s);
        }
    }
    Ok(steps)
}

impl Settings {
    /// The plan's steps, in order: as set, or (for a document without them) the method's step and
    /// then the fallback's. With OTP the method, these are what an order escalates to.
    pub fn plan(&self) -> Vec<Step> {
        if !self.plan.steps.is_empty() {
            return self.plan.steps.clone();
        }
        let first = match self.general.method {
            Method::Whatsapp => Step::Whatsapp,
            Method::Ivr | Method::Otp => Step::Ivr,
        };
        let fallback = match self.fallback.mode {
            FallbackMode::Off => None,
            FallbackMode::SmsLink => Some(Step::SmsLink),
            FallbackMode::SmsMissedCall => Some(Step::SmsMissedCall),
        };
        std::iter::once(first).chain(fallback).collect()
    }

    /// Whether the plan has the step.
    pub fn plan_has(&self, step: Step) -> bool {
        self.plan().contains(&step)
    }

    /// The plan as `GET` shows it: with its effective steps.
    pub fn shown_plan(&self) -> Plan {
        Plan {
            steps: self.plan(),
            ..self.plan.clone()
        }
    }
}

/// Reads a PUT's plan section over `next.plan` (whose `steps` stay empty while derived); `shown`
/// is the steps in effect before the PUT. Returns whether the steps were set to others: then
/// every step's section must be ready.
pub(super) fn apply_plan(next: &mut Settings, shown: &[Step], map: &Map<String, Value>, errors: &mut Errors) -> bool {
    let mut f = Fields::new("plan", map, errors);
    f.unknown(&["steps", "no_response_action", "cancel_after_hours"]);
    f.choice("no_response_action", &mut next.plan.no_response_action, true);
    f.int("cancel_after_hours", &mut next.plan.cancel_after_hours);
    if next.plan.no_response_action == NoResponseAction::Cancel {
        f.range("cancel_after_hours", next.plan.cancel_after_hours, *CANCEL_AFTER_HOURS.start(), *CANCEL_AFTER_HOURS.end());
    }
    let Some(sent) = map.get("steps") else { return false };
    let Some(steps) = read_steps(&mut f, sent) else { return false };
    // The steps that were shown, sent back: a derived plan stays derived.
    if steps == shown {
        return false;
    }
    next.plan.steps = steps;
    true
}

fn read_steps(f: &mut Fields<'_>, sent: &Value) -> Option<Vec<Step>> {
    let names = || format!("must be a list of steps: {}", Step::NAMES.join(", "));
    let Some(items) = sent.as_array() else {
        f.err("steps", names());
        return None;
    };
    let mut steps = Vec::new();
    for item in items {
        let Some(step) = item.as_str().and_then(|s| Step::parse(s.trim())) else {
            f.err("steps", names());
            return None;
        };
        if steps.contains(&step) {
            f.err("steps", format!("must not repeat a step ({step})"));
            return None;
        }
        steps.push(step);
    }
    if steps.is_empty() {
        f.err("steps", "must name at least one step");
        return None;
    }
    Some(steps)
}

/// With IVR or WhatsApp the method, it is the plan's first step.
pub(super) fn check_method(s: &Settings, errors: &mut Errors) {
    let first = match s.general.method {
        Method::Otp => return,
        Method::Ivr => Step::Ivr,
        Method::Whatsapp => Step::Whatsapp,
    };
    if s.plan().first() != Some(&first) {
        errors
            .entry("plan.steps".into())
            .or_insert_with(|| format!("must start with {first}, the verification method (general.method)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::apply;
    use serde_json::json;

    /// A shop whose IVR, link fallback and WhatsApp sections are all filled in, with `method`.
    fn ready(method: &str) -> Settings {
        let doc = json!({
            "general": {"method": method, "account_sid": "acme1", "api_key": "key"},
            "ivr": {"exophone": "08047112345", "flow_id": "123456"},
            "fallback": {"mode": "sms_link", "sender_id": "ACMEST", "dlt_entity_id": "1101", "dlt_template_id": "1107"},
            "whatsapp": {"sender": "+919876543210", "template_name": "cod_confirm"},
        });
        apply(&Settings::default(), true, &doc).unwrap().settings
    }

    fn put(s: &Settings, doc: Value) -> Result<Settings, Errors> {
        apply(s, true, &doc).map(|a| a.settings)
    }

    #[test]
    fn a_document_without_steps_has_the_reference_plan() {
        use Step::*;
        let s = Settings::from_stored(r#"{"general": {"method": "ivr"}, "fallback": {"mode": "none"}}"#);
        assert_eq!((s.plan(), s.plan.no_response_action, s.plan.cancel_after_hours), (vec![Ivr], NoResponseAction::Tag, 24));
        for (method, mode, want) in [
            ("ivr", "sms_link", vec![Ivr, SmsLink]),
            ("ivr", "sms_missed_call", vec![Ivr, SmsMissedCall]),
            ("otp", "none", vec![Ivr]),
            ("otp", "sms_link", vec![Ivr, SmsLink]),
            ("whatsapp", "none", vec![Whatsapp]),
            ("whatsapp", "sms_missed_call", vec![Whatsapp, SmsMissedCall]),
        ] {
            let s = Settings::from_stored(&json!({"general": {"method": method}, "fallback": {"mode": mode}}).to_string());
            assert_eq!(s.plan(), want, "{method} + {mode}");
            assert!(s.plan.steps.is_empty());
            assert_eq!(s.to_document()["plan"]["steps"], json!(want), "GET shows the effective steps");
        }
    }

    #[test]
    fn a_derived_plan_sent_back_keeps_following_method_and_fallback() {
        let s = ready("ivr");
        let mut doc = s.to_document();
        doc["general"]["api_token"] = json!("********oken");
        let back = put(&s, doc.clone()).unwrap();
        assert_eq!(back, s, "the GET document PUT back changes nothing");
        assert!(back.plan.steps.is_empty(), "still derived");
        // The same steps sent with another action: still derived.
        doc["plan"]["no_response_action"] = json!("cancel");
        let back = put(&s, doc).unwrap();
        assert!(back.plan.steps.is_empty() && back.plan.no_response_action == NoResponseAction::Cancel);
        let moved = put(&back, json!({"general": {"method": "whatsapp"}, "fallback": {"mode": "none"}})).unwrap();
        assert_eq!(moved.plan(), [Step::Whatsapp]);
    }

    #[test]
    fn explicit_steps_are_kept_when_method_and_fallback_change() {
        let s = ready("whatsapp");
        let set = put(&s, json!({"plan": {"steps": ["whatsapp", "sms_link", "ivr"]}})).unwrap();
        assert_eq!(set.plan.steps, [Step::Whatsapp, Step::SmsLink, Step::Ivr]);
        let later = put(&set, json!({"fallback": {"mode": "none"}})).unwrap();
        assert_eq!(later.plan(), [Step::Whatsapp, Step::SmsLink, Step::Ivr]);
        assert_eq!(later.to_document()["plan"]["steps"], json!(["whatsapp", "sms_link", "ivr"]));
        // Its GET document PUT back: the same settings.
        let mut doc = later.to_document();
        doc["general"]["api_token"] = json!("");
        assert_eq!(put(&later, doc).unwrap(), later);
    }

    #[test]
    fn steps_are_a_list_of_distinct_known_steps() {
        let s = ready("otp");
        let err = |steps: Value| put(&s, json!({"plan": {"steps": steps}})).unwrap_err()["plan.steps"].clone();
        let names = "must be a list of steps: whatsapp, ivr, sms_link, sms_missed_call";
        assert_eq!(err(json!("ivr")), names);
        assert_eq!(err(json!(["ivr", "fax"])), names);
        assert_eq!(err(json!(["ivr", 2])), names);
        assert_eq!(err(json!(["ivr", "sms_link", "ivr"])), "must not repeat a step (ivr)");
        assert_eq!(err(json!([])), "must name at least one step");
        assert_eq!(put(&s, json!({"plan": {"steps": [" sms_link ", "whatsapp"]}})).unwrap().plan(), [Step::SmsLink, Step::Whatsapp]);
        assert!(put(&s, json!({"plan": {"order": 1}})).unwrap_err().contains_key("plan.order"));
        assert!(put(&s, json!({"plan": []})).unwrap_err().contains_key("plan"));
    }

    #[test]
    fn no_response_action_and_cancel_hours() {
        let s = ready("ivr");
        let plan = |p: Value| put(&s, json!({ "plan": p }));
        assert_eq!(plan(json!({"no_response_action": ""})).unwrap_err()["plan.no_response_action"], "must be one of: tag, cancel");
        assert!(plan(json!({"no_response_action": "delete"})).is_err());
        for bad in [0, 169] {
            let e = plan(json!({"no_response_action": "cancel", "cancel_after_hours": bad})).unwrap_err();
            assert_eq!(e["plan.cancel_after_hours"], "must be between 1 and 168");
        }
        for ok in [1, 168] {
            let p = plan(json!({"no_response_action": "cancel", "cancel_after_hours": ok})).unwrap().plan;
            assert_eq!((p.no_response_action, p.cancel_after_hours), (NoResponseAction::Cancel, ok));
        }
        // Unused with "tag": not checked.
        assert_eq!(plan(json!({"no_response_action": "tag", "cancel_after_hours": 0})).unwrap().plan.cancel_after_hours, 0);
    }

    #[test]
    fn new_steps_need_their_sections_ready() {
        let bare = put(&Settings::default(), json!({"general": {"method": "otp", "account_sid": "a", "api_key": "k"}})).unwrap();
        let e = put(&bare, json!({"plan": {"steps": ["whatsapp", "ivr", "sms_link", "sms_missed_call"]}})).unwrap_err();
        for k in [
            "whatsapp.sender",
            "whatsapp.template_name",
            "ivr.exophone",
            "ivr.flow_id",
            "fallback.sender_id",
            "fallback.dlt_entity_id",
            "fallback.dlt_template_id",
            "fallback.missed_call_exophone",
            "fallback.missed_call_dlt_template_id",
        ] {
            assert!(e.contains_key(k), "missing {k}: {e:?}");
        }
        // The sections sent with the plan count.
        let doc = json!({"plan": {"steps": ["sms_missed_call"]}, "fallback": {"sender_id": "ACMEST", "dlt_entity_id": "1",
            "missed_call_exophone": "08047110000", "missed_call_dlt_template_id": "2", "confirmation_dlt_template_id": "3"}});
        let s = put(&bare, doc).unwrap();
        assert_eq!((s.plan(), s.fallback.mode), (vec![Step::SmsMissedCall], FallbackMode::Off));
        // With the plan explicit, the fallback is checked for its SMS steps, not for its mode.
        let e = put(&s, json!({"fallback": {"mode": "none", "missed_call_template": "no number"}})).unwrap_err();
        assert_eq!(e["fallback.missed_call_template"], "must contain %exophone%");
    }

    #[test]
    fn ivr_or_whatsapp_as_the_method_is_the_first_step() {
        let s = ready("ivr");
        let e = put(&s, json!({"plan": {"steps": ["whatsapp", "ivr"]}})).unwrap_err();
        assert_eq!(e["plan.steps"], "must start with ivr, the verification method (general.method)");
        let both = json!({"general": {"method": "whatsapp"}, "plan": {"steps": ["whatsapp", "ivr"]}});
        let set = put(&s, both).unwrap();
        assert!(put(&set, json!({"general": {"method": "ivr"}})).unwrap_err().contains_key("plan.steps"));
        assert!(put(&set, json!({"general": {"method": "otp"}})).is_ok(), "OTP escalates to any plan");
    }

    #[test]
    fn stored_steps_are_read_leniently() {
        let s = Settings::from_stored(r#"{"plan": {"steps": ["ivr", "fax", "ivr", "whatsapp"], "no_response_action": "", "cancel_after_hours": 5}}"#);
        assert_eq!((s.plan.steps.as_slice(), s.plan.no_response_action, s.plan.cancel_after_hours), (&[Step::Ivr, Step::Whatsapp][..], NoResponseAction::Tag, 5));
        assert!(Settings::from_stored(r#"{"plan": {"steps": "ivr"}}"#).plan.steps.is_empty());
    }
}
