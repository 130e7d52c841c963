//! A fake Exotel over real HTTP: Calls/connect, Sms/send, Call and SMS details, Numbers (DND) and Balance, each with or
//! without the `.json` suffix (JSON answers with it, XML without, as Exotel does), and WhatsApp messages (v2, in
//! `fake_whatsapp`). It records every
//! request so tests can assert what the app sent, and can be scripted to fail, stall or rate limit.
//!
//! Credentials: until `add_account` is called any Basic credentials are accepted (a request without
//! them still gets 401); once one account is registered, only registered (sid, key, token) are.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

/// One Calls/connect request, placed or refused.
#[derive(Clone, Debug)]
pub struct FakeCall {
    /// The CallSid answered; empty when the request was refused.
    pub sid: String,
    /// The account sid from the path.
    pub account: String,
    pub form: Vec<(String, String)>,
    pub at: Instant,
    pub wall_ms: i64,
    /// The HTTP status answered.
    pub status: u16,
    /// Whether Exotel would have dialled (any 2xx, including a stalled answer the client gave up on).
    pub placed: bool,
}

/// One Sms/send request, accepted or refused.
#[derive(Clone, Debug)]
pub struct FakeSms {
    /// The SMS Sid answered; empty when the request was refused.
    pub sid: String,
    pub account: String,
    pub form: Vec<(String, String)>,
    pub at: Instant,
    pub wall_ms: i64,
    pub status: u16,
    pub accepted: bool,
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl FakeCall {
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }
}

impl FakeSms {
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }
}

/// A scripted answer: `body` None means the default body for `status` (success or RestException).
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: u16,
    pub body: Option<String>,
    pub delay: Duration,
}

#[derive(Default)]
pub struct ExotelState {
    /// sid → (API key, API token). Empty: any credentials pass.
    pub accounts: HashMap<String, (String, String)>,
    pub calls: Vec<FakeCall>,
    pub sms: Vec<FakeSms>,
    /// Every Numbers lookup: (account sid, number as sent).
    pub lookups: Vec<(String, String)>,
    pub connect_script: VecDeque<Scripted>,
    pub sms_script: VecDeque<Scripted>,
    /// Last 10 digits → DND.
    pub dnd: HashMap<String, bool>,
    /// Last 10 digits of numbers whose DND state Exotel does not know.
    pub dnd_unavailable: HashSet<String>,
    /// Placed calls per account in any trailing 60 s beyond which Calls/connect answers 429.
    pub rate_limit: Option<usize>,
    /// CallSid → status the Call details API reports (placed calls not listed: "in-progress").
    pub call_status: HashMap<String, String>,
    /// CallSid → the price the Call details API reports (`None`: not filled in yet); calls not listed: "0.90".
    pub call_price: HashMap<String, Option<String>>,
    /// Every Call details lookup: the CallSid asked for.
    pub call_lookups: Vec<String>,
    /// SmsSid → (status, detailed status) the SMS details API reports (accepted SMS not listed: "queued").
    pub sms_status: HashMap<String, (String, String)>,
    /// Every SMS details lookup: the SmsSid asked for.
    pub sms_lookups: Vec<String>,
    pub whatsapp: super::fake_whatsapp::WaState,
    issued: usize,
}

pub(crate) type Shared = Arc<Mutex<ExotelState>>;

#[derive(Clone)]
pub struct FakeExotel {
    pub origin: String,
    pub state: Shared,
}

impl FakeExotel {
    pub async fn start() -> FakeExotel {
        let state = Shared::default();
        let router = Router::new()
            .route("/v1/Accounts/{sid}/Calls/connect", post(connect))
            .route("/v1/Accounts/{sid}/Calls/connect.json", post(connect))
            .route("/v1/Accounts/{sid}/Sms/send", post(send_sms))
            .route("/v1/Accounts/{sid}/Sms/send.json", post(send_sms))
            .route("/v1/Accounts/{sid}/Numbers/{number}", get(numbers))
            .route("/v1/Accounts/{sid}/Calls/{call}", get(call_details))
            .route("/v1/Accounts/{sid}/SMS/Messages/{sms}", get(sms_details))
            .route("/v1/Accounts/{sid}/Balance", get(balance))
            .route("/v1/Accounts/{sid}/Balance.json", get(balance))
            .route("/v2/accounts/{sid}/messages", post(super::fake_whatsapp::messages))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeExotel { origin, state }
    }

    /// What the Call details API answers for a call from now on.
    pub fn set_call_status(&self, call_sid: &str, status: &str) {
        self.state.lock().unwrap().call_status.insert(call_sid.into(), status.into());
    }

    /// The price the Call details API reports for a call from now on (`None`: none yet).
    pub fn set_call_price(&self, call_sid: &str, price: Option<&str>) {
        self.state.lock().unwrap().call_price.insert(call_sid.into(), price.map(Into::into));
    }

    /// The CallSids looked up in the Call details API, in order.
    pub fn call_lookups(&self) -> Vec<String> {
        self.state.lock().unwrap().call_lookups.clone()
    }

    /// What the SMS details API answers for an SMS from now on.
    pub fn set_sms_status(&self, sms_sid: &str, status: &str, detailed: &str) {
        self.state.lock().unwrap().sms_status.insert(sms_sid.into(), (status.into(), detailed.into()));
    }

    /// The SmsSids looked up in the SMS details API, in order.
    pub fn sms_lookups(&self) -> Vec<String> {
        self.state.lock().unwrap().sms_lookups.clone()
    }

    /// From now on only registered credentials are accepted.
    pub fn add_account(&self, sid: &str, key: &str, token: &str) {
        self.state.lock().unwrap().accounts.insert(sid.into(), (key.into(), token.into()));
    }

    /// Sets a number's DND state (any form: E.164, 0-prefixed, bare 10 digits).
    pub fn set_dnd(&self, number: &str, dnd: bool) {
        let mut s = self.state.lock().unwrap();
        s.dnd_unavailable.remove(&last10(number));
        s.dnd.insert(last10(number), dnd);
    }

    /// Exotel answers `DND: Unavailable` for this number.
    pub fn set_dnd_unavailable(&self, number: &str) {
        let mut s = self.state.lock().unwrap();
        s.dnd.remove(&last10(number));
        s.dnd_unavailable.insert(last10(number));
    }

    /// Queues an answer for the next Calls/connect (after auth and rate limit checks). A 2xx,
    /// however late, counts as placed, as with real Exotel when the client times out.
    pub fn script_connect(&self, status: u16, body: Option<String>, delay: Duration) {
        self.state.lock().unwrap().connect_script.push_back(Scripted { status, body, delay });
    }

    /// Queues an answer for the next Sms/send (after the auth check).
    pub fn script_sms(&self, status: u16, body: Option<String>, delay: Duration) {
        self.state.lock().unwrap().sms_script.push_back(Scripted { status, body, delay });
    }

    /// Per account: a Calls/connect beyond `per_minute` placed calls in the trailing 60 s gets 429.
    pub fn set_rate_limit(&self, per_minute: usize) {
        self.state.lock().unwrap().rate_limit = Some(per_minute);
    }

    /// Calls Exotel placed (refused requests left out).
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state.lock().unwrap().calls.iter().filter(|c| c.placed).cloned().collect()
    }

    /// Placed click-to-calls (a `To` was sent): (From = agent, To = customer) of each, in order.
    pub fn agent_calls(&self) -> Vec<(String, String)> {
        self.calls()
            .into_iter()
            .filter_map(|c| Some((c.field("From")?.to_string(), c.field("To")?.to_string())))
            .collect()
    }

    /// Every Calls/connect request, refused ones included.
    pub fn connect_requests(&self) -> Vec<FakeCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Placed calls to a customer (`From`), compared by the last 10 digits.
    pub fn calls_to(&self, number: &str) -> Vec<FakeCall> {
        let n = last10(number);
        self.calls().into_iter().filter(|c| c.field("From").is_some_and(|f| last10(f) == n)).collect()
    }

    /// SMS Exotel accepted.
    pub fn sms(&self) -> Vec<FakeSms> {
        self.state.lock().unwrap().sms.iter().filter(|m| m.accepted).cloned().collect()
    }

    /// Every Sms/send request, refused ones included.
    pub fn sms_requests(&self) -> Vec<FakeSms> {
        self.state.lock().unwrap().sms.clone()
    }

    /// Accepted SMS to a number, compared by the last 10 digits.
    pub fn sms_to(&self, number: &str) -> Vec<FakeSms> {
        let n = last10(number);
        self.sms().into_iter().filter(|m| m.field("To").is_some_and(|t| last10(t) == n)).collect()
    }

    pub fn number_lookups(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().lookups.clone()
    }

    /// The most calls placed for `account` within any 60 s window.
    pub fn max_calls_in_any_minute(&self, account: &str) -> usize {
        let mut at: Vec<Instant> = self.calls().into_iter().filter(|c| c.account == account).map(|c| c.at).collect();
        at.sort();
        let (mut best, mut lo) = (0, 0);
        for hi in 0..at.len() {
            while at[hi].duration_since(at[lo]) >= MINUTE {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }
}

impl ExotelState {
    pub(crate) fn authorized(&self, sid: &str, headers: &HeaderMap) -> bool {
        let Some((key, token)) = basic_auth(headers) else { return false };
        self.accounts.is_empty() || self.accounts.get(sid).is_some_and(|(k, t)| *k == key && *t == token)
    }

    /// A CallSid-like id: 32 chars whose last one is not always hex, as Exotel's.
    pub(crate) fn next_sid(&mut self) -> String {
        const TAIL: &[u8] = b"gkpz0a";
        self.issued += 1;
        let tail = TAIL[self.issued % TAIL.len()] as char;
        format!("{}{tail}", &uuid::Uuid::new_v4().simple().to_string()[..31])
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (k, t) = decoded.split_once(':')?;
    Some((k.to_string(), t.to_string()))
}

pub(crate) fn last10(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].iter().collect()
}

pub(crate) fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Exotel's timestamps: IST, `YYYY-MM-DD HH:mm:ss`.
fn ist_now() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::minutes(330)).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn wants_json(uri: &Uri) -> bool {
    uri.path().ends_with(".json")
}

/// One element of a `TwilioResponse`, as JSON or XML.
fn render(json: bool, section: &str, fields: Vec<(&str, Value)>) -> String {
    if json {
        let inner: serde_json::Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        return json!({ section: inner }).to_string();
    }
    let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TwilioResponse>\n <{section}>\n");
    for (k, v) in fields {
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!("  <{k}>{}</{k}>\n", xml_escape(&text)));
    }
    out.push_str(&format!(" </{section}>\n</TwilioResponse>\n"));
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn rest_exception(json: bool, status: u16, message: &str) -> String {
    render(json, "RestException", vec![("Status", json!(status)), ("Message", json!(message))])
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Authentication is required to view this page.",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

fn respond(status: u16, body: String) -> Response {
    let content_type = match body.trim_start().chars().next() {
        Some('{') | Some('[') => "application/json",
        Some('<') => "application/xml",
        _ => "text/plain",
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn connect(State(state): State<Shared>, Path(sid): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&uri);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let at = Instant::now();
    let (status, body, delay) = {
        let mut s = state.lock().unwrap();
        let from = field(&form, "From").unwrap_or("").to_string();
        let caller_id = field(&form, "CallerId").unwrap_or("").to_string();
        let recent = s.calls.iter().filter(|c| c.placed && c.account == sid && at.duration_since(c.at) < MINUTE).count();
        let refusal = if !s.authorized(&sid, &headers) {
            Some((401, None))
        } else if s.rate_limit.is_some_and(|limit| recent >= limit) {
            Some((429, None))
        } else if from.is_empty() || caller_id.is_empty() || (field(&form, "Url").is_none_or(str::is_empty) && field(&form, "To").is_none_or(str::is_empty)) {
            // Url connects From to a flow; To connects two numbers (click-to-call).
            Some((400, Some("Missing parameter: From, CallerId and one of Url or To are required")))
        } else {
            None
        };
        let script = match refusal {
            Some((status, message)) => Scripted {
                status,
                body: Some(rest_exception(json, status, message.unwrap_or(default_message(status)))),
                delay: Duration::ZERO,
            },
            None => s.connect_script.pop_front().unwrap_or(Scripted { status: 200, body: None, delay: Duration::ZERO }),
        };
        let placed = (200..300).contains(&script.status);
        let call_sid = if placed { s.next_sid() } else { String::new() };
        let body = script.body.unwrap_or_else(|| {
            if !placed {
                return rest_exception(json, script.status, default_message(script.status));
            }
            let now = ist_now();
            render(json, "Call", vec![
                ("Sid", json!(call_sid)),
                ("ParentCallSid", Value::Null),
                ("DateCreated", json!(now)),
                ("DateUpdated", json!(now)),
                ("AccountSid", json!(sid)),
                ("To", json!(field(&form, "To").unwrap_or(caller_id.as_str()))),
                ("From", json!(from)),
                ("PhoneNumberSid", json!(caller_id)),
                ("Status", json!("in-progress")),
                ("StartTime", json!(now)),
                ("EndTime", Value::Null),
                ("Duration", Value::Null),
                ("Price", Value::Null),
                ("Direction", json!("outbound-api")),
                ("AnsweredBy", Value::Null),
                ("ForwardedFrom", Value::Null),
                ("CallerName", Value::Null),
                ("Uri", json!(format!("/v1/Accounts/{sid}/Calls/{call_sid}{}", if json { ".json" } else { "" }))),
                ("RecordingUrl", Value::Null),
            ])
        });
        s.calls.push(FakeCall { sid: call_sid, account: sid, form, at, wall_ms: wall_ms(), status: script.status, placed });
        (script.status, body, script.delay)
    };
    // Recorded before the wait: Exotel dials while the client may already have given up.
    tokio::time::sleep(delay).await;
    respond(status, body)
}

async fn send_sms(State(state): State<Shared>, Path(sid): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let json = wants_json(&uri);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let at = Instant::now();
    let (status, body, delay) = {
        let mut s = state.lock().unwrap();
        let to = field(&form, "To").unwrap_or("").to_string();
        let refusal = if !s.authorized(&sid, &headers) {
            Some((401, None))
        } else if to.is_empty() || field(&form, "Body").is_none_or(str::is_empty) || field(&form, "From").is_none_or(str::is_empty) {
            Some((400, Some("Missing parameter: From, To and Body are required")))
        } else {
            None
        };
        let script = match refusal {
            Some((status, message)) => Scripted {
                status,
                body: Some(rest_exception(json, status, message.unwrap_or(default_message(status)))),
                delay: Duration::ZERO,
            },
            None => s.sms_script.pop_front().unwrap_or(Scripted { status: 200, body: None, delay: Duration::ZERO }),
        };
        let accepted = (200..300).contains(&script.status);
        let sms_sid = if accepted { s.next_sid() } else { String::new() };
        let body = script.body.unwrap_or_else(|| {
            if !accepted {
                return rest_exception(json, script.status, default_message(script.status));
            }
            let now = ist_now();
            render(json, "SMSMessage", vec![
                ("Sid", json!(sms_sid)),
                ("AccountSid", json!(sid)),
                ("From", json!(field(&form, "From"))),
                ("To", json!(to)),
                ("DateCreated", json!(now)),
                ("DateUpdated", json!(now)),
                ("DateSent", Value::Null),
                ("Body", json!(field(&form, "Body"))),
                ("Direction", json!("outbound-api")),
                ("Uri", json!(format!("/v1/Accounts/{sid}/SMS/Messages/{sms_sid}{}", if json { ".json" } else { "" }))),
                ("ApiVersion", Value::Null),
                ("Price", Value::Null),
                ("Status", json!("queued")),
                ("DetailedStatusCode", json!(21010)),
                ("DetailedStatus", json!("PENDING_TO_OPERATOR")),
                ("SmsUnits", Value::Null),
            ])
        });
        s.sms.push(FakeSms { sid: sms_sid, account: sid, form, at, wall_ms: wall_ms(), status: script.status, accepted });
        (script.status, body, script.delay)
    };
    tokio::time::sleep(delay).await;
    respond(status, body)
}

async fn numbers(State(state): State<Shared>, Path((sid, number)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let (number, json) = match number.strip_suffix(".json") {
        Some(n) => (n.to_string(), true),
        None => (number, false),
    };
    let mut s = state.lock().unwrap();
    s.lookups.push((sid.clone(), number.clone()));
    if !s.authorized(&sid, &headers) {
        return respond(401, rest_exception(json, 401, default_message(401)));
    }
    let key = last10(&number);
    let dnd = if s.dnd_unavailable.contains(&key) {
        "Unavailable"
    } else if s.dnd.get(&key).copied().unwrap_or(false) {
        "Yes"
    } else {
        "No"
    };
    let body = render(json, "Numbers", vec![
        ("PhoneNumber", json!(format!("0{key}"))),
        ("Circle", json!("MH")),
        ("CircleName", json!("Maharashtra Telecom Circle")),
        ("Type", json!("Mobile")),
        ("Operator", json!("A")),
        ("OperatorName", json!("Airtel")),
        ("DND", json!(dnd)),
    ]);
    respond(200, body)
}

/// Call details: known calls only; a call nobody set a status for is still "in-progress".
async fn call_details(State(state): State<Shared>, Path((sid, call)): Path<(String, String)>, uri: Uri, headers: HeaderMap) -> Response {
    let json = wants_json(&uri);
    let mut s = state.lock().unwrap();
    if !s.authorized(&sid, &headers) {
        return respond(401, rest_exception(json, 401, default_message(401)));
    }
    let call_sid = call.trim_end_matches(".json");
    s.call_lookups.push(call_sid.to_string());
    if !s.calls.iter().any(|c| c.sid == call_sid && c.account == sid) {
        return respond(404, rest_exception(json, 404, "Not Found"));
    }
    let status = s.call_status.get(call_sid).cloned().unwrap_or_else(|| "in-progress".into());
    let price = s.call_price.get(call_sid).cloned().unwrap_or_else(|| Some("0.90".into()));
    respond(200, render(json, "Call", vec![("Sid", json!(call_sid)), ("Status", json!(status)), ("Duration", json!("17")), ("Price", json!(price))]))
}

/// SMS details: accepted SMS only; one nobody set a status for is still "queued".
async fn sms_details(State(state): State<Shared>, Path((sid, sms)): Path<(String, String)>, uri: Uri, headers: HeaderMap) -> Response {
    let json = wants_json(&uri);
    let mut s = state.lock().unwrap();
    let sms_sid = sms.trim_end_matches(".json").to_string();
    s.sms_lookups.push(sms_sid.clone());
    if !s.authorized(&sid, &headers) {
        return respond(401, rest_exception(json, 401, default_message(401)));
    }
    let Some(m) = s.sms.iter().find(|m| m.accepted && m.sid == sms_sid && m.account == sid) else {
        return respond(404, rest_exception(json, 404, "Not Found"));
    };
    let to = m.field("To").unwrap_or("").to_string();
    let (status, detailed) = s.sms_status.get(&sms_sid).cloned().unwrap_or_else(|| ("queued".into(), "PENDING_TO_OPERATOR".into()));
    let code = match detailed.as_str() {
        "DELIVERED_TO_HANDSET" => json!(20005),
        "PENDING_TO_OPERATOR" => json!(21010),
        _ => json!(23081),
    };
    respond(200, render(json, "SMSMessage", vec![("Sid", json!(sms_sid)), ("AccountSid", json!(sid)), ("To", json!(to)),
        ("Status", json!(status)), ("DetailedStatusCode", code), ("DetailedStatus", json!(detailed)), ("DateSent", json!(ist_now())),
        ("Price", json!(0.18))]))
}

async fn balance(State(state): State<Shared>, Path(sid): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let json = wants_json(&uri);
    if !state.lock().unwrap().authorized(&sid, &headers) {
        return respond(401, rest_exception(json, 401, default_message(401)));
    }
    respond(200, render(json, "Balance", vec![("AccountSid", json!(sid)), ("Amount", json!("1000.00")), ("Currency", json!("INR"))]))
}

/// The fake against the app's real client: both answer shapes, scripting and the rate limit.
#[cfg(test)]
mod tests {
    use codverify::exotel::{self, Account, ConnectCall, Dnd, ExotelError, SendSms};
    use secrecy::SecretString;

    use super::*;

    fn call<'a>(from: &'a str) -> ConnectCall<'a> {
        ConnectCall {
            from,
            to: None,
            caller_id: "08012345678",
            url: "http://my.in.exotel.com/acme1/exoml/start_voice/42",
            status_callback: "https://codverify.test/exotel/k/call-status",
            custom_field: "attempt-1",
            time_limit_secs: Some(120),
            time_out_secs: Some(30),
        }
    }

    async fn setup() -> (FakeExotel, reqwest::Client, Account) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fake = FakeExotel::start().await;
        fake.add_account("acme1", "exokey", "exotoken");
        let acct = Account::new("api.in.exotel.com", Some(&fake.origin), "acme1", "exokey", SecretString::from("exotoken"));
        (fake, reqwest::Client::new(), acct)
    }

    #[tokio::test]
    async fn fake_exotel_serves_the_client() {
        let (fake, http, acct) = setup().await;
        let placed = exotel::connect_call(&http, &acct, &call("+919876543210"), Duration::from_secs(5)).await.unwrap();
        assert_eq!((placed.sid.len(), placed.status.as_str()), (32, "in-progress"));
        let c = &fake.calls_to("09876543210")[0];
        assert_eq!((c.sid.as_str(), c.account.as_str()), (placed.sid.as_str(), "acme1"));
        assert_eq!(c.field("StatusCallbackEvents[0]"), Some("terminal"));
        assert_eq!(c.field("CustomField"), Some("attempt-1"));

        fake.set_dnd("9876543210", true);
        fake.set_dnd_unavailable("+919876500000");
        assert_eq!(exotel::number_info(&http, &acct, "+919876543210").await.unwrap().dnd, Dnd::Yes);
        assert_eq!(exotel::number_info(&http, &acct, "+919876500000").await.unwrap().dnd, Dnd::Unavailable);
        assert_eq!(exotel::number_info(&http, &acct, "+919812345678").await.unwrap().dnd, Dnd::No);
        assert_eq!(fake.number_lookups()[0].1, "+919876543210");

        exotel::check_account(&http, &acct).await.unwrap();
        let bad = Account { api_token: SecretString::from("wrong"), ..acct.clone() };
        assert!(matches!(exotel::check_account(&http, &bad).await, Err(ExotelError::Unauthorized)));

        let sms = SendSms {
            from: "CODVFY", to: "+919876543210", body: "Confirm order #1001: https://x/v/t", dlt_entity_id: Some("1101"),
            dlt_template_id: None, unicode: false, status_callback: None, custom_field: Some("attempt-2"),
        };
        let sent = exotel::send_sms(&http, &acct, &sms).await.unwrap();
        assert_eq!(sent.detailed_status.as_deref(), Some("PENDING_TO_OPERATOR"));
        let m = &fake.sms_to("9876543210")[0];
        assert_eq!((m.field("DltTemplateId"), m.field("SmsType")), (None, Some("transactional")));

        // XML when the path has no .json.
        let r = http.get(format!("{}/v1/Accounts/acme1/Numbers/09876543210", fake.origin)).basic_auth("exokey", Some("exotoken")).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("<DND>Yes</DND>"));
    }

    #[tokio::test]
    async fn fake_exotel_scripts_failures_and_rate_limits() {
        let (fake, http, acct) = setup().await;
        fake.script_connect(429, None, Duration::ZERO);
        fake.script_connect(500, None, Duration::ZERO);
        fake.script_connect(200, None, Duration::from_millis(600));
        let c = call("+919876543210");
        let t = Duration::from_millis(300);
        assert!(matches!(exotel::connect_call(&http, &acct, &c, t).await, Err(ExotelError::RateLimited)));
        assert!(matches!(exotel::connect_call(&http, &acct, &c, t).await, Err(ExotelError::Server { status: 500, .. })));
        assert!(matches!(exotel::connect_call(&http, &acct, &c, t).await, Err(ExotelError::Timeout)));
        // The stalled one was placed all the same.
        assert_eq!((fake.calls().len(), fake.connect_requests().len()), (1, 3));

        fake.set_rate_limit(2);
        exotel::connect_call(&http, &acct, &c, t).await.unwrap();
        assert!(matches!(exotel::connect_call(&http, &acct, &c, t).await, Err(ExotelError::RateLimited)));
        assert_eq!(fake.max_calls_in_any_minute("acme1"), 2);

        fake.script_sms(403, Some(r#"{"RestException":{"Status":403,"Message":"Number is in NDNC registry"}}"#.into()), Duration::ZERO);
        let sms = SendSms {
            from: "CODVFY", to: "+919876543210", body: "hi", dlt_entity_id: None, dlt_template_id: None,
            unicode: true, status_callback: None, custom_field: None,
        };
        assert!(matches!(exotel::send_sms(&http, &acct, &sms).await, Err(ExotelError::Dnd(_))));
        assert!(fake.sms().is_empty() && fake.sms_requests()[0].field("EncodingType") == Some("unicode"));
    }
}
