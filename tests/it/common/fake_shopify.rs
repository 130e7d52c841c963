//! A fake Shopify over real HTTP: the OAuth token endpoint and the Admin GraphQL endpoint. It
//! records every request so tests can assert what the app sent (and that it sent nothing).

use std::collections::{HashSet, VecDeque};
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
}

#[derive(Clone)]
pub struct FakeShopify {
    pub origin: String,
    pub state: Arc<Mutex<Recorded>>,
}

impl FakeShopify {
    pub async fn start() -> FakeShopify {
        let state = Arc::new(Mutex::new(Recorded { expires_in: 3600, ..Default::default() }));
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
        "scope": "read_orders,write_orders",
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
    let data = if query.contains("tagsAdd") {
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
