//! The `general` section: which orders, how, and the Exotel account.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::{Fields, choices, lenient};
use crate::domain::stored_enum;

stored_enum! {
    /// Which orders are verified (`general.verify`).
    #[derive(Default)]
    Verify { #[default] Cod = "cod", All = "all" }
}
stored_enum! {
    /// How they are verified (`general.method`): the plan's first step, or the checkout OTP.
    #[derive(Default)]
    Method { #[default] Ivr = "ivr", Otp = "otp", Whatsapp = "whatsapp" }
}
choices!(Verify, Method);

pub const DEFAULT_COD_GATEWAY: &str = "Cash on Delivery (COD)";
pub const EXOTEL_SUBDOMAINS: [&str; 2] = ["api.exotel.com", "api.in.exotel.com"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct General {
    #[serde(deserialize_with = "lenient")]
    pub verify: Verify,
    #[serde(deserialize_with = "lenient")]
    pub method: Method,
    pub exotel_subdomain: String,
    pub account_sid: String,
    pub api_key: String,
    pub cod_gateways: Vec<String>,
    pub default_country: String,
}

impl Default for General {
    fn default() -> Self {
        General {
            verify: Verify::Cod,
            method: Method::Ivr,
            exotel_subdomain: "api.in.exotel.com".into(),
            account_sid: String::new(),
            api_key: String::new(),
            cod_gateways: vec![DEFAULT_COD_GATEWAY.into()],
            default_country: "IN".into(),
        }
    }
}

/// An API token sent back as GET showed it (masked) means "keep the stored one".
pub fn mask_secret(secret: &str) -> String {
    let tail: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("********{tail}")
}

pub(super) fn apply_general(g: &mut General, has_token: bool, map: &Map<String, Value>, errors: &mut Errors) -> Option<String> {
    let mut f = Fields::new("general", map, errors);
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
    f.choice("verify", &mut g.verify, true);
    f.choice("method", &mut g.method, true);
    f.string("exotel_subdomain", &mut g.exotel_subdomain);
    f.string("account_sid", &mut g.account_sid);
    f.string("api_key", &mut g.api_key);
    f.strings("cod_gateways", &mut g.cod_gateways);
    f.string("default_country", &mut g.default_country);
    g.default_country = g.default_country.to_ascii_uppercase();
    let mut token = String::new();
    f.string("api_token", &mut token);
    let new_token = (!token.is_empty() && !token.starts_with("********")).then_some(token);

    f.one_of("exotel_subdomain", &g.exotel_subdomain, &EXOTEL_SUBDOMAINS);
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
    } else if g.verify == Verify::Cod && g.cod_gateways.is_empty() {
        f.err("cod_gateways", "name at least one gateway when verifying COD orders");
    }
    if g.default_country.parse::<phonenumber::country::Id>().is_err() {
        f.err("default_country", "must be a two-letter country code such as IN");
    }
    new_token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
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
        let mut doc = general_ok();
        doc["general"]["method"] = json!("otp");
        doc["general"]["verify"] = json!(" all ");
        let a = apply(&Settings::default(), false, &doc).unwrap();
        assert_eq!((a.settings.general.method, a.settings.general.verify), (Method::Otp, Verify::All));
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
        assert_eq!(e["general.verify"], "must be one of: cod, all");
        assert_eq!(e["general.method"], "must be one of: ivr, otp, whatsapp");
    }

    #[test]
    fn verify_and_method_are_always_in_use() {
        for field in ["verify", "method"] {
            let mut doc = general_ok();
            doc["general"][field] = json!("");
            let e = apply(&Settings::default(), false, &doc).unwrap_err();
            assert!(e[&format!("general.{field}")].starts_with("must be one of: "), "{e:?}");
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
}
