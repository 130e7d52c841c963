//! What the reports and the timeline show for stored values: times in the shop's zone, event
//! names, badge tones, and the rows' labels.

use chrono::DateTime;
use chrono_tz::Tz;

use crate::db::reports::{CallRow, MissedRow, SmsRow, WhatsappRow};
use crate::reports::WHATSAPP_REPLIES;

/// `YYYY-MM-DD HH:MM:SS` in the shop's zone.
pub fn local(tz: Tz, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// RFC 3339 with the shop's offset (for JSON).
pub fn local_rfc3339(tz: Tz, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).to_rfc3339()).unwrap_or_default()
}

/// A readable name for an event kind.
pub fn event_label(kind: &str) -> String {
    let known = match kind {
        "order_received" => "Order received",
        "call_scheduled" => "Call scheduled",
        "call_placed" => "Call placed",
        "call_unconfirmed" => "Call not confirmed by Exotel",
        "call_ended" => "Call ended",
        "key_pressed" => "Key pressed",
        "ivr_retry_limit_reached" => "IVR retries used up",
        "fallback_started" => "Fallback started",
        "fallback_retry_limit_reached" => "Fallback retries used up",
        "sms" => "SMS",
        "whatsapp_started" => "WhatsApp step started",
        "whatsapp_queued" => "WhatsApp message queued",
        "whatsapp_sent" => "WhatsApp message sent",
        "whatsapp_refused" => "WhatsApp message refused",
        "whatsapp_failed" => "WhatsApp message not sent",
        "whatsapp_cancelled" => "WhatsApp message dropped",
        "whatsapp_status" => "WhatsApp delivery status",
        "whatsapp_reply" => "WhatsApp reply",
        "whatsapp_undelivered" => "WhatsApp not delivered",
        "whatsapp_retry_limit_reached" => "WhatsApp messages unanswered",
        "sms_status" => "SMS delivery status",
        "otp_sent" => "OTP sent",
        "otp_incorrect" => "Incorrect OTP",
        "resend_otp_limit_reached" => "OTP resends used up",
        "incorrect_otp_limit_reached" => "OTP entry locked (too many incorrect OTPs)",
        "tags_added" => "Tagged in Shopify",
        "shopify_cancelled" => "Cancelled in Shopify",
        "shopify_cancel_refused" => "Shopify refused the cancellation",
        "shopify_update_failed" => "Shopify update failed",
        "exotel_retry" => "Exotel error, retrying",
        "order_cancelled" => "Order cancelled",
        "rule_applied" => "Targeting rule applied",
        "confirmed" => "Confirmed",
        "cancelled" => "Cancelled",
        "callback_requested" => "Callback requested",
        "no_response" => "No response",
        "agent_call" => "Click-to-call placed",
        "fulfillment_held" => "Held from fulfilment",
        "fulfillment_released" => "Fulfilment hold released",
        "fulfillment_not_held" => "Not held from fulfilment",
        "fulfillment_hold_waiting" => "Hold waiting for fulfillment orders",
        "fulfillment_release_waiting" => "Release waits for the corrected address",
        "fulfillment_hold_gave_up" => "Hold given up",
        "fulfillment_hold_failed" => "Shopify hold update failed",
        "fulfillment_hold_refused" => "Shopify refused the hold",
        "fulfillment_release_refused" => "Shopify refused to release the hold",
        "agent_call_failed" => "Click-to-call failed",
        "agent_call_ended" => "Click-to-call ended",
        "address_corrected" => "Address corrected by the shopper",
        "address_updated" => "Address updated in Shopify",
        "address_update_refused" => "Address not updated in Shopify",
        "delivered" => "Delivered",
        "returned" => "Returned (not delivered)",
        "cancelled_after_shipping" => "Cancelled after shipping",
        _ => "",
    };
    if known.is_empty() {
        let s = kind.replace('_', " ");
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    } else {
        known.to_string()
    }
}

/// What the merchant reads for an order's fulfillment hold (`orders.hold_state`; none: not held).
pub fn hold_label(state: Option<&str>) -> &'static str {
    use crate::domain::HoldState;
    match state.and_then(HoldState::parse) {
        None => "Not held",
        Some(HoldState::Holding) => "Being held",
        Some(HoldState::Held) => "On hold until confirmed",
        Some(HoldState::Releasing) => "Being released",
        Some(HoldState::Released) => "Released",
        Some(HoldState::NotHeld) => "Could not be held",
    }
}

/// Badge tone of an event or status.
pub fn tone(kind: &str) -> &'static str {
    match kind {
        "confirmed" | "tags_added" | "address_updated" | "fulfillment_released" | "delivered" => "success",
        "cancelled" | "order_cancelled" | "shopify_cancelled" | "shopify_update_failed" | "shopify_cancel_refused" | "exotel_retry"
        | "agent_call_failed" | "otp_incorrect" | "whatsapp_refused" | "whatsapp_failed" | "address_update_refused"
        | "fulfillment_hold_refused" | "fulfillment_release_refused" | "fulfillment_hold_failed" => "critical",
        "callback_requested" | "no_response" | "ivr_retry_limit_reached" | "fallback_retry_limit_reached" | "resend_otp_limit_reached"
        | "incorrect_otp_limit_reached" | "whatsapp_retry_limit_reached" | "whatsapp_undelivered"
        | "rule_applied" | "fulfillment_not_held" | "fulfillment_hold_gave_up" | "returned" | "cancelled_after_shipping" => "warning",
        _ => "info",
    }
}

impl CallRow {
    pub fn direction(&self) -> &'static str {
        if self.kind == "click_to_call" { "Click-to-call" } else { "Outbound" }
    }
    /// `1 (confirm)`, `-` when nothing was pressed.
    pub fn ivr_input(&self) -> String {
        match (&self.digits, &self.choice) {
            (Some(d), Some(c)) => format!("{d} ({c})"),
            (Some(d), None) => d.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "–".into(),
        }
    }
}

impl SmsRow {
    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "link" => "Confirmation link",
            "missed_call" => "Missed call request",
            "confirmation" => "Confirmation",
            "otp" => "OTP",
            _ => "SMS",
        }
    }
}

impl WhatsappRow {
    /// `Confirm`, `Other text: "kal aana"`, `–` without an answer.
    pub fn reply_label(&self) -> String {
        let Some(reply) = self.reply.as_deref() else { return "–".into() };
        let label = WHATSAPP_REPLIES.iter().find(|r| r.0 == reply).map_or(reply, |r| r.1);
        match self.reply_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) if reply == "other" => format!("{label}: \"{text}\""),
            _ => label.to_string(),
        }
    }
}

impl MissedRow {
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome.as_str() {
            "counted" => "Confirmed",
            "repeat" => "Repeat call",
            "nothing_pending" => "No pending order",
            "not_in_use" => "Missed-call confirmation off",
            "invalid_number" => "Invalid number",
            _ => "Other",
        }
    }
}

pub fn call_tone(status: &str) -> &'static str {
    match status {
        "completed" => "success",
        "busy" | "no-answer" | "canceled" => "warning",
        "failed" => "critical",
        _ => "info",
    }
}

pub fn sms_tone(status: &str) -> &'static str {
    match status {
        "sent" => "success",
        "failed" | "failed-dnd" => "critical",
        _ => "info",
    }
}

pub fn whatsapp_tone(status: &str) -> &'static str {
    match status {
        "delivered" | "read" => "success",
        "failed" | "refused" => "critical",
        "unknown" => "warning",
        _ => "info",
    }
}
