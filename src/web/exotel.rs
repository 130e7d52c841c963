//! The URLs Exotel calls, all under `/exotel/{shop_key}/…`. Exotel signs nothing, so the per-shop
//! secret key in the path is the authentication: an unknown key gets 404 and changes nothing.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::verification::missed_call::{self, Missed};
use crate::verification::{sms, whatsapp};
use crate::verification::ivr::{self, Pressed, Scope};
use crate::verification::schedule::{self, Choice};
use crate::app::App;
use crate::AppState;

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// Exotel reads a greeting only when its `Content-Type` is `text/plain` "and nothing else": no
/// charset parameter (the text is ASCII: digits, currency words, the shop's subdomain).
const GREETING_TYPE: &str = "text/plain";

fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found")
}

/// Keys are 32-character random tokens; anything else cannot match and skips the database.
fn plausible_key(key: &str) -> bool {
    (16..=64).contains(&key.len()) && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The installed shop a callback key belongs to.
async fn shop_for_key(app: &App, key: &str) -> anyhow::Result<Option<String>> {
    if !plausible_key(key) {
        return Ok(None);
    }
    Ok(crate::db::shops::installed_by_exotel_key(&app.db, key).await?)
}

/// PostgreSQL text cannot hold NUL, and Exotel never sends one: such a callback is refused (400)
/// before any lookup or write.
fn has_nul(fields: &HashMap<String, String>) -> bool {
    fields.iter().any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

fn nul_refused() -> Response {
    plain(StatusCode::BAD_REQUEST, "fields must not contain NUL characters")
}

fn internal(e: anyhow::Error) -> Response {
    tracing::error!(error = %e, "Exotel callback failed");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "try again")
}

/// `GET`/`HEAD /exotel/{key}/greeting`: text for Exotel to read out. HEAD gets the same headers.
pub async fn greeting(State(state): State<AppState>, method: Method, Path(key): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let result = async {
        if !plausible_key(&key) {
            return Ok(not_found());
        }
        if has_nul(&q) {
            return Ok(nul_refused());
        }
        // One query: the call, through the key's shop. An unknown key or call is 404 either way.
        let Some(a) = ivr::find_attempt(&state, Scope::Key(&key), q.get("CustomField").map(String::as_str), q.get("CallSid").map(String::as_str)).await?
        else {
            return Ok(not_found());
        };
        let text = ivr::greeting_text(&a);
        let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, GREETING_TYPE)], text.clone()).into_response();
        if method == Method::HEAD {
            resp.headers_mut().insert(header::CONTENT_LENGTH, text.len().into());
            *resp.body_mut() = axum::body::Body::empty();
        }
        anyhow::Ok(resp)
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /exotel/{key}/ivr/{confirm|cancel|callback|input}`: the passthru after the IVR applet.
/// 200 takes the flow's "OK" branch; an input that is no offered choice answers 422 so the flow can
/// play its "incorrect input" branch. Repeats are harmless.
pub async fn passthru(State(state): State<AppState>, Path((key, which)): Path<(String, String)>, Query(q): Query<HashMap<String, String>>) -> Response {
    let result = async {
        if !plausible_key(&key) || !matches!(which.as_str(), "confirm" | "cancel" | "callback" | "input") {
            return Ok(not_found());
        }
        if has_nul(&q) {
            return Ok(nul_refused());
        }
        let Some(a) = ivr::find_attempt(&state, Scope::Key(&key), q.get("CustomField").map(String::as_str), q.get("CallSid").map(String::as_str)).await?
        else {
            return Ok(not_found());
        };
        let settings = a.settings();
        let digits = q.get("digits").cloned().unwrap_or_default();
        let choice = match Choice::parse(&which) {
            // A per-choice URL: the flow already knows the key; an option the merchant does not offer is refused.
            Some(c) => c.tag(&settings.ivr).map(|_| c).ok_or_else(|| format!("{} (not offered)", c.as_str())),
            None => schedule::read_digits(&settings.ivr, &digits),
        };
        let shown = digits.trim().trim_matches('"').to_string();
        Ok(match ivr::press(&state, &a, &shown, choice).await? {
            Pressed::Applied | Pressed::AlreadyResolved => plain(StatusCode::OK, "OK"),
            Pressed::Invalid => plain(StatusCode::UNPROCESSABLE_ENTITY, "not an offered choice"),
        })
    }
    .await;
    result.unwrap_or_else(internal)
}

/// Flattens a JSON status report into the form's keys: `Legs[0][AnsweredBy]`, numbers as text.
fn flatten_json(v: &Value, prefix: &str, out: &mut HashMap<String, String>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}[{k}]") };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten_json(v, &key(k), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_json(v, &key(&i.to_string()), out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// A status report in any of the forms Exotel sends: multipart form (its default), urlencoded
/// form, or JSON. An unreadable one gets its status: 413 for a body over the limit, else 400.
async fn report_fields(req: Request) -> Result<HashMap<String, String>, (StatusCode, String)> {
    let ctype = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if ctype.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &()).await.map_err(|e| (e.status(), e.body_text()))?;
        let mut out = HashMap::new();
        while let Some(field) = form.next_field().await.map_err(|e| (e.status(), e.body_text()))? {
            let name = field.name().unwrap_or_default().to_string();
            let value = field.text().await.map_err(|e| (e.status(), e.body_text()))?;
            out.insert(name, value);
        }
        return Ok(out);
    }
    let body = Bytes::from_request(req, &()).await.map_err(|e| (e.status(), e.body_text()))?;
    if ctype.starts_with("application/json") || body.first() == Some(&b'{') {
        let v: Value = serde_json::from_slice(&body).map_err(|e| (StatusCode::BAD_REQUEST, format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err((StatusCode::BAD_REQUEST, "the JSON body must be an object".into()));
        }
        let mut out = HashMap::new();
        flatten_json(&v, "", &mut out);
        return Ok(out);
    }
    Ok(url::form_urlencoded::parse(&body).into_owned().collect())
}

/// The shop behind a status callback's key and the report's fields, or the answer to give
/// (404 for an unknown key, 413 or 400 for an unreadable report). Every status callback starts here.
pub(crate) async fn shop_report(app: &App, key: &str, req: Request) -> anyhow::Result<Result<(String, HashMap<String, String>), Response>> {
    let Some(shop_id) = shop_for_key(app, key).await? else { return Ok(Err(not_found())) };
    Ok(match report_fields(req).await {
        Ok(fields) if has_nul(&fields) => Err(nul_refused()),
        Ok(fields) => Ok((shop_id, fields)),
        Err((status, e)) => Err(plain(status, format!("unreadable status report: {e}"))),
    })
}

/// `POST /exotel/{key}/call-status`: Exotel's call status callback.
pub async fn call_status(State(state): State<AppState>, Path(key): Path<String>, req: Request) -> Response {
    let result = async {
        let (shop_id, fields) = match shop_report(&state, &key, req).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
        let Some(a) = ivr::find_attempt(&state, Scope::Shop(&shop_id), fields.get("CustomField").map(String::as_str), fields.get("CallSid").map(String::as_str)).await?
        else {
            // Not a call of this shop (or of ours at all): 404 like every other callback, nothing changes.
            return Ok(not_found());
        };
        ivr::status_report(&state, &a, &fields).await?;
        Ok(plain(StatusCode::OK, "OK"))
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `GET /exotel/{key}/missed-call`: the passthru at the start of the missed-call ExoPhone's flow.
/// 200 when the call confirmed an order (or repeats one that did, within 5 minutes); 422 when there
/// was nothing to confirm, so the flow can say so.
pub async fn missed_call(State(state): State<AppState>, Path(key): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let result = async {
        let Some(shop_id) = shop_for_key(&state, &key).await? else { return Ok(not_found()) };
        if has_nul(&q) {
            return Ok(nul_refused());
        }
        missed_call_from(&state, &shop_id, &q).await
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /exotel/{key}/missed-call`: the same passthru when Exotel posts its fields as a form
/// (urlencoded or multipart; JSON too). Fields in the query count where the body lacks them.
pub async fn missed_call_post(State(state): State<AppState>, Path(key): Path<String>, Query(q): Query<HashMap<String, String>>, req: Request) -> Response {
    let result = async {
        let (shop_id, mut fields) = match shop_report(&state, &key, req).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
        if has_nul(&q) {
            return Ok(nul_refused());
        }
        for (k, v) in q {
            fields.entry(k).or_insert(v);
        }
        missed_call_from(&state, &shop_id, &fields).await
    }
    .await;
    result.unwrap_or_else(internal)
}

async fn missed_call_from(state: &App, shop_id: &str, q: &HashMap<String, String>) -> anyhow::Result<Response> {
    let from = q.get("CallFrom").or_else(|| q.get("From")).map(|s| s.trim()).unwrap_or_default();
    if from.is_empty() {
        return Ok(plain(StatusCode::BAD_REQUEST, "CallFrom is required"));
    }
    Ok(match missed_call::missed_call(state, shop_id, from, q.get("CallSid").map(String::as_str)).await? {
        Missed::Confirmed(_) | Missed::Repeat => plain(StatusCode::OK, "OK"),
        Missed::NothingPending => plain(StatusCode::UNPROCESSABLE_ENTITY, "no pending order for this number"),
        Missed::NotInUse => plain(StatusCode::UNPROCESSABLE_ENTITY, "missed-call confirmation is not in use"),
        Missed::InvalidNumber => plain(StatusCode::UNPROCESSABLE_ENTITY, "not a phone number"),
    })
}

/// `POST /exotel/{key}/sms-status`: Exotel's SMS delivery report.
pub async fn sms_status(State(state): State<AppState>, Path(key): Path<String>, req: Request) -> Response {
    let result = async {
        let (shop_id, fields) = match shop_report(&state, &key, req).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
        Ok(if sms::status_report(&state, &shop_id, &fields).await? {
            plain(StatusCode::OK, "OK")
        } else {
            plain(StatusCode::OK, "unknown SMS; ignored")
        })
    }
    .await;
    result.unwrap_or_else(internal)
}

/// `POST /exotel/{key}/whatsapp`: Exotel's WhatsApp delivery reports and the customer's replies
/// (JSON). 200 for any readable body, known messages or not (Exotel retries anything else); 400
/// for one that is not JSON.
pub async fn whatsapp(State(state): State<AppState>, Path(key): Path<String>, body: Bytes) -> Response {
    let result = async {
        let Some(shop_id) = shop_for_key(&state, &key).await? else { return Ok(not_found()) };
        // PostgreSQL text cannot hold NUL, and Exotel never sends one.
        if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Ok(plain(StatusCode::BAD_REQUEST, "fields must not contain NUL characters"));
        }
        let list = match crate::exotel::whatsapp::parse_callbacks(&body) {
            Ok(list) => list,
            Err(e) => return Ok(plain(StatusCode::BAD_REQUEST, format!("not JSON: {e}"))),
        };
        whatsapp::callbacks(&state, &shop_id, list).await?;
        Ok(plain(StatusCode::OK, "OK"))
    }
    .await;
    result.unwrap_or_else(internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_reports_flatten_like_forms() {
        let mut out = HashMap::new();
        flatten_json(
            &json!({"CallSid": "abc", "ConversationDuration": 12, "Legs": [{"AnsweredBy": "NA"}, {"AnsweredBy": "MACHINE", "OnCallDuration": "7"}], "RecordingUrl": null}),
            "",
            &mut out,
        );
        assert_eq!(out["CallSid"], "abc");
        assert_eq!(out["ConversationDuration"], "12");
        assert_eq!(out["Legs[1][AnsweredBy]"], "MACHINE");
        assert!(!out.contains_key("RecordingUrl"));
    }
}
