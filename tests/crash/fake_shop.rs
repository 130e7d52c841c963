//! A stateful fake Shopify for the crash tests: token exchange and refresh, and an Admin GraphQL
//! endpoint that keeps each order's tags and cancellation the way Shopify does, and can be slowed
//! down so that a kill lands while a mutation is in flight.
//!
//! Semantics modelled on Shopify: a mutation takes effect when Shopify receives it, whether or not
//! the client is still there to read the answer; `tagsAdd` is idempotent (adding a tag the order
//! already has changes nothing); `orderCancel` on an order already cancelled is refused with an
//! `orderCancelUserErrors` entry and changes nothing. Each order has one fulfillment order (created
//! the first time it is asked for); `fulfillmentOrderHold` refuses a second hold under a handle
//! the app already holds it by, and a release removes the holds named.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Default)]
pub struct ShopState {
    issued: u32,
    tokens: HashSet<String>,
    /// Order gid → its tags.
    pub tags: HashMap<String, BTreeSet<String>>,
    /// Order gid → tagsAdd requests received.
    pub tag_requests: HashMap<String, usize>,
    /// Order gid → orderCancel requests received.
    pub cancel_requests: HashMap<String, usize>,
    /// Order gid → cancellations that took effect (Shopify applies at most one).
    pub cancels_applied: HashMap<String, usize>,
    /// orderCancel requests refused because the order was already cancelled.
    pub cancels_refused: usize,
    /// Every GraphQL request's mutation name, in order.
    pub requests: Vec<String>,
    /// Order gid → the handles of the holds on its one fulfillment order.
    pub holds: HashMap<String, Vec<String>>,
    /// Order gid → holds that took effect (a duplicate handle is refused and not counted).
    pub holds_placed: HashMap<String, usize>,
    /// Order gid → releases that took effect.
    pub releases: HashMap<String, usize>,
}

/// The fulfillment order id of an order gid (one per order) and back.
fn fo_id(order_gid: &str) -> String {
    order_gid.replace("/Order/", "/FulfillmentOrder/")
}

fn order_of(fo: &str) -> String {
    fo.replace("/FulfillmentOrder/", "/Order/")
}

#[derive(Clone)]
pub struct FakeShop {
    pub origin: String,
    pub state: Arc<Mutex<ShopState>>,
    /// How long a GraphQL answer is held back (after the mutation took effect).
    pub delay_ms: Arc<AtomicU64>,
    /// GraphQL requests received so far (to wait for one to be in flight).
    pub arrivals: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Ctx {
    state: Arc<Mutex<ShopState>>,
    delay_ms: Arc<AtomicU64>,
    arrivals: Arc<AtomicUsize>,
    api_key: &'static str,
    api_secret: &'static str,
}

impl FakeShop {
    pub async fn start(api_key: &'static str, api_secret: &'static str) -> FakeShop {
        let state = Arc::new(Mutex::new(ShopState::default()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let arrivals = Arc::new(AtomicUsize::new(0));
        let ctx = Ctx { state: state.clone(), delay_ms: delay_ms.clone(), arrivals: arrivals.clone(), api_key, api_secret };
        let router = Router::new()
            .route("/admin/oauth/access_token", post(access_token))
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .with_state(ctx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeShop { origin, state, delay_ms, arrivals }
    }

    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn arrivals(&self) -> usize {
        self.arrivals.load(Ordering::SeqCst)
    }
}

async fn access_token(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let req: Value = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        Value::Object(url::form_urlencoded::parse(&body).into_owned().map(|(k, v)| (k, Value::String(v))).collect())
    };
    if req.get("client_id").and_then(Value::as_str) != Some(ctx.api_key) || req.get("client_secret").and_then(Value::as_str) != Some(ctx.api_secret) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let ok = match req.get("grant_type").and_then(Value::as_str) {
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => req.get("subject_token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()),
        Some("refresh_token") => req.get("refresh_token").and_then(Value::as_str).is_some_and(|t| t.starts_with("shprt_")),
        _ => false,
    };
    if !ok {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_request"}))).into_response();
    }
    let mut s = ctx.state.lock().unwrap();
    s.issued += 1;
    let access = format!("shpat_{}", s.issued);
    s.tokens.insert(access.clone());
    // Long-lived: the test clock moves hours ahead; a refresh would work too, but is not the point here.
    axum::Json(json!({
        "access_token": access, "scope": "read_orders,write_orders,read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders", "expires_in": 400 * 86_400,
        "refresh_token": format!("shprt_{}", s.issued), "refresh_token_expires_in": 400 * 86_400,
    }))
    .into_response()
}

async fn graphql(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    ctx.arrivals.fetch_add(1, Ordering::SeqCst);
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let query = req.get("query").and_then(Value::as_str).unwrap_or("");
    let vars = &req["variables"];
    let data = {
        let mut s = ctx.state.lock().unwrap();
        if !s.tokens.contains(&token) {
            return (StatusCode::UNAUTHORIZED, "[API] Invalid API key or access token (unrecognized login or wrong password)").into_response();
        }
        if query.contains("fulfillmentOrderReleaseHold(") {
            let order = order_of(vars["id"].as_str().unwrap_or(""));
            s.requests.push("fulfillmentOrderReleaseHold".into());
            let ids: Vec<String> = vars["holdIds"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
            let holds = s.holds.entry(order.clone()).or_default();
            let before = holds.len();
            // Hold ids are `<order fo id>#<handle>`.
            holds.retain(|h| !ids.contains(&format!("{}#{h}", fo_id(&order))));
            if holds.len() < before {
                *s.releases.entry(order.clone()).or_default() += 1;
            }
            let status = if s.holds[&order].is_empty() { "OPEN" } else { "ON_HOLD" };
            json!({"fulfillmentOrderReleaseHold": {"fulfillmentOrder": {"id": fo_id(&order), "status": status}, "userErrors": []}})
        } else if query.contains("fulfillmentOrderHold(") {
            let order = order_of(vars["id"].as_str().unwrap_or(""));
            s.requests.push("fulfillmentOrderHold".into());
            let handle = vars["fulfillmentHold"]["handle"].as_str().unwrap_or("").to_string();
            if s.holds.get(&order).is_some_and(|h| h.contains(&handle)) {
                json!({"fulfillmentOrderHold": {"fulfillmentHold": null, "userErrors": [
                    {"field": ["fulfillmentHold", "handle"], "message": "The handle is already in use by this app", "code": "DUPLICATE_FULFILLMENT_HOLD_HANDLE"}]}})
            } else {
                s.holds.entry(order.clone()).or_default().push(handle.clone());
                *s.holds_placed.entry(order.clone()).or_default() += 1;
                json!({"fulfillmentOrderHold": {"fulfillmentHold": {"id": format!("{}#{handle}", fo_id(&order)), "handle": handle},
                    "fulfillmentOrder": {"id": fo_id(&order), "status": "ON_HOLD"}, "userErrors": []}})
            }
        } else if query.contains("fulfillmentOrders(") {
            let order = vars["id"].as_str().unwrap_or("").to_string();
            s.requests.push("fulfillmentOrders".into());
            let holds = s.holds.entry(order.clone()).or_default().clone();
            let status = if holds.is_empty() { "OPEN" } else { "ON_HOLD" };
            let fo = fo_id(&order);
            let holds: Vec<Value> = holds.iter().map(|h| json!({"id": format!("{fo}#{h}"), "handle": h, "heldByRequestingApp": true})).collect();
            json!({"order": {"fulfillmentOrders": {"nodes": [{"id": fo, "status": status, "fulfillmentHolds": holds}]}}})
        } else if query.contains("tagsAdd") {
            let id = vars["id"].as_str().unwrap_or("").to_string();
            s.requests.push("tagsAdd".into());
            *s.tag_requests.entry(id.clone()).or_default() += 1;
            let tags: Vec<String> = vars["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_string)).collect();
            s.tags.entry(id.clone()).or_default().extend(tags);
            json!({"tagsAdd": {"node": {"id": id}, "userErrors": []}})
        } else if query.contains("orderCancel") {
            let id = vars["orderId"].as_str().unwrap_or("").to_string();
            s.requests.push("orderCancel".into());
            *s.cancel_requests.entry(id.clone()).or_default() += 1;
            if s.cancels_applied.get(&id).copied().unwrap_or(0) > 0 {
                s.cancels_refused += 1;
                json!({"orderCancel": {"job": null, "orderCancelUserErrors": [
                    {"field": ["orderId"], "message": "Order has already been cancelled", "code": "INVALID"}]}})
            } else {
                *s.cancels_applied.entry(id).or_default() += 1;
                json!({"orderCancel": {"job": {"id": "gid://shopify/Job/1", "done": false}, "orderCancelUserErrors": []}})
            }
        } else {
            s.requests.push("other".into());
            json!({})
        }
    };
    // The mutation took effect above; the answer may be slow to come back (and never arrive if the
    // client is killed meanwhile).
    let delay = ctx.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let cost = json!({"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}});
    axum::Json(json!({"data": data, "extensions": {"cost": cost}})).into_response()
}
