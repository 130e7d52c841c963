//! The `rules` section (SPEC §7, §9): which pending orders are not called at all — amount bounds,
//! trusted repeat buyers — and which buyers are blocklisted (flagged, or cancelled uncontacted).
//! The verdict itself is `verification::targeting`, a pure function of these rules and the order.
//!
//! Blocklisted phone numbers are customer data: they are never written into the settings JSON
//! (`#[serde(skip)]`); `seal_phones` / `open_phones` keep them encrypted in a column of their own.

use std::fmt;

use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::Errors;
use super::fields::{Fields, choices, lenient};
use crate::crypto::{Cipher, DecryptError};
use crate::domain::{Phone, stored_enum};

stored_enum! {
    /// What happens to an order of a blocklisted phone or PIN code (`rules.blocklist_action`).
    #[derive(Default)]
    BlocklistAction { #[default] Flag = "flag", Cancel = "cancel" }
}
choices!(BlocklistAction);

/// `trusted_after_confirmed`: 0 (off) to 20 earlier confirmed orders.
pub const TRUSTED_AFTER: std::ops::RangeInclusive<i64> = 0..=20;
/// Entries each blocklist may hold.
pub const BLOCKLIST_MAX: usize = 1_000;
/// The largest amount bound, in currency units.
pub const AMOUNT_MAX_UNITS: i64 = 1_000_000_000;

/// An amount of money in hundredths of the currency unit (paise, cents): compared exactly, never
/// as a float. Shown and sent as a JSON number in currency units (`1234.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub const fn from_hundredths(h: i64) -> Amount {
        Amount(h)
    }

    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// A decimal amount as Shopify writes prices (`"1234.50"`, `"499"`): digits with at most two
    /// decimals that count (`"10.500"` is 10.50). `None` for anything else.
    pub fn parse(text: &str) -> Option<Amount> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
            return None;
        }
        let units: i64 = whole.parse().ok()?;
        let mut cents = 0i64;
        for (i, b) in frac.bytes().take(2).enumerate() {
            cents += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        units.checked_mul(100)?.checked_add(cents).map(Amount)
    }

    /// A JSON number of the settings document: whole or with at most two decimals, 0 to
    /// [`AMOUNT_MAX_UNITS`]. A float is read through its shortest decimal form (what was typed),
    /// so `0.1` is exactly 10 hundredths.
    fn from_json(n: &Number) -> Result<Amount, String> {
        let range = || format!("must be between 0 and {AMOUNT_MAX_UNITS}");
        if let Some(i) = n.as_i64() {
            return if (0..=AMOUNT_MAX_UNITS).contains(&i) { Ok(Amount(i * 100)) } else { Err(range()) };
        }
        let f = n.as_f64().ok_or_else(range)?;
        if !(0.0..=AMOUNT_MAX_UNITS as f64).contains(&f) {
            return Err(range());
        }
        Amount::parse(&f.to_string()).ok_or_else(|| "must have at most 2 decimals".to_string())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 {
            s.serialize_i64(self.0 / 100)
        } else {
            // The division is correctly rounded, so the shortest form is the two-decimal text.
            s.serialize_f64(self.0 as f64 / 100.0)
        }
    }
}

/// A stored bound, leniently: anything but a valid amount reads as no bound (a hand-edited
/// document still loads, and never with a bound nobody set).
fn stored_amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Number(n) => Amount::from_json(&n).ok(),
        _ => None,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Rules {
    /// Orders below this total are not verified (skipped); `None`: no lower bound.
    #[serde(deserialize_with = "stored_amount")]
    pub min_amount: Option<Amount>,
    /// Orders above this total are not verified (skipped); `None`: no upper bound.
    #[serde(deserialize_with = "stored_amount")]
    pub max_amount: Option<Amount>,
    /// A phone with this many earlier confirmed (not cancelled) orders is trusted; 0: off.
    pub trusted_after_confirmed: i64,
    pub trusted_tag: String,
    /// E.164 numbers. Never serialized: sealed apart (see the module's note).
    #[serde(skip)]
    pub blocklist_phones: Vec<String>,
    /// Indian PIN codes, 6 digits.
    pub blocklist_pincodes: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub blocklist_action: BlocklistAction,
    pub blocked_tag: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            min_amount: None,
            max_amount: None,
            trusted_after_confirmed: 0,
            trusted_tag: "cod_trusted".into(),
            blocklist_phones: Vec::new(),
            blocklist_pincodes: Vec::new(),
            blocklist_action: BlocklistAction::Flag,
            blocked_tag: "cod_blocked".into(),
        }
    }
}

impl Rules {
    /// The section as `GET` shows it: with the blocklisted numbers (for the merchant's eyes only).
    pub fn to_document(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()));
        v["blocklist_phones"] = Value::from(self.blocklist_phones.clone());
        v
    }

    /// The blocklisted numbers as `shops.blocklist_phones_enc` keeps them: sealed, or `None` when
    /// there are none.
    pub fn seal_phones(&self, cipher: &Cipher) -> Option<String> {
        if self.blocklist_phones.is_empty() {
            return None;
        }
        let list = serde_json::to_string(&self.blocklist_phones).unwrap_or_default();
        Some(cipher.encrypt(&list))
    }

    /// Reads the sealed numbers of `shops.blocklist_phones_enc` into `blocklist_phones`. An error
    /// (wrong key, corrupted value) leaves the list empty.
    pub fn open_phones(&mut self, cipher: &Cipher, sealed: Option<&str>) -> Result<(), DecryptError> {
        self.blocklist_phones.clear();
        let Some(sealed) = sealed else { return Ok(()) };
        let list = cipher.decrypt(sealed)?;
        self.blocklist_phones = serde_json::from_str(list.expose_secret()).map_err(|_| DecryptError)?;
        Ok(())
    }
}

/// A PIN code as the rules compare it: spaces dropped (`"411 001"` is `"411001"`).
pub fn normalize_pincode(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// An Indian PIN code: 6 digits, the first not 0.
pub fn valid_pincode(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) && !pin.starts_with('0')
}

const FIELDS: [&str; 8] = [
    "min_amount",
    "max_amount",
    "trusted_after_confirmed",
    "trusted_tag",
    "blocklist_phones",
    "blocklist_pincodes",
    "blocklist_action",
    "blocked_tag",
];

/// Reads a PUT's rules section over `r`; phone numbers without a country code take
/// `default_country` (the `general` section as this PUT leaves it).
pub(super) fn apply_rules(r: &mut Rules, default_country: &str, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("rules", map, errors);
    f.unknown(&FIELDS);
    amount(&mut f, "min_amount", &mut r.min_amount);
    amount(&mut f, "max_amount", &mut r.max_amount);
    if let (Some(min), Some(max)) = (r.min_amount, r.max_amount)
        && max < min
    {
        f.err("max_amount", "must be at least the minimum amount");
    }
    f.int("trusted_after_confirmed", &mut r.trusted_after_confirmed);
    f.range("trusted_after_confirmed", r.trusted_after_confirmed, *TRUSTED_AFTER.start(), *TRUSTED_AFTER.end());
    f.string("trusted_tag", &mut r.trusted_tag);
    f.tag("trusted_tag", &mut r.trusted_tag, r.trusted_after_confirmed > 0);

    let mut phones = r.blocklist_phones.clone();
    f.strings("blocklist_phones", &mut phones);
    r.blocklist_phones = entries(&mut f, "blocklist_phones", &phones, |raw| {
        Phone::parse(raw, default_country).map(|p| p.e164().to_string()).map_err(|_| "not a valid phone number".to_string())
    });
    let mut pins = r.blocklist_pincodes.clone();
    f.strings("blocklist_pincodes", &mut pins);
    r.blocklist_pincodes = entries(&mut f, "blocklist_pincodes", &pins, |raw| {
        let pin = normalize_pincode(raw);
        if valid_pincode(&pin) { Ok(pin) } else { Err("not a PIN code (6 digits, the first not 0)".to_string()) }
    });
    let blocking = !r.blocklist_phones.is_empty() || !r.blocklist_pincodes.is_empty();
    f.choice("blocklist_action", &mut r.blocklist_action, blocking);
    f.string("blocked_tag", &mut r.blocked_tag);
    f.tag("blocked_tag", &mut r.blocked_tag, blocking);
}

/// An amount bound: a JSON number, or null (no bound).
fn amount(f: &mut Fields<'_>, field: &str, target: &mut Option<Amount>) {
    match f.map.get(field) {
        None => {}
        Some(Value::Null) => *target = None,
        Some(Value::Number(n)) => match Amount::from_json(n) {
            Ok(a) => *target = Some(a),
            Err(e) => f.err(field, e),
        },
        Some(_) => f.err(field, "must be a number (or null for no limit)"),
    }
}

/// A blocklist: each entry normalised by `norm`, duplicates dropped (the first kept). Every bad
/// entry is named by its position (1-based) in the field's one error (the first 10 of them).
fn entries(f: &mut Fields<'_>, field: &str, raw: &[String], norm: impl Fn(&str) -> Result<String, String>) -> Vec<String> {
    const SHOWN: usize = 10;
    if raw.len() > BLOCKLIST_MAX {
        f.err(field, format!("at most {BLOCKLIST_MAX} entries"));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    let mut bad = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        if entry.is_empty() {
            continue;
        }
        match norm(entry) {
            Ok(n) if !out.contains(&n) => out.push(n),
            Ok(_) => {}
            Err(e) => bad.push(format!("entry {} ({}): {e}", i + 1, masked_entry(field, entry))),
        }
    }
    if !bad.is_empty() {
        let more = bad.len().saturating_sub(SHOWN);
        let mut msg = bad.into_iter().take(SHOWN).collect::<Vec<_>>().join("; ");
        if more > 0 {
            msg.push_str(&format!("; and {more} more"));
        }
        f.err(field, msg);
    }
    out
}

/// A bad entry as an error names it: a phone number masked (errors may reach logs), a PIN code
/// as typed (at most 12 characters).
fn masked_entry(field: &str, entry: &str) -> String {
    if field == "blocklist_phones" {
        let masked = crate::domain::mask(entry);
        if masked.is_empty() { "no digits".into() } else { masked }
    } else {
        entry.chars().take(12).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, apply};
    use serde_json::json;

    fn put(current: &Settings, rules: Value) -> Result<Settings, Errors> {
        apply(current, true, &json!({ "rules": rules })).map(|a| a.settings)
    }

    #[test]
    fn amounts_are_exact_hundredths() {
        assert_eq!(Amount::parse("1234.50"), Some(Amount(123_450)));
        assert_eq!(Amount::parse("499"), Some(Amount(49_900)));
        assert_eq!(Amount::parse("0.1"), Some(Amount(10)));
        assert_eq!(Amount::parse("10.500"), Some(Amount(1_050)));
        for bad in ["", ".5", "1.234", "-1", "1,000.00", "1e3", "abc", "99999999999999999999"] {
            assert_eq!(Amount::parse(bad), None, "{bad}");
        }
        assert_eq!(Amount(123_405).to_string(), "1234.05");
        for (n, want) in [(json!(0.1), 10), (json!(1234.5), 123_450), (json!(200), 20_000), (json!(0.29), 29), (json!(1e9), 100_000_000_000)] {
            let Value::Number(n) = n else { unreachable!() };
            assert_eq!(Amount::from_json(&n), Ok(Amount(want)));
        }
        for h in [0, 1, 10, 29, 12_345, 99_999, 100_000_000_000] {
            let v = serde_json::to_value(Amount(h)).unwrap();
            let Value::Number(n) = &v else { panic!("{v}") };
            assert_eq!(Amount::from_json(n), Ok(Amount(h)), "{v} reads back");
        }
    }

    #[test]
    fn a_document_without_rules_has_none() {
        let s = Settings::from_stored(r#"{"general": {"verify": "all"}}"#);
        assert_eq!(s.rules, Rules::default());
        assert_eq!((s.rules.trusted_tag.as_str(), s.rules.blocked_tag.as_str()), ("cod_trusted", "cod_blocked"));
        let odd = Settings::from_stored(r#"{"rules": {"min_amount": "lots", "max_amount": -3, "blocklist_action": "", "blocklist_phones": ["+919876543210"]}}"#);
        assert_eq!((odd.rules.min_amount, odd.rules.max_amount, odd.rules.blocklist_action), (None, None, BlocklistAction::Flag));
        assert!(odd.rules.blocklist_phones.is_empty(), "numbers are never read from the settings JSON");
    }

    #[test]
    fn valid_rules_are_normalised() {
        let s = put(
            &Settings::default(),
            json!({"min_amount": 200, "max_amount": 5000.5, "trusted_after_confirmed": 3, "trusted_tag": " vip ",
                "blocklist_phones": ["98765 43210", "+91 98765 43210", "", "09876543211"],
                "blocklist_pincodes": ["411 001", "411001", "560034"], "blocklist_action": "cancel", "blocked_tag": "fraud"}),
        )
        .unwrap();
        let r = &s.rules;
        assert_eq!((r.min_amount, r.max_amount), (Some(Amount(20_000)), Some(Amount(500_050))));
        assert_eq!((r.trusted_after_confirmed, r.trusted_tag.as_str()), (3, "vip"));
        assert_eq!(r.blocklist_phones, ["+919876543210", "+919876543211"]);
        assert_eq!(r.blocklist_pincodes, ["411001", "560034"]);
        assert_eq!((r.blocklist_action, r.blocked_tag.as_str()), (BlocklistAction::Cancel, "fraud"));
        // Nulls lift the bounds; fields left out keep their values.
        let lifted = put(&s, json!({"min_amount": null, "max_amount": null})).unwrap();
        assert_eq!((lifted.rules.min_amount, lifted.rules.max_amount), (None, None));
        assert_eq!(lifted.rules.blocklist_phones, r.blocklist_phones);
    }

    #[test]
    fn phones_take_the_default_country_of_the_same_put() {
        let doc = json!({"general": {"account_sid": "a", "api_key": "k", "default_country": "SG"}, "rules": {"blocklist_phones": ["8123 4567"]}});
        let s = apply(&Settings::default(), true, &doc).unwrap().settings;
        assert_eq!(s.rules.blocklist_phones, ["+6581234567"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (json!({"min_amount": -1}), "rules.min_amount", "must be between 0 and 1000000000"),
            (json!({"min_amount": "200"}), "rules.min_amount", "must be a number (or null for no limit)"),
            (json!({"max_amount": 10.005}), "rules.max_amount", "must have at most 2 decimals"),
            (json!({"max_amount": 2e9}), "rules.max_amount", "must be between 0 and 1000000000"),
            (json!({"min_amount": 500, "max_amount": 499.99}), "rules.max_amount", "must be at least the minimum amount"),
            (json!({"trusted_after_confirmed": 21}), "rules.trusted_after_confirmed", "must be between 0 and 20"),
            (json!({"trusted_after_confirmed": -1}), "rules.trusted_after_confirmed", "must be between 0 and 20"),
            (json!({"trusted_after_confirmed": 2, "trusted_tag": ""}), "rules.trusted_tag", ""),
            (json!({"trusted_tag": "a,b"}), "rules.trusted_tag", ""),
            (json!({"blocklist_phones": ["9876543210", "12345"]}), "rules.blocklist_phones", "entry 2 (*2345): "),
            (json!({"blocklist_phones": "9876543210"}), "rules.blocklist_phones", "must be a list of strings"),
            (json!({"blocklist_pincodes": ["411001", "011001"]}), "rules.blocklist_pincodes", "entry 2 (011001): not a PIN code"),
            (json!({"blocklist_pincodes": ["41100"]}), "rules.blocklist_pincodes", "entry 1 (41100): not a PIN code"),
            (json!({"blocklist_pincodes": ["411001"], "blocklist_action": "delete"}), "rules.blocklist_action", "must be one of: flag, cancel"),
            (json!({"blocklist_pincodes": ["411001"], "blocklist_action": ""}), "rules.blocklist_action", "must be one of: flag, cancel"),
            (json!({"blocklist_pincodes": ["411001"], "blocked_tag": ""}), "rules.blocked_tag", "is required"),
            (json!({"colour": "red"}), "rules.colour", "unknown field"),
        ];
        for (rules, key, msg) in cases {
            let e = put(&Settings::default(), rules.clone()).unwrap_err();
            assert!(e.get(key).is_some_and(|m| m.starts_with(msg)), "{rules}: {e:?}");
        }
        let e = put(&Settings::default(), json!({"blocklist_pincodes": ["1", "411001", "2"], "blocklist_phones": ["98765 43210", "x"]})).unwrap_err();
        assert_eq!(e["rules.blocklist_pincodes"], "entry 1 (1): not a PIN code (6 digits, the first not 0); entry 3 (2): not a PIN code (6 digits, the first not 0)");
        assert_eq!(e["rules.blocklist_phones"], "entry 2 (no digits): not a valid phone number");
        let bad: Vec<String> = (0..12).map(|i| format!("0{i}")).collect();
        let e = put(&Settings::default(), json!({"blocklist_pincodes": bad})).unwrap_err();
        assert!(e["rules.blocklist_pincodes"].starts_with("entry 1 (00): ") && e["rules.blocklist_pincodes"].ends_with("; and 2 more"), "{e:?}");
        let many: Vec<String> = (0..=BLOCKLIST_MAX).map(|i| format!("{}", 400_000 + i)).collect();
        let e = put(&Settings::default(), json!({"blocklist_pincodes": many})).unwrap_err();
        assert_eq!(e["rules.blocklist_pincodes"], "at most 1000 entries");
        // Blank tags are fine while their rule is off.
        let off = put(&Settings::default(), json!({"trusted_tag": "", "blocked_tag": "", "blocklist_action": ""})).unwrap();
        assert_eq!((off.rules.trusted_tag.as_str(), off.rules.blocked_tag.as_str()), ("", ""));
    }

    #[test]
    fn phones_are_sealed_apart_from_the_document() {
        let cipher = Cipher::new(&[7u8; 32]);
        let s = put(&Settings::default(), json!({"blocklist_phones": ["9876543210"]})).unwrap();
        let stored = serde_json::to_string(&s).unwrap();
        assert!(!stored.contains("9876543210") && !stored.contains("blocklist_phones"), "{stored}");
        assert_eq!(s.to_document()["rules"]["blocklist_phones"], json!(["+919876543210"]));
        let sealed = s.rules.seal_phones(&cipher).unwrap();
        assert!(sealed.starts_with("v1:") && !sealed.contains("9876"));
        let mut back = Settings::from_stored(&stored);
        back.rules.open_phones(&cipher, Some(&sealed)).unwrap();
        assert_eq!(back, s);
        assert_eq!(Rules::default().seal_phones(&cipher), None);
        assert!(back.rules.open_phones(&Cipher::new(&[8u8; 32]), Some(&sealed)).is_err());
        assert!(back.rules.blocklist_phones.is_empty());
    }

    #[test]
    fn the_get_document_put_back_is_the_same() {
        let saved = Settings {
            general: crate::settings::General { account_sid: "acme1".into(), api_key: "key".into(), ..Default::default() },
            ..Settings::default()
        };
        let s = put(
            &saved,
            json!({"min_amount": 0.5, "max_amount": 1234.56, "trusted_after_confirmed": 20,
                "blocklist_phones": ["9876543210"], "blocklist_pincodes": ["110001"], "blocklist_action": "cancel"}),
        )
        .unwrap();
        let doc = s.to_document();
        let sent: Value = serde_json::from_str(&doc.to_string()).unwrap();
        assert_eq!(apply(&s, true, &sent).unwrap().settings, s);
        assert_eq!(apply(&Settings::default(), true, &json!({"rules": sent["rules"]})).unwrap().settings.rules, s.rules);
    }
}
