//! The `whatsapp` section (SPEC §7–8, round 2): a Meta-approved template sent through Exotel, with
//! one quick-reply button per offered choice.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use crate::domain::Language;
use super::contact_privacy::international_phone;
use super::fields::Fields;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Whatsapp {
    /// The business number messages go from (E.164).
    pub sender: String,
    /// The approved template for English (and any locale without its own).
    pub template_name: String,
    pub template_language: String,
    /// The approved Hindi template (language `hi`); blank: the default template.
    pub template_name_hi: String,
    pub retries: i64,
    pub retry_interval_minutes: i64,
    /// After the last message, how long a reply is awaited before the next step.
    pub wait_minutes: i64,
    pub confirm_tag: String,
    pub cancel_tag: String,
    /// Blank: no call-back button.
    pub callback_tag: String,
    pub cancel_order: bool,
}

impl Default for Whatsapp {
    fn default() -> Self {
        Whatsapp {
            sender: String::new(),
            template_name: String::new(),
            template_language: "en".into(),
            template_name_hi: String::new(),
            retries: 1,
            retry_interval_minutes: 60,
            wait_minutes: 60,
            confirm_tag: "cod_confirmed".into(),
            cancel_tag: "cod_cancelled".into(),
            callback_tag: "cod_callback_requested".into(),
            cancel_order: false,
        }
    }
}

impl Whatsapp {
    /// Whether the merchant filled in what a message needs.
    pub fn is_ready(&self) -> bool {
        !self.sender.is_empty() && !self.template_name.is_empty()
    }

    /// The template for an order's customer locale (`hi`, `hi-IN`, …), and its language.
    pub fn template_for(&self, locale: &str) -> (&str, &str) {
        if Language::of_locale(Some(locale)) == Language::Hindi && !self.template_name_hi.is_empty() {
            (&self.template_name_hi, "hi")
        } else {
            (&self.template_name, &self.template_language)
        }
    }
}

/// A template name as Meta takes it: lower-case letters, digits and underscores.
fn valid_template_name(s: &str) -> bool {
    (1..=512).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A WhatsApp template language code: `en`, `hi`, `en_US`, `pt_BR`.
fn valid_language(s: &str) -> bool {
    let (lang, region) = s.split_once('_').map_or((s, None), |(l, r)| (l, Some(r)));
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_lowercase())
        && region.is_none_or(|r| (2..=4).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Reads the section's fields over `v`, and checks them when WhatsApp is a step of the plan.
pub(super) fn apply_whatsapp(v: &mut Whatsapp, in_use: bool, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("whatsapp", map, errors);
    f.unknown(&[
        "sender",
        "template_name",
        "template_language",
        "template_name_hi",
        "retries",
        "retry_interval_minutes",
        "wait_minutes",
        "confirm_tag",
        "cancel_tag",
        "callback_tag",
        "cancel_order",
    ]);
    for (field, target) in [
        ("sender", &mut v.sender),
        ("template_name", &mut v.template_name),
        ("template_language", &mut v.template_language),
        ("template_name_hi", &mut v.template_name_hi),
        ("confirm_tag", &mut v.confirm_tag),
        ("cancel_tag", &mut v.cancel_tag),
        ("callback_tag", &mut v.callback_tag),
    ] {
        f.string(field, target);
    }
    f.int("retries", &mut v.retries);
    f.int("retry_interval_minutes", &mut v.retry_interval_minutes);
    f.int("wait_minutes", &mut v.wait_minutes);
    f.bool("cancel_order", &mut v.cancel_order);
    if in_use {
        check_whatsapp(v, &mut f);
    }
}

/// What a WhatsApp step needs.
pub(super) fn check_whatsapp(v: &mut Whatsapp, f: &mut Fields<'_>) {
    if v.sender.is_empty() {
        f.err("sender", "is required (your WhatsApp Business number, with the country code)");
    } else if let Some(p) = international_phone(f, "sender", &v.sender) {
        v.sender = p;
    }
    if v.template_name.is_empty() {
        f.err("template_name", "is required (the name of your approved utility template)");
    } else if !valid_template_name(&v.template_name) {
        f.err("template_name", "must be the template's name: lower-case letters, digits and _");
    }
    if !valid_template_name(&v.template_name_hi) && !v.template_name_hi.is_empty() {
        f.err("template_name_hi", "must be the template's name: lower-case letters, digits and _");
    }
    if !valid_language(&v.template_language) {
        f.err("template_language", "must be the template's language code, such as en or en_US");
    }
    f.retries((v.retries, 3), v.retry_interval_minutes, (10, 240));
    f.range("wait_minutes", v.wait_minutes, 10, 1440);
    f.tag("confirm_tag", &mut v.confirm_tag, true);
    f.tag("cancel_tag", &mut v.cancel_tag, false);
    f.tag("callback_tag", &mut v.callback_tag, false);
    if v.cancel_order && v.cancel_tag.is_empty() {
        f.err("cancel_order", "needs a cancel tag: without one, the message offers no Cancel button");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
    use serde_json::json;

    fn whatsapp_method() -> Settings {
        let mut s = Settings::default();
        s.general.method = crate::settings::Method::Whatsapp;
        s
    }

    fn whatsapp_ok() -> Value {
        json!({"whatsapp": {"sender": "+91 98765 43210", "template_name": "cod_confirm_v2", "template_language": "en_US",
            "template_name_hi": "cod_confirm_hi", "retries": 1, "retry_interval_minutes": 60, "wait_minutes": 60,
            "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled", "callback_tag": "", "cancel_order": true}})
    }

    fn bad(patch: Value) -> Errors {
        let mut doc = whatsapp_ok();
        for (k, v) in patch.as_object().unwrap() {
            doc["whatsapp"][k] = v.clone();
        }
        apply(&whatsapp_method(), true, &doc).unwrap_err()
    }

    #[test]
    fn valid_whatsapp_is_applied() {
        let w = apply(&whatsapp_method(), true, &whatsapp_ok()).unwrap().settings.whatsapp;
        assert_eq!(w.sender, "+919876543210");
        assert!(w.is_ready() && w.callback_tag.is_empty());
        assert!(!Whatsapp::default().is_ready());
        assert_eq!(Whatsapp::default().template_language, "en");
    }

    #[test]
    fn whatsapp_bounds_are_enforced() {
        let msg = |patch: Value, field: &str| bad(patch)[&format!("whatsapp.{field}")].clone();
        assert_eq!(msg(json!({"retries": 4}), "retries"), "must be between 0 and 3");
        assert_eq!(msg(json!({"retries": -1}), "retries"), "must be between 0 and 3");
        assert_eq!(msg(json!({"retry_interval_minutes": 9}), "retry_interval_minutes"), "must be between 10 and 240");
        assert_eq!(msg(json!({"retry_interval_minutes": 241}), "retry_interval_minutes"), "must be between 10 and 240");
        assert_eq!(msg(json!({"retries": 0}), "retry_interval_minutes"), "must be 0 when retries is 0");
        assert_eq!(msg(json!({"wait_minutes": 9}), "wait_minutes"), "must be between 10 and 1440");
        assert_eq!(msg(json!({"wait_minutes": 1441}), "wait_minutes"), "must be between 10 and 1440");
        assert_eq!(msg(json!({"sender": "98765 43210"}), "sender"), "must start with the country code, e.g. +91");
        assert_eq!(msg(json!({"sender": "+91 12345"}), "sender"), "is not a valid phone number");
        assert!(msg(json!({"sender": ""}), "sender").starts_with("is required"));
        assert!(msg(json!({"template_name": ""}), "template_name").starts_with("is required"));
        assert!(bad(json!({"template_name": "COD Confirm"})).contains_key("whatsapp.template_name"));
        assert!(bad(json!({"template_name_hi": "cod-hi"})).contains_key("whatsapp.template_name_hi"));
        for lang in ["", "english", "EN", "en_", "en_USA12"] {
            assert!(bad(json!({"template_language": lang})).contains_key("whatsapp.template_language"), "{lang}");
        }
        assert!(bad(json!({"confirm_tag": ""})).contains_key("whatsapp.confirm_tag"));
        assert!(bad(json!({"callback_tag": "a,b"})).contains_key("whatsapp.callback_tag"));
        assert!(bad(json!({"cancel_tag": ""})).contains_key("whatsapp.cancel_order"));
        assert!(bad(json!({"retries": "1"})).contains_key("whatsapp.retries"));
        assert!(bad(json!({"cancel_order": "yes"})).contains_key("whatsapp.cancel_order"));
        assert!(bad(json!({"buttons": 3})).contains_key("whatsapp.buttons"));
        for ok in [json!({"retries": 0, "retry_interval_minutes": 0}), json!({"retries": 3, "retry_interval_minutes": 240, "wait_minutes": 1440}),
            json!({"retry_interval_minutes": 10, "wait_minutes": 10, "template_language": "hi", "template_name_hi": ""})] {
            let mut doc = whatsapp_ok();
            for (k, v) in ok.as_object().unwrap() {
                doc["whatsapp"][k] = v.clone();
            }
            assert!(apply(&whatsapp_method(), true, &doc).is_ok(), "{ok}");
        }
    }

    #[test]
    fn whatsapp_fields_may_stay_blank_when_it_is_not_a_step() {
        let doc = json!({"whatsapp": {"sender": "", "template_name": "", "retries": 9, "wait_minutes": 0, "confirm_tag": ""}});
        let w = apply(&Settings::default(), true, &doc).unwrap().settings.whatsapp;
        assert_eq!((w.retries, w.wait_minutes), (9, 0));
        // Unknown fields are refused even then.
        assert!(apply(&Settings::default(), true, &json!({"whatsapp": {"x": 1}})).unwrap_err().contains_key("whatsapp.x"));
    }

    #[test]
    fn the_template_follows_the_customer_locale() {
        let mut w = Whatsapp {
            template_name: "cod_confirm".into(),
            ..Whatsapp::default()
        };
        assert_eq!(w.template_for("hi-IN"), ("cod_confirm", "en"), "no Hindi template: the default");
        w.template_name_hi = "cod_confirm_hi".into();
        for hindi in ["hi", "hi-IN", "HI_in"] {
            assert_eq!(w.template_for(hindi), ("cod_confirm_hi", "hi"));
        }
        for other in ["en", "", "ta-IN", "hil"] {
            assert_eq!(w.template_for(other), ("cod_confirm", "en"));
        }
    }
}
