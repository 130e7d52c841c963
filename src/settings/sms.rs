//! What the SMS sections (`fallback`, `otp`) share: the encoding choice, sender ids, DLT ids and
//! message templates.

use super::fields::{Fields, choices};
use crate::domain::stored_enum;

stored_enum! {
    /// How an SMS is encoded (`fallback.encoding`, `otp.encoding`); plain text still goes as
    /// Unicode when it does not fit GSM-7.
    #[derive(Default)]
    Encoding { #[default] Plain = "plain", Unicode = "unicode" }
}
choices!(Encoding);

/// Placeholders an SMS template may hold.
pub const ORDER_PLACEHOLDERS: [&str; 3] = ["%ordernumber%", "%ordername%", "%orderamount%"];

impl Fields<'_> {
    /// An SMS sender id: 3–11 letters or digits (Indian DLT headers are 6 letters).
    pub(super) fn sender_id(&mut self, field: &str, s: &str) {
        if !((3..=11).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())) {
            self.err(field, "must be the SMS sender id (header): 3–11 letters or digits");
        }
    }
    /// A DLT entity or template id: required when the shop is in India.
    pub(super) fn dlt(&mut self, field: &str, value: &str, india: bool) {
        if value.is_empty() && india {
            self.err(field, "is required for India (DLT registration)");
        } else if value.len() > 32 || !value.chars().all(|c| c.is_ascii_digit()) {
            self.err(field, "must be the DLT id: digits only");
        }
    }
    /// A message template holding each of `required`.
    pub(super) fn template(&mut self, field: &str, value: &str, required: &[&str]) {
        if value.is_empty() {
            self.err(field, "is required");
        } else if value.chars().count() > 1000 {
            self.err(field, "must be at most 1000 characters");
        } else if let Some(missing) = required.iter().find(|p| !value.contains(**p)) {
            self.err(field, format!("must contain {missing}"));
        }
    }
}
