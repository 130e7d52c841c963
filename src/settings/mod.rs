//! The shop's settings document (SPEC §7): parsed, validated field by field, stored only when
//! everything is valid. One module per section (its type, its defaults, its rules); `apply` runs
//! them with the same `section.field` error keys.
//!
//! Choices are enums. A stored document with a blank or unknown choice (written while the fields
//! were text, when a section not in use kept whatever it was sent) reads as that field's default;
//! a PUT may send a blank choice for a section not in use (it stores the default), but never a
//! value that is not one of the choices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod contact_privacy;
mod costs;
mod fallback;
mod fields;
mod fulfillment;
mod general;
mod ivr;
mod otp;
mod plan;
mod rules;
mod sms;
mod whatsapp;

pub use contact_privacy::{Contact, Privacy, RETENTION_DAYS};
pub use costs::{Costs, PRICE_PAISE};
pub use fallback::{Fallback, FallbackMode, MissedCallScope};
pub use fulfillment::Fulfillment;
pub use general::{DEFAULT_COD_GATEWAY, EXOTEL_SUBDOMAINS, General, Method, Verify, mask_secret};
pub use ivr::{FirstCall, Ivr, parse_hhmm};
pub use otp::Otp;
pub use plan::{CANCEL_AFTER_HOURS, NoResponseAction, Plan, Step};
pub use rules::{AMOUNT_MAX_UNITS, Amount, BLOCKLIST_MAX, BlocklistAction, Rules, TRUSTED_AFTER, normalize_pincode, valid_pincode};
pub use sms::{Encoding, ORDER_PLACEHOLDERS};
pub use whatsapp::Whatsapp;

/// What is stored in `shops.settings` (the Exotel API token is stored apart, encrypted).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    pub general: General,
    /// Stored as set: its steps are empty while the plan is derived (see [`Settings::plan`]).
    pub plan: Plan,
    pub ivr: Ivr,
    pub fallback: Fallback,
    pub otp: Otp,
    pub whatsapp: Whatsapp,
    pub contact: Contact,
    pub privacy: Privacy,
    pub fulfillment: Fulfillment,
    /// Targeting rules; its blocklisted phone numbers are not stored here (see `rules`).
    pub rules: Rules,
    pub costs: Costs,
}

impl Settings {
    pub fn from_stored(json: &str) -> Settings {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The sections as `GET /app/api/settings` shows them (the plan with its effective steps),
    /// without the API token and the read-only parts.
    pub fn to_document(&self) -> Value {
        serde_json::json!({
            "general": self.general,
            "plan": self.shown_plan(),
            "ivr": self.ivr,
            "fallback": self.fallback,
            "otp": self.otp,
            "whatsapp": self.whatsapp,
            "contact": self.contact,
            "privacy": self.privacy,
            "fulfillment": self.fulfillment,
            "rules": self.rules.to_document(),
            "costs": self.costs,
        })
    }

    /// Whether a gateway list names the order's payment as cash on delivery.
    pub fn is_cod(&self, gateways: &[String]) -> bool {
        gateways
            .iter()
            .any(|g| self.general.cod_gateways.iter().any(|c| c.trim().eq_ignore_ascii_case(g.trim())))
    }
}

pub type Errors = BTreeMap<String, String>;

/// The result of applying a PUT document: new settings, and the API token if a new one was sent.
#[derive(Debug)]
pub struct Applied {
    pub settings: Settings,
    pub new_api_token: Option<String>,
}

/// Read-only keys of the GET document that a client may send back unchanged.
const READ_ONLY: [&str; 2] = ["callback_urls", "status"];

/// Applies a PUT document over the stored settings. Sections left out are unchanged; fields left
/// out of a section keep their stored value. `has_token` says whether an API token is stored.
pub fn apply(current: &Settings, has_token: bool, doc: &Value) -> Result<Applied, Errors> {
    let mut errors = Errors::new();
    let Some(doc) = doc.as_object() else {
        errors.insert("document".into(), "must be a JSON object".into());
        return Err(errors);
    };
    let mut next = current.clone();
    let mut new_api_token = None;
    for (section, value) in doc {
        if READ_ONLY.contains(&section.as_str()) {
            continue;
        }
        let Some(fields) = value.as_object() else {
            errors.insert(section.clone(), "must be an object".into());
            continue;
        };
        match section.as_str() {
            "general" => new_api_token = general::apply_general(&mut next.general, has_token, fields, &mut errors),
            "contact" => contact_privacy::apply_contact(&mut next.contact, fields, &mut errors),
            "privacy" => contact_privacy::apply_privacy(&mut next.privacy, fields, &mut errors),
            "fulfillment" => fulfillment::apply_fulfillment(&mut next.fulfillment, fields, &mut errors),
            "costs" => costs::apply_costs(&mut next.costs, fields, &mut errors),
            // Applied below: the rules of some depend on `general`, which may be in this PUT.
            "plan" | "ivr" | "fallback" | "otp" | "whatsapp" => {}
            // Applied below: its phone numbers take `general.default_country`.
            "rules" => {}
            other => {
                errors.insert(other.to_string(), "unknown section".into());
            }
        }
    }
    let (india, method) = (next.general.default_country == "IN", next.general.method);
    let mut steps_set = false;
    if let Some(fields) = changed_section(doc, "plan", &current.shown_plan()) {
        steps_set = plan::apply_plan(&mut next, &current.plan(), fields, &mut errors);
    }
    // An explicit plan names the SMS steps in use; a derived one has the fallback's mode.
    let sms_steps = (!next.plan.steps.is_empty()).then(|| fallback::SmsInUse::of_steps(&next.plan.steps));
    if let Some(fields) = changed_section(doc, "ivr", &current.ivr) {
        ivr::apply_ivr(&mut next.ivr, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "fallback", &current.fallback) {
        let in_use = |mode| sms_steps.unwrap_or(fallback::SmsInUse::of_mode(mode));
        fallback::apply_fallback(&mut next.fallback, india, in_use, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "otp", &current.otp) {
        otp::apply_otp(&mut next.otp, india, method == Method::Otp, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "whatsapp", &current.whatsapp) {
        let in_use = next.plan_has(Step::Whatsapp);
        whatsapp::apply_whatsapp(&mut next.whatsapp, in_use, fields, &mut errors);
    }
    if let Some(fields) = doc.get("rules").and_then(Value::as_object)
        && doc.get("rules") != Some(&current.rules.to_document())
    {
        rules::apply_rules(&mut next.rules, &next.general.default_country, fields, &mut errors);
    }
    if steps_set {
        // New steps: each one's section must be ready, whether or not this PUT sent it.
        check_steps(&mut next, india, &mut errors);
    }
    if doc.contains_key("general") || doc.contains_key("plan") {
        plan::check_method(&next, &mut errors);
    }
    if errors.is_empty() {
        Ok(Applied {
            settings: next,
            new_api_token,
        })
    } else {
        Err(errors)
    }
}

/// Checks the sections of the plan's steps as in use (errors keyed by their own fields).
fn check_steps(next: &mut Settings, india: bool, errors: &mut Errors) {
    let none = Map::new();
    let steps = next.plan();
    if steps.contains(&Step::Ivr) {
        ivr::apply_ivr(&mut next.ivr, &none, errors);
    }
    if steps.contains(&Step::Whatsapp) {
        whatsapp::check_whatsapp(&mut next.whatsapp, &mut fields::Fields::new("whatsapp", &none, errors));
    }
    let sms = fallback::SmsInUse::of_steps(&steps);
    fallback::check_fallback(&mut next.fallback, &mut fields::Fields::new("fallback", &none, errors), india, sms);
}

/// The fields of a section the PUT sent, unless it is exactly what is stored: a section sent back
/// as GET showed it is left as it is, even when it is not filled in yet, so the GET document can
/// always be PUT back.
fn changed_section<'a, T: Serialize>(doc: &'a Map<String, Value>, name: &str, current: &T) -> Option<&'a Map<String, Value>> {
    let sent = doc.get(name)?;
    (serde_json::to_value(current).ok().as_ref() != Some(sent)).then(|| sent.as_object()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn choices_name_the_stored_values() {
        assert_eq!(Verify::NAMES, ["cod", "all"]);
        assert_eq!(Method::NAMES, ["ivr", "otp", "whatsapp"]);
        assert_eq!(FirstCall::NAMES, ["immediate", "after"]);
        assert_eq!(FallbackMode::NAMES, ["none", "sms_link", "sms_missed_call"]);
        assert_eq!(Encoding::NAMES, ["plain", "unicode"]);
        assert_eq!(MissedCallScope::NAMES, ["latest", "latest_3_in_30_days"]);
        let d = Settings::default();
        assert!(d.general.verify == Verify::Cod && d.general.method == Method::Ivr && d.ivr.first_call == FirstCall::Immediate);
        assert!(d.fallback.mode == FallbackMode::Off && d.fallback.encoding == Encoding::Plain && d.otp.encoding == Encoding::Plain);
    }

    #[test]
    fn choices_are_stored_as_their_text() {
        let mut s = Settings::default();
        s.general.method = Method::Otp;
        s.fallback.mode = FallbackMode::SmsMissedCall;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!((&v["general"]["method"], &v["fallback"]["mode"], &v["ivr"]["first_call"]), (&json!("otp"), &json!("sms_missed_call"), &json!("immediate")));
        assert_eq!(Settings::from_stored(&v.to_string()), s);
    }

    #[test]
    fn an_old_document_with_blank_choices_loads_whole() {
        let s = Settings::from_stored(
            r#"{"general": {"verify": "", "method": "fax", "account_sid": "acme1"}, "ivr": {"first_call": "", "exophone": "08047112345"},
               "otp": {"encoding": "", "sender_id": "ACMEST"}}"#,
        );
        assert_eq!((s.general.verify, s.general.method, s.ivr.first_call, s.otp.encoding), (Verify::Cod, Method::Ivr, FirstCall::Immediate, Encoding::Plain));
        assert_eq!((s.general.account_sid.as_str(), s.ivr.exophone.as_str(), s.otp.sender_id.as_str()), ("acme1", "08047112345", "ACMEST"));
    }

    #[test]
    fn a_document_that_is_not_an_object_is_refused() {
        assert_eq!(apply(&Settings::default(), true, &json!([1])).unwrap_err()["document"], "must be a JSON object");
        assert_eq!(apply(&Settings::default(), true, &json!({"ivr": 1})).unwrap_err()["ivr"], "must be an object");
        let s = Settings::default();
        let mut get = s.to_document();
        get.as_object_mut().unwrap().remove("general");
        assert_eq!(apply(&s, true, &get).unwrap().settings, s, "sections sent back as stored are left as they are");
    }

    mod round_trip {
        use super::*;
        use proptest::prelude::*;

        fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
            proptest::sample::select(all)
        }

        /// Any text, blank, or a plausible value: sections not in use may hold anything.
        fn text() -> impl Strategy<Value = String> {
            prop_oneof![Just(String::new()), "[ -~]{0,12}", Just("08047112345".to_string()), Just("cod_confirmed".to_string())]
        }

        prop_compose! {
            /// Stored settings a shop can have: a saved general section, any plan consistent with
            /// its method (or derived), and the other sections filled in or not, in bounds or not.
            fn settings()(
                verify in pick(Verify::ALL), method in pick(Method::ALL), india in any::<bool>(),
                steps in proptest::sample::subsequence(Step::ALL.to_vec(), 0..=4).prop_shuffle(),
                action in pick(NoResponseAction::ALL), hours in -5i64..200,
                mode in pick(FallbackMode::ALL), fb_encoding in pick(Encoding::ALL), scope in pick(MissedCallScope::ALL),
                otp_encoding in pick(Encoding::ALL), first_call in pick(FirstCall::ALL),
                texts in proptest::collection::vec(text(), 8), ints in proptest::collection::vec(-10i64..2000, 8),
                flags in proptest::collection::vec(any::<bool>(), 4), retention in 30i64..=730,
            ) -> Settings {
                let mut s = Settings {
                    general: General { verify, method, account_sid: "acme1".into(), api_key: "key".into(), ..General::default() },
                    ..Settings::default()
                };
                if !india {
                    s.general.default_country = "SG".into();
                }
                let mut steps = steps;
                let first = match method { Method::Ivr => Some(Step::Ivr), Method::Whatsapp => Some(Step::Whatsapp), Method::Otp => None };
                if let (Some(first), false) = (first, steps.is_empty()) {
                    steps.retain(|s| *s != first);
                    steps.insert(0, first);
                }
                s.plan = Plan { steps, no_response_action: action, cancel_after_hours: hours };
                s.ivr.first_call = first_call;
                s.ivr.exophone = texts[0].clone();
                s.ivr.retries = ints[0];
                s.ivr.cancel_order = flags[0];
                s.fallback.mode = mode;
                s.fallback.encoding = fb_encoding;
                s.fallback.missed_call_scope = scope;
                s.fallback.sender_id = texts[1].clone();
                s.fallback.link_template = texts[2].clone();
                s.fallback.retry_interval_minutes = ints[1];
                s.otp.encoding = otp_encoding;
                s.otp.template = texts[3].clone();
                s.otp.escalate_after_minutes = ints[2];
                s.whatsapp.sender = texts[4].clone();
                s.whatsapp.template_name = texts[5].clone();
                s.whatsapp.confirm_tag = texts[6].clone();
                s.whatsapp.retries = ints[3];
                s.whatsapp.wait_minutes = ints[4];
                s.whatsapp.cancel_order = flags[1];
                s.contact.name = texts[7].trim().to_string();
                s.privacy.retention_days = retention;
                s
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn the_get_document_put_back_is_the_same_settings(s in settings(), token in any::<bool>()) {
                let mut doc = s.to_document();
                doc["general"]["api_token"] = json!(if token { mask_secret("exotoken-1234") } else { String::new() });
                doc["callback_urls"] = json!({"whatsapp": "https://example.test/exotel/k/whatsapp"});
                doc["status"] = json!({"install": "installed"});
                let applied = apply(&s, true, &doc).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                prop_assert_eq!(&applied.settings, &s);
                prop_assert_eq!(applied.new_api_token, None);
                // And through storage: the stored text reads back as the same settings and plan.
                let stored = Settings::from_stored(&serde_json::to_string(&applied.settings).unwrap());
                prop_assert_eq!(stored.plan(), s.plan());
                prop_assert_eq!(stored.to_document(), s.to_document());
            }
        }
    }
}
