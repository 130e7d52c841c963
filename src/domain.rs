//! Domain values that are parsed once at the edge and trusted afterwards.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;


/// A validated `{name}.myshopify.com` (or another Shopify shop host) domain, lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShopDomain(String);

static SHOP_RE: LazyLock<Regex> = LazyLock::new(|| {
    // Shopify's own library's rule (reference/shopify-platform.md).
    Regex::new(r"^[a-z0-9][a-z0-9\-_]*\.(myshopify\.com|shopify\.com|myshopify\.io|shop\.dev)$").unwrap()
});

impl ShopDomain {
    /// Accepts `acme.myshopify.com`, `https://acme.myshopify.com/` and `admin.shopify.com/store/acme`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut s = input.trim().to_ascii_lowercase();
        for scheme in ["https://", "http://"] {
            if let Some(rest) = s.strip_prefix(scheme) {
                s = rest.to_string();
            }
        }
        let s = s.trim_end_matches('/');
        let s = match s.strip_prefix("admin.shopify.com/store/") {
            Some(store) => format!("{store}.myshopify.com"),
            None => s.to_string(),
        };
        if s.len() > 255 || !SHOP_RE.is_match(&s) || s == "admin.shopify.com" {
            return Err(format!("{input:?} is not a Shopify shop domain (expected name.myshopify.com)"));
        }
        Ok(ShopDomain(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+919876543210`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Parses a number as a shopper or Exotel writes it (`09876543210`, `+91 98765 43210`,
    /// `9876543210`), with `default_country` (ISO 3166 alpha-2) for numbers without a country code.
    pub fn parse(input: &str, default_country: &str) -> Result<Self, String> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err("the phone number is empty".into());
        }
        let country: Option<phonenumber::country::Id> = default_country.to_ascii_uppercase().parse().ok();
        let parsed = phonenumber::parse(country, trimmed).map_err(|e| format!("{:?} is not a phone number ({e})", mask(trimmed)))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(format!("{} is not a valid phone number", mask(trimmed)));
        }
        Ok(Phone(parsed.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Keeps the last 4 digits of a phone number and hides the rest, for logs.
pub fn mask(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() <= 4 {
        return "*".repeat(digits.len());
    }
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("{}{tail}", "*".repeat(digits.len() - 4))
}

/// An order tag as Shopify stores it: trimmed, 1–40 characters, no commas (Shopify splits on them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(input: &str) -> Result<Self, String> {
        let t = input.trim();
        if t.is_empty() {
            return Err("must not be blank".into());
        }
        if t.contains(',') {
            return Err("must not contain commas (Shopify splits tags on them)".into());
        }
        if t.chars().count() > 40 {
            return Err("must be at most 40 characters".into());
        }
        Ok(Tag(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shopify's `customer_locale` of an order (`en`, `hi-IN`, `pt_BR`, `zh-Hant-TW`), kept only when it
/// looks like a language tag: a 2–3 letter language, then `-`/`_` parts of 2–8 letters or digits
/// (script, region), 16 characters at most. Anything else is not worth keeping.
pub fn customer_locale(raw: &str) -> Option<String> {
    let s = raw.trim();
    let mut parts = s.split(['-', '_']);
    let lang = parts.next()?;
    let ok = s.len() <= 16
        && (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    ok.then(|| s.to_string())
}

/// The languages the shopper is written to in; any other locale gets English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Hindi,
}

impl Language {
    /// The language of an order's customer locale: Hindi for `hi`, `hi-IN`, `hi_IN` …, else English.
    pub fn of_locale(locale: Option<&str>) -> Language {
        let lang = locale.and_then(|l| l.trim().split(['-', '_']).next()).unwrap_or("");
        if lang.eq_ignore_ascii_case("hi") { Language::Hindi } else { Language::English }
    }

    /// The ISO 639-1 code (`<html lang>`).
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Hindi => "hi",
        }
    }
}

/// A stored choice or state: an enum whose variants keep the text stored in the database (the
/// serde name, [`as_str`](OrderStatus::as_str) for SQL, `parse` for a row read as text), and that
/// compares with that text (`row.status == OrderStatus::Pending`).
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored texts, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }
    };
}

pub(crate) use stored_enum;

stored_enum! {
    /// Whether the app is installed on a shop (`shops.status`).
    ShopStatus { Installed = "installed", Uninstalled = "uninstalled" }
}

stored_enum! {
    /// Where a shopper's address correction stands in Shopify (`address_corrections.state`).
    AddressUpdate {
        /// Stored; `orderUpdate` not answered yet (or to be tried again).
        Pending = "pending",
        Updated = "updated",
        /// Shopify answered with user errors.
        Refused = "refused",
        /// Given up for another reason (the token rejected, the shop gone).
        Failed = "failed",
    }
}

stored_enum! {
    /// Where an order's verification stands (`orders.status`).
    OrderStatus {
        Pending = "pending",
        Confirmed = "confirmed",
        Cancelled = "cancelled",
        CallbackRequested = "callback_requested",
        NoResponse = "no_response",
        /// Not verified (prepaid, no usable phone, not set up, already cancelled).
        Skipped = "skipped",
    }
}

stored_enum! {
    /// Where holding an order's fulfillment orders in Shopify stands (`orders.hold_state`; NULL
    /// when the order is not held at all).
    HoldState {
        /// To be put on hold (or waiting for Shopify to create the fulfillment orders).
        Holding = "holding",
        /// Our hold is on every fulfillment order that can take one.
        Held = "held",
        /// Confirmed: our holds are to be released.
        Releasing = "releasing",
        Released = "released",
        /// Not held: Shopify refused, nothing could be held, or no fulfillment order came in time.
        NotHeld = "not_held",
    }
}

stored_enum! {
    /// Where one IVR call attempt stands (`call_attempts.state`).
    AttemptState {
        Queued = "queued",
        /// Claimed by the dialer; the request to Exotel is (about to be) on its way.
        Dialing = "dialing",
        /// Exotel took the call.
        Placed = "placed",
        /// Whether Exotel took it is not known (a timeout): settled by reconciliation.
        Unknown = "unknown",
        Ended = "ended",
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// Where one SMS stands in the app (`sms_messages.state`); Exotel's own status is kept apart.
    SmsState {
        Queued = "queued",
        /// Claimed by the dialer; the request to Exotel is (about to be) on its way.
        Sending = "sending",
        Sent = "sent",
        /// Whether Exotel took it is not known (a timeout or a process that stopped mid-request).
        Unknown = "unknown",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// Where one WhatsApp message stands in the app (`whatsapp_messages.state`); Exotel's delivery
    /// reports are kept apart ([`WaDelivery`]).
    WaState {
        Queued = "queued",
        /// Claimed by the dialer; the request to Exotel is (about to be) on its way.
        Sending = "sending",
        /// Exotel took it (it has a sid).
        Sent = "sent",
        /// Whether Exotel took it is not known (a timeout, a process that stopped mid-request): never resent.
        Unknown = "unknown",
        /// Exotel answered for the message and refused it (a number not on WhatsApp).
        Refused = "refused",
        /// The request was refused as a whole (credentials, plan…).
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// Exotel's latest delivery report of a WhatsApp message (`whatsapp_messages.status`).
    WaDelivery {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        /// Will never be delivered.
        Failed = "failed",
    }
}

impl WaDelivery {
    /// Reports only move forward: sent < delivered < read; failed only before delivery.
    pub fn supersedes(self, current: Option<WaDelivery>) -> bool {
        let rank = |d: WaDelivery| match d {
            WaDelivery::Sent => 1,
            WaDelivery::Delivered => 2,
            WaDelivery::Read => 3,
            WaDelivery::Failed => 0,
        };
        match (self, current) {
            (_, None) => true,
            (WaDelivery::Failed, Some(c)) => c == WaDelivery::Sent,
            (_, Some(WaDelivery::Failed)) => false,
            (s, Some(c)) => rank(s) > rank(c),
        }
    }
}

stored_enum! {
    /// What happened to an order after it shipped, as Shopify reports it (`orders.outcome`; NULL is
    /// `Unknown`). The rule that decides it is `crate::outcomes`.
    ShippingOutcome {
        /// Nothing known yet: not shipped, in transit, or no tracking reaches Shopify.
        Unknown = "unknown",
        Delivered = "delivered",
        /// The carrier failed to deliver it, or it went back to the merchant (return to origin).
        Returned = "returned",
        /// Cancelled in Shopify after it had shipped.
        Cancelled = "cancelled",
    }
}

impl ShippingOutcome {
    /// The stored column value: NULL for `Unknown`.
    pub fn stored(self) -> Option<&'static str> {
        (self != ShippingOutcome::Unknown).then_some(self.as_str())
    }

    /// From the stored column: NULL (or anything unknown) is `Unknown`.
    pub fn from_stored(s: Option<&str>) -> ShippingOutcome {
        s.and_then(ShippingOutcome::parse).unwrap_or(ShippingOutcome::Unknown)
    }
}

stored_enum! {
    /// What an SMS is for (`sms_messages.kind`): it picks the sender ID and DLT entity it goes with.
    SmsKind {
        /// The fallback's verification link.
        Link = "link",
        /// The fallback's ask for a missed call.
        MissedCall = "missed_call",
        /// The thanks after a missed call confirmed an order (sent whatever the order's state).
        Confirmation = "confirmation",
        Otp = "otp",
    }
}

stored_enum! {
    /// A customer's answer, whichever channel it came by (a key pressed in the IVR, a WhatsApp
    /// button or a typed reply); stored in `call_attempts.choice`.
    Choice {
        Confirm = "confirm",
        Cancel = "cancel",
        Callback = "callback",
    }
}

impl Choice {
    /// The order status this choice resolves to.
    pub fn status(self) -> OrderStatus {
        match self {
            Choice::Confirm => OrderStatus::Confirmed,
            Choice::Cancel => OrderStatus::Cancelled,
            Choice::Callback => OrderStatus::CallbackRequested,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_enums_keep_their_stored_text() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
            let text: String = s.to_string();
            assert!(s.as_str() == *s && text == *s);
        }
        assert_eq!(OrderStatus::NAMES, ["pending", "confirmed", "cancelled", "callback_requested", "no_response", "skipped"]);
        assert_eq!(AttemptState::NAMES, ["queued", "dialing", "placed", "unknown", "ended", "cancelled"]);
        assert_eq!(SmsState::NAMES, ["queued", "sending", "sent", "unknown", "failed", "cancelled"]);
        assert_eq!(WaState::NAMES, ["queued", "sending", "sent", "unknown", "refused", "failed", "cancelled"]);
        assert_eq!(SmsKind::NAMES, ["link", "missed_call", "confirmation", "otp"]);
        assert_eq!(ShippingOutcome::NAMES, ["unknown", "delivered", "returned", "cancelled"]);
        assert_eq!(ShippingOutcome::Unknown.stored(), None);
        for o in ShippingOutcome::ALL {
            assert_eq!(ShippingOutcome::from_stored(o.stored()), *o);
        }
        assert_eq!(OrderStatus::parse("Pending"), None);
    }

    #[test]
    fn delivery_reports_only_move_forward() {
        use WaDelivery::*;
        assert!(Sent.supersedes(None) && Failed.supersedes(None) && Read.supersedes(Some(Delivered)));
        assert!(Failed.supersedes(Some(Sent)) && !Failed.supersedes(Some(Delivered)) && !Failed.supersedes(Some(Read)));
        assert!(!Sent.supersedes(Some(Delivered)) && !Delivered.supersedes(Some(Read)) && !Read.supersedes(Some(Failed)));
        assert!(!Read.supersedes(Some(Read)));
    }

    #[test]
    fn shop_domains() {
        assert_eq!(ShopDomain::parse("Acme.myshopify.com").unwrap().as_str(), "acme.myshopify.com");
        assert_eq!(
            ShopDomain::parse(" https://acme.myshopify.com/ ").unwrap().as_str(),
            "acme.myshopify.com"
        );
        assert_eq!(
            ShopDomain::parse("admin.shopify.com/store/acme").unwrap().as_str(),
            "acme.myshopify.com"
        );
        for bad in [
            "",
            "acme",
            "acme.example.com",
            "-acme.myshopify.com",
            "acme.myshopify.com.evil.com",
            "evil.com/acme.myshopify.com",
            "acme.myshopify.com@evil.com",
            "ac me.myshopify.com",
            "admin.shopify.com",
        ] {
            assert!(ShopDomain::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn phones_in_every_form_normalise() {
        for input in ["09876543210", "9876543210", "+91 98765 43210", "+919876543210", "91-98765-43210"] {
            let p = Phone::parse(input, "IN");
            assert_eq!(p.as_ref().map(|p| p.e164()), Ok("+919876543210"), "{input}");
        }
        assert_eq!(Phone::parse("+1 415 555 2671", "IN").unwrap().e164(), "+14155552671");
        assert!(Phone::parse("12345", "IN").is_err());
        assert!(Phone::parse("not a phone", "IN").is_err());
        assert!(Phone::parse("", "IN").is_err());
    }

    #[test]
    fn masking_keeps_last_four() {
        assert_eq!(mask("+919876543210"), "********3210");
        assert_eq!(Phone::parse("9876543210", "IN").unwrap().masked(), "********3210");
    }

    #[test]
    fn customer_locales() {
        for ok in ["en", "hi-IN", "hi_IN", "EN-us", "fil", "zh-Hant-TW", " pt-BR ", "es-419"] {
            assert_eq!(customer_locale(ok).as_deref(), Some(ok.trim()), "{ok}");
        }
        for bad in ["", "e", "english", "hi-", "-IN", "hi--IN", "hi-I", "hi IN", "hi-IN-x-verylongsubtag", "हि", "en;DROP", "h1", "x-klingon-extra"] {
            assert_eq!(customer_locale(bad), None, "{bad}");
        }
        for hindi in ["hi", "hi-IN", "hi_IN", "HI", " hi-in "] {
            assert_eq!(Language::of_locale(Some(hindi)), Language::Hindi, "{hindi}");
        }
        for english in [None, Some(""), Some("en"), Some("en-IN"), Some("hil"), Some("ta-IN"), Some("hin")] {
            assert_eq!(Language::of_locale(english), Language::English, "{english:?}");
        }
        assert_eq!((Language::Hindi.code(), Language::English.code()), ("hi", "en"));
    }

    #[test]
    fn tags() {
        assert_eq!(Tag::parse("  COD Confirmed ").unwrap().as_str(), "COD Confirmed");
        assert!(Tag::parse("a,b").is_err());
        assert!(Tag::parse("   ").is_err());
        assert!(Tag::parse(&"x".repeat(41)).is_err());
    }
}
