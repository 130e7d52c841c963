//! Sending SMS: queued rows (written before they are sent) that the dialer hands to [`send`],
//! Exotel's status reports and their lookup when none comes, and what a template needs of an order
//! (shared by the fallback, the link page and OTP).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use super::dialer::{self, Outbox};
use crate::db::events::add_event;
use crate::db::sms::{self as stored, ToSend};
use crate::db::{Tx, orders};
use crate::domain::{OrderStatus, ShopStatus, SmsKind, SmsState, mask};
use crate::exotel::{self, Account, ExotelError, SendSms};
use crate::db::queue::Job;
use crate::settings::Settings;
use crate::app::App;

/// What the templates, the link page and the senders need of an order and its shop.
pub use crate::db::orders::OrderInfo;

pub async fn load_order(app: &App, order_id: &str) -> anyhow::Result<Option<OrderInfo>> {
    Ok(orders::info(&app.db, order_id).await?.map(|o| o.opened(app)))
}

pub(crate) async fn load_order_tx(app: &App, tx: &mut Tx, order_id: &str) -> anyhow::Result<Option<OrderInfo>> {
    Ok(orders::info_tx(tx, order_id).await?.map(|o| o.opened(app)))
}

impl OrderInfo {
    /// The phone number is stored encrypted; everything past loading uses it in the clear.
    fn opened(mut self, app: &App) -> Self {
        self.phone = app.cipher.open_opt(self.phone.as_deref());
        self.shipping_address = app.cipher.open_opt(self.shipping_address.as_deref());
        self
    }

    /// The shipping address, when one is kept.
    pub fn address(&self) -> Option<super::address::Address> {
        super::address::parse(self.shipping_address.as_deref())
    }

    pub fn settings(&self) -> Settings {
        Settings::from_stored(&self.settings)
    }

    /// The order number a shopper knows: `1001` (from `#1001` when Shopify sent no number).
    pub fn number(&self) -> String {
        self.order_number
            .map(|n| n.to_string())
            .unwrap_or_else(|| self.name.trim_start_matches('#').to_string())
    }

    /// `INR 499.00`: plain characters, so an amount never forces a Unicode SMS.
    pub fn amount(&self) -> String {
        format!("{} {}", self.currency, self.total_price)
    }

    /// The shop's name as shoppers see it in texts: its myshopify subdomain, capitalised.
    pub fn shop_name(&self) -> String {
        shop_name(&self.shop_domain)
    }

    /// (title, quantity) of each line item.
    pub fn line_items(&self) -> Vec<(String, i64)> {
        let items: Vec<super::intake::LineItem> = self.items.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        items
            .into_iter()
            .map(|i| (i.title.unwrap_or_else(|| "Item".into()), i.quantity.unwrap_or(1)))
            .collect()
    }
}

pub fn shop_name(domain: &str) -> String {
    domain
        .split('.')
        .next()
        .unwrap_or_default()
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn account(app: &App, settings: &Settings, token_enc: Option<&str>) -> Option<Account> {
    Account::for_shop(&settings.general, &app.cipher, token_enc, app.config.exotel_api_origin.as_deref())
}

/// Fills a template's placeholders.
pub fn render(template: &str, o: &OrderInfo, link: Option<&str>, exophone: Option<&str>) -> String {
    template
        .replace("%ordernumber%", &o.number())
        .replace("%ordername%", &o.name)
        .replace("%orderamount%", &o.amount())
        .replace("%link%", link.unwrap_or(""))
        .replace("%exophone%", exophone.unwrap_or(""))
}

/// Whether a text fits the GSM 7-bit alphabet (basic set and extension table). Anything else (Hindi,
/// ₹, emoji) must go as Unicode or the operator garbles it.
pub fn is_gsm7(s: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "^{}\\[~]|€\u{c}";
    s.chars().all(|c| BASIC.contains(c) || EXTENSION.contains(c))
}
/// An SMS to queue. `secret_body`, when given, is what is sent (kept encrypted until then);
/// `body` is what the reports show.
pub(crate) struct NewSms<'a> {
    pub shop_id: &'a str,
    pub order_id: Option<&'a str>,
    pub kind: &'a str,
    pub seq: i64,
    pub account: &'a str,
    pub to: Option<&'a str>,
    pub body: &'a str,
    pub secret_body: Option<String>,
    pub unicode: bool,
    pub dlt_template_id: &'a str,
}

pub(crate) async fn queue_sms(app: &App, tx: &mut Tx, m: NewSms<'_>, now: i64) -> anyhow::Result<()> {
    let kind = SmsKind::parse(m.kind).ok_or_else(|| anyhow::anyhow!("unknown SMS kind {:?}", m.kind))?;
    let row = stored::Queued {
        shop_id: m.shop_id,
        order_id: m.order_id,
        kind,
        seq: m.seq,
        account: m.account,
        to_phone_enc: m.to.map(|to| app.cipher.encrypt(to)),
        to_phone_hash: m.to.map(|to| app.cipher.phone_index(to)),
        body: m.body,
        body_enc: m.secret_body.as_deref(),
        unicode: m.unicode,
        dlt_template_id: (!m.dlt_template_id.is_empty()).then_some(m.dlt_template_id),
    };
    stored::insert_queued(tx, &row, now).await?;
    Ok(())
}

/// Sends an SMS the dialer has claimed (state `sending`). Sent at most once: after a timeout it is
/// not sent again (Exotel's status report may still tell what became of it). `sent` is set just
/// before the request goes: an error while it is unset means nothing reached Exotel.
pub async fn send(app: &App, sms_id: &str, sent: &AtomicBool) -> anyhow::Result<()> {
    let Some(m) = stored::to_send(&app.db, sms_id).await? else { return Ok(()) };
    if m.state != SmsState::Sending {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let settings = Settings::from_stored(&m.settings);
    let stale = m.kind != SmsKind::Confirmation && m.order_status.as_deref().is_none_or(|s| s != OrderStatus::Pending);
    let (Some(to), Some(account), false, true) =
        (app.cipher.open_opt(m.to_phone_enc.as_deref()), account(app, &settings, m.exotel_api_token_enc.as_deref()), stale, m.shop_status == ShopStatus::Installed)
    else {
        return finish(app, &m, SmsState::Cancelled, None, None, None, "SMS not sent: no longer needed or no phone/credentials", now).await;
    };
    // OTP SMS come from the OTP settings; the others from the fallback's.
    let (sender, entity) = if m.kind == SmsKind::Otp {
        (&settings.otp.sender_id, &settings.otp.dlt_entity_id)
    } else {
        (&settings.fallback.sender_id, &settings.fallback.dlt_entity_id)
    };
    let body = match &m.body_enc {
        Some(enc) => secrecy::ExposeSecret::expose_secret(&app.cipher.decrypt(enc).map_err(|_| anyhow::anyhow!("undecryptable SMS text"))?).to_string(),
        None => m.body.clone(),
    };
    let callback = format!("{}/exotel/{}/sms-status", app.config.app_url, m.exotel_key);
    let req = SendSms {
        from: sender,
        to: &to,
        body: &body,
        dlt_entity_id: (!entity.is_empty()).then_some(entity.as_str()),
        dlt_template_id: m.dlt_template_id.as_deref(),
        unicode: m.unicode,
        status_callback: Some(&callback),
        custom_field: Some(&m.id),
    };
    let label = format!("SMS {} ({})", m.seq, m.kind.replace('_', " "));
    sent.store(true, Ordering::SeqCst);
    let result = exotel::send_sms(&app.http, &account, &req).await;
    // The request went out: its outcome is recorded through a database blip too (each step is
    // conditional on the row's state).
    let mut tries = 0;
    loop {
        match record_send(app, &m, &to, &label, &result, now).await {
            Err(e) if tries < dialer::RECORD_TRIES => {
                tries += 1;
                tracing::warn!(sms = %m.id, error = %e, "could not record an SMS send's outcome; trying again");
                tokio::time::sleep(dialer::RECORD_PAUSE).await;
            }
            done => return done,
        }
    }
}

async fn record_send(app: &App, m: &ToSend, to: &str, label: &str, result: &Result<exotel::SmsSent, ExotelError>, now: i64) -> anyhow::Result<()> {
    match result {
        Ok(sent) => {
            let detail = format!("{label} sent to {}", mask(to));
            finish(app, m, SmsState::Sent, Some(&sent.sid), Some(&sent.status), sent.detailed_status.as_deref(), &detail, now).await
        }
        Err(e @ (ExotelError::Timeout | ExotelError::BadResponse(_))) => {
            let detail = format!("{label}: no answer from Exotel ({e}); not sent again");
            finish(app, m, SmsState::Unknown, None, None, None, &detail, now).await
        }
        Err(e) if e.is_transient() => {
            dialer::back_off(app, Outbox::Sms, &m.id, &m.shop_id, m.order_id.as_deref(), m.transient_failures, label, &e.to_string()).await
        }
        Err(e) => finish(app, m, SmsState::Failed, None, None, None, &format!("{label} not sent: {e}"), now).await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish(app: &App, m: &ToSend, state: SmsState, sid: Option<&str>, status: Option<&str>, detailed: Option<&str>, detail: &str, now: i64) -> anyhow::Result<()> {
    let mut tx = app.db.begin().await?;
    let error = (state != SmsState::Sent).then_some(detail);
    let n = stored::record_send(&mut tx, &m.id, state, sid, status, detailed, error, now).await?;
    if n == 1 {
        if let Some(order_id) = &m.order_id {
            add_event(&mut tx, &m.shop_id, order_id, "sms", detail, now).await?;
        }
        // Its status report may never come: looked up later, whatever becomes of the order (so
        // the timer is the shop's, not the order's, and outlives the order's resolution).
        if state == SmsState::Sent && sid.is_some() && !status.is_some_and(is_final) {
            let job = Job::ReconcileSms { sms_id: m.id.clone() };
            tx.schedule(&job, &m.shop_id, None, now + super::schedule::RECONCILE_AFTER_MS, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Exotel's SMS states after which nothing more happens to an SMS.
fn is_final(status: &str) -> bool {
    matches!(status.to_ascii_lowercase().replace('_', "-").as_str(), "sent" | "failed" | "failed-dnd")
}

/// Job: an SMS whose status report had not come 30 minutes after it was sent is looked up in
/// Exotel's SMS details API, again every 10 minutes while Exotel has no final state for it, for up
/// to 2 hours after sending — the timers and times of the calls' lookup (`ivr::reconcile`). What
/// Exotel says is recorded as its status report would have been.
pub async fn reconcile_sms(app: &App, sms_id: &str) -> anyhow::Result<()> {
    let row = stored::for_details_lookup(&app.db, sms_id).await?;
    let Some((shop_id, sid, status, sent_at, shop_status, settings, token)) = row else { return Ok(()) };
    if shop_status != ShopStatus::Installed || status.as_deref().is_some_and(is_final) {
        return Ok(());
    }
    let settings = Settings::from_stored(&settings);
    let (Some(sid), Some(account)) = (sid, account(app, &settings, token.as_deref())) else { return Ok(()) };
    let now = app.clock.now_ms();
    let gave_up = sent_at.is_none_or(|t| now - t > super::schedule::GIVE_UP_AFTER_MS);
    match exotel::sms_details(&app.http, &account, &sid).await {
        // A final state, or at the end the last state Exotel knows.
        Ok(d) if is_final(&d.status) || (gave_up && !d.status.is_empty()) => {
            let fields: HashMap<String, String> = [("CustomField", Some(sms_id.to_string())), ("SmsSid", Some(d.sid)),
                ("Status", Some(d.status)), ("DetailedStatus", d.detailed_status), ("DetailedStatusCode", d.detailed_status_code),
                ("SmsUnits", d.units)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                .collect();
            status_report(app, &shop_id, &fields).await.map(|_| ())
        }
        // Still on its way, or Exotel is unavailable: look again later.
        Ok(_) | Err(_) if !gave_up => {
            let mut tx = app.db.begin().await?;
            let job = Job::ReconcileSms { sms_id: sms_id.to_string() };
            tx.schedule(&job, &shop_id, None, now + super::schedule::RECHECK_AFTER_MS, now).await?;
            tx.commit().await?;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(sms = %sms_id, error = %e, "no SMS status from Exotel; giving up on it");
            Ok(())
        }
    }
}

/// Sends stuck in `sending` (their process died mid-request) may have gone out: not sent again.
pub async fn recover_stale_sends(app: &App, older_than_wall: i64) -> anyhow::Result<()> {
    stored::mark_stale_sends_unknown(&app.db, older_than_wall, app.clock.now_ms()).await?;
    Ok(())
}

/// Exotel's SMS status report (`SmsSid`, `Status`, `DetailedStatus`, …), for an SMS of this shop.
/// Returns false when the SMS is not known here. Repeats change nothing.
pub async fn status_report(app: &App, shop_id: &str, fields: &HashMap<String, String>) -> anyhow::Result<bool> {
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let found = match (get("CustomField"), get("SmsSid")) {
        (Some(id), _) => stored::of_shop_by_id(&app.db, shop_id, &id).await?,
        (None, Some(sid)) => stored::of_shop_by_sid(&app.db, shop_id, &sid).await?,
        _ => None,
    };
    let Some((id, order_id, seq)) = found else { return Ok(false) };
    let status = get("Status").unwrap_or_default().to_ascii_lowercase().replace('_', "-");
    let detailed = get("DetailedStatus");
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let (code, units, sid) = (get("DetailedStatusCode"), get("SmsUnits"), get("SmsSid"));
    let changed = stored::record_status(&mut tx, &id, &status, detailed.as_deref(), code.as_deref(), units.as_deref(), sid.as_deref(), now).await?;
    if changed == 1
        && let Some(order_id) = order_id
    {
        let detail = format!("SMS {seq}: {status}{}", detailed.map(|d| format!(" ({d})")).unwrap_or_default());
        add_event(&mut tx, shop_id, &order_id, "sms_status", &detail, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderInfo {
        OrderInfo {
            id: "o".into(),
            shop_id: "s".into(),
            name: "#1001".into(),
            order_number: Some(1001),
            total_price: "499.00".into(),
            currency: "INR".into(),
            phone: Some("+919876543210".into()),
            status: "pending".into(),
            status_reason: None,
            items: Some(r#"[{"title":"Kurta","quantity":2}]"#.into()),
            is_cod: true,
            customer_locale: None,
            shipping_address: None,
            shop_domain: "acme-store.myshopify.com".into(),
            shop_status: "installed".into(),
            settings: "{}".into(),
            exotel_key: "k".into(),
            exotel_api_token_enc: None,
        }
    }

    #[test]
    fn templates_fill_every_placeholder() {
        let o = order();
        let text = render("%ordernumber% %ordername% %orderamount% %link% %exophone%", &o, Some("https://x.in/v/t"), Some("08047112345"));
        assert_eq!(text, "1001 #1001 INR 499.00 https://x.in/v/t 08047112345");
        assert_eq!(o.shop_name(), "Acme Store");
        assert_eq!(o.line_items(), vec![("Kurta".to_string(), 2)]);
    }

    #[test]
    fn unicode_is_detected() {
        assert!(is_gsm7("Confirm order 1001: https://x.in/v/abc_-{} €5"));
        assert!(!is_gsm7("आपका ऑर्डर 1001 कन्फर्म करें"));
        assert!(!is_gsm7("Pay ₹499"));
    }
}
