//! The shop's settings document (SPEC §7): parsed, validated field by field, stored only when
//! everything is valid. Sections: `general`, `ivr`, `contact`; later sections plug into the same
//! `apply` with the same `section.field` error keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Phone, Tag, stored_enum};

// The settings' choices. The fields stay text: a section that is not in use keeps whatever it was
// sent (SPEC §7), so a value there need not be one of these; code compares with them
// (`general.method == Method::Otp`) and validation names them.
stored_enum! {
    /// Which orders are verified (`general.verify`).
    Verify { Cod = "cod", All = "all" }
}
stored_enum! {
    /// How they are verified (`general.method`).
    Method { Ivr = "ivr", Otp = "otp" }
}
stored_enum! {
    /// When the first IVR call goes (`ivr.first_call`).
    FirstCall { Immediate = "immediate", After = "after" }
}
stored_enum! {
    /// The SMS fallback after the IVR (`fallback.mode`).
    FallbackMode { Off = "none", SmsLink = "sms_link", SmsMissedCall = "sms_missed_call" }
}
stored_enum! {
    /// How an SMS is encoded (`fallback.encoding`, `otp.encoding`); plain text still goes as
    /// Unicode when it does not fit GSM-7.
    Encoding { Plain = "plain", Unicode = "unicode" }
}

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
            verify: Verify::Cod.as_str().into(),
            method: Method::Ivr.as_str().into(),
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

/// The IVR call section (SPEC §3 "IVR call"; bounds from the reference app).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ivr {
    pub first_call: String,
    pub first_call_delay_minutes: i64,
    pub exophone: String,
    pub flow_id: String,
    pub retries: i64,
    pub retry_interval_minutes: i64,
    pub timezone: String,
    pub window_start: String,
    pub window_end: String,
    pub confirm_tag: String,
    pub cancel_tag: String,
    pub callback_tag: String,
    pub cancel_order: bool,
    pub dnd_calling_enabled: bool,
}

impl Default for Ivr {
    fn default() -> Self {
        Ivr {
            first_call: FirstCall::Immediate.as_str().into(),
            first_call_delay_minutes: 0,
            exophone: String::new(),
            flow_id: String::new(),
            retries: 2,
            retry_interval_minutes: 30,
            timezone: "Asia/Kolkata".into(),
            // TRAI hours for commercial calls.
            window_start: "09:00".into(),
            window_end: "21:00".into(),
            confirm_tag: "cod_confirmed".into(),
            cancel_tag: "cod_cancelled".into(),
            callback_tag: "cod_callback_requested".into(),
            cancel_order: false,
            dnd_calling_enabled: false,
        }
    }
}

impl Ivr {
    /// Whether the merchant filled in what a call needs.
    pub fn is_ready(&self) -> bool {
        !self.exophone.is_empty() && !self.flow_id.is_empty()
    }
}

/// The IVR fallback section (SPEC §3 "Fallback"): an SMS with a link, or an SMS asking for a
/// missed call, after the IVR retries are spent or for DND numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Fallback {
    pub mode: String,
    pub sender_id: String,
    pub dlt_entity_id: String,
    pub encoding: String,
    pub retries: i64,
    pub retry_interval_minutes: i64,
    pub confirm_tag: String,
    pub link_template: String,
    pub dlt_template_id: String,
    pub link_expiry_hours: i64,
    pub cancel_tag: String,
    pub callback_tag: String,
    pub cancel_order: bool,
    pub missed_call_scope: String,
    pub missed_call_exophone: String,
    pub missed_call_template: String,
    pub missed_call_dlt_template_id: String,
    pub confirmation_template: String,
    pub confirmation_dlt_template_id: String,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback {
            mode: "none".into(),
            sender_id: String::new(),
            dlt_entity_id: String::new(),
            encoding: "plain".into(),
            retries: 0,
            retry_interval_minutes: 0,
            confirm_tag: "cod_confirmed".into(),
            link_template: "Thank you for your order %ordernumber%. Please confirm it here: %link%".into(),
            dlt_template_id: String::new(),
            link_expiry_hours: 48,
            cancel_tag: "cod_cancelled".into(),
            callback_tag: "cod_callback_requested".into(),
            cancel_order: false,
            missed_call_scope: "latest".into(),
            missed_call_exophone: String::new(),
            missed_call_template: "Give a missed call to %exophone% to confirm your order %ordernumber%.".into(),
            missed_call_dlt_template_id: String::new(),
            confirmation_template: "Thank you. Your order is confirmed.".into(),
            confirmation_dlt_template_id: String::new(),
        }
    }
}

/// The OTP section (SPEC §3 "OTP by SMS").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Otp {
    pub sender_id: String,
    pub dlt_entity_id: String,
    pub dlt_template_id: String,
    pub encoding: String,
    pub template: String,
    pub resends: i64,
    pub resend_after_seconds: i64,
    pub incorrect_attempts: i64,
    pub tag: String,
}

impl Default for Otp {
    fn default() -> Self {
        Otp {
            sender_id: String::new(),
            dlt_entity_id: String::new(),
            dlt_template_id: String::new(),
            encoding: "plain".into(),
            template: "%otp% is the OTP to confirm your order %ordernumber%. It is valid for 15 minutes.".into(),
            resends: 3,
            resend_after_seconds: 30,
            incorrect_attempts: 3,
            tag: "otp_verified".into(),
        }
    }
}

impl Otp {
    pub fn is_ready(&self) -> bool {
        !self.sender_id.is_empty() && self.template.contains("%otp%")
    }
}

/// The privacy section (SPEC §7, round 2): how long customer details are kept.
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

/// Placeholders an SMS template may hold.
pub const ORDER_PLACEHOLDERS: [&str; 3] = ["%ordernumber%", "%ordername%", "%orderamount%"];

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
            "general" => new_api_token = apply_general(&mut next.general, has_token, fields, &mut errors),
            "contact" => apply_contact(&mut next.contact, fields, &mut errors),
            "privacy" => apply_privacy(&mut next.privacy, fields, &mut errors),
            // Applied below: the rules of some depend on `general`, which may be in this PUT.
            "ivr" | "fallback" | "otp" => {}
            other => {
                errors.insert(other.to_string(), "unknown section".into());
            }
        }
    }
    let (india, method) = (next.general.default_country == "IN", next.general.method.clone());
    if let Some(fields) = changed_section(doc, "ivr", &current.ivr) {
        apply_ivr(&mut next.ivr, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "fallback", &current.fallback) {
        apply_fallback(&mut next.fallback, india, fields, &mut errors);
    }
    if let Some(fields) = changed_section(doc, "otp", &current.otp) {
        apply_otp(&mut next.otp, india, method == Method::Otp, fields, &mut errors);
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
    fn int(&mut self, field: &str, target: &mut i64) {
        match self.map.get(field) {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some() => *target = n.as_i64().unwrap_or_default(),
            Some(Value::Null) => *target = 0,
            Some(_) => self.err(field, "must be a whole number"),
        }
    }
    fn bool(&mut self, field: &str, target: &mut bool) {
        match self.map.get(field) {
            None => {}
            Some(Value::Bool(b)) => *target = *b,
            Some(_) => self.err(field, "must be true or false"),
        }
    }
    fn range(&mut self, field: &str, value: i64, lo: i64, hi: i64) {
        if !(lo..=hi).contains(&value) {
            self.err(field, format!("must be between {lo} and {hi}"));
        }
    }
    /// A tag field: `required` ones may not be blank; blank optional ones mean "not offered".
    fn tag(&mut self, field: &str, value: &mut String, required: bool) {
        if value.is_empty() && !required {
            return;
        }
        match Tag::parse(value) {
            Ok(t) => *value = t.as_str().to_string(),
            Err(e) if value.is_empty() => self.err(field, format!("is required ({e})")),
            Err(e) => self.err(field, e),
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

    one_of(&mut f, "verify", &g.verify, Verify::NAMES);
    one_of(&mut f, "method", &g.method, Method::NAMES);
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
    } else if g.verify == Verify::Cod && g.cod_gateways.is_empty() {
        f.err("cod_gateways", "name at least one gateway when verifying COD orders");
    }
    if g.default_country.parse::<phonenumber::country::Id>().is_err() {
        f.err("default_country", "must be a two-letter country code such as IN");
    }
    new_token
}

/// "HH:MM" (24-hour) as minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A caller id as Exotel shows it: digits with an optional leading `+`, 8–15 digits.
fn valid_exophone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

fn apply_ivr(v: &mut Ivr, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields { section: "ivr", map, errors };
    f.unknown(&[
        "first_call",
        "first_call_delay_minutes",
        "exophone",
        "flow_id",
        "retries",
        "retry_interval_minutes",
        "timezone",
        "window_start",
        "window_end",
        "confirm_tag",
        "cancel_tag",
        "callback_tag",
        "cancel_order",
        "dnd_calling_enabled",
    ]);
    f.string("first_call", &mut v.first_call);
    f.int("first_call_delay_minutes", &mut v.first_call_delay_minutes);
    f.string("exophone", &mut v.exophone);
    f.string("flow_id", &mut v.flow_id);
    f.int("retries", &mut v.retries);
    f.int("retry_interval_minutes", &mut v.retry_interval_minutes);
    f.string("timezone", &mut v.timezone);
    f.string("window_start", &mut v.window_start);
    f.string("window_end", &mut v.window_end);
    f.string("confirm_tag", &mut v.confirm_tag);
    f.string("cancel_tag", &mut v.cancel_tag);
    f.string("callback_tag", &mut v.callback_tag);
    f.bool("cancel_order", &mut v.cancel_order);
    f.bool("dnd_calling_enabled", &mut v.dnd_calling_enabled);

    one_of(&mut f, "first_call", &v.first_call, FirstCall::NAMES);
    if v.first_call == FirstCall::After {
        f.range("first_call_delay_minutes", v.first_call_delay_minutes, 1, 1440);
    } else if v.first_call_delay_minutes != 0 {
        f.range("first_call_delay_minutes", v.first_call_delay_minutes, 0, 1440);
    }
    v.exophone = v.exophone.replace([' ', '-'], "");
    if v.exophone.is_empty() {
        f.err("exophone", "is required (Exotel dashboard → ExoPhones)");
    } else if !valid_exophone(&v.exophone) {
        f.err("exophone", "must be a phone number: digits with an optional leading +");
    }
    if v.flow_id.is_empty() {
        f.err("flow_id", "is required (Exotel dashboard → App Bazaar → your flow's id)");
    } else if v.flow_id.len() > 32 || !v.flow_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        f.err("flow_id", "must be the flow's id: letters and digits only");
    }
    f.range("retries", v.retries, 0, 5);
    if v.retries == 0 {
        if v.retry_interval_minutes != 0 {
            f.err("retry_interval_minutes", "must be 0 when retries is 0");
        }
    } else {
        f.range("retry_interval_minutes", v.retry_interval_minutes, 10, 120);
    }
    if v.timezone.parse::<chrono_tz::Tz>().is_err() {
        f.err("timezone", "must be an IANA time zone such as Asia/Kolkata");
    }
    let start = parse_hhmm(&v.window_start);
    let end = parse_hhmm(&v.window_end);
    if start.is_none() {
        f.err("window_start", "must be a time as HH:MM (24-hour)");
    }
    if end.is_none() {
        f.err("window_end", "must be a time as HH:MM (24-hour)");
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            f.err("window_end", "must be later than window_start");
        }
    }
    f.tag("confirm_tag", &mut v.confirm_tag, true);
    f.tag("cancel_tag", &mut v.cancel_tag, false);
    f.tag("callback_tag", &mut v.callback_tag, false);
    if v.cancel_order && v.cancel_tag.is_empty() {
        f.err("cancel_order", "needs a cancel tag: without one, callers are not offered cancellation");
    }
}

/// An SMS sender id: 3–11 letters or digits (Indian DLT headers are 6 letters).
fn valid_sender_id(s: &str) -> bool {
    (3..=11).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn apply_fallback(v: &mut Fallback, india: bool, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields { section: "fallback", map, errors };
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
    for (field, target) in [
        ("mode", &mut v.mode),
        ("sender_id", &mut v.sender_id),
        ("dlt_entity_id", &mut v.dlt_entity_id),
        ("encoding", &mut v.encoding),
        ("confirm_tag", &mut v.confirm_tag),
        ("link_template", &mut v.link_template),
        ("dlt_template_id", &mut v.dlt_template_id),
        ("cancel_tag", &mut v.cancel_tag),
        ("callback_tag", &mut v.callback_tag),
        ("missed_call_scope", &mut v.missed_call_scope),
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

    one_of(&mut f, "mode", &v.mode, FallbackMode::NAMES);
    if v.mode == FallbackMode::Off {
        // Fields of a mode that is not in use may stay as they are.
        return;
    }
    let link = v.mode == FallbackMode::SmsLink;
    one_of(&mut f, "encoding", &v.encoding, Encoding::NAMES);
    if !valid_sender_id(&v.sender_id) {
        f.err("sender_id", "must be the SMS sender id (header): 3–11 letters or digits");
    }
    let dlt_id = |s: &str| s.len() <= 32 && s.chars().all(|c| c.is_ascii_digit());
    let dlt = |f: &mut Fields<'_>, field: &str, value: &str| {
        if value.is_empty() && india {
            f.err(field, "is required for India (DLT registration)");
        } else if !dlt_id(value) {
            f.err(field, "must be the DLT id: digits only");
        }
    };
    dlt(&mut f, "dlt_entity_id", &v.dlt_entity_id);
    f.range("retries", v.retries, 0, 5);
    if v.retries == 0 {
        if v.retry_interval_minutes != 0 {
            f.err("retry_interval_minutes", "must be 0 when retries is 0");
        }
    } else {
        f.range("retry_interval_minutes", v.retry_interval_minutes, 10, 60);
    }
    f.tag("confirm_tag", &mut v.confirm_tag, true);
    let template = |f: &mut Fields<'_>, field: &str, value: &str, required: &[&str]| {
        if value.is_empty() {
            f.err(field, "is required");
        } else if value.chars().count() > 1000 {
            f.err(field, "must be at most 1000 characters");
        } else if let Some(missing) = required.iter().find(|p| !value.contains(**p)) {
            f.err(field, format!("must contain {missing}"));
        }
    };
    if link {
        template(&mut f, "link_template", &v.link_template, &["%link%"]);
        dlt(&mut f, "dlt_template_id", &v.dlt_template_id);
        f.range("link_expiry_hours", v.link_expiry_hours, 1, 72);
        f.tag("cancel_tag", &mut v.cancel_tag, false);
        f.tag("callback_tag", &mut v.callback_tag, false);
        if v.cancel_order && v.cancel_tag.is_empty() {
            f.err("cancel_order", "needs a cancel tag: without one, the page offers no Cancel button");
        }
    } else {
        one_of(&mut f, "missed_call_scope", &v.missed_call_scope, &["latest", "latest_3_in_30_days"]);
        v.missed_call_exophone = v.missed_call_exophone.replace([' ', '-'], "");
        if !valid_exophone(&v.missed_call_exophone) {
            f.err("missed_call_exophone", "must be the ExoPhone that takes missed calls: digits with an optional leading +");
        }
        template(&mut f, "missed_call_template", &v.missed_call_template, &["%exophone%"]);
        if v.missed_call_scope == "latest_3_in_30_days" {
            if let Some(p) = ORDER_PLACEHOLDERS.iter().find(|p| v.missed_call_template.contains(**p)) {
                f.err("missed_call_template", format!("cannot hold {p}: one missed call confirms up to 3 orders"));
            }
        }
        dlt(&mut f, "missed_call_dlt_template_id", &v.missed_call_dlt_template_id);
        template(&mut f, "confirmation_template", &v.confirmation_template, &[]);
        dlt(&mut f, "confirmation_dlt_template_id", &v.confirmation_dlt_template_id);
    }
}

fn apply_otp(v: &mut Otp, india: bool, in_use: bool, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields { section: "otp", map, errors };
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
    ]);
    f.string("sender_id", &mut v.sender_id);
    f.string("dlt_entity_id", &mut v.dlt_entity_id);
    f.string("dlt_template_id", &mut v.dlt_template_id);
    f.string("encoding", &mut v.encoding);
    f.string("template", &mut v.template);
    f.int("resends", &mut v.resends);
    f.int("resend_after_seconds", &mut v.resend_after_seconds);
    f.int("incorrect_attempts", &mut v.incorrect_attempts);
    f.string("tag", &mut v.tag);
    if !in_use {
        // Fields of a method that is not in use may stay as they are.
        return;
    }
    one_of(&mut f, "encoding", &v.encoding, Encoding::NAMES);
    if !valid_sender_id(&v.sender_id) {
        f.err("sender_id", "must be the SMS sender id (header): 3–11 letters or digits");
    }
    for (field, value) in [("dlt_entity_id", &v.dlt_entity_id), ("dlt_template_id", &v.dlt_template_id)] {
        if value.is_empty() && india {
            f.err(field, "is required for India (DLT registration)");
        } else if value.len() > 32 || !value.chars().all(|c| c.is_ascii_digit()) {
            f.err(field, "must be the DLT id: digits only");
        }
    }
    if v.template.is_empty() || !v.template.contains("%otp%") {
        f.err("template", "must contain %otp%");
    } else if v.template.chars().count() > 1000 {
        f.err("template", "must be at most 1000 characters");
    }
    f.range("resends", v.resends, 0, 5);
    f.range("resend_after_seconds", v.resend_after_seconds, 10, 600);
    f.range("incorrect_attempts", v.incorrect_attempts, 0, 5);
    f.tag("tag", &mut v.tag, true);
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

fn apply_privacy(p: &mut Privacy, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields { section: "privacy", map, errors };
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
    use serde_json::json;

    #[test]
    fn choices_name_the_stored_values() {
        assert_eq!(Verify::NAMES, ["cod", "all"]);
        assert_eq!(Method::NAMES, ["ivr", "otp"]);
        assert_eq!(FirstCall::NAMES, ["immediate", "after"]);
        assert_eq!(FallbackMode::NAMES, ["none", "sms_link", "sms_missed_call"]);
        assert_eq!(Encoding::NAMES, ["plain", "unicode"]);
        let d = Settings::default();
        assert!(d.general.verify == Verify::Cod && d.general.method == Method::Ivr && d.ivr.first_call == FirstCall::Immediate);
    }

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

    fn ivr_ok() -> Value {
        json!({"ivr": {"first_call": "immediate", "exophone": "080 4711 2345", "flow_id": "123456", "retries": 2,
            "retry_interval_minutes": 30, "timezone": "Asia/Kolkata", "window_start": "09:00", "window_end": "21:00",
            "confirm_tag": " cod_confirmed ", "cancel_tag": "", "callback_tag": "callback", "cancel_order": false, "dnd_calling_enabled": true}})
    }

    #[test]
    fn valid_ivr_is_applied() {
        let a = apply(&Settings::default(), true, &ivr_ok()).unwrap();
        assert_eq!(a.settings.ivr.exophone, "08047112345");
        assert_eq!(a.settings.ivr.confirm_tag, "cod_confirmed");
        assert_eq!(a.settings.ivr.cancel_tag, "");
        assert!(a.settings.ivr.dnd_calling_enabled && a.settings.ivr.is_ready());
    }

    #[test]
    fn ivr_bounds_are_enforced() {
        let bad = |patch: Value| {
            let mut doc = ivr_ok();
            for (k, v) in patch.as_object().unwrap() {
                doc["ivr"][k] = v.clone();
            }
            apply(&Settings::default(), true, &doc).unwrap_err()
        };
        assert!(bad(json!({"first_call": "after", "first_call_delay_minutes": 0})).contains_key("ivr.first_call_delay_minutes"));
        assert!(bad(json!({"first_call": "after", "first_call_delay_minutes": 1441})).contains_key("ivr.first_call_delay_minutes"));
        assert!(bad(json!({"retries": 6})).contains_key("ivr.retries"));
        assert!(bad(json!({"retry_interval_minutes": 9})).contains_key("ivr.retry_interval_minutes"));
        assert!(bad(json!({"retry_interval_minutes": 121})).contains_key("ivr.retry_interval_minutes"));
        assert_eq!(
            bad(json!({"retries": 0, "retry_interval_minutes": 10}))["ivr.retry_interval_minutes"],
            "must be 0 when retries is 0"
        );
        assert!(apply(&Settings::default(), true, &{
            let mut d = ivr_ok();
            d["ivr"]["retries"] = json!(0);
            d["ivr"]["retry_interval_minutes"] = json!(0);
            d
        })
        .is_ok());
        assert!(bad(json!({"timezone": "Mars/Olympus"})).contains_key("ivr.timezone"));
        assert!(bad(json!({"window_start": "9am"})).contains_key("ivr.window_start"));
        assert!(bad(json!({"window_start": "21:00", "window_end": "09:00"})).contains_key("ivr.window_end"));
        assert!(bad(json!({"confirm_tag": ""})).contains_key("ivr.confirm_tag"));
        assert!(bad(json!({"cancel_tag": "a,b"})).contains_key("ivr.cancel_tag"));
        assert!(bad(json!({"cancel_order": true})).contains_key("ivr.cancel_order"));
        assert!(bad(json!({"exophone": ""})).contains_key("ivr.exophone"));
        assert!(bad(json!({"flow_id": "../x"})).contains_key("ivr.flow_id"));
        assert!(bad(json!({"retries": "two"})).contains_key("ivr.retries"));
        assert!(bad(json!({"ring": 1})).contains_key("ivr.ring"));
    }
}
