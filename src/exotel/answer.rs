//! Reading a v1 answer (Calls, SMS, Numbers, Balance). Answers are read by their content (JSON or
//! XML), not by the URL asked for, because the docs and real answers disagree; every 2xx counts as
//! success unless it carries a RestException.

use serde::Deserialize;
use serde_json::Value;

use super::error::{ExotelError, classify, scrub, snippet};

/// Which element of the answer a request expects.
#[derive(Clone, Copy, Debug)]
pub(super) enum Section {
    Call,
    Sms,
    Numbers,
    /// Any 2xx without a RestException will do (the balance check).
    Any,
}

/// The parts of an answer this client reads, whichever element (`Call`, `SMSMessage`, `Numbers`,
/// `RestException`) they came in. XML gives text, JSON strings or numbers: all kept as text.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Fields {
    #[serde(rename = "Sid")]
    pub(super) sid: Option<String>,
    #[serde(rename = "Status")]
    pub(super) status: Option<String>,
    #[serde(rename = "DetailedStatus")]
    pub(super) detailed_status: Option<String>,
    #[serde(rename = "DetailedStatusCode")]
    pub(super) detailed_status_code: Option<String>,
    #[serde(rename = "DND")]
    pub(super) dnd: Option<String>,
    #[serde(rename = "Type")]
    pub(super) number_type: Option<String>,
    #[serde(rename = "Operator")]
    pub(super) operator: Option<String>,
    #[serde(rename = "Circle")]
    pub(super) circle: Option<String>,
    #[serde(rename = "Code")]
    pub(super) code: Option<String>,
    #[serde(rename = "Message")]
    pub(super) message: Option<String>,
    #[serde(rename = "Duration")]
    pub(super) duration: Option<String>,
    #[serde(rename = "Price")]
    pub(super) price: Option<String>,
    #[serde(rename = "StartTime")]
    pub(super) start_time: Option<String>,
    #[serde(rename = "EndTime")]
    pub(super) end_time: Option<String>,
    #[serde(rename = "SmsUnits")]
    pub(super) sms_units: Option<String>,
}

/// `TwilioResponse` in XML (the root's name is not checked), the top-level object in JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Envelope {
    #[serde(rename = "Call")]
    call: Option<Fields>,
    #[serde(rename = "SMSMessage")]
    sms: Option<Fields>,
    #[serde(rename = "Numbers")]
    numbers: Option<Fields>,
    #[serde(rename = "RestException")]
    exception: Option<Fields>,
}

impl Fields {
    fn from_json(v: &Value) -> Fields {
        let text = |k: &str| match v.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        Fields {
            sid: text("Sid"),
            status: text("Status"),
            detailed_status: text("DetailedStatus"),
            detailed_status_code: text("DetailedStatusCode"),
            dnd: text("DND"),
            number_type: text("Type"),
            operator: text("Operator"),
            circle: text("Circle"),
            code: text("Code"),
            message: text("Message"),
            duration: text("Duration"),
            price: text("Price"),
            start_time: text("StartTime"),
            end_time: text("EndTime"),
            sms_units: text("SmsUnits"),
        }
        .tidy()
    }

    /// Empty elements (`<DetailedStatus/>`) mean absent.
    fn tidy(self) -> Fields {
        let t = |o: Option<String>| o.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Fields {
            sid: t(self.sid),
            status: t(self.status),
            detailed_status: t(self.detailed_status),
            detailed_status_code: t(self.detailed_status_code),
            dnd: t(self.dnd),
            number_type: t(self.number_type),
            operator: t(self.operator),
            circle: t(self.circle),
            code: t(self.code),
            message: t(self.message),
            duration: t(self.duration),
            price: t(self.price),
            start_time: t(self.start_time),
            end_time: t(self.end_time),
            sms_units: t(self.sms_units),
        }
    }

    /// The HTTP-like status a RestException carries (`Status` or `Code`).
    fn exception_status(&self) -> Option<u16> {
        [&self.status, &self.code]
            .into_iter()
            .flatten()
            .filter_map(|s| s.parse::<u16>().ok())
            .find(|s| (400..600).contains(s))
    }
}

fn parse_envelope(body: &str) -> Option<Envelope> {
    let body = body.trim_start_matches('\u{feff}').trim();
    if body.starts_with('{') {
        let mut v: Value = serde_json::from_str(body).ok()?;
        if let Some(inner) = v.get_mut("TwilioResponse").filter(|i| i.is_object()) {
            v = inner.take();
        }
        let section = |k: &str| v.get(k).filter(|s| s.is_object()).map(Fields::from_json);
        Some(Envelope { call: section("Call"), sms: section("SMSMessage"), numbers: section("Numbers"), exception: section("RestException") })
    } else if body.starts_with('<') {
        let e: Envelope = quick_xml::de::from_str(body).ok()?;
        Some(Envelope {
            call: e.call.map(Fields::tidy),
            sms: e.sms.map(Fields::tidy),
            numbers: e.numbers.map(Fields::tidy),
            exception: e.exception.map(Fields::tidy),
        })
    } else {
        None
    }
}

/// Turns an HTTP status and body into the section asked for, or the error they amount to.
pub(super) fn interpret(status: u16, body: &str, section: Section) -> Result<Fields, ExotelError> {
    let envelope = parse_envelope(body);
    if (200..300).contains(&status) {
        let mut e = match (envelope, section) {
            (Some(e), _) => e,
            // The balance check only needs Exotel to have accepted the credentials.
            (None, Section::Any) => return Ok(Fields::default()),
            (None, _) => return Err(ExotelError::BadResponse(snippet(body))),
        };
        if let Some(ex) = e.exception.take() {
            let message = ex.message.as_deref().map(scrub).unwrap_or_else(|| "RestException".into());
            return Err(match ex.exception_status() {
                Some(s) => classify(s, message),
                None => ExotelError::Rejected { status, message },
            });
        }
        let found = match section {
            Section::Call => e.call,
            Section::Sms => e.sms,
            Section::Numbers => e.numbers,
            Section::Any => Some(Fields::default()),
        };
        return found.ok_or_else(|| ExotelError::BadResponse(snippet(body)));
    }
    let message = envelope
        .and_then(|e| e.exception)
        .and_then(|ex| ex.message)
        .map(|m| scrub(&m))
        .or_else(|| Some(snippet(body)).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(classify(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(status: u16, body: &str) -> Result<Fields, ExotelError> {
        interpret(status, body, Section::Call)
    }

    #[test]
    fn rest_exceptions_in_both_forms() {
        let xml = "<TwilioResponse><RestException><Status>400</Status><Message>Invalid From number</Message></RestException></TwilioResponse>";
        assert!(matches!(call(400, xml), Err(ExotelError::Rejected { status: 400, ref message }) if message == "Invalid From number"));
        let json = r#"{"RestException":{"Code":404,"Message":"Not Found"}}"#;
        assert!(matches!(call(404, json), Err(ExotelError::Rejected { status: 404, .. })));
        let xml_code = "<TwilioResponse><RestException><Code>429</Code><Message>Too many</Message></RestException></TwilioResponse>";
        assert!(matches!(call(429, xml_code), Err(ExotelError::RateLimited)));
        assert!(matches!(call(401, r#"{"RestException":{"Status":401,"Message":"Authenticate"}}"#), Err(ExotelError::Unauthorized)));
        // A RestException under HTTP 200 takes its status from the body.
        assert!(matches!(call(200, r#"{"RestException":{"Code":"500","Message":"No route"}}"#), Err(ExotelError::Server { status: 500, .. })));
        assert!(matches!(call(200, xml_code), Err(ExotelError::RateLimited)));
        // Bodies that are not Exotel's: the status decides.
        assert!(matches!(call(502, "<html><body>Bad Gateway</body></html>"), Err(ExotelError::Server { status: 502, .. })));
        assert!(matches!(call(504, ""), Err(ExotelError::Server { status: 504, ref message }) if message == "HTTP 504"));
        assert!(matches!(call(200, "OK"), Err(ExotelError::BadResponse(_))));
        assert!(interpret(200, "OK", Section::Any).is_ok());
        assert!(matches!(interpret(200, xml_code, Section::Any), Err(ExotelError::RateLimited)));
        assert!(matches!(call(200, r#"{"SMSMessage":{"Sid":"x"}}"#), Err(ExotelError::BadResponse(_))));
    }

    #[test]
    fn dnd_refusals_and_masking() {
        let xml = "<TwilioResponse><RestException><Status>403</Status><Message>Call to +919876543210 cannot be made \
                   because of TRAI NDNC regulations</Message></RestException></TwilioResponse>";
        match call(403, xml) {
            Err(ExotelError::Dnd(m)) => assert!(m.contains("********3210") && !m.contains("98765"), "{m}"),
            other => panic!("{other:?}"),
        }
        let plan = r#"{"RestException":{"Status":403,"Message":"Your plan does not allow this (constraint)"}}"#;
        assert!(matches!(call(403, plan), Err(ExotelError::Rejected { status: 403, .. })));
        assert!(ExotelError::RateLimited.is_transient() && !ExotelError::Timeout.is_transient());
    }
}
