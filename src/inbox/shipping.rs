//! What happened to an order after it shipped (SPEC §10), from Shopify's webhooks:
//! `fulfillment_events/create` (a tracking event), `fulfillments/update` (a fulfillment and its
//! shipment status) and `orders/cancelled` (a cancellation, and the fulfillments the order had).
//! Each report is merged into what is known of the order and the outcome read off it by the rule
//! in `crate::outcomes`, so duplicates and reports out of order never move it back.

use serde_json::Value;

use crate::db::events::add_event;
use crate::db::{Tx, outcomes, shops};
use crate::domain::ShippingOutcome;
use crate::outcomes::{CancelledOrderPayload, FulfillmentEventPayload, FulfillmentPayload, Observed};

/// `fulfillment_events/create`. `at`: when the delivery happened, for an event without its time.
pub async fn fulfillment_event(tx: &mut Tx, shop_domain: &str, body: &Value, at: i64) -> anyhow::Result<String> {
    let ev: FulfillmentEventPayload = match serde_json::from_value(body.clone()) {
        Ok(ev) => ev,
        Err(e) => return Ok(format!("ignored: not a fulfillment event ({e})")),
    };
    let Some(seen) = ev.observed(at) else {
        return Ok("ignored: the fulfillment event has no status".into());
    };
    record(tx, shop_domain, ev.order_id, seen).await
}

/// `fulfillments/update`.
pub async fn fulfillment_update(tx: &mut Tx, shop_domain: &str, body: &Value, at: i64) -> anyhow::Result<String> {
    let f: FulfillmentPayload = match serde_json::from_value(body.clone()) {
        Ok(f) => f,
        Err(e) => return Ok(format!("ignored: not a fulfillment ({e})")),
    };
    let Some(order_id) = f.order_id else {
        return Ok("ignored: the fulfillment names no order".into());
    };
    let seen = f.observed(at);
    if seen.is_empty() {
        return Ok(format!("ignored: fulfillment {} says nothing about shipping", f.status.as_deref().unwrap_or("without a status")));
    }
    record(tx, shop_domain, order_id, seen).await
}

/// `orders/cancelled`, after the verification side (`verification::intake::order_cancelled`) in the
/// same transaction: a cancellation after the order shipped is its outcome.
pub async fn order_cancelled(tx: &mut Tx, shop_domain: &str, body: &Value, at: i64) -> anyhow::Result<String> {
    let order: CancelledOrderPayload = match serde_json::from_value(body.clone()) {
        Ok(o) => o,
        Err(e) => return Ok(format!("ignored: not an order ({e})")),
    };
    record(tx, shop_domain, order.id, order.observed(at)).await
}

/// Merges `seen` into what is known of the shop's order, and notes a new outcome in its timeline.
async fn record(tx: &mut Tx, shop_domain: &str, shopify_order_id: i64, seen: Observed) -> anyhow::Result<String> {
    let Some(shop_id) = shops::id_by_domain(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let Some((order_id, known, before)) = outcomes::observed_for_update(tx, &shop_id, shopify_order_id).await? else {
        return Ok("ignored: an order the app never took".into());
    };
    let merged = known.merge(seen);
    if merged == known {
        return Ok(format!("outcome {before}; nothing new"));
    }
    let (outcome, outcome_at) = merged.outcome();
    outcomes::store(tx, &shop_id, &order_id, &merged, outcome, outcome_at).await?;
    if outcome == before {
        return Ok(format!("outcome {outcome}"));
    }
    let (kind, detail) = match outcome {
        ShippingOutcome::Delivered => ("delivered", "Shopify reports the parcel delivered"),
        ShippingOutcome::Returned => ("returned", "Shopify reports the parcel not delivered (failure or return to origin)"),
        ShippingOutcome::Cancelled => ("cancelled_after_shipping", "cancelled in Shopify after it shipped"),
        // The outcome never moves back to unknown (crate::outcomes).
        ShippingOutcome::Unknown => return Ok(format!("outcome {outcome}")),
    };
    add_event(tx, &shop_id, &order_id, kind, detail, outcome_at.unwrap_or_default()).await?;
    Ok(format!("outcome {before} → {outcome}"))
}
