//! What a confirmation link token stands for, and the shopper's answer through it.

use crate::crypto::sha256_hex;
use crate::domain::{OrderStatus, ShopStatus};
use crate::app::App;
use crate::db::links;
use super::address::{self, Address, Edit, Field, Problem};
use super::sms::{OrderInfo, load_order};

/// What a link token stands for right now.
#[derive(Debug)]
pub enum LinkState {
    Unknown,
    /// The order takes an answer (pending, or a late one after `no_response`) and the link is
    /// valid: these choices are offered.
    /// `correctable`: the confirmation may carry a corrected shipping address (the merchant allows
    /// it and the order has an Indian address).
    Open { order: Box<OrderInfo>, choices: Vec<&'static str>, correctable: bool },
    Expired { order: Box<OrderInfo> },
    /// This link was used: the order's outcome.
    Used { order: Box<OrderInfo>, action: String },
    /// Resolved some other way (the call, another link, cancelled in Shopify).
    Resolved { order: Box<OrderInfo> },
}

/// The link page's view of a token.
pub async fn link_state(app: &App, token: &str) -> anyhow::Result<LinkState> {
    // Tokens are 24 URL-safe characters; anything else cannot match.
    if token.len() != 24 || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Ok(LinkState::Unknown);
    }
    let Some((order_id, expires_at, used_at, action)) = links::find(&app.db, &sha256_hex(token.as_bytes())).await? else { return Ok(LinkState::Unknown) };
    let Some(order) = load_order(app, &order_id).await? else { return Ok(LinkState::Unknown) };
    if order.shop_status != ShopStatus::Installed {
        return Ok(LinkState::Unknown);
    }
    let order = Box::new(order);
    if let (Some(_), Some(action)) = (used_at, action) {
        return Ok(LinkState::Used { order, action });
    }
    // A link works for its whole expiry, also after the order ended without a response.
    if !super::takes_answer(&order.status) {
        return Ok(LinkState::Resolved { order });
    }
    if app.clock.now_ms() > expires_at {
        return Ok(LinkState::Expired { order });
    }
    let fb = order.settings().fallback;
    let choices = [("confirm", &fb.confirm_tag), ("cancel", &fb.cancel_tag), ("callback", &fb.callback_tag)]
        .into_iter()
        .filter(|(_, tag)| !tag.is_empty())
        .map(|(c, _)| c)
        .collect::<Vec<_>>();
    let correctable = choices.contains(&"confirm")
        && order.settings().fulfillment.address_correction
        && order.address().is_some_and(|a| address::correctable(&a));
    Ok(LinkState::Open { order, choices, correctable })
}

/// Why a button press changed nothing.
#[derive(Debug)]
pub enum Refused {
    /// A choice this page does not offer.
    NotOffered(String),
    /// A confirmation whose corrected address is invalid: the open link's order and choices (the page
    /// again), with every refused field.
    Invalid { order: Box<OrderInfo>, choices: Vec<&'static str>, problems: Vec<(Field, Problem)> },
}

/// A button on the link page: applies the choice once, then says where the order stands. A
/// confirmation may carry the shopper's `edit` of the shipping address (when the page offers it;
/// other buttons ignore it): valid and changed, it is stored and sent to Shopify with the
/// confirmation; invalid, nothing changes.
pub async fn link_action(app: &App, token: &str, action: &str, edit: &Edit) -> anyhow::Result<Result<LinkState, Refused>> {
    let state = link_state(app, token).await?;
    let LinkState::Open { order, choices, correctable } = state else { return Ok(Ok(state)) };
    let Some(choice) = choices.iter().copied().find(|c| *c == action) else {
        return Ok(Err(Refused::NotOffered(format!("{action:?} is not one of this page's buttons"))));
    };
    let mut correction: Option<(Address, Address)> = None;
    if choice == "confirm" && correctable && let Some(old) = order.address() {
        match address::correct(&old, edit) {
            Ok(new) => correction = new.map(|new| (old, new)),
            Err(problems) => return Ok(Err(Refused::Invalid { order, choices, problems })),
        }
    }
    let fb = order.settings().fallback;
    let (status, tag) = match choice {
        "confirm" => (OrderStatus::Confirmed, fb.confirm_tag.as_str()),
        "cancel" => (OrderStatus::Cancelled, fb.cancel_tag.as_str()),
        _ => (OrderStatus::CallbackRequested, fb.callback_tag.as_str()),
    };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let reason = format!("{} on the confirmation link", choice_words(choice));
    let cancel = choice == "cancel" && fb.cancel_order;
    if super::answer(&mut tx, &order.shop_id, &order.id, status, &reason, &[tag], cancel, now).await? {
        links::mark_used(&mut tx, &sha256_hex(token.as_bytes()), choice, now).await?;
        if let Some((old, new)) = &correction {
            address::record_correction(app, &mut tx, &order.shop_id, &order.id, old, new, now).await?;
        }
    }
    tx.commit().await?;
    Ok(Ok(link_state(app, token).await?))
}

fn choice_words(choice: &str) -> &'static str {
    match choice {
        "confirm" => "confirmed",
        "cancel" => "cancelled",
        _ => "callback requested",
    }
}
