//! The Exotel REST API (v1): place a call into a flow, send an SMS, look up a call, an SMS or a
//! number's DND state and check credentials. Answers are read by their content (JSON or XML), not by the URL asked
//! for, because the docs and real answers disagree; every 2xx counts as success.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::Cipher;
use crate::domain::mask;
use crate::settings::General;

/// Timeout of every request but call origination (which the caller sizes: it can take 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// One Exotel account's API credentials.
#[derive(Clone, Debug)]
pub struct Account {
    pub origin: String,
    pub sid: String,
    pub api_key: String,
    pub api_token: SecretString,
}

impl Account {
    /// origin = override (EXOTEL_API_ORIGIN, e.g. "http://127.0.0.1:1234", used as is) or "https://{subdomain}".
    pub fn new(subdomain: &str, origin_override: Option<&str>, sid: &str, api_key: &str, api_token: SecretString) -> Account {
        let origin = match origin_override.map(str::trim).filter(|o| !o.is_empty()) {
            Some(o) => o.trim_end_matches('/').to_string(),
            None => format!("https://{}", subdomain.trim().trim_end_matches('/')),
        };
        Account { origin, sid: sid.trim().to_string(), api_key: api_key.trim().to_string(), api_token }
    }

    /// A shop's account from its `general` settings and an API token.
    pub fn of(general: &General, origin_override: Option<&str>, api_token: SecretString) -> Account {
        Account::new(&general.exotel_subdomain, origin_override, &general.account_sid, &general.api_key, api_token)
    }

    /// A shop's account from its settings and its stored (sealed) API token; `None` without a token
    /// that opens.
    pub fn for_shop(general: &General, cipher: &Cipher, token_enc: Option<&str>, origin_override: Option<&str>) -> Option<Account> {
        let token: SecretString = cipher.decrypt(token_enc?).ok()?;
        Some(Account::of(general, origin_override, token))
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v1/Accounts/{}/{tail}", self.origin, encode_segment(&self.sid))
    }
}

/// The flow URL for Calls/connect `Url`: "http://my.exotel.com/{sid}/exoml/start_voice/{flow_id}" for api.exotel.com,
/// "http://my.in.exotel.com/{sid}/exoml/start_voice/{flow_id}" for api.in.exotel.com.
pub fn flow_url(subdomain: &str, sid: &str, flow_id: &str) -> String {
    let host = if subdomain.trim().to_ascii_lowercase().contains(".in.") { "my.in.exotel.com" } else { "my.exotel.com" };
    format!("http://{host}/{}/exoml/start_voice/{}", sid.trim(), flow_id.trim())
}

pub struct ConnectCall<'a> {
    /// The customer, E.164 (an IVR call); the agent for a click-to-call.
    pub from: &'a str,
    /// Click-to-call: the customer, dialled once the agent (`from`) answers. `None` for an IVR
    /// call, which connects `from` to the flow at `url` instead.
    pub to: Option<&'a str>,
    /// The ExoPhone.
    pub caller_id: &'a str,
    /// The flow URL (see [`flow_url`]); empty for a click-to-call (`to` set).
    pub url: &'a str,
    pub status_callback: &'a str,
    /// Our attempt id, echoed back to the passthrus and the terminal callback.
    pub custom_field: &'a str,
    pub time_limit_secs: Option<u32>,
    pub time_out_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallPlaced {
    pub sid: String,
    pub status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dnd {
    Yes,
    No,
    /// Exotel does not know (the docs say to treat it as No).
    Unavailable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumberInfo {
    pub dnd: Dnd,
    pub number_type: Option<String>,
    pub operator: Option<String>,
    pub circle: Option<String>,
}

pub struct SendSms<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub body: &'a str,
    pub dlt_entity_id: Option<&'a str>,
    pub dlt_template_id: Option<&'a str>,
    pub unicode: bool,
    pub status_callback: Option<&'a str>,
    pub custom_field: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SmsSent {
    pub sid: String,
    pub status: String,
    pub detailed_status: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExotelError {
    /// 429: try again later; spends none of the customer's retries.
    #[error("Exotel is rate limiting this account (HTTP 429)")]
    RateLimited,
    /// 5xx: Exotel (or the carrier route) failed; try again later.
    #[error("Exotel failed (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The request may have reached Exotel but no answer came in time: the call MAY have been placed. Never redial blindly.
    #[error("no answer from Exotel in time; the request may have been carried out")]
    Timeout,
    /// The request never reached Exotel (DNS/connect failure): nothing happened, safe to retry.
    #[error("could not reach Exotel: {0}")]
    Unreachable(String),
    /// 401: the API key/token were refused.
    #[error("Exotel refused the API key and token (HTTP 401)")]
    Unauthorized,
    /// Refused because the number is on India's DND/NDNC registry (403 mentioning TRAI/NDNC/DND).
    #[error("Exotel refused: the number is on the DND/NDNC registry ({0})")]
    Dnd(String),
    /// Any other 4xx (400 invalid number/params, 402/403 plan or permission, 404 unknown account...).
    #[error("Exotel refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 2xx with a body we cannot read.
    #[error("unreadable answer from Exotel: {0}")]
    BadResponse(String),
}

/// An Exotel failure in the merchant's words (shown on the timeline and the settings page).
pub fn describe_error(e: &ExotelError) -> String {
    match e {
        ExotelError::Unauthorized => "Exotel refused the API key or token".into(),
        other => other.to_string(),
    }
}

impl ExotelError {
    /// Whether trying again later could succeed without any risk of doing the thing twice.
    pub fn is_transient(&self) -> bool {
        matches!(self, ExotelError::RateLimited | ExotelError::Server { .. } | ExotelError::Unreachable(_))
    }
}

/// Places a call from the customer into the merchant's flow (Calls/connect).
pub async fn connect_call(
    http: &reqwest::Client,
    acct: &Account,
    req: &ConnectCall<'_>,
    timeout: Duration,
) -> Result<CallPlaced, ExotelError> {
    let mut form: Vec<(&str, String)> = vec![("From", req.from.into())];
    if let Some(to) = req.to {
        form.push(("To", to.into()));
    }
    form.push(("CallerId", req.caller_id.into()));
    if !req.url.is_empty() {
        form.push(("Url", req.url.into()));
    }
    form.extend([
        ("CallType", "trans".into()),
        ("StatusCallback", req.status_callback.into()),
        ("StatusCallbackEvents[0]", "terminal".into()),
        ("StatusCallbackContentType", "application/json".into()),
        ("CustomField", req.custom_field.into()),
    ]);
    if let Some(s) = req.time_limit_secs {
        form.push(("TimeLimit", s.to_string()));
    }
    if let Some(s) = req.time_out_secs {
        form.push(("TimeOut", s.to_string()));
    }
    let sent = exchange(acct, http.post(acct.url("Calls/connect.json")).form(&form), timeout, Section::Call).await;
    let result = sent.and_then(|f| {
        let sid = f.sid.ok_or_else(|| ExotelError::BadResponse("no Call Sid in the answer".into()))?;
        Ok(CallPlaced { sid, status: f.status.unwrap_or_default() })
    });
    match &result {
        Ok(c) => tracing::debug!(to = %mask(req.from), call_sid = %c.sid, status = %c.status, "exotel call placed"),
        Err(e) => tracing::debug!(to = %mask(req.from), error = %e, "exotel call not placed"),
    }
    result
}

/// What Exotel knows of a call (Call details API). Duration and price are filled in a few minutes
/// after the call ends.
#[derive(Debug, Clone, PartialEq)]
pub struct CallDetails {
    pub sid: String,
    pub status: String,
    pub duration: Option<String>,
    pub price: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

/// GET Calls/{CallSid}: used to settle a call whose status callback never came.
pub async fn call_details(http: &reqwest::Client, acct: &Account, call_sid: &str) -> Result<CallDetails, ExotelError> {
    let url = acct.url(&format!("Calls/{}.json", encode_segment(call_sid.trim())));
    let f = exchange(acct, http.get(url), DEFAULT_TIMEOUT, Section::Call).await?;
    Ok(CallDetails {
        sid: f.sid.unwrap_or_else(|| call_sid.to_string()),
        status: f.status.unwrap_or_default().to_ascii_lowercase(),
        duration: f.duration,
        price: f.price,
        start_time: f.start_time,
        end_time: f.end_time,
    })
}

/// What Exotel knows of an SMS (SMS details API).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsDetails {
    pub sid: String,
    /// queued, sending, submitted, sent, failed, failed-dnd (lower case as Exotel sends it).
    pub status: String,
    pub detailed_status: Option<String>,
    pub detailed_status_code: Option<String>,
}

/// GET SMS/Messages/{SmsSid}: used to learn what became of an SMS whose status callback never came.
pub async fn sms_details(http: &reqwest::Client, acct: &Account, sms_sid: &str) -> Result<SmsDetails, ExotelError> {
    let url = acct.url(&format!("SMS/Messages/{}.json", encode_segment(sms_sid.trim())));
    let f = exchange(acct, http.get(url), DEFAULT_TIMEOUT, Section::Sms).await?;
    Ok(SmsDetails {
        sid: f.sid.unwrap_or_else(|| sms_sid.to_string()),
        status: f.status.unwrap_or_default().to_ascii_lowercase(),
        detailed_status: f.detailed_status,
        detailed_status_code: f.detailed_status_code,
    })
}

/// Looks up a number's DND state, type, operator and circle.
pub async fn number_info(http: &reqwest::Client, acct: &Account, number: &str) -> Result<NumberInfo, ExotelError> {
    let url = acct.url(&format!("Numbers/{}.json", encode_segment(number.trim())));
    let info = NumberInfo::from(exchange(acct, http.get(url), DEFAULT_TIMEOUT, Section::Numbers).await?);
    tracing::debug!(number = %mask(number), dnd = ?info.dnd, "exotel number info");
    Ok(info)
}

impl From<Fields> for NumberInfo {
    fn from(f: Fields) -> NumberInfo {
        let dnd = match f.dnd.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("yes") => Dnd::Yes,
            Some("no") => Dnd::No,
            _ => Dnd::Unavailable,
        };
        NumberInfo { dnd, number_type: f.number_type, operator: f.operator, circle: f.circle }
    }
}

/// Credentials check used when settings are saved: GET /v1/Accounts/{sid}/Balance.json. Ok(()) when Exotel accepts them.
pub async fn check_account(http: &reqwest::Client, acct: &Account) -> Result<(), ExotelError> {
    exchange(acct, http.get(acct.url("Balance.json")), DEFAULT_TIMEOUT, Section::Any).await.map(|_| ())
}

/// Sends one transactional SMS (Sms/send).
pub async fn send_sms(http: &reqwest::Client, acct: &Account, req: &SendSms<'_>) -> Result<SmsSent, ExotelError> {
    let mut form: Vec<(&str, &str)> = vec![
        ("From", req.from),
        ("To", req.to),
        ("Body", req.body),
        ("EncodingType", if req.unicode { "unicode" } else { "plain" }),
        ("SmsType", "transactional"),
    ];
    let optional = [
        ("DltEntityId", req.dlt_entity_id),
        ("DltTemplateId", req.dlt_template_id),
        ("StatusCallback", req.status_callback),
        ("CustomField", req.custom_field),
    ];
    form.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let sent = exchange(acct, http.post(acct.url("Sms/send.json")).form(&form), DEFAULT_TIMEOUT, Section::Sms).await;
    let result = sent.and_then(|f| {
        let sid = f.sid.ok_or_else(|| ExotelError::BadResponse("no SMSMessage Sid in the answer".into()))?;
        Ok(SmsSent { sid, status: f.status.unwrap_or_default(), detailed_status: f.detailed_status })
    });
    match &result {
        Ok(s) => tracing::debug!(to = %mask(req.to), sms_sid = %s.sid, status = %s.status, "exotel sms sent"),
        Err(e) => tracing::debug!(to = %mask(req.to), error = %e, "exotel sms not sent"),
    }
    result
}

/// Which element of the answer a request expects.
#[derive(Clone, Copy, Debug)]
enum Section {
    Call,
    Sms,
    Numbers,
    /// Any 2xx without a RestException will do (the balance check).
    Any,
}

async fn exchange(acct: &Account, req: reqwest::RequestBuilder, timeout: Duration, section: Section) -> Result<Fields, ExotelError> {
    let resp = req
        .basic_auth(&acct.api_key, Some(acct.api_token.expose_secret()))
        .timeout(timeout)
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(transport)?;
    interpret(status, &body, section)
}

/// Only a failure to connect proves nothing reached Exotel; any other failure (timeout, a reset
/// after the request went out) may have left a call placed, so it counts as a timeout.
fn transport(e: reqwest::Error) -> ExotelError {
    if !(e.is_connect() || e.is_builder()) {
        return ExotelError::Timeout;
    }
    // The URL can hold a phone number (Numbers/{number}); the causes say what actually failed.
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    ExotelError::Unreachable(scrub(&msg))
}

/// The parts of an answer this client reads, whichever element (`Call`, `SMSMessage`, `Numbers`,
/// `RestException`) they came in. XML gives text, JSON strings or numbers: all kept as text.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Fields {
    #[serde(rename = "Sid")]
    sid: Option<String>,
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "DetailedStatus")]
    detailed_status: Option<String>,
    #[serde(rename = "DetailedStatusCode")]
    detailed_status_code: Option<String>,
    #[serde(rename = "DND")]
    dnd: Option<String>,
    #[serde(rename = "Type")]
    number_type: Option<String>,
    #[serde(rename = "Operator")]
    operator: Option<String>,
    #[serde(rename = "Circle")]
    circle: Option<String>,
    #[serde(rename = "Code")]
    code: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Duration")]
    duration: Option<String>,
    #[serde(rename = "Price")]
    price: Option<String>,
    #[serde(rename = "StartTime")]
    start_time: Option<String>,
    #[serde(rename = "EndTime")]
    end_time: Option<String>,
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
fn interpret(status: u16, body: &str, section: Section) -> Result<Fields, ExotelError> {
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

fn classify(status: u16, message: String) -> ExotelError {
    match status {
        401 => ExotelError::Unauthorized,
        429 => ExotelError::RateLimited,
        403 if mentions_dnd(&message) => ExotelError::Dnd(message),
        400..=499 => ExotelError::Rejected { status, message },
        500..=599 => ExotelError::Server { status, message },
        _ => ExotelError::BadResponse(format!("HTTP {status}: {message}")),
    }
}

/// Whole words only: "TRAI" is also inside "constraint".
fn mentions_dnd(message: &str) -> bool {
    let upper = message.to_ascii_uppercase();
    upper.contains("DO NOT DISTURB")
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| matches!(w, "TRAI" | "NDNC" | "DND"))
}

/// Exotel echoes numbers in its messages; these end up in logs and timelines.
fn scrub(text: &str) -> String {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\+?\d{7,}").expect("valid regex"));
    NUMBER.replace_all(text, |c: &regex::Captures| mask(&c[0])).into_owned()
}

fn snippet(body: &str) -> String {
    scrub(&body.trim().chars().take(300).collect::<String>())
}

/// Percent-encodes one path segment (a `+` must survive as `%2B`).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(status: u16, body: &str) -> Result<Fields, ExotelError> {
        interpret(status, body, Section::Call)
    }

    #[test]
    fn flow_url_follows_the_region() {
        assert_eq!(flow_url("api.exotel.com", "acme1", "123"), "http://my.exotel.com/acme1/exoml/start_voice/123");
        assert_eq!(flow_url("api.in.exotel.com", "acme1", "123"), "http://my.in.exotel.com/acme1/exoml/start_voice/123");
    }

    #[test]
    fn origin_override_is_used_as_is() {
        let t = || SecretString::from("t");
        assert_eq!(Account::new("api.in.exotel.com", None, "s", "k", t()).origin, "https://api.in.exotel.com");
        let a = Account::new("api.in.exotel.com", Some("http://127.0.0.1:1234/"), "s", "k", t());
        assert_eq!(a.origin, "http://127.0.0.1:1234");
        assert_eq!(a.url("Numbers/x.json"), "http://127.0.0.1:1234/v1/Accounts/s/Numbers/x.json");
        assert_eq!(encode_segment("+91 98"), "%2B91%2098");
    }

    #[test]
    fn call_success_json_and_xml() {
        let sid = "b6cfaf0ba2b0a4d5d2a2a4eb1a2a19ck";
        let json = format!(r#"{{"Call":{{"Sid":"{sid}","ParentCallSid":null,"Status":"in-progress","Direction":"outbound-api","Details":{{"Legs":[]}}}}}}"#);
        let f = call(200, &json).unwrap();
        assert_eq!((f.sid.as_deref(), f.status.as_deref()), (Some(sid), Some("in-progress")));

        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TwilioResponse>\n <Call>\n  <Sid>{sid}</Sid>\n  <ParentCallSid/>\n  \
             <Status>in-progress</Status>\n  <Direction>outbound-api</Direction>\n  <Duration></Duration>\n </Call>\n</TwilioResponse>\n"
        );
        let f = call(200, &xml).unwrap();
        assert_eq!((f.sid.as_deref(), f.status.as_deref()), (Some(sid), Some("in-progress")));
        // 2xx other than 200 is still success.
        assert!(call(201, &json).is_ok());
    }

    #[test]
    fn sms_success_json_and_xml() {
        let json = r#"{"SMSMessage":{"Sid":"s1","Status":"queued","DetailedStatusCode":21010,"DetailedStatus":"PENDING_TO_OPERATOR"}}"#;
        let f = interpret(202, json, Section::Sms).unwrap();
        assert_eq!((f.sid.as_deref(), f.detailed_status.as_deref()), (Some("s1"), Some("PENDING_TO_OPERATOR")));
        let xml = "<TwilioResponse><SMSMessage><Sid>s2</Sid><Status>queued</Status><DetailedStatusCode>21010</DetailedStatusCode>\
                   <DetailedStatus/></SMSMessage></TwilioResponse>";
        let f = interpret(200, xml, Section::Sms).unwrap();
        assert_eq!((f.sid.as_deref(), f.status.as_deref(), f.detailed_status), (Some("s2"), Some("queued"), None));
    }

    #[test]
    fn sms_details_json_and_xml() {
        // The documented answer of GET SMS/Messages/{SmsSid}.json.
        let json = r#"{"SMSMessage":{"Sid":"sms_sid_value","AccountSid":"your_sid","From":"EXOTEL","To":"+919876543210","Status":"sent",
            "DetailedStatusCode":20005,"DetailedStatus":"DELIVERED_TO_HANDSET","DateSent":"2024-01-15 10:30:02","Price":0.18}}"#;
        let f = interpret(200, json, Section::Sms).unwrap();
        assert_eq!((f.status.as_deref(), f.detailed_status_code.as_deref()), (Some("sent"), Some("20005")));
        let xml = "<TwilioResponse><SMSMessage><Sid>s2</Sid><Status>failed-dnd</Status><DetailedStatusCode>23081</DetailedStatusCode>\
                   <DetailedStatus>DND_BLOCKED</DetailedStatus></SMSMessage></TwilioResponse>";
        let f = interpret(200, xml, Section::Sms).unwrap();
        assert_eq!((f.status.as_deref(), f.detailed_status.as_deref()), (Some("failed-dnd"), Some("DND_BLOCKED")));
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

    #[test]
    fn numbers_dnd_states() {
        let json = |d: &str| format!(r#"{{"Numbers":{{"PhoneNumber":"09876543210","Circle":"GJ","Type":"Mobile","Operator":"R","DND":"{d}"}}}}"#);
        let info = |body: &str| NumberInfo::from(interpret(200, body, Section::Numbers).unwrap());
        assert_eq!(
            info(&json("Yes")),
            NumberInfo { dnd: Dnd::Yes, number_type: Some("Mobile".into()), operator: Some("R".into()), circle: Some("GJ".into()) }
        );
        assert_eq!(info(&json("No")).dnd, Dnd::No);
        assert_eq!(info(&json("maybe")).dnd, Dnd::Unavailable);
        let xml = "<TwilioResponse><Numbers><PhoneNumber>09876543210</PhoneNumber><Circle>MH</Circle><Type>Mobile</Type>\
                   <Operator>A</Operator><DND>Unavailable</DND></Numbers></TwilioResponse>";
        assert_eq!(info(xml).dnd, Dnd::Unavailable);
        assert_eq!(info("<TwilioResponse><Numbers><DND>yes</DND></Numbers></TwilioResponse>").dnd, Dnd::Yes);
    }

    #[tokio::test]
    async fn timeout_and_unreachable_are_told_apart() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        // A listener that accepts and never answers: the request went out, no answer came.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let acct = Account::new("x", Some(&format!("http://{}", silent.local_addr().unwrap())), "s", "k", SecretString::from("t"));
        let req = ConnectCall {
            from: "+919876543210", to: None, caller_id: "08012345678", url: "http://my.in.exotel.com/s/exoml/start_voice/1",
            status_callback: "https://app/cb", custom_field: "a1", time_limit_secs: None, time_out_secs: Some(30),
        };
        let r = connect_call(&http, &acct, &req, Duration::from_millis(300)).await;
        assert!(matches!(r, Err(ExotelError::Timeout)), "{r:?}");
        // A port nobody listens on: nothing reached Exotel.
        let port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let acct = Account { origin: format!("http://127.0.0.1:{port}"), ..acct };
        let r = connect_call(&http, &acct, &req, Duration::from_secs(5)).await;
        assert!(matches!(r, Err(ExotelError::Unreachable(_))), "{r:?}");
        drop(silent);
    }
}
