//! The shipping address (SPEC §9): kept sealed with the order, shown on the link page and in the
//! WhatsApp message, and corrected by the shopper on the link page before confirming. `correct` is
//! the pure rule for an edit; a correction is stored with the confirmation that carries it
//! ([`record_correction`]) and reaches Shopify through `orderUpdate` ([`update_in_shopify`]).

use serde::Deserialize;
use serde_json::{Map, Value};

pub use super::intake::Address;
pub use crate::pincode::is_pin;
use crate::pincode::{State, state_of};
use crate::app::App;
use crate::crypto::Cipher;
use crate::db::events::{add_event, add_event_once};
use crate::db::queue::Job;
use crate::db::{Tx, addresses, new_id};
use crate::domain::{AddressUpdate, ShopStatus};
use crate::shopify::admin::{self, AdminError};

/// Longest address line a shopper may type (Shopify takes 255; a courier label much less).
pub const LINE_MAX_CHARS: usize = 120;
/// Longest city name a shopper may type.
pub const CITY_MAX_CHARS: usize = 60;
/// The address on one line (the WhatsApp parameter) is cut to this many characters.
pub const ONE_LINE_MAX_CHARS: usize = 200;

/// Seals an address for storage; `None` when it holds no part of an address (only a name or phone).
pub fn seal(cipher: &Cipher, a: &Address) -> Option<String> {
    let has_place = [&a.address1, &a.address2, &a.city, &a.zip].into_iter().any(|f| f.as_deref().is_some_and(|v| !v.trim().is_empty()));
    has_place.then(|| cipher.encrypt(&serde_json::to_string(a).expect("addresses serialize")))
}

/// A stored address, opened (already decrypted JSON).
pub fn parse(json: Option<&str>) -> Option<Address> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

/// The fields the shopper may correct, by their form names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Address1,
    Address2,
    City,
    Zip,
}

impl Field {
    pub const ALL: [Field; 4] = [Field::Address1, Field::Address2, Field::City, Field::Zip];

    pub fn name(self) -> &'static str {
        match self {
            Field::Address1 => "address1",
            Field::Address2 => "address2",
            Field::City => "city",
            Field::Zip => "zip",
        }
    }

    fn of(self, a: &Address) -> &str {
        let v = match self {
            Field::Address1 => &a.address1,
            Field::Address2 => &a.address2,
            Field::City => &a.city,
            Field::Zip => &a.zip,
        };
        v.as_deref().unwrap_or("").trim()
    }

    fn max_chars(self) -> usize {
        match self {
            Field::Address1 | Field::Address2 => LINE_MAX_CHARS,
            Field::City => CITY_MAX_CHARS,
            Field::Zip => 6,
        }
    }
}

/// Why a corrected field is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong,
    /// Control or text-direction characters.
    BadCharacters,
    /// Not a 6-digit Indian PIN code.
    NotAPinCode,
}

/// The address part of the link page's form, as posted (a field left out keeps its value).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Edit {
    #[serde(default)]
    pub address1: Option<String>,
    #[serde(default)]
    pub address2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
}

impl Edit {
    fn get(&self, f: Field) -> Option<&str> {
        match f {
            Field::Address1 => self.address1.as_deref(),
            Field::Address2 => self.address2.as_deref(),
            Field::City => self.city.as_deref(),
            Field::Zip => self.zip.as_deref(),
        }
    }

    /// What the form shows for `f`: the posted value (characters no address holds marked �), else
    /// the stored one.
    pub fn shown(&self, old: &Address, f: Field) -> String {
        let v = self.get(f).unwrap_or_else(|| f.of(old));
        v.chars().map(|c| if bad_char(c) { '\u{FFFD}' } else { c }).collect()
    }
}

/// Characters no address holds: controls and the ones that reorder text on screen.
fn bad_char(c: char) -> bool {
    c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn problem(f: Field, v: &str) -> Option<Problem> {
    if v.is_empty() {
        return (f != Field::Address2).then_some(Problem::Required);
    }
    if v.chars().any(bad_char) {
        return Some(Problem::BadCharacters);
    }
    if f == Field::Zip {
        return (!is_pin(v)).then_some(Problem::NotAPinCode);
    }
    (v.chars().count() > f.max_chars()).then_some(Problem::TooLong)
}

/// The shopper's edit of `old`: `Ok(None)` when it changes nothing (values are trimmed), the whole
/// corrected address (every other field kept) when it is valid, and every refused field otherwise.
pub fn correct(old: &Address, edit: &Edit) -> Result<Option<Address>, Vec<(Field, Problem)>> {
    let value = |f: Field| edit.get(f).map(str::trim).unwrap_or_else(|| f.of(old));
    if Field::ALL.iter().all(|f| value(*f) == f.of(old)) {
        return Ok(None);
    }
    let problems: Vec<(Field, Problem)> = Field::ALL.iter().filter_map(|f| problem(*f, value(*f)).map(|p| (*f, p))).collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let some = |f: Field| Some(value(f).to_string()).filter(|v| !v.is_empty());
    Ok(Some(Address {
        address1: some(Field::Address1),
        address2: some(Field::Address2),
        city: some(Field::City),
        zip: some(Field::Zip),
        ..old.clone()
    }))
}

/// The state of an address in India (country code IN), from its PIN code; None elsewhere.
pub fn ship_state(a: &Address) -> Option<State> {
    let india = a.country_code.as_deref().is_some_and(|c| c.trim().eq_ignore_ascii_case("IN"));
    a.zip.as_deref().filter(|_| india).and_then(state_of)
}

/// Whether the link page offers to correct this address: the PIN code rule is India's.
pub fn correctable(a: &Address) -> bool {
    a.country_code.as_deref().map(str::trim).is_none_or(|c| c.is_empty() || c.eq_ignore_ascii_case("IN"))
}

/// A stored value fit for one line of text: control characters become spaces, runs of spaces one.
fn clean(v: &Option<String>) -> Option<String> {
    let s: String = v.as_deref()?.chars().map(|c| if bad_char(c) { ' ' } else { c }).collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// The address as the link page shows it: line 1, line 2, then "City, State PIN".
pub fn lines(a: &Address) -> Vec<String> {
    let place = [clean(&a.city), clean(&a.province)].into_iter().flatten().collect::<Vec<_>>().join(", ");
    let place = [Some(place).filter(|p| !p.is_empty()), clean(&a.zip)].into_iter().flatten().collect::<Vec<_>>().join(" ");
    [clean(&a.address1), clean(&a.address2), Some(place).filter(|p| !p.is_empty())].into_iter().flatten().collect()
}

/// The address on one line, cut with an ellipsis past [`ONE_LINE_MAX_CHARS`]; "—" when there is none
/// (a WhatsApp template parameter may not be empty).
pub fn one_line(a: Option<&Address>) -> String {
    let all = a.map(|a| lines(a).join(", ")).unwrap_or_default();
    if all.is_empty() {
        return "—".into();
    }
    if all.chars().count() <= ONE_LINE_MAX_CHARS {
        return all;
    }
    let cut: String = all.chars().take(ONE_LINE_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end_matches([',', ' ']))
}

/// The whole address as Shopify's `MailingAddressInput` (empty fields left out).
pub fn mailing_address_input(a: &Address) -> Value {
    let fields = [
        ("firstName", &a.first_name),
        ("lastName", &a.last_name),
        ("company", &a.company),
        ("address1", &a.address1),
        ("address2", &a.address2),
        ("city", &a.city),
        ("provinceCode", &a.province_code),
        ("zip", &a.zip),
        ("countryCode", &a.country_code),
        ("phone", &a.phone),
    ];
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(|v| (k.to_string(), Value::String(v.to_string()))))
        .collect();
    Value::Object(map)
}

/// Stores a correction in the transaction of the confirmation that carries it: the order's address
/// replaced, old and new kept sealed for the merchant's timeline, and the Shopify update queued.
/// Nothing is stored when the order's customer details were erased meanwhile.
pub async fn record_correction(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, old: &Address, new: &Address, now: i64) -> anyhow::Result<()> {
    let seal = |a: &Address| app.cipher.encrypt(&serde_json::to_string(a).expect("addresses serialize"));
    let new_sealed = seal(new);
    if !addresses::set_order_address(tx, shop_id, order_id, &new_sealed, ship_state(new).map(State::code), now).await? {
        return Ok(());
    }
    let id = new_id();
    addresses::insert(tx, &id, shop_id, order_id, &seal(old), &new_sealed, now).await?;
    // The event names the correction by its id; the timeline shows the addresses from its row.
    add_event_once(tx, &event_id(&id), shop_id, order_id, "address_corrected", "shipping address corrected by the shopper", now).await?;
    tx.push_jobs(&[Job::UpdateAddress { order_id: order_id.to_string(), correction_id: id, failures: 0 }]).await
}

/// The timeline event of correction `id`.
pub fn event_id(correction_id: &str) -> String {
    format!("address-{correction_id}")
}

/// The wait before an update that found Shopify unavailable is tried again: 1 minute, doubling,
/// at most this long (as for tags).
const RETRY_MAX_MINUTES: i64 = 30;

/// Job (`UpdateAddress`): writes a corrected address to the Shopify order (`orderUpdate` with the
/// whole address). Shopify unavailable (throttled, 5xx, unreachable, after the client's own
/// retries) → tried again later on the app clock; a refusal, or any other failure, is recorded and
/// ends the correction's wait.
pub async fn update_in_shopify(app: &App, order_id: &str, correction_id: &str, failures: u32) -> anyhow::Result<()> {
    // Gone: the order's customer details were erased (or the shop redacted).
    let Some(c) = addresses::to_update(&app.db, correction_id, order_id).await? else { return Ok(()) };
    if c.state != AddressUpdate::Pending {
        return Ok(());
    }
    let address = app.cipher.open(&c.new_enc).as_deref().and_then(|j| parse(Some(j)));
    let result = match (&address, c.shop_status == ShopStatus::Installed) {
        (_, false) => Err(AdminError::Token(crate::shopify::tokens::TokenError::NotInstalled)),
        (None, true) => Err(AdminError::Refused("the stored address could not be read".into())),
        (Some(a), true) => admin::order_update_shipping_address(app, &c.shop_id, &c.admin_graphql_id, mailing_address_input(a)).await,
    };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let mut ended = false;
    match result {
        Ok(()) => {
            if addresses::finish(&mut tx, &c.shop_id, correction_id, AddressUpdate::Updated, now).await? {
                ended = true;
                add_event(&mut tx, &c.shop_id, order_id, "address_updated", "shipping address updated in Shopify", now).await?;
            }
        }
        Err(e) if e.is_transient() => {
            let minutes = (1i64 << failures.min(5)).min(RETRY_MAX_MINUTES);
            let detail = format!("shipping address not updated in Shopify yet, will retry in {minutes} min: {e}");
            add_event(&mut tx, &c.shop_id, order_id, "shopify_update_failed", &detail, now).await?;
            let again = Job::UpdateAddress { order_id: order_id.to_string(), correction_id: correction_id.to_string(), failures: failures.saturating_add(1) };
            tx.schedule(&again, &c.shop_id, None, now + minutes * 60_000, now).await?;
        }
        Err(AdminError::Refused(m)) => {
            if addresses::finish(&mut tx, &c.shop_id, correction_id, AddressUpdate::Refused, now).await? {
                ended = true;
                let detail = format!("Shopify refused the address: {}", m.chars().take(300).collect::<String>());
                add_event(&mut tx, &c.shop_id, order_id, "address_update_refused", &detail, now).await?;
            }
        }
        Err(e) => {
            if addresses::finish(&mut tx, &c.shop_id, correction_id, AddressUpdate::Failed, now).await? {
                ended = true;
                let detail = format!("shipping address not updated in Shopify: {e}");
                add_event(&mut tx, &c.shop_id, order_id, "address_update_refused", &detail, now).await?;
            }
        }
    }
    // The order's fulfillment hold waited for this address (an order without a hold ignores it).
    if ended {
        tx.push_jobs(&[Job::SyncHold { order_id: order_id.to_string(), failures: 0 }]).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn stored() -> Address {
        serde_json::from_value(json!({"first_name": "Asha", "last_name": "Rao", "phone": "+919876543210", "address1": "12 MG Road",
            "city": "Pune", "province": "Maharashtra", "province_code": "MH", "zip": "411001", "country_code": "IN"})).unwrap()
    }

    fn edit(a1: &str, a2: &str, city: &str, zip: &str) -> Edit {
        Edit { address1: Some(a1.into()), address2: Some(a2.into()), city: Some(city.into()), zip: Some(zip.into()) }
    }

    #[test]
    fn an_unchanged_or_absent_edit_changes_nothing() {
        assert_eq!(correct(&stored(), &Edit::default()), Ok(None));
        assert_eq!(correct(&stored(), &edit(" 12 MG Road ", "", "Pune", "411001")), Ok(None));
        // Invalid stored values left as they are are no edit either.
        let odd = Address { zip: Some("11001".into()), ..stored() };
        assert_eq!(correct(&odd, &edit("12 MG Road", "", "Pune", "11001")), Ok(None));
    }

    #[test]
    fn a_valid_edit_keeps_every_other_field() {
        let new = correct(&stored(), &edit("Flat 4, Lotus Apts", " Near the park ", "Pune", "411038")).unwrap().unwrap();
        assert_eq!(new.address1.as_deref(), Some("Flat 4, Lotus Apts"));
        assert_eq!(new.address2.as_deref(), Some("Near the park"));
        assert_eq!(new.zip.as_deref(), Some("411038"));
        assert_eq!((new.first_name.as_deref(), new.province_code.as_deref(), new.phone.as_deref()), (Some("Asha"), Some("MH"), Some("+919876543210")));
        let v = mailing_address_input(&new);
        assert_eq!(v, json!({"firstName": "Asha", "lastName": "Rao", "address1": "Flat 4, Lotus Apts", "address2": "Near the park",
            "city": "Pune", "provinceCode": "MH", "zip": "411038", "countryCode": "IN", "phone": "+919876543210"}));
        // Emptying line 2 removes it.
        let with2 = Address { address2: Some("Block B".into()), ..stored() };
        let new = correct(&with2, &edit("12 MG Road", "  ", "Pune", "411001")).unwrap().unwrap();
        assert_eq!(new.address2, None);
    }

    #[test]
    fn bad_edits_are_refused_by_field() {
        let e = correct(&stored(), &edit("", "x\u{0007}", " ", "011001")).unwrap_err();
        assert_eq!(e, vec![(Field::Address1, Problem::Required), (Field::Address2, Problem::BadCharacters), (Field::City, Problem::Required), (Field::Zip, Problem::NotAPinCode)]);
        let long = "a".repeat(LINE_MAX_CHARS + 1);
        assert_eq!(correct(&stored(), &edit(&long, "", "Pune", "411001")).unwrap_err(), vec![(Field::Address1, Problem::TooLong)]);
        assert_eq!(correct(&stored(), &edit("12 MG\nRoad", "", "Pune", "411001")).unwrap_err(), vec![(Field::Address1, Problem::BadCharacters)]);
        assert_eq!(correct(&stored(), &edit("12 MG Road", "", "Pune\u{202E}", "411001")).unwrap_err(), vec![(Field::City, Problem::BadCharacters)]);
        for zip in ["41100", "4110011", "41100a", "४११००१", "+41100"] {
            assert_eq!(correct(&stored(), &edit("12 MG Road", "", "Pune", zip)).unwrap_err(), vec![(Field::Zip, Problem::NotAPinCode)], "{zip}");
        }
        // Hindi is an address: joiners included.
        assert!(correct(&stored(), &edit("१२ एम.जी. रोड", "", "पुणे", "411001")).is_ok());
    }

    #[test]
    fn one_line_is_bounded_and_never_empty() {
        assert_eq!(one_line(Some(&stored())), "12 MG Road, Pune, Maharashtra 411001");
        assert_eq!(one_line(None), "—");
        assert_eq!(one_line(Some(&Address::default())), "—");
        let long = Address { address1: Some("x ".repeat(300)), ..stored() };
        assert_eq!(one_line(Some(&long)).chars().count(), ONE_LINE_MAX_CHARS);
        let odd = Address { address1: Some("12\nMG\u{0}Road".into()), ..stored() };
        assert_eq!(lines(&odd)[0], "12 MG Road");
    }

    #[test]
    fn only_indian_addresses_are_correctable() {
        assert!(correctable(&stored()));
        assert!(correctable(&Address { country_code: None, ..stored() }));
        assert!(!correctable(&Address { country_code: Some("US".into()), ..stored() }));
    }

    proptest! {
        #[test]
        fn pin_codes_are_six_digits_not_starting_with_zero(s in "\\PC{0,8}") {
            let expected = s.len() == 6 && s.chars().all(|c| c.is_ascii_digit()) && !s.starts_with('0');
            prop_assert_eq!(is_pin(&s), expected);
        }

        #[test]
        fn an_accepted_edit_is_valid_and_trimmed(a1 in "\\PC{0,130}", city in "\\PC{0,70}", zip in "[0-9]{5,7}") {
            if let Ok(Some(new)) = correct(&stored(), &edit(&a1, "", &city, &zip)) {
                let a1 = new.address1.unwrap();
                prop_assert!(!a1.is_empty() && a1.chars().count() <= LINE_MAX_CHARS && a1.trim() == a1);
                prop_assert!(!a1.chars().any(bad_char));
                prop_assert!(is_pin(new.zip.as_deref().unwrap()));
            }
        }
    }
}
