//! The `otp` section (SPEC §3 "OTP by SMS").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::{Fields, lenient};
use super::sms::Encoding;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Otp {
    pub sender_id: String,
    pub dlt_entity_id: String,
    pub dlt_template_id: String,
    #[serde(deserialize_with = "lenient")]
    pub encoding: Encoding,
    pub template: String,
    pub resends: i64,
    pub resend_after_seconds: i64,
    pub incorrect_attempts: i64,
    pub tag: String,
    /// Minutes after the code was sent that an order whose code was not entered goes to the
    /// plan's steps; 0: never.
    pub escalate_after_minutes: i64,
}

impl Default for Otp {
    fn default() -> Self {
        Otp {
            sender_id: String::new(),
            dlt_entity_id: String::new(),
            dlt_template_id: String::new(),
            encoding: Encoding::Plain,
            template: "%otp% is the OTP to confirm your order %ordernumber%. It is valid for 15 minutes.".into(),
            resends: 3,
            resend_after_seconds: 30,
            incorrect_attempts: 3,
            tag: "otp_verified".into(),
            escalate_after_minutes: 0,
        }
    }
}

impl Otp {
    pub fn is_ready(&self) -> bool {
        !self.sender_id.is_empty() && self.template.contains("%otp%")
    }
}

pub(super) fn apply_otp(v: &mut Otp, india: bool, in_use: bool, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("otp", map, errors);
    f.unknown(&[
        "sender_id",
        "dlt_entity_id",
        "dlt_template_id",
        "encoding",
        "template",
        "resends",
        "resend_after_seconds",
        "incorrect_attempts",
        "tag",
        "escalate_after_minutes",
    ]);
    f.string("sender_id", &mut v.sender_id);
    f.string("dlt_entity_id", &mut v.dlt_entity_id);
    f.string("dlt_template_id", &mut v.dlt_template_id);
    f.choice("encoding", &mut v.encoding, in_use);
    f.string("template", &mut v.template);
    f.int("resends", &mut v.resends);
    f.int("resend_after_seconds", &mut v.resend_after_seconds);
    f.int("incorrect_attempts", &mut v.incorrect_attempts);
    f.string("tag", &mut v.tag);
    f.int("escalate_after_minutes", &mut v.escalate_after_minutes);
    if !in_use {
        // Fields of a method that is not in use may stay as they are.
        return;
    }
    f.sender_id("sender_id", &v.sender_id);
    f.dlt("dlt_entity_id", &v.dlt_entity_id, india);
    f.dlt("dlt_template_id", &v.dlt_template_id, india);
    if v.template.is_empty() || !v.template.contains("%otp%") {
        f.err("template", "must contain %otp%");
    } else if v.template.chars().count() > 1000 {
        f.err("template", "must be at most 1000 characters");
    }
    f.range("resends", v.resends, 0, 5);
    f.range("resend_after_seconds", v.resend_after_seconds, 10, 600);
    f.range("incorrect_attempts", v.incorrect_attempts, 0, 5);
    f.tag("tag", &mut v.tag, true);
    f.range("escalate_after_minutes", v.escalate_after_minutes, 0, 1440);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Method, Settings, apply};
    use serde_json::json;

    fn otp_settings() -> Settings {
        let mut s = Settings::default();
        s.general.method = Method::Otp;
        s
    }

    fn otp_ok() -> Value {
        json!({"otp": {"sender_id": "ACMEST", "dlt_entity_id": "1101", "dlt_template_id": "1107", "encoding": "unicode",
            "template": "%otp% is your OTP", "resends": 2, "resend_after_seconds": 30, "incorrect_attempts": 3, "tag": "otp_verified"}})
    }

    #[test]
    fn otp_rules_apply_when_otp_is_the_method() {
        let a = apply(&otp_settings(), true, &otp_ok()).unwrap().settings.otp;
        assert!(a.encoding == Encoding::Unicode && a.is_ready());
        let bad = |patch: Value| {
            let mut doc = otp_ok();
            for (k, v) in patch.as_object().unwrap() {
                doc["otp"][k] = v.clone();
            }
            apply(&otp_settings(), true, &doc).unwrap_err()
        };
        assert_eq!(bad(json!({"encoding": ""}))["otp.encoding"], "must be one of: plain, unicode");
        assert_eq!(bad(json!({"encoding": "gsm"}))["otp.encoding"], "must be one of: plain, unicode");
        assert_eq!(bad(json!({"template": ""}))["otp.template"], "must contain %otp%");
        assert!(bad(json!({"sender_id": "A"})).contains_key("otp.sender_id"));
        assert!(bad(json!({"dlt_template_id": ""})).contains_key("otp.dlt_template_id"));
        assert!(bad(json!({"resends": 6})).contains_key("otp.resends"));
        assert!(bad(json!({"resend_after_seconds": 9})).contains_key("otp.resend_after_seconds"));
        assert!(bad(json!({"resend_after_seconds": 601})).contains_key("otp.resend_after_seconds"));
        assert!(bad(json!({"incorrect_attempts": 6})).contains_key("otp.incorrect_attempts"));
        assert!(bad(json!({"tag": ""})).contains_key("otp.tag"));
        assert!(bad(json!({"pin": 1})).contains_key("otp.pin"));
        for (minutes, ok) in [(-1, false), (0, true), (1440, true), (1441, false)] {
            let mut doc = otp_ok();
            doc["otp"]["escalate_after_minutes"] = json!(minutes);
            let r = apply(&otp_settings(), true, &doc);
            assert_eq!(r.is_ok(), ok, "{minutes}: {r:?}");
        }
        assert_eq!(bad(json!({"escalate_after_minutes": 1441}))["otp.escalate_after_minutes"], "must be between 0 and 1440");
        assert_eq!(Otp::default().escalate_after_minutes, 0, "never, for documents written before it");
    }

    #[test]
    fn otp_fields_may_stay_blank_when_otp_is_not_the_method() {
        let mut stored = Settings::default();
        stored.otp.encoding = Encoding::Unicode;
        let a = apply(&stored, true, &json!({"otp": {"sender_id": "", "encoding": "", "template": "", "resends": 99}})).unwrap();
        assert_eq!((a.settings.otp.encoding, a.settings.otp.resends), (Encoding::Plain, 99));
        let e = apply(&stored, true, &json!({"otp": {"encoding": "gsm"}})).unwrap_err();
        assert_eq!(e["otp.encoding"], "must be one of: plain, unicode");
    }
}
