//! WhatsApp through Exotel's messages API v2 (reference/exotel-whatsapp.md): send the merchant's
//! approved confirmation template with one quick-reply button per offered choice, and read what
//! Exotel posts back (delivery reports and replies, in `callbacks`).

mod callbacks;

pub use callbacks::*;

use serde_json::{Value, json};

use super::client::{Account, DEFAULT_TIMEOUT, ExotelError, encode_segment, send};
use super::error::{classify, scrub, snippet};
use crate::domain::{Choice, mask};

/// One confirmation template message to one customer (no Debug: it holds the customer's number).
#[derive(Clone)]
pub struct TemplateMessage<'a> {
    /// The merchant's WhatsApp business number.
    pub from: &'a str,
    /// The customer, E.164.
    pub to: &'a str,
    /// The Meta-approved utility template's name and language code ("en", "hi").
    pub template: &'a str,
    pub language: &'a str,
    /// The body parameters, in the template's order.
    pub order_name: &'a str,
    pub amount: &'a str,
    pub items: &'a str,
    /// The shipping address on one line ({{4}}; never empty: "—" when there is none).
    pub address: &'a str,
    /// The unguessable per-message token each button's payload carries (`<token>.<choice>`).
    pub token: &'a str,
    /// The choices offered; buttons follow the order confirm · cancel · callback whatever the order here.
    pub choices: &'a [Choice],
    /// `{APP_URL}/exotel/{shop_key}/whatsapp`: delivery reports and replies come back there.
    pub status_callback: &'a str,
    /// Ours, echoed back in delivery reports.
    pub custom_data: &'a str,
}

/// What Exotel did with a message it answered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Taken for delivery; delivery reports will name this sid.
    Accepted { sid: String },
    /// Refused for this message (for instance a number not on WhatsApp): nothing will be delivered.
    Refused { code: Option<String>, message: String, description: String },
}

/// The payload of the button for `choice` in a message with `token`.
pub fn button_payload(token: &str, choice: Choice) -> String {
    format!("{token}.{}", choice.as_str())
}

/// The choices as buttons are laid out: confirm · cancel · callback, each at most once.
fn buttons(choices: &[Choice]) -> impl Iterator<Item = Choice> + '_ {
    [Choice::Confirm, Choice::Cancel, Choice::Callback].into_iter().filter(|c| choices.contains(c))
}

/// The request body (the wrapped form of the reference).
pub fn request_body(m: &TemplateMessage<'_>) -> Value {
    let text = |t: &str| json!({ "type": "text", "text": t });
    let mut components = vec![json!({
        "type": "body",
        "parameters": [text(m.order_name), text(m.amount), text(m.items), text(m.address)],
    })];
    components.extend(buttons(m.choices).enumerate().map(|(i, c)| {
        json!({
            "type": "button",
            "sub_type": "quick_reply",
            "index": i.to_string(),
            "parameters": [{ "type": "payload", "payload": button_payload(m.token, c) }],
        })
    }));
    json!({
        "custom_data": m.custom_data,
        "status_callback": m.status_callback,
        "whatsapp": { "messages": [{
            "custom_data": m.custom_data,
            "status_callback": m.status_callback,
            "from": m.from,
            "to": m.to,
            "content": {
                "type": "template",
                "template": {
                    "name": m.template,
                    "language": { "policy": "deterministic", "code": m.language },
                    "components": components,
                },
            },
        }]},
    })
}

/// Sends one template message (POST /v2/accounts/{sid}/messages). `Err` for a request Exotel did
/// not take (classified as for calls and SMS: 429/5xx/unreachable are transient, a timeout may
/// have sent it); `Ok` with Exotel's verdict on the message otherwise.
pub async fn send_template(http: &reqwest::Client, acct: &Account, m: &TemplateMessage<'_>) -> Result<SendOutcome, ExotelError> {
    let url = format!("{}/v2/accounts/{}/messages", acct.origin, encode_segment(&acct.sid));
    let req = http.post(url).json(&request_body(m));
    let result = send(acct, req, DEFAULT_TIMEOUT).await.and_then(|(status, body)| read_answer(status, &body));
    match &result {
        Ok(SendOutcome::Accepted { sid }) => tracing::debug!(to = %mask(m.to), wa_sid = %sid, "exotel whatsapp accepted"),
        Ok(SendOutcome::Refused { code, message, .. }) => {
            tracing::debug!(to = %mask(m.to), code = ?code, message = %message, "exotel whatsapp refused")
        }
        Err(e) => tracing::debug!(to = %mask(m.to), error = %e, "exotel whatsapp not sent"),
    }
    result
}

/// Reads the answer to a one-message request: the message's verdict on 2xx, the error otherwise.
fn read_answer(status: u16, body: &str) -> Result<SendOutcome, ExotelError> {
    let json: Option<Value> = serde_json::from_str(body.trim_start_matches('\u{feff}').trim()).ok();
    if !(200..300).contains(&status) {
        let message = json
            .as_ref()
            .and_then(error_message)
            .or_else(|| Some(snippet(body)).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Err(classify(status, message));
    }
    let first = json
        .as_ref()
        .and_then(|v| v.pointer("/response/whatsapp/messages/0").or_else(|| v.pointer("/whatsapp/messages/0")))
        .filter(|m| m.is_object())
        .ok_or_else(|| ExotelError::BadResponse(snippet(body)))?;
    let ok = text(first.get("status")).is_some_and(|s| s.eq_ignore_ascii_case("success"));
    if ok {
        let sid = text(first.pointer("/data/sid")).ok_or_else(|| ExotelError::BadResponse("no message sid in the answer".into()))?;
        return Ok(SendOutcome::Accepted { sid });
    }
    let err = first.get("error_data").filter(|e| e.is_object());
    let field = |k: &str| err.and_then(|e| text(e.get(k))).map(|s| scrub(&s));
    Ok(SendOutcome::Refused {
        code: field("code"),
        message: field("message").unwrap_or_else(|| "refused".into()),
        description: field("description").unwrap_or_default(),
    })
}

/// The message of an error answer: `response.error_data`, `error_data` or `message`.
fn error_message(v: &Value) -> Option<String> {
    ["/response/error_data", "/error_data", "/response/whatsapp/messages/0/error_data"]
        .iter()
        .filter_map(|p| v.pointer(p))
        .find_map(|e| text(e.get("description")).or_else(|| text(e.get("message"))))
        .or_else(|| text(v.pointer("/response/message")).or_else(|| text(v.get("message"))))
        .map(|m| scrub(&m))
}

/// A JSON string or number as trimmed text; `None` when absent or empty.
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<'a>(choices: &'a [Choice]) -> TemplateMessage<'a> {
        TemplateMessage {
            from: "+918000000000", to: "+919876543210", template: "cod_confirmation", language: "en",
            order_name: "#1001", amount: "₹499", items: "Linen kurta × 1", address: "12 MG Road, Pune 411001", token: "tok123", choices,
            status_callback: "https://app.test/exotel/k/whatsapp", custom_data: "wa-1",
        }
    }

    #[test]
    fn body_has_the_reference_shape() {
        let v = request_body(&message(&[Choice::Callback, Choice::Confirm, Choice::Cancel]));
        assert_eq!(v["status_callback"], "https://app.test/exotel/k/whatsapp");
        let m = &v["whatsapp"]["messages"][0];
        assert_eq!((m["to"].as_str(), m["from"].as_str(), m["custom_data"].as_str()), (Some("+919876543210"), Some("+918000000000"), Some("wa-1")));
        assert_eq!(m["status_callback"], v["status_callback"]);
        let t = &m["content"]["template"];
        assert_eq!(m["content"]["type"], "template");
        assert_eq!(t["name"], "cod_confirmation");
        assert_eq!(t["language"], json!({ "policy": "deterministic", "code": "en" }));
        let c = t["components"].as_array().unwrap();
        let params: Vec<&str> = c[0]["parameters"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
        assert_eq!((c[0]["type"].as_str(), params), (Some("body"), vec!["#1001", "₹499", "Linen kurta × 1", "12 MG Road, Pune 411001"]));
        let buttons: Vec<(&str, &str)> =
            c[1..].iter().map(|b| (b["index"].as_str().unwrap(), b["parameters"][0]["payload"].as_str().unwrap())).collect();
        assert_eq!(buttons, [("0", "tok123.confirm"), ("1", "tok123.cancel"), ("2", "tok123.callback")]);
        assert!(c[1..].iter().all(|b| b["type"] == "button" && b["sub_type"] == "quick_reply" && b["parameters"][0]["type"] == "payload"));
    }

    #[test]
    fn hidden_choices_get_no_button() {
        let v = request_body(&message(&[Choice::Callback, Choice::Confirm]));
        let c = v["whatsapp"]["messages"][0]["content"]["template"]["components"].as_array().unwrap().clone();
        let buttons: Vec<(&str, &str)> =
            c[1..].iter().map(|b| (b["index"].as_str().unwrap(), b["parameters"][0]["payload"].as_str().unwrap())).collect();
        assert_eq!(buttons, [("0", "tok123.confirm"), ("1", "tok123.callback")]);
    }

    #[test]
    fn answers_are_read() {
        let accepted = r#"{"request_id":"r1","method":"POST","http_code":202,"metadata":{"total":1,"success":1,"failed":0},
            "response":{"whatsapp":{"messages":[{"code":202,"status":"success","data":{"sid":"wa_sid_1"},"error_data":null}]}}}"#;
        assert_eq!(read_answer(202, accepted).unwrap(), SendOutcome::Accepted { sid: "wa_sid_1".into() });
        let refused = r#"{"http_code":202,"metadata":{"total":1,"success":0,"failed":1},"response":{"whatsapp":{"messages":[
            {"code":400,"status":"failure","data":null,"error_data":{"code":30013,"message":"Recipient not on WhatsApp",
             "description":"+919876543210 is not a WhatsApp user"}}]}}}"#;
        match read_answer(202, refused).unwrap() {
            SendOutcome::Refused { code, message, description } => {
                assert_eq!((code.as_deref(), message.as_str()), (Some("30013"), "Recipient not on WhatsApp"));
                assert!(description.contains("3210") && !description.contains("98765"), "{description}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_answer(202, r#"{"response":{}}"#), Err(ExotelError::BadResponse(_))));
        assert!(matches!(read_answer(202, "OK"), Err(ExotelError::BadResponse(_))));
        let accepted_no_sid = r#"{"response":{"whatsapp":{"messages":[{"status":"success","data":{}}]}}}"#;
        assert!(matches!(read_answer(202, accepted_no_sid), Err(ExotelError::BadResponse(_))));
    }

    #[test]
    fn http_errors_are_classified_as_for_sms() {
        let err = |status, body: &str| read_answer(status, body).unwrap_err();
        let e = err(400, r#"{"http_code":400,"response":{"code":400,"status":"failure","error_data":{"code":101,"message":"Missing Parameter","description":"to is required"}}}"#);
        assert!(matches!(e, ExotelError::Rejected { status: 400, ref message } if message == "to is required"), "{e:?}");
        assert!(matches!(err(401, ""), ExotelError::Unauthorized));
        for s in [402, 403, 404] {
            assert!(!err(s, "{}").is_transient(), "{s}");
        }
        assert!(matches!(err(429, ""), ExotelError::RateLimited));
        assert!(matches!(err(503, "<html>down</html>"), ExotelError::Server { status: 503, .. }));
        assert!(err(500, "").is_transient() && err(429, "").is_transient());
    }
}
