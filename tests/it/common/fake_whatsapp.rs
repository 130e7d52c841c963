//! The fake Exotel's WhatsApp side (messages API v2, reference/exotel-whatsapp.md), served by
//! `FakeExotel` on the same origin and credentials: `POST /v2/accounts/{sid}/messages` records every
//! message, answers 202 with a fresh sid per message, refuses numbers registered as not on WhatsApp
//! and can be scripted to fail; helpers post delivery reports and replies to a message's
//! `status_callback` as Exotel would.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fake_exotel::{FakeExotel, Scripted, Shared, last10, wall_ms};

/// One message of a request, accepted or refused.
#[derive(Clone, Debug)]
pub struct FakeWhatsApp {
    /// The message sid answered; empty when refused.
    pub sid: String,
    /// The account sid from the path.
    pub account: String,
    /// The whole request body, and this message within it (`Null` when the body was unreadable).
    pub request: Value,
    pub message: Value,
    pub at: Instant,
    pub wall_ms: i64,
    /// The HTTP status answered to the request.
    pub status: u16,
    pub accepted: bool,
}

impl FakeWhatsApp {
    fn str(&self, pointer: &str) -> &str {
        self.message.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }

    pub fn to(&self) -> &str {
        self.str("/to")
    }

    pub fn from(&self) -> &str {
        self.str("/from")
    }

    pub fn status_callback(&self) -> &str {
        self.str("/status_callback")
    }

    pub fn custom_data(&self) -> &str {
        self.str("/custom_data")
    }

    pub fn template(&self) -> &Value {
        self.message.pointer("/content/template").unwrap_or(&Value::Null)
    }

    /// The body parameters' texts, in order.
    pub fn body_params(&self) -> Vec<String> {
        self.components("body")
            .flat_map(|c| c["parameters"].as_array().cloned().unwrap_or_default())
            .map(|p| p["text"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The quick-reply buttons as (index, payload), in order.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.components("button")
            .map(|b| (b["index"].as_str().unwrap_or("").to_string(), b["parameters"][0]["payload"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    /// The payload of the button for `choice` ("confirm", "cancel", "callback"); panics if not offered.
    pub fn payload(&self, choice: &str) -> String {
        let suffix = format!(".{choice}");
        let found = self.buttons().into_iter().map(|(_, p)| p).find(|p| p.ends_with(&suffix));
        found.unwrap_or_else(|| panic!("no {choice} button in {}", self.message))
    }

    fn components(&self, kind: &str) -> impl Iterator<Item = Value> + '_ {
        let all = self.template()["components"].as_array().cloned().unwrap_or_default();
        let kind = kind.to_string();
        all.into_iter().filter(move |c| c["type"] == kind.as_str())
    }
}

/// A delivery report Exotel can post.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaDlr {
    Sent,
    Delivered,
    Read,
    /// Not on WhatsApp.
    Failed,
}

/// A reply the customer can send, in each of the shapes Exotel may post.
#[derive(Clone, Debug, PartialEq)]
pub enum WaReply {
    /// A template quick-reply tap: `content.type = button`, `button { payload, text }`.
    Button(String),
    /// An interactive reply-button tap: `content.type = interactive`, `button_reply { id, title }`.
    Interactive(String),
    /// A typed message: `content.type = text`, `text { body }`.
    Text(String),
}

#[derive(Default)]
pub struct WaState {
    pub messages: Vec<FakeWhatsApp>,
    pub script: VecDeque<Scripted>,
    /// Last 10 digits of numbers that are not on WhatsApp.
    pub not_on_whatsapp: HashSet<String>,
}

impl FakeExotel {
    /// Messages Exotel accepted.
    pub fn whatsapp(&self) -> Vec<FakeWhatsApp> {
        self.state.lock().unwrap().whatsapp.messages.iter().filter(|m| m.accepted).cloned().collect()
    }

    /// Every message of every request, refused ones included.
    pub fn whatsapp_requests(&self) -> Vec<FakeWhatsApp> {
        self.state.lock().unwrap().whatsapp.messages.clone()
    }

    /// Accepted messages to a number, compared by the last 10 digits.
    pub fn whatsapp_to(&self, number: &str) -> Vec<FakeWhatsApp> {
        let n = last10(number);
        self.whatsapp().into_iter().filter(|m| last10(m.to()) == n).collect()
    }

    /// Messages to this number are refused (per-message failure, as for a number not on WhatsApp).
    pub fn set_not_on_whatsapp(&self, number: &str) {
        self.state.lock().unwrap().whatsapp.not_on_whatsapp.insert(last10(number));
    }

    /// Queues an answer for the next messages request (after the auth check).
    pub fn script_whatsapp(&self, status: u16, body: Option<String>, delay: Duration) {
        self.state.lock().unwrap().whatsapp.script.push_back(Scripted { status, body, delay });
    }

    /// The next `n` messages requests get `status` (429, 500…).
    pub fn fail_whatsapp(&self, status: u16, n: usize) {
        for _ in 0..n {
            self.script_whatsapp(status, None, Duration::ZERO);
        }
    }

    /// Posts a delivery report for `m` to its status_callback; the HTTP status answered.
    pub async fn whatsapp_dlr(&self, m: &FakeWhatsApp, dlr: WaDlr) -> u16 {
        post_callback(m.status_callback(), &dlr_body(m, dlr)).await
    }

    /// Posts the customer's reply to `m` to its status_callback; the HTTP status answered.
    pub async fn whatsapp_reply(&self, m: &FakeWhatsApp, reply: WaReply) -> u16 {
        post_callback(m.status_callback(), &reply_body(m, reply)).await
    }
}

/// The body Exotel posts to `m`'s status_callback for a delivery report.
pub fn dlr_body(m: &FakeWhatsApp, dlr: WaDlr) -> Value {
    let (code, detailed, description) = match dlr {
        WaDlr::Sent => (30001, "EX_MESSAGE_SENT", "Message sent"),
        WaDlr::Delivered => (30002, "EX_MESSAGE_DELIVERED", "Message delivered"),
        WaDlr::Read => (30003, "EX_MESSAGE_SEEN", "Message seen"),
        WaDlr::Failed => (30013, "EX_INCAPABLE_RECIPIENT", "The recipient is unable to receive the message"),
    };
    let entry = json!({
        "callback_type": "dlr", "sid": m.sid, "to": m.to(), "exo_status_code": code, "exo_detailed_status": detailed,
        "description": description, "timestamp": timestamp(), "custom_data": m.custom_data(),
    });
    json!({ "whatsapp": { "messages": [entry] } })
}

/// The body Exotel posts to `m`'s status_callback for the customer's reply.
pub fn reply_body(m: &FakeWhatsApp, reply: WaReply) -> Value {
    let label = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
    let content = match reply {
        WaReply::Button(payload) => json!({ "type": "button", "button": { "text": label(&payload), "payload": payload } }),
        WaReply::Interactive(id) => {
            json!({ "type": "interactive", "interactive": { "type": "button_reply", "button_reply": { "title": label(&id), "id": id } } })
        }
        WaReply::Text(body) => json!({ "type": "text", "text": { "body": body } }),
    };
    let entry = json!({
        "callback_type": "icm", "sid": uuid::Uuid::new_v4().simple().to_string(), "from": m.to(), "to": m.from(),
        "profile_name": "Test Customer", "timestamp": timestamp(), "content": content,
    });
    json!({ "whatsapp": { "messages": [entry] } })
}

/// POSTs a callback body as Exotel does (JSON, no signature); the HTTP status answered.
pub async fn post_callback(url: &str, body: &Value) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new().post(url).json(body).send().await.unwrap_or_else(|e| panic!("callback to {url}: {e}"));
    resp.status().as_u16()
}

/// Exotel's v2 timestamps: ISO 8601 in IST.
fn timestamp() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::minutes(330)).format("%Y-%m-%dT%H:%M:%S%.3f+05:30").to_string()
}

fn answer(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_body(status: u16, code: u32, message: &str, description: &str) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().simple().to_string(), "method": "POST", "http_code": status,
        "response": { "code": status, "status": "failure", "error_data": { "code": code, "message": message, "description": description } },
    })
}

fn default_error(status: u16) -> Value {
    match status {
        401 => error_body(401, 0, "Auth Error", "Authentication credentials are invalid"),
        429 => error_body(429, 400, "Too Many Requests", "Rate limit exceeded"),
        s if s >= 500 => error_body(s, 500, "Internal Server Error", "Please retry"),
        s => error_body(s, 100, "Error", "The request was refused"),
    }
}

/// The messages in a body, or why it is malformed (HTTP 400).
fn messages_of(body: &Value) -> Result<Vec<Value>, &'static str> {
    let list = body.pointer("/whatsapp/messages").and_then(Value::as_array).ok_or("whatsapp.messages is required")?;
    if list.is_empty() || list.len() > 100 {
        return Err("whatsapp.messages must hold 1 to 100 messages");
    }
    let e164 = |t: &str| t.len() > 8 && t.starts_with('+') && t[1..].chars().all(|c| c.is_ascii_digit());
    for m in list {
        let to = m["to"].as_str().unwrap_or("");
        if !e164(to) || m["from"].as_str().is_none_or(str::is_empty) || !m["content"]["type"].is_string() {
            return Err("each message needs from, to (E.164) and content.type");
        }
    }
    Ok(list.clone())
}

pub(crate) async fn messages(State(state): State<Shared>, Path(sid): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer_body, delay) = {
        let mut s = state.lock().unwrap();
        let parsed = messages_of(&request);
        let record = |s: &mut super::fake_exotel::ExotelState, message: Value, sid_answered: String, status: u16| {
            let accepted = !sid_answered.is_empty();
            let m = FakeWhatsApp { sid: sid_answered, account: sid.clone(), request: request.clone(), message, at, wall_ms: wall_ms(), status, accepted };
            s.whatsapp.messages.push(m);
        };
        let script = if !s.authorized(&sid, &headers) {
            Some(Scripted { status: 401, body: None, delay: Duration::ZERO })
        } else if let Err(why) = parsed {
            Some(Scripted { status: 400, body: Some(error_body(400, 101, "Invalid Request", why).to_string()), delay: Duration::ZERO })
        } else {
            s.whatsapp.script.pop_front()
        };
        // A scripted 2xx without a body only delays the usual answer.
        let (script, delay) = match script {
            Some(sc) if (200..300).contains(&sc.status) && sc.body.is_none() => (None, sc.delay),
            other => (other, Duration::ZERO),
        };
        if let Some(r) = script {
            let accepted_anyway = (200..300).contains(&r.status);
            for m in messages_of(&request).unwrap_or_else(|_| vec![Value::Null]) {
                let sid_answered = if accepted_anyway { s.next_sid() } else { String::new() };
                record(&mut s, m, sid_answered, r.status);
            }
            let body = r.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b))).unwrap_or_else(|| default_error(r.status));
            (r.status, body, r.delay)
        } else {
            let mut results = Vec::new();
            for m in parsed.unwrap_or_default() {
                if s.whatsapp.not_on_whatsapp.contains(&last10(m["to"].as_str().unwrap_or(""))) {
                    record(&mut s, m, String::new(), 202);
                    results.push(json!({ "code": 400, "status": "failure", "data": null, "error_data": {
                        "code": 30013, "message": "Recipient not on WhatsApp",
                        "description": "The recipient is unable to receive the message" } }));
                } else {
                    let message_sid = s.next_sid();
                    record(&mut s, m, message_sid.clone(), 202);
                    results.push(json!({ "code": 202, "status": "success", "data": { "sid": message_sid }, "error_data": null }));
                }
            }
            let success = results.iter().filter(|r| r["status"] == "success").count();
            let body = json!({
                "request_id": uuid::Uuid::new_v4().simple().to_string(), "method": "POST", "http_code": 202,
                "metadata": { "total": results.len(), "success": success, "failed": results.len() - success },
                "response": { "whatsapp": { "messages": results } },
            });
            (202, body, delay)
        }
    };
    // Recorded before the wait: Exotel sends while the client may already have given up.
    tokio::time::sleep(delay).await;
    answer(status, answer_body)
}
