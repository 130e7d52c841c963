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
mod fallback;
mod fields;
mod general;
mod ivr;
mod otp;
mod sms;

pub use contact_privacy::{Contact, Privacy, RETENTION_DAYS};
pub use fallback::{Fallback, FallbackMode, MissedCallScope};
pub use general::{DEFAULT_COD_GATEWAY, EXOTEL_SUBDOMAINS, General, Method, Verify, mask_secret};
pub use ivr::{FirstCall, Ivr, parse_hhmm};
pub use otp::Otp;
pub use sms::{Encoding, ORDER_PLACEHOLDERS};

/// What is stored in `shops.settings` (the Exotel API token is stored apart, encrypted).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    pub general: General,
    pub ivr: Ivr,
    pub fallback: Fallback,
    pub otp: Otp,
    pub contact: Contact,
    pub privacy: Privacy,
}

impl Settings {
    pub fn from_stored(json: &str) -> Settings {
        serde_json::from_str(json).unwrap_or_default()
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
            // Applied below: the rules of some depend on `general`, which may be in this PUT.
            "ivr" | "fallback" | "otp" => {}
            other => {
                errors.insert(other.to_string(), "unknown section".into());
            }
        }
    }
    let (india, method) = (next.general.default_country == "IN", next.general.method);
    if let Some(fields) = changed_section(doc, "ivr", &current.ivr) {
        ivr::apply_ivr(&mut next.ivr, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "fallback", &current.fallback) {
        fallback::apply_fallback(&mut next.fallback, india, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "otp", &current.otp) {
        otp::apply_otp(&mut next.otp, india, method == Method::Otp, fields, &mut errors);
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
        assert_eq!(Method::NAMES, ["ivr", "otp"]);
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
        let mut get = serde_json::to_value(&s).unwrap();
        get.as_object_mut().unwrap().remove("general");
        assert_eq!(apply(&s, true, &get).unwrap().settings, s, "sections sent back as stored are left as they are");
    }
}
