//! Reading the fields of one section of a PUT document, with `section.field` error keys, and the
//! checks several sections share.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::Errors;
use crate::domain::Tag;

/// Reads the fields of one section, reporting wrong types and unknown fields.
pub(super) struct Fields<'a> {
    pub section: &'static str,
    pub map: &'a Map<String, Value>,
    pub errors: &'a mut Errors,
}

/// A settings choice: one of a `stored_enum!`'s texts, with the default a blank value stands for.
pub(super) trait Choice: Copy + Default + 'static {
    const NAMES: &'static [&'static str];
    fn parse(s: &str) -> Option<Self>;
}

/// Implements [`Choice`] for `stored_enum!`s.
macro_rules! choices {
    ($($t:ty),+ $(,)?) => {
        $(impl $crate::settings::fields::Choice for $t {
            const NAMES: &'static [&'static str] = <$t>::NAMES;
            fn parse(s: &str) -> Option<Self> {
                <$t>::parse(s)
            }
        })+
    };
}
pub(super) use choices;

impl<'a> Fields<'a> {
    pub fn new(section: &'static str, map: &'a Map<String, Value>, errors: &'a mut Errors) -> Self {
        Fields { section, map, errors }
    }
    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.section)
    }
    pub fn err(&mut self, field: &str, msg: impl Into<String>) {
        let k = self.key(field);
        self.errors.entry(k).or_insert_with(|| msg.into());
    }
    pub fn string(&mut self, field: &str, target: &mut String) {
        match self.map.get(field) {
            None => {}
            Some(Value::String(s)) => *target = s.trim().to_string(),
            Some(Value::Null) => target.clear(),
            Some(_) => self.err(field, "must be a string"),
        }
    }
    pub fn strings(&mut self, field: &str, target: &mut Vec<String>) {
        match self.map.get(field) {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                *target = items.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect();
            }
            Some(_) => self.err(field, "must be a list of strings"),
        }
    }
    pub fn int(&mut self, field: &str, target: &mut i64) {
        match self.map.get(field) {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some() => *target = n.as_i64().unwrap_or_default(),
            Some(Value::Null) => *target = 0,
            Some(_) => self.err(field, "must be a whole number"),
        }
    }
    pub fn bool(&mut self, field: &str, target: &mut bool) {
        match self.map.get(field) {
            None => {}
            Some(Value::Bool(b)) => *target = *b,
            Some(_) => self.err(field, "must be true or false"),
        }
    }
    /// A choice field. A blank (or null) value is refused when the field is `in_use`, and
    /// otherwise stores the default: fields of a mode or method that is not in use may stay
    /// empty (SPEC §7). A value that is not one of the choices is refused either way.
    pub fn choice<T: Choice>(&mut self, field: &str, target: &mut T, in_use: bool) {
        let text = match self.map.get(field) {
            None => return,
            Some(Value::String(s)) => s.trim(),
            Some(Value::Null) => "",
            Some(_) => return self.err(field, "must be a string"),
        };
        match T::parse(text) {
            Some(v) => *target = v,
            None if text.is_empty() && !in_use => *target = T::default(),
            None => self.err(field, format!("must be one of: {}", T::NAMES.join(", "))),
        }
    }
    pub fn range(&mut self, field: &str, value: i64, lo: i64, hi: i64) {
        if !(lo..=hi).contains(&value) {
            self.err(field, format!("must be between {lo} and {hi}"));
        }
    }
    /// A retry count and the minutes between retries: the interval is 0 exactly when there are
    /// no retries.
    pub fn retries(&mut self, (retries, max): (i64, i64), interval: i64, (lo, hi): (i64, i64)) {
        self.range("retries", retries, 0, max);
        if retries == 0 {
            if interval != 0 {
                self.err("retry_interval_minutes", "must be 0 when retries is 0");
            }
        } else {
            self.range("retry_interval_minutes", interval, lo, hi);
        }
    }
    /// A tag field: `required` ones may not be blank; blank optional ones mean "not offered".
    pub fn tag(&mut self, field: &str, value: &mut String, required: bool) {
        if value.is_empty() && !required {
            return;
        }
        match Tag::parse(value) {
            Ok(t) => *value = t.as_str().to_string(),
            Err(e) if value.is_empty() => self.err(field, format!("is required ({e})")),
            Err(e) => self.err(field, e),
        }
    }
    pub fn unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self.map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        for k in unknown {
            self.err(&k, "unknown field");
        }
    }
    /// A text field that may not be checked as a choice (a host name list and the like).
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.err(field, format!("must be one of: {}", allowed.join(", ")));
        }
    }
}

/// Deserializes a stored choice, reading a blank or unknown value as the default: a document
/// stored while the field was text (a section not in use kept whatever it was sent) still loads.
pub(super) fn lenient<'de, D: Deserializer<'de>, T: Choice>(d: D) -> Result<T, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.as_str().and_then(|s| T::parse(s.trim())).unwrap_or_default())
}

/// A caller id as Exotel shows it: digits with an optional leading `+`, 8–15 digits.
pub(super) fn valid_exophone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Encoding, FallbackMode};
    use serde_json::json;

    fn read<T: Choice>(value: Value, start: T, in_use: bool) -> (T, Errors) {
        let map = json!({ "f": value });
        let mut errors = Errors::new();
        let mut target = start;
        Fields::new("s", map.as_object().unwrap(), &mut errors).choice("f", &mut target, in_use);
        (target, errors)
    }

    #[test]
    fn a_blank_choice_is_the_default_only_when_not_in_use() {
        assert_eq!(read(json!(""), Encoding::Unicode, false), (Encoding::Plain, Errors::new()));
        assert_eq!(read(json!(null), Encoding::Unicode, false).0, Encoding::Plain);
        assert_eq!(read(json!(" unicode "), Encoding::Plain, true), (Encoding::Unicode, Errors::new()));
        let (kept, e) = read(json!(""), Encoding::Unicode, true);
        assert_eq!((kept, e["s.f"].as_str()), (Encoding::Unicode, "must be one of: plain, unicode"));
        for in_use in [true, false] {
            assert_eq!(read(json!("sms"), FallbackMode::Off, in_use).1["s.f"], "must be one of: none, sms_link, sms_missed_call");
            assert_eq!(read(json!(1), FallbackMode::Off, in_use).1["s.f"], "must be a string");
        }
    }

    #[test]
    fn stored_choices_read_blank_or_unknown_as_the_default() {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "lenient")]
            e: Encoding,
        }
        for (stored, want) in [(json!("unicode"), Encoding::Unicode), (json!(""), Encoding::Plain), (json!("utf8"), Encoding::Plain), (json!(3), Encoding::Plain)] {
            assert_eq!(serde_json::from_value::<S>(json!({ "e": stored })).unwrap().e, want);
        }
    }
}
