//! What the confirmation link page says, in each language the shopper may be written to in. The
//! order's customer locale picks the language ([`Language::of_locale`]); amounts, order names and
//! item titles stay as the shop wrote them.

use crate::domain::{Choice, Language, OrderStatus};
use crate::verification::address::Problem;

/// Every visible text of the link page in one language.
pub struct Texts {
    /// `<html lang>`.
    pub lang: &'static str,
    /// The heading of a link that takes an answer.
    pub please_confirm: &'static str,
    pub order_label: &'static str,
    pub amount_label: &'static str,
    /// The item list's label for screen readers.
    pub items_label: &'static str,
    pub confirm: &'static str,
    pub cancel: &'static str,
    pub callback: &'static str,
    /// Shown under the buttons of a cash-on-delivery order only.
    pub cod_note: &'static str,
    pub confirmed: &'static str,
    pub cancelled: &'static str,
    pub callback_requested: &'static str,
    /// An order that ended some other way (no response, skipped).
    pub no_answer_needed: &'static str,
    pub nothing_more: &'static str,
    pub expired: &'static str,
    pub expired_note: &'static str,
    pub cancelled_elsewhere: &'static str,
    pub cancelled_elsewhere_note: &'static str,
    pub unknown_link: &'static str,
    pub unknown_link_note: &'static str,
    pub wrong_button: &'static str,
    pub wrong_button_note: &'static str,
    pub address_label: &'static str,
    /// The address form's summary.
    pub edit_address: &'static str,
    pub edit_address_note: &'static str,
    pub address1_label: &'static str,
    pub address2_label: &'static str,
    pub city_label: &'static str,
    pub zip_label: &'static str,
    /// The heading and note of a confirmation sent back for its address.
    pub check_address: &'static str,
    pub check_address_note: &'static str,
    pub address_required: &'static str,
    pub address_too_long: &'static str,
    pub address_bad_characters: &'static str,
    pub address_not_a_pin: &'static str,
}

static ENGLISH: Texts = Texts {
    lang: "en",
    please_confirm: "Please confirm your order",
    order_label: "Order",
    amount_label: "Amount",
    items_label: "Items",
    confirm: "Confirm my order",
    cancel: "Cancel my order",
    callback: "Call me back",
    cod_note: "Cash on delivery: you pay when the order arrives.",
    confirmed: "Your order is confirmed. Thank you!",
    cancelled: "Your order is cancelled.",
    callback_requested: "We will call you back about your order.",
    no_answer_needed: "This order needs no answer any more.",
    nothing_more: "Nothing more to do.",
    expired: "This link has expired",
    expired_note: "If you still want the order, please contact the shop.",
    cancelled_elsewhere: "This order was cancelled",
    cancelled_elsewhere_note: "It cannot be confirmed any more. Please contact the shop if this is a mistake.",
    unknown_link: "This link does not work",
    unknown_link_note: "Please check that you opened the whole link from the SMS.",
    wrong_button: "That button is not on this page",
    wrong_button_note: "Please open the link from the SMS again and tap one of its buttons.",
    address_label: "Delivery address",
    edit_address: "Edit address",
    edit_address_note: "Correct the address if something is wrong, then confirm your order.",
    address1_label: "Address line 1",
    address2_label: "Address line 2 (optional)",
    city_label: "City",
    zip_label: "PIN code",
    check_address: "Please check your address",
    check_address_note: "Your order is not confirmed yet. Correct the marked fields and confirm again.",
    address_required: "Please fill this in.",
    address_too_long: "This is too long.",
    address_bad_characters: "This contains characters that cannot be used.",
    address_not_a_pin: "Enter a 6-digit PIN code.",
};

static HINDI: Texts = Texts {
    lang: "hi",
    please_confirm: "कृपया अपना ऑर्डर कन्फ़र्म करें",
    order_label: "ऑर्डर",
    amount_label: "राशि",
    items_label: "सामान",
    confirm: "ऑर्डर कन्फ़र्म करें",
    cancel: "ऑर्डर रद्द करें",
    callback: "मुझे वापस कॉल करें",
    cod_note: "कैश ऑन डिलीवरी: ऑर्डर मिलने पर भुगतान करें।",
    confirmed: "आपका ऑर्डर कन्फ़र्म हो गया है। धन्यवाद!",
    cancelled: "आपका ऑर्डर रद्द कर दिया गया है।",
    callback_requested: "आपके ऑर्डर के बारे में हम आपको वापस कॉल करेंगे।",
    no_answer_needed: "इस ऑर्डर के लिए अब किसी जवाब की ज़रूरत नहीं है।",
    nothing_more: "अब आपको कुछ और करने की ज़रूरत नहीं है।",
    expired: "इस लिंक की समय-सीमा ख़त्म हो गई है",
    expired_note: "अगर आपको अब भी यह ऑर्डर चाहिए, तो कृपया दुकान से संपर्क करें।",
    cancelled_elsewhere: "यह ऑर्डर रद्द कर दिया गया था",
    cancelled_elsewhere_note: "अब इसे कन्फ़र्म नहीं किया जा सकता। अगर यह गलती से हुआ है, तो कृपया दुकान से संपर्क करें।",
    unknown_link: "यह लिंक काम नहीं कर रहा है",
    unknown_link_note: "कृपया देख लें कि आपने SMS का पूरा लिंक खोला है।",
    wrong_button: "यह बटन इस पेज पर नहीं है",
    wrong_button_note: "कृपया SMS वाला लिंक फिर से खोलें और उसके किसी एक बटन पर टैप करें।",
    address_label: "डिलीवरी का पता",
    edit_address: "पता बदलें",
    edit_address_note: "अगर पते में कुछ गलत है तो उसे ठीक करें, फिर अपना ऑर्डर कन्फ़र्म करें।",
    address1_label: "पता पंक्ति 1",
    address2_label: "पता पंक्ति 2 (वैकल्पिक)",
    city_label: "शहर",
    zip_label: "पिन कोड",
    check_address: "कृपया अपना पता जाँच लें",
    check_address_note: "आपका ऑर्डर अभी कन्फ़र्म नहीं हुआ है। चिह्नित जगहें ठीक करें और फिर से कन्फ़र्म करें।",
    address_required: "कृपया इसे भरें।",
    address_too_long: "यह बहुत लंबा है।",
    address_bad_characters: "इसमें ऐसे अक्षर हैं जिनका उपयोग नहीं हो सकता।",
    address_not_a_pin: "6 अंकों का पिन कोड लिखें।",
};

impl Texts {
    pub fn of(language: Language) -> &'static Texts {
        match language {
            Language::English => &ENGLISH,
            Language::Hindi => &HINDI,
        }
    }

    /// The texts for an order's customer locale (`hi-IN` → Hindi; any other or none → English).
    pub fn for_locale(locale: Option<&str>) -> &'static Texts {
        Texts::of(Language::of_locale(locale))
    }

    /// A button's text.
    pub fn button(&self, choice: Choice) -> &'static str {
        match choice {
            Choice::Confirm => self.confirm,
            Choice::Cancel => self.cancel,
            Choice::Callback => self.callback,
        }
    }

    /// What is wrong with an address field.
    pub fn address_problem(&self, p: Problem) -> &'static str {
        match p {
            Problem::Required => self.address_required,
            Problem::TooLong => self.address_too_long,
            Problem::BadCharacters => self.address_bad_characters,
            Problem::NotAPinCode => self.address_not_a_pin,
        }
    }

    /// What an answered order's status means to the shopper.
    pub fn outcome(&self, status: &str) -> &'static str {
        match OrderStatus::parse(status) {
            Some(OrderStatus::Confirmed) => self.confirmed,
            Some(OrderStatus::Cancelled) => self.cancelled,
            Some(OrderStatus::CallbackRequested) => self.callback_requested,
            _ => self.no_answer_needed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_picks_the_texts() {
        assert_eq!(Texts::for_locale(Some("hi-IN")).lang, "hi");
        assert_eq!(Texts::for_locale(Some("hi_IN")).confirm, "ऑर्डर कन्फ़र्म करें");
        assert_eq!(Texts::for_locale(Some("en")).lang, "en");
        assert_eq!(Texts::for_locale(Some("ta-IN")).lang, "en");
        assert_eq!(Texts::for_locale(None).confirm, "Confirm my order");
        assert_eq!(Texts::of(Language::Hindi).outcome("cancelled"), "आपका ऑर्डर रद्द कर दिया गया है।");
        assert_eq!(Texts::of(Language::English).outcome("no_response"), "This order needs no answer any more.");
    }

    #[test]
    fn every_hindi_text_is_written_in_hindi() {
        let hi = Texts::of(Language::Hindi);
        let texts = [
            hi.please_confirm, hi.order_label, hi.amount_label, hi.items_label, hi.confirm, hi.cancel, hi.callback,
            hi.cod_note, hi.confirmed, hi.cancelled, hi.callback_requested, hi.no_answer_needed, hi.nothing_more,
            hi.expired, hi.expired_note, hi.cancelled_elsewhere, hi.cancelled_elsewhere_note, hi.unknown_link,
            hi.unknown_link_note, hi.wrong_button, hi.wrong_button_note, hi.address_label, hi.edit_address,
            hi.edit_address_note, hi.address1_label, hi.address2_label, hi.city_label, hi.zip_label, hi.check_address,
            hi.check_address_note, hi.address_required, hi.address_too_long, hi.address_bad_characters, hi.address_not_a_pin,
        ];
        for t in texts {
            assert!(t.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c)), "{t:?} is not in Devanagari");
        }
    }
}
