//! Voice: place a call into a flow or a click-to-call (Calls/connect), look up a call (Call details)
//! and a number's DND state (Numbers).

use std::time::Duration;

use super::answer::{Fields, Section};
use super::client::{Account, DEFAULT_TIMEOUT, ExotelError, encode_segment, exchange};
use crate::domain::mask;

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

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::exotel::answer::interpret;

    fn call(status: u16, body: &str) -> Result<Fields, ExotelError> {
        interpret(status, body, Section::Call)
    }

    #[test]
    fn flow_url_follows_the_region() {
        assert_eq!(flow_url("api.exotel.com", "acme1", "123"), "http://my.exotel.com/acme1/exoml/start_voice/123");
        assert_eq!(flow_url("api.in.exotel.com", "acme1", "123"), "http://my.in.exotel.com/acme1/exoml/start_voice/123");
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
