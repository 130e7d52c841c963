//! What Exotel posts to a message's `status_callback`: delivery reports (`dlr`) and the customer's
//! replies (`icm`). Pure parsing; the shapes differ between Exotel's pages, so every documented one
//! is accepted (reference/exotel-whatsapp.md, "Callbacks").

use serde_json::Value;

use crate::domain::Choice;

/// One entry of a callback body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// What became of a message we sent.
    Delivery { sid: String, status: WaStatus, code: Option<String>, description: Option<String>, custom_data: Option<String> },
    /// A message from the customer.
    Reply { from: String, to: String, answer: Reply },
}

/// A delivery report's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaStatus {
    Sent,
    Delivered,
    Read,
    /// Will never be delivered (not on WhatsApp, blocked, expired…).
    Failed,
    /// Anything else (accepted, queued, payment statuses…): nothing to act on.
    Other,
}

/// What a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A tap on one of our buttons: the message's token and the choice.
    Button { token: String, choice: Choice },
    /// A typed answer we understood.
    Typed(Choice),
    /// Anything else (kept, cut to 200 characters, for the history).
    Other(String),
}

/// The entries of a callback body (`{ "whatsapp": { "messages": [ … ] } }`, or one bare entry).
/// `Err` when the body is not JSON; entries that are neither a report nor a reply are left out.
pub fn parse_callbacks(body: &[u8]) -> Result<Vec<Callback>, serde_json::Error> {
    let v: Value = serde_json::from_slice(body)?;
    Ok(callbacks_of(&v))
}

/// [`parse_callbacks`] over parsed JSON.
pub fn callbacks_of(v: &Value) -> Vec<Callback> {
    let list = v.pointer("/whatsapp/messages").or_else(|| v.get("messages"));
    let entries: Vec<&Value> = match list {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ if v.is_object() => vec![v],
        _ => vec![],
    };
    entries.into_iter().filter_map(entry).collect()
}

fn entry(m: &Value) -> Option<Callback> {
    let kind = text(m, "callback_type").map(|k| k.to_ascii_lowercase());
    let is_reply = match kind.as_deref() {
        Some("icm") => true,
        Some("dlr") => false,
        _ => m.get("content").is_some_and(Value::is_object),
    };
    if is_reply {
        let answer = reply(m.get("content")?)?;
        return Some(Callback::Reply { from: text(m, "from").unwrap_or_default(), to: text(m, "to").unwrap_or_default(), answer });
    }
    let sid = text(m, "sid")?;
    let status = text(m, "exo_detailed_status")
        .map(|d| detailed_status(&d))
        .filter(|s| *s != WaStatus::Other)
        .or_else(|| text(m, "status").map(|s| plain_status(&s)))
        .unwrap_or(WaStatus::Other);
    Some(Callback::Delivery {
        sid,
        status,
        code: text(m, "exo_status_code"),
        description: text(m, "description").or_else(|| text(m, "exo_detailed_status")),
        custom_data: text(m, "custom_data"),
    })
}

/// Exotel's `exo_detailed_status` (EX_MESSAGE_DELIVERED…); its failure names all say what failed.
fn detailed_status(s: &str) -> WaStatus {
    let s = s.trim().to_ascii_uppercase();
    match s.as_str() {
        "EX_MESSAGE_SENT" => WaStatus::Sent,
        "EX_MESSAGE_DELIVERED" => WaStatus::Delivered,
        "EX_MESSAGE_SEEN" | "EX_MESSAGE_READ" => WaStatus::Read,
        _ if ["ERROR", "FAIL", "HIT", "TOO_MANY", "INVALID", "INCAPABLE", "BLOCKED", "UNSUPPORTED", "MISSING", "EXPIRED", "REJECT", "UNDELIVER"]
            .iter()
            .any(|w| s.contains(w)) =>
        {
            WaStatus::Failed
        }
        _ => WaStatus::Other,
    }
}

/// A plain `status` (sent, delivered, read, failed…).
fn plain_status(s: &str) -> WaStatus {
    match s.trim().to_ascii_lowercase().as_str() {
        "sent" => WaStatus::Sent,
        "delivered" => WaStatus::Delivered,
        "read" | "seen" => WaStatus::Read,
        "failed" | "failure" | "undelivered" | "rejected" | "error" | "expired" => WaStatus::Failed,
        _ => WaStatus::Other,
    }
}

/// The answer in a reply's `content`: a template button, an interactive button or text.
fn reply(content: &Value) -> Option<Reply> {
    let kind = text(content, "type").unwrap_or_default().to_ascii_lowercase();
    let (payload, label) = match kind.as_str() {
        "button" => {
            let b = content.get("button")?;
            (text(b, "payload"), text(b, "text"))
        }
        "interactive" => {
            let i = content.get("interactive")?;
            let b = i.get("button_reply").or_else(|| i.get("list_reply"))?;
            (text(b, "id"), text(b, "title"))
        }
        "text" => (None, content.get("text").and_then(|t| text(t, "body").or_else(|| t.as_str().map(str::to_string)))),
        _ => return None,
    };
    if let Some((token, choice)) = payload.as_deref().and_then(read_payload) {
        return Some(Reply::Button { token, choice });
    }
    // A button without our payload, or typed text: read its words.
    let words = label.or(payload)?;
    Some(match read_typed_answer(&words) {
        Some(c) => Reply::Typed(c),
        None => Reply::Other(words.trim().chars().take(200).collect()),
    })
}

/// `<token>.<choice>`, the payload our buttons carry.
pub fn read_payload(payload: &str) -> Option<(String, Choice)> {
    let (token, choice) = payload.trim().rsplit_once('.')?;
    let ok = !token.is_empty() && token.len() <= 128 && token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    Some((token.to_string(), Choice::parse(choice)?)).filter(|_| ok)
}

/// A typed answer: 1/2/3, yes/no, haan/nahin (in Latin or Devanagari), callback/call me. Case,
/// spaces and punctuation or emoji around the words do not matter; anything else is `None`.
pub fn read_typed_answer(s: &str) -> Option<Choice> {
    let cleaned: String = s.chars().filter(|c| !matches!(c, '\u{200B}'..='\u{200D}' | '\u{FE0F}' | '\u{FE0E}')).collect();
    let words: Vec<String> = cleaned
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let phrase = words.join(" ");
    let confirm = [
        "1", "१", "yes", "y", "ok", "okay", "confirm", "haan", "haa", "ha", "han", "ji haan", "ji ha", "ji han", "हाँ", "हां", "हा",
        "जी हाँ", "जी हां", "जी हा",
    ];
    let cancel = ["2", "२", "no", "n", "cancel", "nahin", "nahi", "nai", "na", "नहीं", "नही", "ना", "नहीं जी"];
    let callback = ["3", "३", "callback", "call back", "call me", "call me back"];
    if confirm.contains(&phrase.as_str()) {
        Some(Choice::Confirm)
    } else if cancel.contains(&phrase.as_str()) {
        Some(Choice::Cancel)
    } else if callback.contains(&phrase.as_str()) {
        Some(Choice::Callback)
    } else {
        None
    }
}

/// Letters, digits and Devanagari signs (vowel signs and the anusvara are marks, not letters), but
/// not the danda that ends a Hindi sentence.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || (('\u{0900}'..='\u{097F}').contains(&c) && !matches!(c, '।' | '॥'))
}

fn text(v: &Value, key: &str) -> Option<String> {
    super::text(v.get(key))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn one(v: Value) -> Callback {
        let all = callbacks_of(&v);
        assert_eq!(all.len(), 1, "{v}");
        all.into_iter().next().unwrap()
    }

    fn icm(content: Value) -> Value {
        json!({ "whatsapp": { "messages": [{ "callback_type": "icm", "from": "+919876543210", "to": "+918000000000",
            "profile_name": "A", "timestamp": "2026-01-01T10:00:00+05:30", "content": content }] } })
    }

    fn answer(content: Value) -> Reply {
        match one(icm(content)) {
            Callback::Reply { from, to, answer } => {
                assert_eq!((from.as_str(), to.as_str()), ("+919876543210", "+918000000000"));
                answer
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn delivery_reports() {
        let dlr = |fields: Value| {
            let mut m = json!({ "callback_type": "dlr", "sid": "wa1", "to": "+919876543210", "custom_data": "wa-7" });
            m.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
            one(json!({ "whatsapp": { "messages": [m] } }))
        };
        let seed = dlr(json!({ "exo_status_code": 25001, "exo_detailed_status": "EX_MESSAGE_DELIVERED", "description": "Message delivered" }));
        assert_eq!(seed, Callback::Delivery {
            sid: "wa1".into(), status: WaStatus::Delivered, code: Some("25001".into()),
            description: Some("Message delivered".into()), custom_data: Some("wa-7".into()),
        });
        let status_of = |c: Callback| match c {
            Callback::Delivery { status, .. } => status,
            other => panic!("{other:?}"),
        };
        for (detailed, want) in [
            ("EX_MESSAGE_SENT", WaStatus::Sent), ("EX_MESSAGE_READ", WaStatus::Read), ("EX_MESSAGE_SEEN", WaStatus::Read),
            ("EX_INCAPABLE_RECIPIENT", WaStatus::Failed), ("EX_NUMBER_ERROR", WaStatus::Failed), ("ex_rate_limit_hit", WaStatus::Failed),
            ("EX_RECIPIENT_BLOCKED", WaStatus::Failed), ("EX_PAYMENT_PENDING", WaStatus::Other),
        ] {
            assert_eq!(status_of(dlr(json!({ "exo_detailed_status": detailed }))), want, "{detailed}");
        }
        for (plain, want) in [("sent", WaStatus::Sent), ("Delivered", WaStatus::Delivered), ("read", WaStatus::Read), ("failed", WaStatus::Failed), ("queued", WaStatus::Other)] {
            assert_eq!(status_of(dlr(json!({ "status": plain }))), want, "{plain}");
        }
        // The unwrapped form of Exotel's status-code page, without callback_type.
        let bare = json!({ "sid": "wa2", "status": "delivered", "exo_status_code": 30002 });
        assert!(matches!(one(bare), Callback::Delivery { status: WaStatus::Delivered, ref sid, .. } if sid == "wa2"));
        assert!(callbacks_of(&json!({ "whatsapp": { "messages": [{ "callback_type": "dlr", "status": "sent" }] } })).is_empty());
    }

    #[test]
    fn replies_in_every_shape() {
        let tapped = Reply::Button { token: "tok123".into(), choice: Choice::Cancel };
        assert_eq!(answer(json!({ "type": "button", "button": { "payload": "tok123.cancel", "text": "Cancel" } })), tapped);
        let interactive = json!({ "type": "interactive", "interactive": { "type": "button_reply", "button_reply": { "id": "tok123.cancel", "title": "Cancel order" } } });
        assert_eq!(answer(interactive), tapped);
        assert_eq!(answer(json!({ "type": "text", "text": { "body": " Haan! " } })), Reply::Typed(Choice::Confirm));
        assert_eq!(answer(json!({ "type": "text", "text": { "body": "where is my order?" } })), Reply::Other("where is my order?".into()));
        // A button without our payload is read by its words.
        assert_eq!(answer(json!({ "type": "button", "button": { "payload": "Call me", "text": "Call me" } })), Reply::Typed(Choice::Callback));
        assert_eq!(answer(json!({ "type": "button", "button": { "payload": "x.maybe", "text": "Yes" } })), Reply::Typed(Choice::Confirm));
        // Not an answer: an image, a reaction.
        assert!(callbacks_of(&icm(json!({ "type": "image", "image": { "id": "m1" } }))).is_empty());
        // Several entries in one body, replies and reports mixed.
        let mixed = json!({ "whatsapp": { "messages": [
            { "callback_type": "dlr", "sid": "a", "exo_detailed_status": "EX_MESSAGE_READ" },
            { "callback_type": "icm", "from": "f", "to": "t", "content": { "type": "text", "text": { "body": "3" } } } ] } });
        assert_eq!(callbacks_of(&mixed).len(), 2);
    }

    #[test]
    fn payloads() {
        assert_eq!(read_payload("ab_C-9.confirm"), Some(("ab_C-9".into(), Choice::Confirm)));
        assert_eq!(read_payload("a.b.callback"), None);
        for bad in ["", ".confirm", "tok.", "tok.yes", "tok confirm", "tok.Confirm"] {
            assert_eq!(read_payload(bad), None, "{bad}");
        }
    }

    #[test]
    fn typed_words() {
        let confirm = ["1", "Yes", "y", "OK", "okay", "confirm", "haan", "Haa", "ha", "han", "ji haan", "हाँ", "हां", "हा", "जी हाँ", "१", "yes!!", "👍 yes", "  ok.  ", "\"haan\""];
        let cancel = ["2", "no", "N", "cancel", "nahin", "Nahi", "nai", "na", "नहीं", "नही", "ना", "नहीं।", "NO!!!", "❌ cancel"];
        let callback = ["3", "callback", "Call me", "call back", "call me back", "call-me", "3."];
        for (words, want) in [(&confirm[..], Choice::Confirm), (&cancel[..], Choice::Cancel), (&callback[..], Choice::Callback)] {
            for w in words {
                assert_eq!(read_typed_answer(w), Some(want), "{w:?}");
            }
        }
        for other in ["", "  ", "4", "12", "yes no", "maybe", "haan nahin", "kal", "call", "okk", "👍", "hai"] {
            assert_eq!(read_typed_answer(other), None, "{other:?}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof!["[a-z_]{0,12}", ".{0,20}", Just("icm".to_string()), Just("dlr".to_string()), Just("button".to_string())]
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("whatsapp".to_string()), Just("messages".to_string()), Just("content".to_string()), Just("type".to_string()),
                Just("button".to_string()), Just("interactive".to_string()), Just("button_reply".to_string()), Just("text".to_string()),
                Just("callback_type".to_string()), Just("sid".to_string()), "[a-z]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys, inner), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_never_panics(v in any_json(), bytes in prop::collection::vec(any::<u8>(), 0..64), s in "\\PC{0,40}") {
            let _ = callbacks_of(&v);
            let _ = parse_callbacks(&bytes);
            let _ = parse_callbacks(v.to_string().as_bytes());
            let _ = read_typed_answer(&s);
            let _ = read_payload(&s);
        }
    }
}
