//! SMS: send one transactional SMS (Sms/send) and look one up (SMS details).

use super::answer::Section;
use super::client::{Account, DEFAULT_TIMEOUT, ExotelError, encode_segment, exchange};
use crate::domain::mask;

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

/// What Exotel knows of an SMS (SMS details API).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsDetails {
    pub sid: String,
    /// queued, sending, submitted, sent, failed, failed-dnd (lower case as Exotel sends it).
    pub status: String,
    pub detailed_status: Option<String>,
    pub detailed_status_code: Option<String>,
    /// `SmsUnits`, when the answer has it (the status callback always does).
    pub units: Option<String>,
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
        units: f.sms_units,
    })
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

#[cfg(test)]
mod tests {
    use crate::exotel::answer::{Section, interpret};

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
            "DetailedStatusCode":20005,"DetailedStatus":"DELIVERED_TO_HANDSET","DateSent":"2024-01-15 10:30:02","Price":0.18,"SmsUnits":2}}"#;
        let f = interpret(200, json, Section::Sms).unwrap();
        assert_eq!((f.status.as_deref(), f.detailed_status_code.as_deref()), (Some("sent"), Some("20005")));
        assert_eq!(f.sms_units.as_deref(), Some("2"));
        let xml = "<TwilioResponse><SMSMessage><Sid>s2</Sid><Status>failed-dnd</Status><DetailedStatusCode>23081</DetailedStatusCode>\
                   <DetailedStatus>DND_BLOCKED</DetailedStatus></SMSMessage></TwilioResponse>";
        let f = interpret(200, xml, Section::Sms).unwrap();
        assert_eq!((f.status.as_deref(), f.detailed_status.as_deref()), (Some("failed-dnd"), Some("DND_BLOCKED")));
    }
}
