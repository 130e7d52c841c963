//! The `contact` section (how to reach the merchant) and the `privacy` section (how long customer
//! details are kept).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::Fields;
use crate::domain::Phone;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// The privacy section (SPEC §7, round 2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Privacy {
    pub retention_days: i64,
}

pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 30..=730;

impl Default for Privacy {
    fn default() -> Self {
        Privacy { retention_days: 180 }
    }
}

impl Privacy {
    /// Orders (and what hangs off them) created before this instant have their customer details
    /// erased. A stored value outside the bounds (written by hand) is clamped, never trusted.
    pub fn cutoff_ms(&self, now_ms: i64) -> i64 {
        let days = self.retention_days.clamp(*RETENTION_DAYS.start(), *RETENTION_DAYS.end());
        now_ms - days * 86_400_000
    }
}

/// A phone number with its country code, as E.164; `None` (with the error set) when it is not one.
pub(super) fn international_phone(f: &mut Fields<'_>, field: &str, value: &str) -> Option<String> {
    if !value.starts_with('+') {
        f.err(field, "must start with the country code, e.g. +91");
        return None;
    }
    match Phone::parse(value, "IN") {
        Ok(p) => Some(p.e164().to_string()),
        Err(_) => {
            f.err(field, "is not a valid phone number");
            None
        }
    }
}

pub(super) fn apply_contact(c: &mut Contact, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("contact", map, errors);
    f.unknown(&["name", "email", "phone"]);
    f.string("name", &mut c.name);
    f.string("email", &mut c.email);
    f.string("phone", &mut c.phone);
    if c.name.chars().count() > 100 {
        f.err("name", "must be at most 100 characters");
    }
    if !c.email.is_empty() && !valid_email(&c.email) {
        f.err("email", "must be an email address");
    }
    if !c.phone.is_empty()
        && let Some(p) = international_phone(&mut f, "phone", &c.phone)
    {
        c.phone = p;
    }
}

pub(super) fn apply_privacy(p: &mut Privacy, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("privacy", map, errors);
    f.unknown(&["retention_days"]);
    f.int("retention_days", &mut p.retention_days);
    f.range("retention_days", p.retention_days, *RETENTION_DAYS.start(), *RETENTION_DAYS.end());
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
    use serde_json::json;

    #[test]
    fn contact_phone_is_normalised() {
        let a = apply(
            &Settings::default(),
            true,
            &json!({"contact": {"name": "Asha", "email": "a@b.in", "phone": "+91 98765 43210"}}),
        )
        .unwrap();
        assert_eq!(a.settings.contact.phone, "+919876543210");
        for (phone, msg) in [("98765 43210", "must start with the country code, e.g. +91"), ("+91 12", "is not a valid phone number")] {
            let e = apply(&Settings::default(), true, &json!({"contact": {"phone": phone}})).unwrap_err();
            assert_eq!(e["contact.phone"], msg);
        }
    }

    #[test]
    fn privacy_retention_is_bounded_and_defaults_for_old_documents() {
        let old = Settings::from_stored(r#"{"general": {"verify": "all"}}"#);
        assert_eq!((old.general.verify.as_str(), old.privacy.retention_days), ("all", 180));
        for bad in [json!(29), json!(731), json!("90"), json!(90.5)] {
            let e = apply(&old, true, &json!({"privacy": {"retention_days": bad}})).unwrap_err();
            assert!(e.contains_key("privacy.retention_days"), "{bad}: {e:?}");
        }
        assert!(apply(&old, true, &json!({"privacy": {"keep": 1}})).unwrap_err().contains_key("privacy.keep"));
        for ok in [30, 365, 730] {
            let a = apply(&old, true, &json!({"privacy": {"retention_days": ok}})).unwrap();
            assert_eq!(a.settings.privacy.retention_days, ok);
        }
        let now = 1_000 * 86_400_000;
        assert_eq!(Privacy { retention_days: 30 }.cutoff_ms(now), now - 30 * 86_400_000);
        assert_eq!(Privacy { retention_days: 5 }.cutoff_ms(now), now - 30 * 86_400_000, "clamped");
    }
}
