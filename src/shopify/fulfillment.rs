//! Fulfillment holds through the Admin GraphQL API: an order's fulfillment orders with their holds,
//! `fulfillmentOrderHold` and `fulfillmentOrderReleaseHold`. Throttling, 5xx and token refresh are
//! `admin::graphql`'s.

use serde_json::{Value, json};

use super::admin::{AdminError, graphql};
use crate::app::App;

/// The handle of the app's own hold: unique among this app's holds on one fulfillment order, so a
/// second request to hold the same fulfillment order is refused as a duplicate, never held twice.
pub const HOLD_HANDLE: &str = "codverify-cod";

/// The note the merchant reads on the held fulfillment order.
pub const HOLD_NOTES: &str = "Cash on delivery order awaiting the customer's confirmation (codverify)";

/// Where a fulfillment order stands in Shopify (`FulfillmentOrderStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoStatus {
    Open,
    Scheduled,
    OnHold,
    InProgress,
    Incomplete,
    Cancelled,
    Closed,
    /// A status this API version does not name (treated as not holdable).
    Other,
}

impl FoStatus {
    pub fn parse(s: &str) -> FoStatus {
        match s {
            "OPEN" => FoStatus::Open,
            "SCHEDULED" => FoStatus::Scheduled,
            "ON_HOLD" => FoStatus::OnHold,
            "IN_PROGRESS" => FoStatus::InProgress,
            "INCOMPLETE" => FoStatus::Incomplete,
            "CANCELLED" => FoStatus::Cancelled,
            "CLOSED" => FoStatus::Closed,
            _ => FoStatus::Other,
        }
    }

    /// Whether a hold can be put on it (Shopify's rule: open, scheduled, or held by someone else).
    pub fn can_hold(self) -> bool {
        matches!(self, FoStatus::Open | FoStatus::Scheduled | FoStatus::OnHold)
    }
}

/// One fulfillment order of an order, and the ids of the holds this app put on it.
#[derive(Debug, Clone, PartialEq)]
pub struct FulfillmentOrder {
    pub id: String,
    pub status: FoStatus,
    pub our_holds: Vec<String>,
}

/// How a hold request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Held now.
    Placed,
    /// Our hold was already on it (a repeat after a crash or a duplicate job).
    AlreadyThere,
    /// Shopify no longer knows the fulfillment order (merged, split or replaced since it was read).
    Gone,
}

/// The order's fulfillment orders (the first 25; a COD order has one per location).
pub async fn fulfillment_orders(app: &App, shop_id: &str, order_gid: &str) -> Result<Vec<FulfillmentOrder>, AdminError> {
    const Q: &str = "query fulfillmentOrders($id: ID!) { order(id: $id) { fulfillmentOrders(first: 25) { nodes { id status \
        fulfillmentHolds { id handle heldByRequestingApp } } } } }";
    let data = graphql(app, shop_id, Q, json!({ "id": order_gid })).await?;
    Ok(parse_fulfillment_orders(&data))
}

/// Reads the query's answer: a missing order reads as no fulfillment orders yet.
pub fn parse_fulfillment_orders(data: &Value) -> Vec<FulfillmentOrder> {
    let nodes = data.pointer("/order/fulfillmentOrders/nodes").and_then(Value::as_array).cloned().unwrap_or_default();
    nodes
        .iter()
        .filter_map(|n| {
            let id = n.get("id").and_then(Value::as_str)?.to_string();
            let status = FoStatus::parse(n.get("status").and_then(Value::as_str).unwrap_or(""));
            let our_holds = n
                .get("fulfillmentHolds")
                .and_then(Value::as_array)
                .map(|holds| {
                    holds
                        .iter()
                        // Ours: held by this app under our handle (another app may use the same handle).
                        .filter(|h| {
                            h.get("heldByRequestingApp").and_then(Value::as_bool) == Some(true)
                                && h.get("handle").and_then(Value::as_str) == Some(HOLD_HANDLE)
                        })
                        .filter_map(|h| h.get("id").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some(FulfillmentOrder { id, status, our_holds })
        })
        .collect()
}

/// Puts the app's hold on a fulfillment order (reason OTHER, the merchant not notified).
pub async fn hold(app: &App, shop_id: &str, fulfillment_order_id: &str) -> Result<Held, AdminError> {
    const Q: &str = "mutation fulfillmentOrderHold($id: ID!, $fulfillmentHold: FulfillmentOrderHoldInput!) { \
        fulfillmentOrderHold(id: $id, fulfillmentHold: $fulfillmentHold) { fulfillmentHold { id handle } \
        fulfillmentOrder { id status } userErrors { field message code } } }";
    let vars = json!({
        "id": fulfillment_order_id,
        "fulfillmentHold": { "reason": "OTHER", "reasonNotes": HOLD_NOTES, "handle": HOLD_HANDLE, "notifyMerchant": false },
    });
    let data = graphql(app, shop_id, Q, vars).await?;
    match user_error(&data, "/fulfillmentOrderHold/userErrors") {
        None => Ok(Held::Placed),
        Some((Some(code), _)) if code == "DUPLICATE_FULFILLMENT_HOLD_HANDLE" => Ok(Held::AlreadyThere),
        Some((Some(code), _)) if code == "FULFILLMENT_ORDER_NOT_FOUND" => Ok(Held::Gone),
        Some((_, message)) => Err(AdminError::Refused(message)),
    }
}

/// Releases the app's own holds (by id: without them Shopify would release other apps' holds too).
/// A fulfillment order Shopify no longer knows has nothing left to release.
pub async fn release(app: &App, shop_id: &str, fulfillment_order_id: &str, hold_ids: &[String]) -> Result<(), AdminError> {
    const Q: &str = "mutation fulfillmentOrderReleaseHold($id: ID!, $holdIds: [ID!]) { \
        fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds) { fulfillmentOrder { id status } userErrors { field message code } } }";
    let data = graphql(app, shop_id, Q, json!({ "id": fulfillment_order_id, "holdIds": hold_ids })).await?;
    match user_error(&data, "/fulfillmentOrderReleaseHold/userErrors") {
        None => Ok(()),
        Some((Some(code), _)) if code == "FULFILLMENT_ORDER_NOT_FOUND" => Ok(()),
        Some((_, message)) => Err(AdminError::Refused(message)),
    }
}

/// The first user error's code and all the messages, if Shopify reported any.
fn user_error(data: &Value, pointer: &str) -> Option<(Option<String>, String)> {
    let errors = data.pointer(pointer).and_then(Value::as_array).filter(|e| !e.is_empty())?;
    let code = errors.iter().find_map(|e| e.get("code").and_then(Value::as_str)).map(str::to_string);
    let messages: Vec<&str> = errors.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).collect();
    Some((code, messages.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_holds_count_as_ours() {
        let data = json!({"order": {"fulfillmentOrders": {"nodes": [
            {"id": "gid://shopify/FulfillmentOrder/1", "status": "ON_HOLD", "fulfillmentHolds": [
                {"id": "h1", "handle": HOLD_HANDLE, "heldByRequestingApp": true},
                {"id": "h2", "handle": HOLD_HANDLE, "heldByRequestingApp": false},
                {"id": "h3", "handle": "other", "heldByRequestingApp": true}]},
            {"id": "gid://shopify/FulfillmentOrder/2", "status": "CLOSED", "fulfillmentHolds": []},
        ]}}});
        let fos = parse_fulfillment_orders(&data);
        assert_eq!(fos.len(), 2);
        assert_eq!(fos[0].our_holds, vec!["h1".to_string()]);
        assert!(fos[0].status.can_hold());
        assert_eq!(fos[1].status, FoStatus::Closed);
        assert!(!fos[1].status.can_hold());
        assert!(parse_fulfillment_orders(&json!({"order": null})).is_empty());
    }

    #[test]
    fn user_errors_keep_their_code() {
        let data = json!({"m": {"userErrors": [{"field": null, "message": "dup", "code": "DUPLICATE_FULFILLMENT_HOLD_HANDLE"}]}});
        assert_eq!(user_error(&data, "/m/userErrors"), Some((Some("DUPLICATE_FULFILLMENT_HOLD_HANDLE".into()), "dup".into())));
        assert_eq!(user_error(&json!({"m": {"userErrors": []}}), "/m/userErrors"), None);
    }
}
