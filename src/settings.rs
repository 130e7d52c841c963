//! The shop's settings document (SPEC §7): parsed, validated field by field, stored only when
//! everything is valid. This issue covers the `general` and `contact` sections; later sections plug
//! into the same `apply` with the same `section.field` error keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::Phone;

pub const DEFAULT_COD_GATEWAY: &str = "Cash on Delivery (COD)";
pub const EXOTEL_SUBDOMAINS: [&str; 2] = ["api.exotel.com", "api.in.exotel.com"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct General {
    pub verify: String,
    pub method: String,
    pub exotel_subdomain: String,
    pub account_sid: String,
    pub api_key: String,
    pub cod_gateways: Vec<String>,
    pub default_country: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            verify: "cod".into(),
            method: "ivr".into(),
            exotel_subdomain: "api.in.exotel.com".into(),
            account_sid: String::new(),
            api_key: String::new(),
            cod_gateways: vec![DEFAULT_COD_GATEWAY.into()],
            default_country: "IN".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// What is stored in `shops.settings` (the Exotel API token is stored apart, encrypted).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    pub general: General,
    pub contact: Contact,
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
            "general" => new_api_token = apply_general(&mut next.general, has_token, fields, &mut errors),
            "contact" => apply_contact(&mut next.contact, fields, &mut errors),
            other => {
                errors.insert(other.to_string(), "unknown section".into());
            }
        }
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

/// Reads the fields of one section, reporting wrong types and unknown fields.
struct Fields<'a> {
    section: &'static str,
    map: &'a Map<String, Value>,
    errors: &'a mut Errors,
}

impl Fields<'_> {
    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.section)
    }
    fn err(&mut self, field: &str, msg: impl Into<String>) {
        let k = self.key(field);
        self.errors.entry(k).or_insert_with(|| msg.into());
    }
    fn string(&mut self, field: &str, target: &mut String) {
        match self.map.get(field) {
            None => {}
            Some(Value::String(s)) => *target = s.trim().to_string(),
            Some(Value::Null) => target.clear(),
            Some(_) => self.err(field, "must be a string"),
        }
    }
    fn strings(&mut self, field: &str, target: &mut Vec<String>) {
        match self.map.get(field) {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                *target = items.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect();
            }
            Some(_) => self.err(field, "must be a list of strings"),
        }
    }
    fn unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self.map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        for k in unknown {
            self.err(&k, "unknown field");
        }
    }
}

fn one_of(f: &mut Fields<'_>, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        f.err(field, format!("must be one of: {}", allowed.join(", ")));
    }
}

/// An API token sent back as GET showed it (masked) means "keep the stored one".
pub fn mask_secret(secret: &str) -> String {
    let tail: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("********{tail}")
}

fn apply_general(g: &mut General, has_token: bool, map: &Map<String, Value>, errors: &mut Errors) -> Option<String> {
    let mut f = Fields {
        section: "general",
        map,
        errors,
    };
    f.unknown(&[
        "verify",
        "method",
        "exotel_subdomain",
        "account_sid",
        "api_key",
        "api_token",
        "cod_gateways",
        "default_country",
    ]);
    f.string("verify", &mut g.verify);
    f.string("method", &mut g.method);
    f.string("exotel_subdomain", &mut g.exotel_subdomain);
    f.string("account_sid", &mut g.account_sid);
    f.string("api_key", &mut g.api_key);
    f.strings("cod_gateways", &mut g.cod_gateways);
    f.string("default_country", &mut g.default_country);
    g.default_country = g.default_country.to_ascii_uppercase();
    let mut token = String::new();
    f.string("api_token", &mut token);
    let new_token = (!token.is_empty() && !token.starts_with("********")).then_some(token);

    one_of(&mut f, "verify", &g.verify, &["cod", "all"]);
    one_of(&mut f, "method", &g.method, &["ivr", "otp"]);
    one_of(&mut f, "exotel_subdomain", &g.exotel_subdomain, &EXOTEL_SUBDOMAINS);
    let id_like = |s: &str| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if g.account_sid.is_empty() {
        f.err("account_sid", "is required (Exotel dashboard → API settings)");
    } else if !id_like(&g.account_sid) {
        f.err("account_sid", "must be letters, digits, '-', '_' or '.' (at most 128)");
    }
    if g.api_key.is_empty() {
        f.err("api_key", "is required (Exotel dashboard → API settings)");
    } else if !id_like(&g.api_key) {
        f.err("api_key", "must be letters, digits, '-', '_' or '.' (at most 128)");
    }
    match &new_token {
        None if !has_token => f.err("api_token", "is required (Exotel dashboard → API settings)"),
        Some(t) if t.len() > 256 || t.chars().any(char::is_whitespace) => {
            f.err("api_token", "must be at most 256 characters without spaces")
        }
        _ => {}
    }
    if g.cod_gateways.iter().any(|s| s.is_empty() || s.chars().count() > 100) {
        f.err("cod_gateways", "each gateway name must be 1–100 characters");
    } else if g.cod_gateways.len() > 20 {
        f.err("cod_gateways", "at most 20 gateway names");
    } else if g.verify == "cod" && g.cod_gateways.is_empty() {
        f.err("cod_gateways", "name at least one gateway when verifying COD orders");
    }
    if g.default_country.parse::<phonenumber::country::Id>().is_err() {
        f.err("default_country", "must be a two-letter country code such as IN");
    }
    new_token
}

fn apply_contact(c: &mut Contact, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields {
        section: "contact",
        map,
        errors,
    };
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
    if !c.phone.is_empty() {
        if !c.phone.starts_with('+') {
            f.err("phone", "must start with the country code, e.g. +91");
        } else {
            match Phone::parse(&c.phone, "IN") {
                Ok(p) => c.phone = p.e164().to_string(),
                Err(_) => f.err("phone", "is not a valid phone number"),
            }
        }
    }
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
    use serde_json::json;

    fn general_ok() -> Value {
        json!({"general": {"verify": "cod", "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
            "account_sid": "acme1", "api_key": "key", "api_token": "tok", "cod_gateways": ["Cash on Delivery (COD)"], "default_country": "IN"}})
    }

    #[test]
    fn valid_general_is_applied() {
        let a = apply(&Settings::default(), false, &general_ok()).unwrap();
        assert_eq!(a.settings.general.account_sid, "acme1");
        assert_eq!(a.new_api_token.as_deref(), Some("tok"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let doc = json!({"general": {"verify": "some", "method": "fax", "exotel_subdomain": "x.com", "account_sid": "",
            "api_key": "", "cod_gateways": "COD", "default_country": "XX", "colour": 1}, "contact": {"email": "nope", "phone": "98765"}, "ivx": {}});
        let e = apply(&Settings::default(), false, &doc).unwrap_err();
        for k in [
            "general.verify",
            "general.method",
            "general.exotel_subdomain",
            "general.account_sid",
            "general.api_key",
            "general.api_token",
            "general.cod_gateways",
            "general.default_country",
            "general.colour",
            "contact.email",
            "contact.phone",
            "ivx",
        ] {
            assert!(e.contains_key(k), "missing {k}: {e:?}");
        }
    }

    #[test]
    fn masked_or_missing_token_keeps_the_stored_one() {
        let mut doc = general_ok();
        doc["general"]["api_token"] = json!(mask_secret("secret-token"));
        let a = apply(&Settings::default(), true, &doc).unwrap();
        assert_eq!(a.new_api_token, None);
        doc["general"].as_object_mut().unwrap().remove("api_token");
        assert!(apply(&Settings::default(), true, &doc).is_ok());
        assert!(
            apply(&Settings::default(), false, &doc)
                .unwrap_err()
                .contains_key("general.api_token")
        );
    }

    #[test]
    fn cod_matching_ignores_case_and_spaces() {
        let s = Settings::default();
        assert!(s.is_cod(&["cash on delivery (cod) ".into()]));
        assert!(!s.is_cod(&["shopify_payments".into()]));
    }

    #[test]
    fn contact_phone_is_normalised() {
        let a = apply(
            &Settings::default(),
            true,
            &json!({"contact": {"name": "Asha", "email": "a@b.in", "phone": "+91 98765 43210"}}),
        )
        .unwrap();
        assert_eq!(a.settings.contact.phone, "+919876543210");
    }
}
