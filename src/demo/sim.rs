//! The demo's simulated Shopify Admin API and simulated Exotel, served by this process under
//! `/demo/shopify` and `/demo/exotel`. The Exotel side keeps Exotel's quirks (quoted `digits`,
//! multipart status callbacks, 0-prefixed numbers, string durations) so that the demo runs the same
//! code paths as production.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::AppState;

#[derive(Debug, Clone)]
pub struct SimCall {
    pub sid: String,
    /// The customer's number as Exotel shows it (0-prefixed).
    pub to: String,
    pub custom_field: String,
    pub status_callback: String,
    /// ringing | completed | no-answer | busy
    pub status: String,
    pub greeting: Option<String>,
    pub outcome: Option<String>,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct SimSms {
    pub sid: String,
    pub to: String,
    pub body: String,
    pub at_ms: i64,
}

/// A WhatsApp template message on the simulated phone, as the app sent it.
#[derive(Debug, Clone)]
pub struct SimWhatsapp {
    pub sid: String,
    /// The merchant's business number and the customer's, as sent (E.164).
    pub from: String,
    pub to: String,
    pub template: String,
    pub language: String,
    /// The body's parameters, in order.
    pub params: Vec<String>,
    /// The quick-reply buttons in order: (label, payload).
    pub buttons: Vec<(String, String)>,
    pub status_callback: String,
    pub custom_data: String,
    /// accepted | delivered | failed
    pub status: String,
    /// What the shopper answered, in order (a button's label or the typed text).
    pub replies: Vec<String>,
    pub at_ms: i64,
}

impl SimWhatsapp {
    /// The body as the phone shows it: the demo's approved template with its parameters filled in.
    pub fn body(&self) -> String {
        let p = |i: usize| self.params.get(i).map_or("", String::as_str);
        if self.template == DEMO_TEMPLATE {
            format!("Please confirm your Cash on Delivery order {} of {} ({}), to be delivered to {}. Tap a button below.", p(0), p(1), p(2), p(3))
        } else {
            format!("[template {}] {}", self.template, self.params.join(" · "))
        }
    }
}

/// The template the simulated Meta has approved for the demo shop; others show as raw parameters.
pub const DEMO_TEMPLATE: &str = "cod_confirmation";

/// A customer number ending in this is not on WhatsApp in the demo: the message fails.
pub const NOT_ON_WHATSAPP: &str = "9999";

/// A button's label in the demo template: Meta keeps labels in the template, the payload says which.
fn button_label(payload: &str) -> String {
    match payload.rsplit_once('.').map_or("", |(_, c)| c) {
        "confirm" => "Confirm order",
        "cancel" => "Cancel order",
        "callback" => "Call me",
        _ => "Reply",
    }
    .to_string()
}

#[derive(Debug, Clone, Default)]
pub struct SimOrder {
    pub tags: Vec<String>,
    pub cancelled: bool,
    /// The shipping address `orderUpdate` last set, on one line (demo data only).
    pub shipping_address: Option<String>,
    /// Its fulfillment orders (one, created with the order, as for a single-location shop).
    pub fulfillment_orders: Vec<SimFulfillmentOrder>,
    /// A hold on it was released (the order was confirmed).
    pub released: bool,
}

/// A simulated fulfillment order and the holds on it (the demo app's, by handle).
#[derive(Debug, Clone, Default)]
pub struct SimFulfillmentOrder {
    pub id: String,
    /// OPEN, ON_HOLD or CLOSED (fulfilled).
    pub status: String,
    /// (hold id, handle)
    pub holds: Vec<(String, String)>,
}

impl SimOrder {
    /// What the console shows of the order's fulfilment: on hold, fulfilled, or open.
    pub fn fulfilment(&self) -> &'static str {
        let fos = &self.fulfillment_orders;
        if fos.iter().any(|f| f.status == "ON_HOLD") {
            "on hold"
        } else if !fos.is_empty() && fos.iter().all(|f| f.status == "CLOSED") {
            "fulfilled"
        } else if self.released {
            "released"
        } else {
            "open"
        }
    }
}

#[derive(Default)]
pub struct SimState {
    pub calls: Vec<SimCall>,
    pub sms: Vec<SimSms>,
    pub whatsapp: Vec<SimWhatsapp>,
    /// Shopify order GID → what the simulated Shopify holds.
    pub orders: BTreeMap<String, SimOrder>,
    next: u64,
}

impl SimState {
    fn sid(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:0>28}", self.next)
    }

    /// Shopify creates the order's fulfillment order with the order.
    pub fn add_order(&mut self, gid: &str) {
        self.next += 1;
        let fo = SimFulfillmentOrder { id: format!("gid://shopify/FulfillmentOrder/{}", self.next), status: "OPEN".into(), holds: vec![] };
        self.orders.entry(gid.to_string()).or_default().fulfillment_orders.push(fo);
    }

    /// The merchant fulfils the order: refused while it is on hold.
    pub fn fulfil(&mut self, gid: &str) -> Result<(), String> {
        let order = self.orders.get_mut(gid).ok_or("Shopify does not know this order")?;
        if order.cancelled {
            return Err("the order is cancelled".into());
        }
        if order.fulfillment_orders.iter().any(|f| f.status == "ON_HOLD") {
            return Err("the order is on hold until the shopper confirms it".into());
        }
        for fo in order.fulfillment_orders.iter_mut() {
            fo.status = "CLOSED".into();
        }
        Ok(())
    }

    fn fulfillment_order(&mut self, id: &str) -> Option<&mut SimFulfillmentOrder> {
        self.orders.values_mut().flat_map(|o| o.fulfillment_orders.iter_mut()).find(|f| f.id == id)
    }
}

fn fo_not_found(op: &str) -> Value {
    json!({op: {"fulfillmentOrder": null, "userErrors": [{"field": ["id"], "message": "Fulfillment order does not exist.", "code": "FULFILLMENT_ORDER_NOT_FOUND"}]}})
}

/// `fulfillmentOrderHold`, `fulfillmentOrderReleaseHold` and the order's fulfillment orders, with
/// Shopify's rules: one hold per handle, releases by hold id.
fn fulfillment_graphql(s: &mut SimState, query: &str, vars: &Value) -> Value {
    let id = vars["id"].as_str().unwrap_or_default().to_string();
    if query.contains("fulfillmentOrderReleaseHold(") {
        const OP: &str = "fulfillmentOrderReleaseHold";
        let Some(fo) = s.fulfillment_order(&id) else { return fo_not_found(OP) };
        let ids: Vec<&str> = vars["holdIds"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        fo.holds.retain(|(h, _)| !ids.contains(&h.as_str()));
        if fo.holds.is_empty() && fo.status == "ON_HOLD" {
            fo.status = "OPEN".into();
        }
        let answer = json!({OP: {"fulfillmentOrder": {"id": fo.id, "status": fo.status}, "userErrors": []}});
        if let Some(order) = s.orders.values_mut().find(|o| o.fulfillment_orders.iter().any(|f| f.id == id)) {
            order.released = true;
        }
        answer
    } else if query.contains("fulfillmentOrderHold(") {
        const OP: &str = "fulfillmentOrderHold";
        let handle = vars["fulfillmentHold"]["handle"].as_str().unwrap_or_default().to_string();
        let hold_id = s.sid("gid://shopify/FulfillmentHold/");
        let Some(fo) = s.fulfillment_order(&id) else { return fo_not_found(OP) };
        if fo.holds.iter().any(|(_, h)| *h == handle) {
            return json!({OP: {"fulfillmentHold": null, "userErrors": [{"field": ["fulfillmentHold", "handle"],
                "message": "The handle provided for the fulfillment hold is already in use by this app.", "code": "DUPLICATE_FULFILLMENT_HOLD_HANDLE"}]}});
        }
        if !matches!(fo.status.as_str(), "OPEN" | "ON_HOLD") {
            return json!({OP: {"fulfillmentHold": null, "userErrors": [{"field": ["id"], "message": "The fulfillment order cannot be put on hold.", "code": "INVALID"}]}});
        }
        fo.holds.push((hold_id.clone(), handle.clone()));
        fo.status = "ON_HOLD".into();
        json!({OP: {"fulfillmentHold": {"id": hold_id, "handle": handle}, "fulfillmentOrder": {"id": fo.id, "status": fo.status}, "userErrors": []}})
    } else {
        let nodes: Vec<Value> = s.orders.get(&id).map(|o| o.fulfillment_orders.clone()).unwrap_or_default().iter().map(|f| json!({
            "id": f.id, "status": f.status,
            "fulfillmentHolds": f.holds.iter().map(|(h, handle)| json!({"id": h, "handle": handle, "heldByRequestingApp": true})).collect::<Vec<_>>(),
        })).collect();
        json!({"order": {"fulfillmentOrders": {"nodes": nodes}}})
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo/shopify/admin/oauth/access_token", post(shopify_token))
        .route("/demo/shopify/admin/api/{version}/graphql.json", post(shopify_graphql))
        .route("/demo/exotel/v1/Accounts/{sid}/Calls/connect.json", post(exotel_connect))
        .route("/demo/exotel/v1/Accounts/{sid}/Calls/{call}", get(exotel_call_details))
        .route("/demo/exotel/v1/Accounts/{sid}/Numbers/{number}", get(exotel_numbers))
        .route("/demo/exotel/v1/Accounts/{sid}/Balance.json", get(exotel_balance))
        .route("/demo/exotel/v1/Accounts/{sid}/Sms/send.json", post(exotel_sms))
        .route("/demo/exotel/v1/Accounts/{sid}/SMS/Messages/{sms}", get(exotel_sms_details))
        .route("/demo/exotel/v2/accounts/{sid}/messages", post(exotel_whatsapp))
}

fn sim(app: &AppState) -> Option<&super::Sim> {
    app.demo.as_deref()
}

fn not_demo() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

fn now_text() -> String {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Kolkata).format("%Y-%m-%d %H:%M:%S").to_string()
}

async fn shopify_token() -> Response {
    axum::Json(json!({"access_token": "demo-access-token", "scope": crate::config::DEFAULT_SCOPES})).into_response()
}

async fn shopify_graphql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    if headers.get("x-shopify-access-token").and_then(|v| v.to_str().ok()) != Some("demo-access-token") {
        return (StatusCode::UNAUTHORIZED, "[API] Invalid API key or access token").into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let query = req["query"].as_str().unwrap_or("");
    let vars = &req["variables"];
    let mut s = sim.state.lock().expect("sim lock");
    let data = if query.contains("fulfillmentOrder") {
        fulfillment_graphql(&mut s, query, vars)
    } else if query.contains("tagsAdd") {
        let id = vars["id"].as_str().unwrap_or_default().to_string();
        let order = s.orders.entry(id.clone()).or_default();
        for t in vars["tags"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !order.tags.iter().any(|x| x == t) {
                order.tags.push(t.to_string());
            }
        }
        json!({"tagsAdd": {"node": {"id": id}, "userErrors": []}})
    } else if query.contains("orderCancel") {
        let id = vars["orderId"].as_str().unwrap_or_default().to_string();
        let order = s.orders.entry(id).or_default();
        if order.cancelled {
            json!({"orderCancel": {"job": null, "orderCancelUserErrors": [{"field": ["orderId"], "message": "Order has already been cancelled", "code": "INVALID"}]}})
        } else {
            order.cancelled = true;
            json!({"orderCancel": {"job": {"id": "gid://shopify/Job/demo", "done": true}, "orderCancelUserErrors": []}})
        }
    } else if query.contains("orderUpdate") {
        let input = &vars["input"];
        let id = input["id"].as_str().unwrap_or_default().to_string();
        let a = &input["shippingAddress"];
        let zip = a["zip"].as_str().unwrap_or_default();
        // Shopify checks a postal code against the country; the demo checks Indian PIN codes.
        if a["countryCode"].as_str() == Some("IN") && !crate::verification::address::is_pin(zip) {
            json!({"orderUpdate": {"order": null, "userErrors": [{"field": ["shippingAddress", "zip"], "message": "Enter a valid PIN code for India"}]}})
        } else {
            let line = ["address1", "address2", "city", "zip"].iter().filter_map(|k| a[*k].as_str()).collect::<Vec<_>>().join(", ");
            s.orders.entry(id.clone()).or_default().shipping_address = Some(line);
            json!({"orderUpdate": {"order": {"id": id}, "userErrors": []}})
        }
    } else {
        json!({})
    };
    let cost = json!({"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}});
    axum::Json(json!({"data": data, "extensions": {"cost": cost}})).into_response()
}

/// Exotel shows Indian numbers 0-prefixed.
fn exotel_number(e164: &str) -> String {
    match e164.strip_prefix("+91") {
        Some(rest) => format!("0{rest}"),
        None => e164.to_string(),
    }
}

async fn exotel_connect(State(state): State<AppState>, Path(account): Path<String>, body: Bytes) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut s = sim.state.lock().expect("sim lock");
    let sid = s.sid("demo");
    s.calls.push(SimCall {
        sid: sid.clone(),
        to: exotel_number(&field("From")),
        custom_field: field("CustomField"),
        status_callback: field("StatusCallback"),
        status: "ringing".into(),
        greeting: None,
        outcome: None,
        at_ms: state.clock.now_ms(),
    });
    axum::Json(json!({"Call": {"Sid": sid, "ParentCallSid": null, "DateCreated": now_text(), "AccountSid": account,
        "To": field("CallerId"), "From": field("From"), "PhoneNumberSid": field("CallerId"), "Status": "in-progress",
        "Direction": "outbound-api", "Duration": null, "Price": null, "Uri": format!("/v1/Accounts/{account}/Calls/{sid}")}}))
    .into_response()
}

async fn exotel_call_details(State(state): State<AppState>, Path((_, call)): Path<(String, String)>) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    let sid = call.trim_end_matches(".json");
    let s = sim.state.lock().expect("sim lock");
    match s.calls.iter().find(|c| c.sid == sid) {
        Some(c) => {
            let status = if c.status == "ringing" { "in-progress" } else { c.status.as_str() };
            axum::Json(json!({"Call": {"Sid": c.sid, "Status": status, "Duration": "15", "Price": "0.60"}})).into_response()
        }
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"RestException": {"Status": 404, "Message": "Not Found"}}))).into_response(),
    }
}

/// A number ending in 0000 is on the DND registry in the demo, to show the fallback.
async fn exotel_numbers(State(state): State<AppState>, Path((_, number)): Path<(String, String)>) -> Response {
    if sim(&state).is_none() {
        return not_demo();
    }
    let number = number.trim_end_matches(".json");
    let dnd = if number.ends_with("0000") { "Yes" } else { "No" };
    axum::Json(json!({"Numbers": {"PhoneNumber": exotel_number(number), "Circle": "KA", "CircleName": "Karnataka",
        "Type": "Mobile", "Operator": "J", "OperatorName": "Jio", "DND": dnd}}))
    .into_response()
}

async fn exotel_balance(State(state): State<AppState>) -> Response {
    if sim(&state).is_none() {
        return not_demo();
    }
    axum::Json(json!({"Balance": {"Amount": "1000.00", "Currency": "INR"}})).into_response()
}

async fn exotel_sms(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let sid = {
        let mut s = sim.state.lock().expect("sim lock");
        let sid = s.sid("sms");
        s.sms.push(SimSms { sid: sid.clone(), to: exotel_number(&field("To")), body: field("Body"), at_ms: state.clock.now_ms() });
        sid
    };
    // Delivered a moment later, reported like Exotel does: a form POST to StatusCallback.
    if let Ok(url) = url::Url::parse(&field("StatusCallback")) {
        let (app, custom, sid2) = (state.clone(), field("CustomField"), sid.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let form = [("SmsSid", sid2.as_str()), ("Status", "sent"), ("DetailedStatus", "DELIVERED_TO_HANDSET"),
                ("DetailedStatusCode", "20005"), ("SmsUnits", "1"), ("CustomField", custom.as_str())];
            let _ = app.http.post(self_url(&app, &url)).form(&form).send().await;
        });
    }
    (StatusCode::ACCEPTED, axum::Json(json!({"SMSMessage": {"Sid": sid, "To": field("To"), "From": field("From"),
        "Status": "queued", "DetailedStatus": "PENDING_TO_OPERATOR", "DetailedStatusCode": 21010, "DateCreated": now_text()}})))
    .into_response()
}

/// SMS details: every simulated SMS is delivered (its status callback may not have come if the
/// app was down, which is when the app looks it up).
async fn exotel_sms_details(State(state): State<AppState>, Path((_, sms)): Path<(String, String)>) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    let sid = sms.trim_end_matches(".json");
    let s = sim.state.lock().expect("sim lock");
    match s.sms.iter().find(|m| m.sid == sid) {
        Some(m) => axum::Json(json!({"SMSMessage": {"Sid": m.sid, "To": m.to, "Status": "sent", "DetailedStatus": "DELIVERED_TO_HANDSET",
            "DetailedStatusCode": 20005}}))
        .into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({"RestException": {"Status": 404, "Message": "Not Found"}}))).into_response(),
    }
}

/// One message of a v2 send request, read as the simulator keeps it.
fn wa_message(m: &Value, top_callback: &str) -> Result<SimWhatsapp, String> {
    let s = |v: &Value| v.as_str().map(str::trim).unwrap_or_default().to_string();
    let (from, to) = (s(&m["from"]), s(&m["to"]));
    if from.is_empty() || to.is_empty() {
        return Err("from and to are required".into());
    }
    if !to.starts_with('+') {
        return Err("to must be in E.164 format".into());
    }
    let content = &m["content"];
    if content["type"] != "template" {
        return Err("outside a 24-hour window only template messages may be sent".into());
    }
    let t = &content["template"];
    let components = t["components"].as_array().cloned().unwrap_or_default();
    let params = components
        .iter()
        .filter(|c| c["type"] == "body")
        .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
        .map(|p| s(&p["text"]))
        .collect();
    let buttons = components
        .iter()
        .filter(|c| c["type"] == "button" && c["sub_type"] == "quick_reply")
        .map(|c| s(&c["parameters"][0]["payload"]))
        .map(|payload| (button_label(&payload), payload))
        .collect();
    let callback = Some(s(&m["status_callback"])).filter(|c| !c.is_empty()).unwrap_or_else(|| top_callback.to_string());
    Ok(SimWhatsapp {
        sid: String::new(),
        from,
        to,
        template: s(&t["name"]),
        language: s(&t["language"]["code"]),
        params,
        buttons,
        status_callback: callback,
        custom_data: s(&m["custom_data"]),
        status: "accepted".into(),
        replies: Vec::new(),
        at_ms: 0,
    })
}

/// Exotel's WhatsApp time stamps: India time with milliseconds and offset.
fn wa_timestamp() -> String {
    chrono::Utc::now().with_timezone(&chrono_tz::Asia::Kolkata).format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// `POST /v2/accounts/{sid}/messages` (reference/exotel-whatsapp.md): the wrapped body, 202 with a
/// verdict and sid per message; each accepted message lands on the simulated phone and its
/// delivery report (`dlr`) goes to its status_callback a moment later.
async fn exotel_whatsapp(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(sim) = sim(&state) else { return not_demo() };
    let bad = |description: &str| {
        let error = json!({"code": 1001, "message": "Invalid request", "description": description});
        (StatusCode::BAD_REQUEST, axum::Json(json!({"http_code": 400, "response": {"code": 400, "status": "failure", "error_data": error}})))
            .into_response()
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else { return bad("the body is not JSON") };
    let Some(list) = req.pointer("/whatsapp/messages").and_then(Value::as_array).filter(|l| !l.is_empty()) else {
        return bad("whatsapp.messages is required");
    };
    if list.len() > 100 {
        return bad("at most 100 messages per request");
    }
    let top_callback = req["status_callback"].as_str().unwrap_or_default();
    let mut answers = Vec::new();
    let mut accepted = Vec::new();
    {
        let mut s = sim.state.lock().expect("sim lock");
        for m in list {
            match wa_message(m, top_callback) {
                Ok(mut msg) => {
                    msg.sid = s.sid("wa");
                    msg.at_ms = state.clock.now_ms();
                    answers.push(json!({"code": 202, "status": "success", "data": {"sid": msg.sid}, "error_data": null}));
                    accepted.push(msg.clone());
                    s.whatsapp.push(msg);
                }
                Err(description) => answers.push(json!({"code": 400, "status": "failure", "data": null,
                    "error_data": {"code": 1001, "message": "Invalid message", "description": description}})),
            }
        }
    }
    for msg in &accepted {
        let app = state.clone();
        let msg = msg.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let failed = msg.to.ends_with(NOT_ON_WHATSAPP);
            let _ = whatsapp_status(&app, &msg, !failed).await;
        });
    }
    let ok = accepted.len();
    (StatusCode::ACCEPTED, axum::Json(json!({"request_id": crate::db::new_id(), "method": "POST", "http_code": 202,
        "metadata": {"total": answers.len(), "success": ok, "failed": answers.len() - ok},
        "response": {"whatsapp": {"messages": answers}}})))
    .into_response()
}

/// Posts a message's delivery report (delivered, or failed: not a WhatsApp user) to its status_callback.
async fn whatsapp_status(app: &AppState, msg: &SimWhatsapp, delivered: bool) -> anyhow::Result<()> {
    let url = url::Url::parse(&msg.status_callback)?;
    let mut report = json!({"callback_type": "dlr", "sid": msg.sid, "to": msg.to, "timestamp": wa_timestamp(), "custom_data": msg.custom_data});
    if delivered {
        report["exo_status_code"] = json!(25001);
        report["exo_detailed_status"] = json!("EX_MESSAGE_DELIVERED");
        report["description"] = json!("Message delivered");
    } else {
        report["status"] = json!("failed");
        report["description"] = json!("Recipient is not a WhatsApp user");
    }
    app.http.post(self_url(app, &url)).json(&json!({"whatsapp": {"messages": [report]}})).send().await?;
    if let Some(sim) = sim(app) {
        let mut s = sim.state.lock().expect("sim lock");
        if let Some(m) = s.whatsapp.iter_mut().find(|m| m.sid == msg.sid) {
            m.status = if delivered { "delivered" } else { "failed" }.into();
        }
    }
    Ok(())
}

/// What the shopper sends back on the simulated WhatsApp.
#[derive(Debug, Clone, PartialEq)]
pub enum WaAnswer {
    /// A tap on the message's quick-reply button with this payload.
    Button(String),
    /// A typed reply ("haan", "2"…).
    Text(String),
}

/// Sends the shopper's answer to a message as Exotel does: an `icm` callback to the message's
/// status_callback (a template button as `content.type = "button"`). Returns the app's HTTP status.
pub async fn whatsapp_reply(app: &AppState, sid: &str, answer: WaAnswer) -> anyhow::Result<u16> {
    let sim = sim(app).ok_or_else(|| anyhow::anyhow!("not in demo mode"))?;
    let msg = {
        let s = sim.state.lock().expect("sim lock");
        s.whatsapp.iter().find(|m| m.sid == sid).cloned().ok_or_else(|| anyhow::anyhow!("no such WhatsApp message"))?
    };
    let (content, shown) = match &answer {
        WaAnswer::Button(payload) => {
            let (label, _) = msg.buttons.iter().find(|(_, p)| p == payload).ok_or_else(|| anyhow::anyhow!("the message has no such button"))?;
            (json!({"type": "button", "button": {"payload": payload, "text": label}}), label.clone())
        }
        WaAnswer::Text(text) => (json!({"type": "text", "text": {"body": text}}), text.clone()),
    };
    // Exotel writes the customer's number as WhatsApp does: country code, no "+".
    let reply = json!({"callback_type": "icm", "sid": format!("in-{sid}"), "from": msg.to.trim_start_matches('+'), "to": msg.from,
        "profile_name": "Demo Shopper", "timestamp": wa_timestamp(), "content": content});
    let url = url::Url::parse(&msg.status_callback)?;
    let status = app.http.post(self_url(app, &url)).json(&json!({"whatsapp": {"messages": [reply]}})).send().await?.status().as_u16();
    let mut s = sim.state.lock().expect("sim lock");
    if let Some(m) = s.whatsapp.iter_mut().find(|m| m.sid == sid) {
        m.replies.push(shown);
    }
    Ok(status)
}

/// A callback URL of this app, reached over loopback whatever `APP_URL` says.
fn self_url(app: &AppState, url: &url::Url) -> String {
    let port = app.demo.as_ref().map_or(8080, |s| s.port);
    format!("http://127.0.0.1:{port}{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default())
}

/// What the shopper does with a ringing call on the simulated phone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Press(u8),
    Silent,
    NoAnswer,
    Busy,
    Machine,
}

impl Answer {
    pub fn parse(s: &str) -> Option<Answer> {
        Some(match s {
            "1" | "2" | "3" => Answer::Press(s.parse().ok()?),
            "silent" => Answer::Silent,
            "no-answer" => Answer::NoAnswer,
            "busy" => Answer::Busy,
            "machine" => Answer::Machine,
            _ => return None,
        })
    }
}

/// Plays a ringing call out as Exotel would: the greeting, the key as the IVR passthru sends it
/// (`digits="1"`, quotes included), then the terminal status callback as a multipart form.
pub async fn answer(app: &AppState, call_sid: &str, answer: Answer) -> anyhow::Result<()> {
    let sim = sim(app).ok_or_else(|| anyhow::anyhow!("not in demo mode"))?;
    let call = {
        let mut s = sim.state.lock().expect("sim lock");
        let Some(c) = s.calls.iter_mut().find(|c| c.sid == call_sid && c.status == "ringing") else {
            return Ok(());
        };
        c.status = "answering".into();
        c.clone()
    };
    let status_url = url::Url::parse(&call.status_callback)?;
    // /exotel/{key}/call-status → /exotel/{key}/…
    let base = status_url.path().trim_end_matches("call-status").to_string();
    let at = |path: &str| {
        let mut u = status_url.clone();
        u.set_path(&format!("{base}{path}"));
        u.set_query(None);
        self_url(app, &u)
    };
    let common = [("CallSid", call.sid.as_str()), ("CallFrom", call.to.as_str()), ("CustomField", call.custom_field.as_str())];
    let answered = matches!(answer, Answer::Press(_) | Answer::Silent | Answer::Machine);
    let mut greeting = None;
    if answered {
        greeting = Some(app.http.get(at("greeting")).query(&common).send().await?.text().await?);
    }
    if let Answer::Press(key) = answer {
        let digits = format!("\"{key}\"");
        let mut q = common.to_vec();
        q.push(("digits", digits.as_str()));
        app.http.get(at("ivr/input")).query(&q).send().await?;
    }
    let status = match answer {
        Answer::NoAnswer => "no-answer",
        Answer::Busy => "busy",
        _ => "completed",
    };
    let form = reqwest::multipart::Form::new()
        .text("CallSid", call.sid.clone())
        .text("Status", status)
        .text("EventType", "terminal")
        .text("CustomField", call.custom_field.clone())
        .text("ConversationDuration", if answered { "15" } else { "0" })
        .text("DateUpdated", now_text())
        // One leg, the customer's, connected to the flow. Exotel's machine detection runs on a
        // call's second leg only, so a voicemail is reported like a human who pressed nothing.
        .text("Legs[0][Status]", status)
        .text("Legs[0][AnsweredBy]", "NA");
    app.http.post(self_url(app, &status_url)).multipart(form).send().await?;
    let mut s = sim.state.lock().expect("sim lock");
    if let Some(c) = s.calls.iter_mut().find(|c| c.sid == call_sid) {
        c.status = status.to_string();
        c.greeting = greeting;
        c.outcome = Some(match answer {
            Answer::Press(k) => format!("pressed {k}"),
            Answer::Silent => "answered, pressed nothing".into(),
            Answer::NoAnswer => "not answered".into(),
            Answer::Busy => "busy".into(),
            Answer::Machine => "voicemail answered (Exotel detects no machine on a call to a flow: no key)".into(),
        });
    }
    Ok(())
}
