//! The review queue (SPEC §9): an agent confirms or cancels, on the shopper's behalf, an order
//! that waits for a person (the customer asked for a callback, or the plan ended without an
//! answer). The outcome goes through the same resolution as a shopper's answer — tags, the
//! Shopify cancellation, what follows a confirmation — with the tags and `cancel_order` of the
//! channel the shopper was last reached on. The page and the API are `web::review`.

use crate::app::App;
use crate::db::contacts::{self, ContactRow};
use crate::db::review as stored;
use crate::db::shops::Shop;
use crate::domain::{OrderStatus, stored_enum};
use crate::reports::{AGENT_REASON_END, channel_of};
use crate::settings::Settings;

stored_enum! {
    /// What an agent does for a waiting order on the shopper's behalf.
    Resolution { Confirm = "confirm", Cancel = "cancel" }
}

impl Resolution {
    pub fn status(self) -> OrderStatus {
        match self {
            Resolution::Confirm => OrderStatus::Confirmed,
            Resolution::Cancel => OrderStatus::Cancelled,
        }
    }

    fn past(self) -> &'static str {
        match self {
            Resolution::Confirm => "confirmed",
            Resolution::Cancel => "cancelled",
        }
    }
}

/// The longest agent name taken, in characters.
pub const AGENT_MAX_CHARS: usize = 100;

/// The agent's name as typed: trimmed, 1–100 characters, no control characters (it goes into the
/// timeline and the order's reason as it is).
pub fn agent_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter your name: it is recorded with the order.");
    }
    if name.chars().count() > AGENT_MAX_CHARS {
        return Err("The name is too long (at most 100 characters).");
    }
    if name.chars().any(char::is_control) {
        return Err("The name may not contain line breaks, tabs or other control characters.");
    }
    Ok(name.to_string())
}

/// Whether an order in this status waits for a person (and so is in the review queue).
pub fn waits(status: &str) -> bool {
    matches!(OrderStatus::parse(status), Some(OrderStatus::CallbackRequested | OrderStatus::NoResponse))
}

/// The settings section whose tags and `cancel_order` an agent's resolution follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Ivr,
    Fallback,
    Whatsapp,
}

/// The channel the shopper was last reached on: for a callback, the channel it was asked on (its
/// reason says); otherwise the latest contact that went out (not queued, cancelled, refused or
/// failed). The IVR's when nothing tells.
pub fn section_of(status: OrderStatus, reason: Option<&str>, contacts: &[ContactRow]) -> Section {
    let of_channel = |c: &str| match c {
        "ivr" => Some(Section::Ivr),
        "sms_link" | "link" | "missed_call" => Some(Section::Fallback),
        "whatsapp" => Some(Section::Whatsapp),
        _ => None,
    };
    if status == OrderStatus::CallbackRequested
        && let Some(s) = reason.and_then(channel_of).and_then(of_channel)
    {
        return s;
    }
    contacts
        .iter()
        .rev()
        .filter(|c| !matches!(c.state.as_str(), "queued" | "cancelled" | "refused" | "failed"))
        .find_map(|c| of_channel(&c.channel))
        .unwrap_or(Section::Ivr)
}

/// The tag and whether to cancel in Shopify for `action` under `section`'s settings.
pub fn outcome(settings: &Settings, section: Section, action: Resolution) -> (&str, bool) {
    let (confirm_tag, cancel_tag, cancel_order) = match section {
        Section::Ivr => (&settings.ivr.confirm_tag, &settings.ivr.cancel_tag, settings.ivr.cancel_order),
        Section::Fallback => (&settings.fallback.confirm_tag, &settings.fallback.cancel_tag, settings.fallback.cancel_order),
        Section::Whatsapp => (&settings.whatsapp.confirm_tag, &settings.whatsapp.cancel_tag, settings.whatsapp.cancel_order),
    };
    match action {
        Resolution::Confirm => (confirm_tag.as_str(), false),
        Resolution::Cancel => (cancel_tag.as_str(), cancel_order),
    }
}

/// Why a waiting order waits, in the merchant's words.
pub fn why(status: &str, reason: Option<&str>, contacts: i64) -> String {
    match OrderStatus::parse(status) {
        Some(OrderStatus::CallbackRequested) => match reason.and_then(channel_of) {
            Some("ivr") => "Asked for a callback on the IVR call".to_string(),
            Some("sms_link") => "Asked for a callback on the confirmation link".to_string(),
            Some("whatsapp") => "Asked for a callback on WhatsApp".to_string(),
            _ => "Asked for a callback".to_string(),
        },
        Some(OrderStatus::NoResponse) => match contacts {
            1 => "No answer after 1 contact".to_string(),
            n => format!("No answer after {n} contacts"),
        },
        _ => String::new(),
    }
}

/// Why a resolution was not made; nothing changed.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// No such order in this shop.
    NotFound,
    /// The order does not wait (any more): its status now.
    NotWaiting(String),
}

/// Confirms or cancels the shop's order `shopify_order_id` on the shopper's behalf, by `agent`
/// (already checked by [`agent_name`]), once, in one transaction: the order's status, reason and
/// agent, the timeline event, and the Shopify update queued.
pub async fn resolve(app: &App, shop: &Shop, shopify_order_id: i64, action: Resolution, agent: &str) -> anyhow::Result<Result<OrderStatus, Refused>> {
    let settings = Settings::from_stored(&shop.settings);
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let Some((order_id, status, reason)) = stored::order(&mut tx, &shop.id, shopify_order_id).await? else {
        return Ok(Err(Refused::NotFound));
    };
    let Some(current) = OrderStatus::parse(&status).filter(|_| waits(&status)) else {
        return Ok(Err(Refused::NotWaiting(status)));
    };
    let contacts = contacts::of_order(&mut tx, &shop.id, &order_id).await?;
    let (tag, cancel) = outcome(&settings, section_of(current, reason.as_deref(), &contacts), action);
    let why = format!("{} by {agent} {AGENT_REASON_END}", action.past());
    // A conditional update: an answer or a second click that committed first leaves it false.
    if !super::resolve_waiting(&mut tx, &shop.id, &order_id, action.status(), &why, &[tag], cancel, agent, now).await? {
        drop(tx);
        let mut tx = app.db.begin().await?;
        let now_status = stored::order(&mut tx, &shop.id, shopify_order_id).await?.map(|o| o.1).unwrap_or(status);
        return Ok(Err(Refused::NotWaiting(now_status)));
    }
    tx.commit().await?;
    Ok(Ok(action.status()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contact(channel: &str, state: &str, due_at: i64) -> ContactRow {
        ContactRow { channel: channel.into(), seq: 1, state: state.into(), result: None, finished_at: None, due_at }
    }

    #[test]
    fn agent_names() {
        assert_eq!(agent_name("  Priya S  "), Ok("Priya S".to_string()));
        assert_eq!(agent_name("प्रिया"), Ok("प्रिया".to_string()));
        assert!(agent_name("").is_err());
        assert!(agent_name(" \t ").is_err());
        assert!(agent_name("Priya\nS").is_err());
        assert!(agent_name("Pri\u{7}ya").is_err());
        assert!(agent_name(&"a".repeat(100)).is_ok());
        assert!(agent_name(&"a".repeat(101)).is_err());
        // Characters, not bytes.
        assert!(agent_name(&"अ".repeat(100)).is_ok());
    }

    #[test]
    fn the_section_follows_the_last_channel() {
        let none: Vec<ContactRow> = vec![];
        assert_eq!(section_of(OrderStatus::NoResponse, Some("no answer after 1 call(s)"), &none), Section::Ivr);
        // A callback follows the channel it was asked on, whatever came before.
        let wa_then_ivr = vec![contact("whatsapp", "sent", 1), contact("ivr", "ended", 2)];
        assert_eq!(section_of(OrderStatus::CallbackRequested, Some("callback requested on WhatsApp"), &wa_then_ivr), Section::Whatsapp);
        assert_eq!(section_of(OrderStatus::CallbackRequested, Some("pressed 3 on call 1 (callback)"), &none), Section::Ivr);
        assert_eq!(section_of(OrderStatus::CallbackRequested, Some("callback requested on the confirmation link"), &none), Section::Fallback);
        // No answer: the latest contact that went out.
        assert_eq!(section_of(OrderStatus::NoResponse, None, &wa_then_ivr), Section::Ivr);
        let ivr_then_link = vec![contact("ivr", "ended", 1), contact("link", "sent", 2), contact("link", "cancelled", 3)];
        assert_eq!(section_of(OrderStatus::NoResponse, None, &ivr_then_link), Section::Fallback);
        let refused_wa = vec![contact("ivr", "ended", 1), contact("whatsapp", "refused", 2)];
        assert_eq!(section_of(OrderStatus::NoResponse, None, &refused_wa), Section::Ivr);
        assert_eq!(section_of(OrderStatus::NoResponse, None, &[contact("missed_call", "sent", 1)]), Section::Fallback);
    }

    #[test]
    fn outcomes_take_the_sections_tags() {
        let mut s = Settings::default();
        s.ivr.confirm_tag = "ivr_ok".into();
        s.ivr.cancel_tag = "ivr_no".into();
        s.ivr.cancel_order = true;
        s.whatsapp.confirm_tag = "wa_ok".into();
        s.whatsapp.cancel_tag = "".into();
        s.whatsapp.cancel_order = false;
        assert_eq!(outcome(&s, Section::Ivr, Resolution::Confirm), ("ivr_ok", false));
        assert_eq!(outcome(&s, Section::Ivr, Resolution::Cancel), ("ivr_no", true));
        assert_eq!(outcome(&s, Section::Whatsapp, Resolution::Confirm), ("wa_ok", false));
        assert_eq!(outcome(&s, Section::Whatsapp, Resolution::Cancel), ("", false));
    }

    #[test]
    fn why_it_waits() {
        assert_eq!(why("callback_requested", Some("pressed 3 on call 1 (callback)"), 1), "Asked for a callback on the IVR call");
        assert_eq!(why("callback_requested", Some("callback requested on WhatsApp"), 0), "Asked for a callback on WhatsApp");
        assert_eq!(why("callback_requested", Some("callback requested on the confirmation link"), 1), "Asked for a callback on the confirmation link");
        assert_eq!(why("callback_requested", None, 0), "Asked for a callback");
        assert_eq!(why("no_response", Some("no answer after 3 call(s)"), 1), "No answer after 1 contact");
        assert_eq!(why("no_response", None, 4), "No answer after 4 contacts");
        assert_eq!(why("confirmed", None, 4), "");
        assert!(waits("callback_requested") && waits("no_response"));
        assert!(!waits("pending") && !waits("cancelled") && !waits("confirmed") && !waits("skipped"));
    }

    proptest! {
        /// A name taken is trimmed, 1–100 characters and free of control characters; a name
        /// refused breaks one of those rules.
        #[test]
        fn agent_name_rule(raw in "\\PC{0,3}[\\s\\x00-\\x1f]{0,2}\\PC{0,120}") {
            let t = raw.trim();
            let ok = !t.is_empty() && t.chars().count() <= AGENT_MAX_CHARS && !t.chars().any(char::is_control);
            match agent_name(&raw) {
                Ok(n) => { prop_assert!(ok); prop_assert_eq!(n.as_str(), t); }
                Err(_) => prop_assert!(!ok),
            }
        }
    }
}
