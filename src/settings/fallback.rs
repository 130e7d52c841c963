//! The `fallback` section (SPEC §3 "Fallback"): an SMS with a link, or an SMS asking for a missed
//! call, after the IVR retries are spent or for DND numbers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Errors, Step};
use super::fields::{Fields, choices, lenient, valid_exophone};
use super::sms::{Encoding, ORDER_PLACEHOLDERS};
use crate::domain::stored_enum;

stored_enum! {
    /// The SMS fallback after the IVR (`fallback.mode`).
    #[derive(Default)]
    FallbackMode { #[default] Off = "none", SmsLink = "sms_link", SmsMissedCall = "sms_missed_call" }
}
stored_enum! {
    /// Which orders one missed call confirms (`fallback.missed_call_scope`).
    #[derive(Default)]
    MissedCallScope { #[default] Latest = "latest", Latest3In30Days = "latest_3_in_30_days" }
}
choices!(FallbackMode, MissedCallScope);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Fallback {
    #[serde(deserialize_with = "lenient")]
    pub mode: FallbackMode,
    pub sender_id: String,
    pub dlt_entity_id: String,
    #[serde(deserialize_with = "lenient")]
    pub encoding: Encoding,
    pub retries: i64,
    pub retry_interval_minutes: i64,
    pub confirm_tag: String,
    pub link_template: String,
    pub dlt_template_id: String,
    pub link_expiry_hours: i64,
    pub cancel_tag: String,
    pub callback_tag: String,
    pub cancel_order: bool,
    #[serde(deserialize_with = "lenient")]
    pub missed_call_scope: MissedCallScope,
    pub missed_call_exophone: String,
    pub missed_call_template: String,
    pub missed_call_dlt_template_id: String,
    pub confirmation_template: String,
    pub confirmation_dlt_template_id: String,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback {
            mode: FallbackMode::Off,
            sender_id: String::new(),
            dlt_entity_id: String::new(),
            encoding: Encoding::Plain,
            retries: 0,
            retry_interval_minutes: 0,
            confirm_tag: "cod_confirmed".into(),
            link_template: "Thank you for your order %ordernumber%. Please confirm it here: %link%".into(),
            dlt_template_id: String::new(),
            link_expiry_hours: 48,
            cancel_tag: "cod_cancelled".into(),
            callback_tag: "cod_callback_requested".into(),
            cancel_order: false,
            missed_call_scope: MissedCallScope::Latest,
            missed_call_exophone: String::new(),
            missed_call_template: "Give a missed call to %exophone% to confirm your order %ordernumber%.".into(),
            missed_call_dlt_template_id: String::new(),
            confirmation_template: "Thank you. Your order is confirmed.".into(),
            confirmation_dlt_template_id: String::new(),
        }
    }
}

/// Which SMS kinds a section must be ready for: the fields of the others may stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SmsInUse {
    pub link: bool,
    pub missed_call: bool,
}

impl SmsInUse {
    pub fn of_mode(mode: FallbackMode) -> Self {
        SmsInUse {
            link: mode == FallbackMode::SmsLink,
            missed_call: mode == FallbackMode::SmsMissedCall,
        }
    }
    /// The SMS steps of an explicit plan.
    pub fn of_steps(steps: &[Step]) -> Self {
        SmsInUse {
            link: steps.contains(&Step::SmsLink),
            missed_call: steps.contains(&Step::SmsMissedCall),
        }
    }
    fn any(self) -> bool {
        self.link || self.missed_call
    }
}

/// Reads the section's fields over `v`; `in_use` says which SMS kinds it must be ready for,
/// from the mode as sent (or from the plan's steps).
fn read_fallback(v: &mut Fallback, f: &mut Fields<'_>, in_use: impl FnOnce(FallbackMode) -> SmsInUse) -> SmsInUse {
    f.unknown(&[
        "mode",
        "sender_id",
        "dlt_entity_id",
        "encoding",
        "retries",
        "retry_interval_minutes",
        "confirm_tag",
        "link_template",
        "dlt_template_id",
        "link_expiry_hours",
        "cancel_tag",
        "callback_tag",
        "cancel_order",
        "missed_call_scope",
        "missed_call_exophone",
        "missed_call_template",
        "missed_call_dlt_template_id",
        "confirmation_template",
        "confirmation_dlt_template_id",
    ]);
    // The mode is the section's switch: never blank.
    f.choice("mode", &mut v.mode, true);
    let in_use = in_use(v.mode);
    f.choice("encoding", &mut v.encoding, in_use.any());
    f.choice("missed_call_scope", &mut v.missed_call_scope, in_use.missed_call);
    for (field, target) in [
        ("sender_id", &mut v.sender_id),
        ("dlt_entity_id", &mut v.dlt_entity_id),
        ("confirm_tag", &mut v.confirm_tag),
        ("link_template", &mut v.link_template),
        ("dlt_template_id", &mut v.dlt_template_id),
        ("cancel_tag", &mut v.cancel_tag),
        ("callback_tag", &mut v.callback_tag),
        ("missed_call_exophone", &mut v.missed_call_exophone),
        ("missed_call_template", &mut v.missed_call_template),
        ("missed_call_dlt_template_id", &mut v.missed_call_dlt_template_id),
        ("confirmation_template", &mut v.confirmation_template),
        ("confirmation_dlt_template_id", &mut v.confirmation_dlt_template_id),
    ] {
        f.string(field, target);
    }
    f.int("retries", &mut v.retries);
    f.int("retry_interval_minutes", &mut v.retry_interval_minutes);
    f.int("link_expiry_hours", &mut v.link_expiry_hours);
    f.bool("cancel_order", &mut v.cancel_order);
    in_use
}

/// Checks what the SMS kinds in use need; fields of a kind not in use may stay as they are.
pub(super) fn check_fallback(v: &mut Fallback, f: &mut Fields<'_>, india: bool, in_use: SmsInUse) {
    if !in_use.any() {
        return;
    }
    f.sender_id("sender_id", &v.sender_id);
    f.dlt("dlt_entity_id", &v.dlt_entity_id, india);
    f.retries((v.retries, 5), v.retry_interval_minutes, (10, 60));
    f.tag("confirm_tag", &mut v.confirm_tag, true);
    if in_use.link {
        f.template("link_template", &v.link_template, &["%link%"]);
        f.dlt("dlt_template_id", &v.dlt_template_id, india);
        f.range("link_expiry_hours", v.link_expiry_hours, 1, 72);
        f.tag("cancel_tag", &mut v.cancel_tag, false);
        f.tag("callback_tag", &mut v.callback_tag, false);
        if v.cancel_order && v.cancel_tag.is_empty() {
            f.err("cancel_order", "needs a cancel tag: without one, the page offers no Cancel button");
        }
    }
    if in_use.missed_call {
        v.missed_call_exophone = v.missed_call_exophone.replace([' ', '-'], "");
        if !valid_exophone(&v.missed_call_exophone) {
            f.err("missed_call_exophone", "must be the ExoPhone that takes missed calls: digits with an optional leading +");
        }
        f.template("missed_call_template", &v.missed_call_template, &["%exophone%"]);
        if v.missed_call_scope == MissedCallScope::Latest3In30Days
            && let Some(p) = ORDER_PLACEHOLDERS.iter().find(|p| v.missed_call_template.contains(**p))
        {
            f.err("missed_call_template", format!("cannot hold {p}: one missed call confirms up to 3 orders"));
        }
        f.dlt("missed_call_dlt_template_id", &v.missed_call_dlt_template_id, india);
        f.template("confirmation_template", &v.confirmation_template, &[]);
        f.dlt("confirmation_dlt_template_id", &v.confirmation_dlt_template_id, india);
    }
}

pub(super) fn apply_fallback(
    v: &mut Fallback,
    india: bool,
    in_use: impl FnOnce(FallbackMode) -> SmsInUse,
    map: &Map<String, Value>,
    errors: &mut Errors,
) {
    let mut f = Fields::new("fallback", map, errors);
    let in_use = read_fallback(v, &mut f, in_use);
    check_fallback(v, &mut f, india, in_use);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
    use serde_json::json;

    fn link_ok() -> Value {
        json!({"fallback": {"mode": "sms_link", "sender_id": "ACMEST", "dlt_entity_id": "1101", "encoding": "plain",
            "retries": 1, "retry_interval_minutes": 10, "confirm_tag": "cod_confirmed", "link_template": "Confirm %ordernumber%: %link%",
            "dlt_template_id": "1107", "link_expiry_hours": 48, "cancel_tag": "cod_cancelled", "callback_tag": "", "cancel_order": true}})
    }

    fn missed_ok() -> Value {
        json!({"fallback": {"mode": "sms_missed_call", "sender_id": "ACMEST", "dlt_entity_id": "1101", "encoding": "unicode",
            "retries": 0, "retry_interval_minutes": 0, "confirm_tag": "cod_confirmed", "missed_call_scope": "latest_3_in_30_days",
            "missed_call_exophone": "080-4711-0000", "missed_call_template": "Call %exophone% to confirm",
            "missed_call_dlt_template_id": "1108", "confirmation_template": "Thanks", "confirmation_dlt_template_id": "1109"}})
    }

    fn with(mut doc: Value, patch: Value) -> Value {
        for (k, v) in patch.as_object().unwrap() {
            doc["fallback"][k] = v.clone();
        }
        doc
    }

    #[test]
    fn valid_fallbacks_are_applied() {
        let a = apply(&Settings::default(), true, &link_ok()).unwrap().settings.fallback;
        assert_eq!((a.mode, a.encoding), (FallbackMode::SmsLink, Encoding::Plain));
        let m = apply(&Settings::default(), true, &missed_ok()).unwrap().settings.fallback;
        assert_eq!((m.mode, m.encoding, m.missed_call_scope), (FallbackMode::SmsMissedCall, Encoding::Unicode, MissedCallScope::Latest3In30Days));
        assert_eq!(m.missed_call_exophone, "08047110000");
    }

    #[test]
    fn fallback_rules_are_enforced() {
        let bad = |doc: Value| apply(&Settings::default(), true, &doc).unwrap_err();
        assert_eq!(bad(with(link_ok(), json!({"mode": "sms"})))["fallback.mode"], "must be one of: none, sms_link, sms_missed_call");
        assert!(bad(with(link_ok(), json!({"mode": ""}))).contains_key("fallback.mode"));
        assert_eq!(bad(with(link_ok(), json!({"encoding": "utf8"})))["fallback.encoding"], "must be one of: plain, unicode");
        assert!(bad(with(link_ok(), json!({"encoding": ""}))).contains_key("fallback.encoding"), "in use: not blank");
        assert!(bad(with(link_ok(), json!({"sender_id": "AC"}))).contains_key("fallback.sender_id"));
        assert!(bad(with(link_ok(), json!({"dlt_entity_id": ""}))).contains_key("fallback.dlt_entity_id"));
        assert!(bad(with(link_ok(), json!({"dlt_template_id": "11a"}))).contains_key("fallback.dlt_template_id"));
        assert!(bad(with(link_ok(), json!({"retries": 6, "retry_interval_minutes": 10}))).contains_key("fallback.retries"));
        assert!(bad(with(link_ok(), json!({"retry_interval_minutes": 61}))).contains_key("fallback.retry_interval_minutes"));
        assert!(bad(with(link_ok(), json!({"retries": 0}))).contains_key("fallback.retry_interval_minutes"));
        assert_eq!(bad(with(link_ok(), json!({"link_template": "no link"})))["fallback.link_template"], "must contain %link%");
        assert!(bad(with(link_ok(), json!({"link_expiry_hours": 73}))).contains_key("fallback.link_expiry_hours"));
        assert!(bad(with(link_ok(), json!({"cancel_tag": ""}))).contains_key("fallback.cancel_order"));
        assert!(bad(with(link_ok(), json!({"confirm_tag": ""}))).contains_key("fallback.confirm_tag"));
        assert_eq!(bad(with(missed_ok(), json!({"missed_call_scope": "all"})))["fallback.missed_call_scope"], "must be one of: latest, latest_3_in_30_days");
        assert!(bad(with(missed_ok(), json!({"missed_call_scope": ""}))).contains_key("fallback.missed_call_scope"));
        assert_eq!(bad(with(missed_ok(), json!({"missed_call_template": "Call us"})))["fallback.missed_call_template"], "must contain %exophone%");
        assert!(bad(with(missed_ok(), json!({"missed_call_template": "Call %exophone% for %ordernumber%"}))).contains_key("fallback.missed_call_template"));
        assert!(bad(with(missed_ok(), json!({"missed_call_exophone": "12"}))).contains_key("fallback.missed_call_exophone"));
        // Outside India the DLT ids may be blank.
        let sg = json!({"general": {"default_country": "SG", "account_sid": "a", "api_key": "k"}});
        let mut doc = with(link_ok(), json!({"dlt_entity_id": "", "dlt_template_id": ""}));
        doc["general"] = sg["general"].clone();
        assert!(apply(&Settings::default(), true, &doc).is_ok());
    }

    #[test]
    fn blank_choices_of_a_kind_not_in_use_store_the_default() {
        // No fallback: the other fields may stay blank, and blank choices read as their defaults.
        let mut stored = Settings::default();
        stored.fallback.encoding = Encoding::Unicode;
        stored.fallback.missed_call_scope = MissedCallScope::Latest3In30Days;
        let doc = json!({"fallback": {"mode": "none", "sender_id": "", "encoding": "", "missed_call_scope": null, "retries": 9}});
        let f = apply(&stored, true, &doc).unwrap().settings.fallback;
        assert_eq!((f.mode, f.encoding, f.missed_call_scope, f.retries), (FallbackMode::Off, Encoding::Plain, MissedCallScope::Latest, 9));
        // A link fallback does not use the missed-call scope, but a value that is not a choice is
        // still refused.
        assert!(apply(&stored, true, &with(link_ok(), json!({"missed_call_scope": ""}))).is_ok());
        let e = apply(&stored, true, &json!({"fallback": {"mode": "none", "encoding": "utf8"}})).unwrap_err();
        assert_eq!(e["fallback.encoding"], "must be one of: plain, unicode");
    }

    #[test]
    fn stored_blank_or_unknown_choices_load_as_defaults() {
        let s = Settings::from_stored(r#"{"fallback": {"mode": "", "encoding": "utf8", "missed_call_scope": "", "sender_id": "ACMEST"}}"#);
        assert_eq!((s.fallback.mode, s.fallback.encoding, s.fallback.missed_call_scope), (FallbackMode::Off, Encoding::Plain, MissedCallScope::Latest));
        assert_eq!(s.fallback.sender_id, "ACMEST", "the rest of the document is kept");
    }
}
