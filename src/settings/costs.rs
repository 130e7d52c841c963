//! The `costs` section (SPEC §10): the merchant's per-unit prices, in whole paise, for what Exotel
//! does not price in its reports — SMS units, WhatsApp messages, and call minutes when a call's
//! price never came. Defaults follow the simulator's (README, "Cost").

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::Fields;

/// Every price is between 0 and ₹100.
pub const PRICE_PAISE: std::ops::RangeInclusive<i64> = 0..=10_000;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Costs {
    /// One SMS unit (a 160-character GSM part, 70 in Unicode): ₹0.25.
    pub sms_unit_paise: i64,
    /// One WhatsApp utility template message: Meta's ₹0.115, rounded up to whole paise.
    pub whatsapp_message_paise: i64,
    /// One started minute of an IVR call, used when Exotel reports no price for it: ₹1.20.
    pub call_minute_paise: i64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs { sms_unit_paise: 25, whatsapp_message_paise: 12, call_minute_paise: 120 }
    }
}

impl Costs {
    /// The prices as used: a stored value outside the bounds (written by hand) is clamped, never trusted.
    pub fn bounded(self) -> Costs {
        let b = |v: i64| v.clamp(*PRICE_PAISE.start(), *PRICE_PAISE.end());
        Costs {
            sms_unit_paise: b(self.sms_unit_paise),
            whatsapp_message_paise: b(self.whatsapp_message_paise),
            call_minute_paise: b(self.call_minute_paise),
        }
    }
}

const FIELDS: [&str; 3] = ["sms_unit_paise", "whatsapp_message_paise", "call_minute_paise"];

pub(super) fn apply_costs(c: &mut Costs, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("costs", map, errors);
    f.unknown(&FIELDS);
    for (field, target) in FIELDS.into_iter().zip([&mut c.sms_unit_paise, &mut c.whatsapp_message_paise, &mut c.call_minute_paise]) {
        f.int(field, target);
        f.range(field, *target, *PRICE_PAISE.start(), *PRICE_PAISE.end());
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{Settings, apply};
    use serde_json::json;

    #[test]
    fn prices_default_and_take_whole_paise_within_bounds() {
        let old = Settings::from_stored(r#"{"general": {"verify": "all"}}"#);
        assert_eq!((old.costs.sms_unit_paise, old.costs.whatsapp_message_paise, old.costs.call_minute_paise), (25, 12, 120));
        let set = apply(&old, true, &json!({"costs": {"sms_unit_paise": 0, "call_minute_paise": 10000}})).unwrap().settings;
        assert_eq!((set.costs.sms_unit_paise, set.costs.whatsapp_message_paise, set.costs.call_minute_paise), (0, 12, 10000));
        for (bad, key) in [
            (json!({"sms_unit_paise": -1}), "costs.sms_unit_paise"),
            (json!({"whatsapp_message_paise": 10001}), "costs.whatsapp_message_paise"),
            (json!({"call_minute_paise": 1.5}), "costs.call_minute_paise"),
            (json!({"call_minute_paise": "120"}), "costs.call_minute_paise"),
            (json!({"sms_paise": 1}), "costs.sms_paise"),
        ] {
            let errors = apply(&old, true, &json!({"costs": bad})).unwrap_err();
            assert!(errors.contains_key(key), "{bad} → {errors:?}");
        }
        let stored = Settings::from_stored(r#"{"costs": {"sms_unit_paise": 99999}}"#);
        assert_eq!(stored.costs.bounded().sms_unit_paise, 10_000);
    }
}
