//! A fake Shopify over real HTTP: the OAuth token endpoint and the Admin GraphQL endpoint. It
//! records every request so tests can assert what the app sent (and that it sent nothing).

use std::collections::{HashMap, HashSet, VecDeque};
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
pub struct Recorded {
    /// Every request to /admin/oauth/access_token, as JSON (form bodies converted).
    pub token_requests: Vec<Value>,
    /// Every GraphQL request: (access token header, body).
    pub graphql_requests: Vec<(String, Value)>,
    /// Scripted GraphQL answers, used in order before the default success.
    pub graphql_script: VecDeque<(u16, Value)>,
    /// Scripted answers for one operation (a query holding the name), used before everything else.
    pub operation_script: Vec<(String, u16, Value)>,
    /// Access tokens that the Admin API accepts.
    pub valid_tokens: HashSet<String>,
    issued: u32,
    /// `expires_in` of issued access tokens.
    pub expires_in: u64,
    /// The scopes issued tokens carry (`read_orders,write_orders` unless a test grants more).
    pub granted_scopes: String,
    /// Fulfillment orders per order gid, with their holds.
    pub fulfillment_orders: HashMap<String, Vec<FakeFulfillmentOrder>>,
    /// When set, every `fulfillmentOrderHold` is refused with this user error (code, message).
    pub refuse_holds: Option<(String, String)>,
    next_id: u64,
}

/// A fulfillment order as the fake keeps it.
#[derive(Clone, Debug)]
pub struct FakeFulfillmentOrder {
    pub id: String,
    /// OPEN, ON_HOLD, CLOSED, …
    pub status: String,
    pub holds: Vec<FakeHold>,
}

#[derive(Clone, Debug)]
pub struct FakeHold {
    pub id: String,
    pub handle: String,
    /// Placed by the app under test (the token's app); false: another app's.
    pub ours: bool,
}

#[derive(Clone)]
pub struct FakeShopify {
    pub origin: String,
    pub state: Arc<Mutex<Recorded>>,
}

impl FakeShopify {
    pub async fn start() -> FakeShopify {
        let state = Arc::new(Mutex::new(Recorded { expires_in: 3600, granted_scopes: "read_orders,write_orders".into(), ..Default::default() }));
        let router = Router::new()
            .route("/admin/oauth/access_token", post(access_token))
            .route("/admin/api/{version}/graphql.json", post(graphql))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeShopify { origin, state }
    }

    pub fn token_requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().token_requests.clone()
    }

    pub fn grant_count(&self, grant: &str) -> usize {
        self.token_requests().iter().filter(|r| grant_type(r) == grant).count()
    }

    pub fn graphql_requests(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().graphql_requests.clone()
    }

    pub fn script_graphql(&self, status: u16, body: Value) {
        self.state.lock().unwrap().graphql_script.push_back((status, body));
    }

    /// Answers the next request whose query holds `operation` (e.g. `orderUpdate`) so, whatever
    /// other requests go meanwhile; scripted answers of one operation go in order.
    pub fn script_operation(&self, operation: &str, status: u16, body: Value) {
        self.state.lock().unwrap().operation_script.push((operation.to_string(), status, body));
    }

    /// Every request of one operation, as its variables.
    pub fn operation_requests(&self, operation: &str) -> Vec<Value> {
        self.graphql_requests()
            .into_iter()
            .filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(operation))
            .map(|(_, b)| b["variables"].clone())
            .collect()
    }

    /// Tokens issued from now on carry these scopes (the merchant approved them).
    pub fn grant_scopes(&self, scopes: &str) {
        self.state.lock().unwrap().granted_scopes = scopes.to_string();
    }

    /// Shopify creates `n` open fulfillment orders for the order (possibly after the order).
    pub fn add_fulfillment_orders(&self, order_gid: &str, n: usize) {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.next_id += 1;
            let fo = FakeFulfillmentOrder { id: format!("gid://shopify/FulfillmentOrder/{}", s.next_id), status: "OPEN".into(), holds: vec![] };
            s.fulfillment_orders.entry(order_gid.to_string()).or_default().push(fo);
        }
    }

    /// Another app puts its own hold on every fulfillment order of the order.
    pub fn foreign_hold(&self, order_gid: &str) {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = format!("gid://shopify/FulfillmentHold/{}", s.next_id);
        for fo in s.fulfillment_orders.get_mut(order_gid).into_iter().flatten() {
            fo.holds.push(FakeHold { id: id.clone(), handle: "other-app".into(), ours: false });
            fo.status = "ON_HOLD".into();
        }
    }

    /// The order's fulfillment orders as they stand.
    pub fn fulfillment_orders(&self, order_gid: &str) -> Vec<FakeFulfillmentOrder> {
        self.state.lock().unwrap().fulfillment_orders.get(order_gid).cloned().unwrap_or_default()
    }

    /// The merchant ships the order: refused while any fulfillment order is on hold.
    pub fn fulfill(&self, order_gid: &str) -> Result<(), String> {
        let mut s = self.state.lock().unwrap();
        let fos = s.fulfillment_orders.get_mut(order_gid).ok_or("the order has no fulfillment order")?;
        if let Some(held) = fos.iter().find(|f| f.status == "ON_HOLD") {
            return Err(format!("{} is on hold", held.id));
        }
        for fo in fos.iter_mut().filter(|f| f.status == "OPEN") {
            fo.status = "CLOSED".into();
        }
        Ok(())
    }

    /// How many requests the app made whose query names `op` (e.g. `fulfillmentOrderHold(`).
    pub fn requests_naming(&self, op: &str) -> usize {
        self.graphql_requests().iter().filter(|(_, b)| b["query"].as_str().unwrap_or("").contains(op)).count()
    }

    /// The Admin API stops accepting every token issued so far (as after a revocation).
    pub fn revoke_all(&self) {
        self.state.lock().unwrap().valid_tokens.clear();
    }
}

pub fn grant_type(r: &Value) -> &str {
    match r.get("grant_type").and_then(Value::as_str) {
        Some("urn:ietf:params:oauth:grant-type:token-exchange") => "token_exchange",
        Some(other) => other,
        None if r.get("code").is_some() => "authorization_code",
        None => "unknown",
    }
}

async fn access_token(State(state): State<Arc<Mutex<Recorded>>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let req: Value = if is_json {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        let map: serde_json::Map<String, Value> =
            url::form_urlencoded::parse(&body).into_owned().map(|(k, v)| (k, Value::String(v))).collect();
        Value::Object(map)
    };
    let grant = grant_type(&req).to_string();
    if grant == "refresh_token" {
        // Slow enough that concurrent callers overlap.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut s = state.lock().unwrap();
    s.token_requests.push(req.clone());
    if req.get("client_id").and_then(Value::as_str) != Some(super::API_KEY)
        || req.get("client_secret").and_then(Value::as_str) != Some(super::API_SECRET)
    {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let ok = match grant.as_str() {
        "authorization_code" => req.get("code").and_then(Value::as_str) == Some("good-code"),
        "token_exchange" => req.get("subject_token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()),
        "refresh_token" => req.get("refresh_token").and_then(Value::as_str).is_some_and(|t| t.starts_with("shprt_")),
        _ => false,
    };
    if !ok {
        let error = if grant == "token_exchange" { "invalid_subject_token" } else { "invalid_request" };
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response();
    }
    s.issued += 1;
    let access = format!("shpat_{}", s.issued);
    s.valid_tokens.insert(access.clone());
    axum::Json(json!({
        "access_token": access,
        "scope": s.granted_scopes,
        "expires_in": s.expires_in,
        "refresh_token": format!("shprt_{}", s.issued),
        "refresh_token_expires_in": 7_776_000,
    }))
    .into_response()
}

async fn graphql(State(state): State<Arc<Mutex<Recorded>>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.graphql_requests.push((token.clone(), req.clone()));
    if !s.valid_tokens.contains(&token) {
        return (StatusCode::UNAUTHORIZED, "[API] Invalid API key or access token (unrecognized login or wrong password)").into_response();
    }
    let query = req.get("query").and_then(Value::as_str).unwrap_or("");
    if let Some(i) = s.operation_script.iter().position(|(op, _, _)| query.contains(op.as_str())) {
        let (_, status, body) = s.operation_script.remove(i);
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    if let Some((status, body)) = s.graphql_script.pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    }
    let cost = json!({"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}});
    let data = if query.contains("fulfillmentOrderReleaseHold(") {
        release_hold(&mut s, &req["variables"])
    } else if query.contains("fulfillmentOrderHold(") {
        hold(&mut s, &req["variables"])
    } else if query.contains("fulfillmentOrders(") {
        let gid = req["variables"]["id"].as_str().unwrap_or("");
        let nodes: Vec<Value> = s.fulfillment_orders.get(gid).into_iter().flatten().map(|fo| json!({
            "id": fo.id, "status": fo.status,
            "fulfillmentHolds": fo.holds.iter().map(|h| json!({"id": h.id, "handle": h.handle, "heldByRequestingApp": h.ours})).collect::<Vec<_>>(),
        })).collect();
        json!({"order": {"fulfillmentOrders": {"nodes": nodes}}})
    } else if query.contains("tagsAdd") {
        json!({"tagsAdd": {"node": {"id": req["variables"]["id"]}, "userErrors": []}})
    } else if query.contains("orderCancel") {
        json!({"orderCancel": {"job": {"id": "gid://shopify/Job/1", "done": false}, "orderCancelUserErrors": []}})
    } else if query.contains("orderUpdate") {
        json!({"orderUpdate": {"order": {"id": req["variables"]["input"]["id"]}, "userErrors": []}})
    } else {
        json!({})
    };
    axum::Json(json!({"data": data, "extensions": {"cost": cost}})).into_response()
}

fn user_error(op: &str, code: &str, message: &str) -> Value {
    json!({op: {"fulfillmentOrder": null, "userErrors": [{"field": ["id"], "message": message, "code": code}]}})
}

/// `fulfillmentOrderHold` with Shopify's rules: a holdable status, one hold per handle per app.
fn hold(s: &mut Recorded, vars: &Value) -> Value {
    const OP: &str = "fulfillmentOrderHold";
    if let Some((code, message)) = s.refuse_holds.clone() {
        return user_error(OP, &code, &message);
    }
    let id = vars["id"].as_str().unwrap_or("");
    let handle = vars["fulfillmentHold"]["handle"].as_str().unwrap_or("").to_string();
    s.next_id += 1;
    let hold_id = format!("gid://shopify/FulfillmentHold/{}", s.next_id);
    let Some(fo) = s.fulfillment_orders.values_mut().flatten().find(|f| f.id == id) else {
        return user_error(OP, "FULFILLMENT_ORDER_NOT_FOUND", "Fulfillment order does not exist.");
    };
    if !matches!(fo.status.as_str(), "OPEN" | "SCHEDULED" | "ON_HOLD") {
        return user_error(OP, "INVALID", "The fulfillment order's status does not allow a hold.");
    }
    if fo.holds.iter().any(|h| h.ours && h.handle == handle) {
        return user_error(OP, "DUPLICATE_FULFILLMENT_HOLD_HANDLE", "The handle provided for the fulfillment hold is already in use by this app for another hold on this fulfillment order.");
    }
    fo.holds.push(FakeHold { id: hold_id.clone(), handle: handle.clone(), ours: true });
    fo.status = "ON_HOLD".into();
    json!({OP: {"fulfillmentHold": {"id": hold_id, "handle": handle}, "fulfillmentOrder": {"id": fo.id, "status": fo.status}, "userErrors": []}})
}

/// `fulfillmentOrderReleaseHold`: the holds named (ours only), or every hold without `holdIds`.
fn release_hold(s: &mut Recorded, vars: &Value) -> Value {
    const OP: &str = "fulfillmentOrderReleaseHold";
    let id = vars["id"].as_str().unwrap_or("");
    let Some(fo) = s.fulfillment_orders.values_mut().flatten().find(|f| f.id == id) else {
        return user_error(OP, "FULFILLMENT_ORDER_NOT_FOUND", "Fulfillment order does not exist.");
    };
    match vars["holdIds"].as_array() {
        Some(ids) => {
            let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
            if fo.holds.iter().any(|h| ids.contains(&h.id.as_str()) && !h.ours) {
                return user_error(OP, "INVALID_ACCESS", "The app cannot release another app's hold.");
            }
            fo.holds.retain(|h| !ids.contains(&h.id.as_str()));
        }
        None => fo.holds.clear(),
    }
    if fo.holds.is_empty() && fo.status == "ON_HOLD" {
        fo.status = "OPEN".into();
    }
    json!({OP: {"fulfillmentOrder": {"id": fo.id, "status": fo.status}, "userErrors": []}})
}
