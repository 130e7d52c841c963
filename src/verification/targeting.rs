//! Targeting rules (SPEC §9) as a pure function: from the shop's rules and what intake knows of a
//! pending order, whether it is verified, skipped, flagged or cancelled — and which rule said so.
//!
//! Precedence: the blocklists first (a blocklisted buyer is never trusted, nor skipped for its
//! amount), then the amount bounds, then trusted repeat buyers.

use crate::settings::{Amount, BlocklistAction, Rules, normalize_pincode};

/// What intake knows of a pending order.
#[derive(Debug, Clone, Copy)]
pub struct Order<'a> {
    /// `total_price`, when it is a readable amount.
    pub amount: Option<Amount>,
    /// The number the shopper would be contacted at, E.164.
    pub phone: Option<&'a str>,
    /// `shipping_address.zip`, as sent.
    pub pincode: Option<&'a str>,
    /// Earlier orders of the same phone in this shop that were confirmed and not cancelled since.
    pub confirmed_before: i64,
}

/// The rule that fired, with what it compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    BlockedPhone,
    BlockedPincode(String),
    BelowMin { amount: Amount, min: Amount },
    AboveMax { amount: Amount, max: Amount },
    Trusted { confirmed: i64, after: i64 },
}

impl Rule {
    /// The settings field behind the rule.
    pub fn field(&self) -> &'static str {
        match self {
            Rule::BlockedPhone => "blocklist_phones",
            Rule::BlockedPincode(_) => "blocklist_pincodes",
            Rule::BelowMin { .. } => "min_amount",
            Rule::AboveMax { .. } => "max_amount",
            Rule::Trusted { .. } => "trusted_after_confirmed",
        }
    }

    /// Why, in the merchant's words (no customer number in it).
    pub fn reason(&self) -> String {
        match self {
            Rule::BlockedPhone => "the phone number is on the blocklist".to_string(),
            Rule::BlockedPincode(pin) => format!("the shipping PIN code {pin} is on the blocklist"),
            Rule::BelowMin { amount, min } => format!("the amount {amount} is below the minimum of {min}"),
            Rule::AboveMax { amount, max } => format!("the amount {amount} is above the maximum of {max}"),
            Rule::Trusted { confirmed, after } => {
                format!("a trusted buyer: {confirmed} earlier confirmed orders from this phone (trusted after {after})")
            }
        }
    }
}

/// The verdict on a pending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule fired: verify as usual.
    Verify,
    /// Not verified: no one is contacted (amount bounds, trusted buyers).
    Skip(Rule),
    /// Tagged and verified as usual (a blocklist with the action "flag").
    Flag(Rule),
    /// Tagged and cancelled in Shopify, no one contacted (a blocklist with the action "cancel").
    Cancel(Rule),
}

impl Verdict {
    /// Whether the shopper is contacted.
    pub fn contacts(&self) -> bool {
        matches!(self, Verdict::Verify | Verdict::Flag(_))
    }

    pub fn rule(&self) -> Option<&Rule> {
        match self {
            Verdict::Verify => None,
            Verdict::Skip(r) | Verdict::Flag(r) | Verdict::Cancel(r) => Some(r),
        }
    }
}

/// Decides what the rules make of a pending order.
pub fn judge(rules: &Rules, order: &Order<'_>) -> Verdict {
    if let Some(rule) = blocked(rules, order) {
        return match rules.blocklist_action {
            BlocklistAction::Flag => Verdict::Flag(rule),
            BlocklistAction::Cancel => Verdict::Cancel(rule),
        };
    }
    if let Some(amount) = order.amount {
        if let Some(min) = rules.min_amount
            && amount < min
        {
            return Verdict::Skip(Rule::BelowMin { amount, min });
        }
        if let Some(max) = rules.max_amount
            && amount > max
        {
            return Verdict::Skip(Rule::AboveMax { amount, max });
        }
    }
    let after = rules.trusted_after_confirmed;
    if after > 0 && order.phone.is_some() && order.confirmed_before >= after {
        return Verdict::Skip(Rule::Trusted { confirmed: order.confirmed_before, after });
    }
    Verdict::Verify
}

fn blocked(rules: &Rules, order: &Order<'_>) -> Option<Rule> {
    if let Some(phone) = order.phone
        && rules.blocklist_phones.iter().any(|p| p == phone)
    {
        return Some(Rule::BlockedPhone);
    }
    let pin = normalize_pincode(order.pincode?);
    rules.blocklist_pincodes.contains(&pin).then_some(Rule::BlockedPincode(pin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PHONE: &str = "+919876543210";

    fn order(amount: i64, confirmed_before: i64) -> Order<'static> {
        Order { amount: Some(Amount::from_hundredths(amount)), phone: Some(PHONE), pincode: Some("411001"), confirmed_before }
    }

    fn rules() -> Rules {
        Rules::default()
    }

    #[test]
    fn no_rules_verify_everything() {
        assert_eq!(judge(&rules(), &order(49_900, 50)), Verdict::Verify);
        assert_eq!(judge(&rules(), &Order { amount: None, phone: None, pincode: None, confirmed_before: 0 }), Verdict::Verify);
    }

    #[test]
    fn amount_bounds_skip_outside_them_and_include_the_bounds() {
        let r = Rules { min_amount: Some(Amount::from_hundredths(20_000)), max_amount: Some(Amount::from_hundredths(500_000)), ..rules() };
        let below = judge(&r, &order(19_999, 0));
        assert_eq!(below, Verdict::Skip(Rule::BelowMin { amount: Amount::from_hundredths(19_999), min: Amount::from_hundredths(20_000) }));
        assert_eq!(below.rule().unwrap().reason(), "the amount 199.99 is below the minimum of 200.00");
        assert_eq!(below.rule().unwrap().field(), "min_amount");
        assert_eq!(judge(&r, &order(20_000, 0)), Verdict::Verify);
        assert_eq!(judge(&r, &order(500_000, 0)), Verdict::Verify);
        let above = judge(&r, &order(500_001, 0));
        assert_eq!(above.rule().unwrap().reason(), "the amount 5000.01 is above the maximum of 5000.00");
        assert!(!above.contacts());
        // An amount that could not be read is verified.
        assert_eq!(judge(&r, &Order { amount: None, ..order(0, 0) }), Verdict::Verify);
    }

    #[test]
    fn trusted_after_enough_confirmed_orders() {
        let r = Rules { trusted_after_confirmed: 3, ..rules() };
        assert_eq!(judge(&r, &order(49_900, 2)), Verdict::Verify);
        let v = judge(&r, &order(49_900, 3));
        assert_eq!(v, Verdict::Skip(Rule::Trusted { confirmed: 3, after: 3 }));
        assert_eq!(v.rule().unwrap().reason(), "a trusted buyer: 3 earlier confirmed orders from this phone (trusted after 3)");
        assert_eq!(judge(&Rules { trusted_after_confirmed: 0, ..rules() }, &order(49_900, 9)), Verdict::Verify, "0 is off");
        assert_eq!(judge(&r, &Order { phone: None, ..order(49_900, 9) }), Verdict::Verify);
    }

    #[test]
    fn blocklists_flag_or_cancel_and_come_first() {
        let phone = Rules {
            blocklist_phones: vec![PHONE.into()],
            trusted_after_confirmed: 1,
            min_amount: Some(Amount::from_hundredths(100_000)),
            ..rules()
        };
        let v = judge(&phone, &order(49_900, 5));
        assert_eq!(v, Verdict::Flag(Rule::BlockedPhone), "never trusted, nor skipped for its amount");
        assert!(v.contacts());
        assert_eq!(v.rule().unwrap().reason(), "the phone number is on the blocklist");
        let cancel = Rules { blocklist_action: BlocklistAction::Cancel, ..phone.clone() };
        assert_eq!(judge(&cancel, &order(49_900, 5)), Verdict::Cancel(Rule::BlockedPhone));
        assert!(!judge(&cancel, &order(49_900, 5)).contacts());
        let pins = Rules { blocklist_pincodes: vec!["411001".into()], blocklist_action: BlocklistAction::Cancel, ..rules() };
        let v = judge(&pins, &Order { pincode: Some(" 411 001 "), ..order(49_900, 0) });
        assert_eq!(v, Verdict::Cancel(Rule::BlockedPincode("411001".into())));
        assert_eq!(v.rule().unwrap().reason(), "the shipping PIN code 411001 is on the blocklist");
        assert_eq!(judge(&pins, &Order { pincode: Some("411002"), ..order(49_900, 0) }), Verdict::Verify);
        assert_eq!(judge(&pins, &Order { pincode: None, ..order(49_900, 0) }), Verdict::Verify);
        assert_eq!(judge(&phone, &Order { phone: Some("+919876543211"), ..order(149_900, 0) }), Verdict::Verify);
    }

    prop_compose! {
        fn any_rules()(
            min in proptest::option::of(0i64..200_000), span in proptest::option::of(0i64..400_000),
            after in 0i64..=20, cancel in any::<bool>(), phone_blocked in any::<bool>(), pin_blocked in any::<bool>(),
        ) -> Rules {
            Rules {
                min_amount: min.map(Amount::from_hundredths),
                max_amount: span.map(|s| Amount::from_hundredths(min.unwrap_or(0) + s)),
                trusted_after_confirmed: after,
                blocklist_phones: if phone_blocked { vec![PHONE.into()] } else { vec!["+919000000001".into()] },
                blocklist_pincodes: if pin_blocked { vec!["411001".into()] } else { vec![] },
                blocklist_action: if cancel { BlocklistAction::Cancel } else { BlocklistAction::Flag },
                ..Rules::default()
            }
        }
    }

    prop_compose! {
        fn any_order()(amount in proptest::option::of(0i64..1_000_000), has_phone in any::<bool>(), pin in proptest::sample::select(vec![None, Some("411001"), Some("560034")]), confirmed in 0i64..30) -> Order<'static> {
            Order { amount: amount.map(Amount::from_hundredths), phone: has_phone.then_some(PHONE), pincode: pin, confirmed_before: confirmed }
        }
    }

    fn is_blocked(r: &Rules, o: &Order<'_>) -> bool {
        o.phone.is_some_and(|p| r.blocklist_phones.iter().any(|b| b == p)) || o.pincode.is_some_and(|p| r.blocklist_pincodes.iter().any(|b| b == p))
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_blocklisted_cancel_order_is_never_contacted(r in any_rules(), o in any_order()) {
            let v = judge(&r, &o);
            if is_blocked(&r, &o) {
                let cancel = r.blocklist_action == BlocklistAction::Cancel;
                prop_assert_eq!(cancel, matches!(v, Verdict::Cancel(_)));
                prop_assert_eq!(!cancel, matches!(v, Verdict::Flag(_)));
                prop_assert!(!cancel || !v.contacts());
            } else {
                prop_assert!(!matches!(v, Verdict::Flag(_) | Verdict::Cancel(_)));
            }
        }

        #[test]
        fn raising_trusted_after_never_skips_a_verified_order(r in any_rules(), o in any_order(), more in 1i64..20) {
            // From a rule that is on (0 turns it off, not down).
            let raised = Rules { trusted_after_confirmed: (r.trusted_after_confirmed + more).min(20), ..r.clone() };
            if r.trusted_after_confirmed > 0 && judge(&r, &o) == Verdict::Verify {
                prop_assert_eq!(judge(&raised, &o), Verdict::Verify);
            }
        }

        #[test]
        fn more_confirmed_orders_never_unskip_a_trusted_buyer(r in any_rules(), o in any_order(), more in 0i64..10) {
            if let Verdict::Skip(Rule::Trusted { .. }) = judge(&r, &o) {
                let v = judge(&r, &Order { confirmed_before: o.confirmed_before + more, ..o });
                prop_assert!(matches!(v, Verdict::Skip(Rule::Trusted { .. })), "{:?}", v);
            }
        }

        #[test]
        fn widening_the_bounds_never_skips_a_verified_order(r in any_rules(), o in any_order(), lower in 0i64..100_000, higher in 0i64..100_000) {
            let wider = Rules {
                min_amount: r.min_amount.map(|m| Amount::from_hundredths((m.hundredths() - lower).max(0))),
                max_amount: r.max_amount.map(|m| Amount::from_hundredths(m.hundredths() + higher)),
                ..r.clone()
            };
            if judge(&r, &o) == Verdict::Verify {
                prop_assert_eq!(judge(&wider, &o), Verdict::Verify);
            }
        }

        #[test]
        fn a_skip_is_inside_no_blocklist_and_names_a_rule_that_holds(r in any_rules(), o in any_order()) {
            if let Verdict::Skip(rule) = judge(&r, &o) {
                prop_assert!(!is_blocked(&r, &o));
                match rule {
                    Rule::BelowMin { amount, min } => prop_assert!(amount < min),
                    Rule::AboveMax { amount, max } => prop_assert!(amount > max),
                    Rule::Trusted { confirmed, after } => prop_assert!(after > 0 && confirmed >= after),
                    other => prop_assert!(false, "a skip for {:?}", other),
                }
            }
        }
    }
}
