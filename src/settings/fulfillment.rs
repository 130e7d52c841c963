//! The `fulfillment` section (SPEC §7, §9): whether unverified orders are held from shipping, and
//! whether the shopper may correct the shipping address on the confirmation page.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Errors;
use super::fields::Fields;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Fulfillment {
    /// A pending order's fulfillment orders are put on hold in Shopify until it is confirmed.
    pub hold: bool,
    /// The link page lets the shopper correct the shipping address before confirming (an
    /// addition to the spec's section: the issue asks that the merchant can switch it off).
    pub address_correction: bool,
}

impl Default for Fulfillment {
    fn default() -> Self {
        Fulfillment { hold: true, address_correction: true }
    }
}

pub(super) fn apply_fulfillment(s: &mut Fulfillment, map: &Map<String, Value>, errors: &mut Errors) {
    let mut f = Fields::new("fulfillment", map, errors);
    f.unknown(&["hold", "address_correction"]);
    f.bool("hold", &mut s.hold);
    f.bool("address_correction", &mut s.address_correction);
}

#[cfg(test)]
mod tests {
    use crate::settings::{Settings, apply};
    use serde_json::json;

    #[test]
    fn holds_and_address_correction_are_on_unless_switched_off() {
        let old = Settings::from_stored(r#"{"general": {"verify": "all"}}"#);
        assert!(old.fulfillment.hold && old.fulfillment.address_correction);
        let off = apply(&old, true, &json!({"fulfillment": {"hold": false}})).unwrap().settings;
        assert!(!off.fulfillment.hold && off.fulfillment.address_correction);
        for bad in [json!({"hold": "no"}), json!({"hold": 1}), json!({"ship": true})] {
            assert!(apply(&old, true, &json!({"fulfillment": bad})).is_err(), "{bad}");
        }
    }
}
