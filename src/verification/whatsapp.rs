//! The plan's WhatsApp step (SPEC §8): the merchant's approved template with one quick-reply button
//! per offered choice, queued by the plan runner when due, sent by the dialer through [`send`], and
//! what Exotel posts back ([`callbacks`]): delivery reports, and the customer's answer — a button
//! (its payload carries the message's unguessable token) or a typed 1/2/3, yes/no, haan/nahin.

use std::sync::atomic::{AtomicBool, Ordering};

use super::dialer::{self, Outbox};
use super::schedule::local_time;
use super::sms::{self, OrderInfo};
use crate::app::App;
use crate::crypto::{random_token, sha256_hex};
use crate::db::events::{add_event, add_event_once};
use crate::db::whatsapp::{self as stored, Found, ToSend};
use crate::db::Tx;
use crate::domain::{Choice, OrderStatus, Phone, WaDelivery, WaState, mask};
use crate::exotel::ExotelError;
use crate::exotel::whatsapp::{self as wa, Callback, Reply, SendOutcome, TemplateMessage, WaStatus};
use crate::settings::{Settings, Whatsapp};

/// The items parameter is cut to this many characters (a template body holds 1024 in all).
const ITEMS_MAX_CHARS: usize = 120;

/// Queues message `n` of the WhatsApp step for the order, going at `now` (the runner writes it
/// when due). Its template follows the customer's locale.
pub async fn queue(app: &App, tx: &mut Tx, o: &OrderInfo, settings: &Settings, n: u32, due: i64, now: i64) -> anyhow::Result<()> {
    let (template, language) = settings.whatsapp.template_for(o.customer_locale.as_deref().unwrap_or(""));
    // The buttons' token is made as the message goes (it is never stored, only its hash); until
    // then the row holds the hash of a token no one has.
    let placeholder = sha256_hex(random_token(18).as_bytes());
    let row = stored::Queued {
        shop_id: &o.shop_id,
        order_id: &o.id,
        seq: i64::from(n),
        account: &settings.general.account_sid,
        to_phone_enc: o.phone.as_deref().map(|p| app.cipher.encrypt(p)),
        to_phone_hash: o.phone.as_deref().map(|p| app.cipher.phone_index(p)),
        token_hash: &placeholder,
        template,
        language,
    };
    stored::insert_queued(tx, &row, due.max(now), now).await?;
    let when = if due > now { format!(" for {}", local_time(&settings.ivr, due)) } else { String::new() };
    let detail = format!("WhatsApp message {n} queued{when} (template {template}, {language})");
    add_event(tx, &o.shop_id, &o.id, "whatsapp_queued", &detail, now).await
}

/// The choices a message offers: confirm always, cancel and call-back when their tags are set.
pub fn offered(wa: &Whatsapp) -> Vec<Choice> {
    [Choice::Confirm, Choice::Cancel, Choice::Callback].into_iter().filter(|c| *c == Choice::Confirm || tag_of(wa, *c).is_some()).collect()
}

/// The tag a choice adds; `None` when the merchant does not offer it (blank tag).
fn tag_of(wa: &Whatsapp, choice: Choice) -> Option<&str> {
    let t = match choice {
        Choice::Confirm => &wa.confirm_tag,
        Choice::Cancel => &wa.cancel_tag,
        Choice::Callback => &wa.callback_tag,
    };
    (!t.trim().is_empty()).then_some(t.as_str())
}

/// The items parameter: "Title × qty, …", cut with an ellipsis when long.
pub fn items_text(items: &[(String, i64)]) -> String {
    let all = items.iter().map(|(t, q)| format!("{} × {q}", t.trim())).collect::<Vec<_>>().join(", ");
    let all = if all.is_empty() { "your order".to_string() } else { all };
    if all.chars().count() <= ITEMS_MAX_CHARS {
        return all;
    }
    let cut: String = all.chars().take(ITEMS_MAX_CHARS - 1).collect();
    format!("{}…", cut.trim_end_matches([',', ' ']))
}

/// Sends a message the dialer has claimed (state `sending`). Sent at most once: after a timeout it
/// is not sent again. `sent` is set just before the request goes.
pub async fn send(app: &App, id: &str, sent: &AtomicBool) -> anyhow::Result<()> {
    let Some(m) = stored::to_send(&app.db, id).await? else { return Ok(()) };
    if m.state != WaState::Sending {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let Some(o) = sms::load_order(app, &m.order_id).await? else { return Ok(()) };
    let settings = o.settings();
    let label = format!("WhatsApp message {}", m.seq);
    if m.order_status != OrderStatus::Pending || m.shop_status != "installed" {
        return finish(app, &m, &settings, WaState::Cancelled, None, &format!("{label} not sent: no longer needed"), now).await;
    }
    let to = app.cipher.open_opt(m.to_phone_enc.as_deref());
    let account = sms::account(app, &settings, m.exotel_api_token_enc.as_deref());
    let (Some(to), Some(account), true) = (to, account, settings.whatsapp.is_ready()) else {
        // Not a transient state: the step ends and the plan moves on.
        let detail = format!("{label} not sent: no phone number, Exotel credentials or WhatsApp sender/template");
        return finish(app, &m, &settings, WaState::Failed, None, &detail, now).await;
    };
    let token = random_token(18);
    if stored::set_token(&app.db, &m.id, &sha256_hex(token.as_bytes()), now).await? == 0 {
        return Ok(());
    }
    let callback = format!("{}/exotel/{}/whatsapp", app.config.app_url, m.exotel_key);
    let items = items_text(&o.line_items());
    let amount = o.amount();
    let address = super::address::one_line(o.address().as_ref());
    let choices = offered(&settings.whatsapp);
    let message = TemplateMessage {
        from: &settings.whatsapp.sender,
        to: &to,
        template: &m.template,
        language: &m.language,
        order_name: &o.name,
        amount: &amount,
        items: &items,
        address: &address,
        token: &token,
        choices: &choices,
        status_callback: &callback,
        custom_data: &m.id,
    };
    sent.store(true, Ordering::SeqCst);
    let result = wa::send_template(&app.http, &account, &message).await;
    // The request went out: its outcome is recorded through a database blip too (each step is
    // conditional on the row's state).
    let mut tries = 0;
    loop {
        match record_send(app, &m, &settings, &to, &label, &result, now).await {
            Err(e) if tries < dialer::RECORD_TRIES => {
                tries += 1;
                tracing::warn!(message = %m.id, error = %e, "could not record a WhatsApp send's outcome; trying again");
                tokio::time::sleep(dialer::RECORD_PAUSE).await;
            }
            done => return done,
        }
    }
}

async fn record_send(app: &App, m: &ToSend, settings: &Settings, to: &str, label: &str, result: &Result<SendOutcome, ExotelError>, now: i64) -> anyhow::Result<()> {
    match result {
        Ok(SendOutcome::Accepted { sid }) => {
            let detail = format!("{label} sent to {}", mask(to));
            finish(app, m, settings, WaState::Sent, Some(sid), &detail, now).await
        }
        Ok(SendOutcome::Refused { code, message, description }) => {
            let code = code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
            let detail = format!("{label} refused by Exotel{code}: {message}{}", if description.is_empty() { String::new() } else { format!(" ({description})") });
            finish(app, m, settings, WaState::Refused, None, &detail, now).await
        }
        // Exotel may have sent it: never sent again (its delivery report may still tell).
        Err(e @ (ExotelError::Timeout | ExotelError::BadResponse(_))) => {
            let detail = format!("{label}: no answer from Exotel ({e}); not sent again");
            finish(app, m, settings, WaState::Unknown, None, &detail, now).await
        }
        Err(e) if e.is_transient() => {
            dialer::back_off(app, Outbox::Whatsapp, &m.id, &m.shop_id, Some(&m.order_id), m.transient_failures, label, &e.to_string()).await
        }
        Err(e) => finish(app, m, settings, WaState::Failed, None, &format!("{label} not sent: {e}"), now).await,
    }
}

/// Records a send's outcome and, in the same transaction, moves the plan on (a refused message
/// ends the step at once; a sent one starts the step's wait).
async fn finish(app: &App, m: &ToSend, settings: &Settings, state: WaState, sid: Option<&str>, detail: &str, now: i64) -> anyhow::Result<()> {
    let mut tx = app.db.begin().await?;
    let error = (state != WaState::Sent).then_some(detail);
    if stored::record_send(&mut tx, &m.id, state, sid, error, now).await? == 1 {
        let kind = match state {
            WaState::Sent => "whatsapp_sent",
            WaState::Refused => "whatsapp_refused",
            WaState::Cancelled => "whatsapp_cancelled",
            _ => "whatsapp_failed",
        };
        add_event(&mut tx, &m.shop_id, &m.order_id, kind, detail, now).await?;
        if state != WaState::Cancelled {
            super::runner::advance(app, &mut tx, &m.shop_id, &m.order_id, settings, now).await?;
        }
    }
    tx.commit().await?;
    dialer::wake();
    Ok(())
}

/// Sends stuck in `sending` (their process died mid-request) may have gone out: not sent again;
/// the plan goes on as for a message sent.
pub async fn recover_stale_sends(app: &App, older_than_wall: i64) -> anyhow::Result<()> {
    for (id, _shop_id, order_id) in stored::stale_sends(&app.db, older_than_wall).await? {
        let Some(o) = sms::load_order(app, &order_id).await? else { continue };
        let now = app.clock.now_ms();
        let mut tx = app.db.begin().await?;
        let why = "the sending process stopped mid-request; not sent again";
        if stored::record_send(&mut tx, &id, WaState::Unknown, None, Some(why), now).await? == 1 {
            add_event(&mut tx, &o.shop_id, &o.id, "whatsapp_failed", &format!("WhatsApp message: {why}"), now).await?;
            super::runner::advance(app, &mut tx, &o.shop_id, &o.id, &o.settings(), now).await?;
        }
        tx.commit().await?;
    }
    dialer::wake();
    Ok(())
}

/// What Exotel posted to a shop's WhatsApp URL: delivery reports and replies, each applied once
/// (repeats and reports out of order change nothing). Unknown messages are ignored.
pub async fn callbacks(app: &App, shop_id: &str, list: Vec<Callback>) -> anyhow::Result<()> {
    for cb in list {
        match cb {
            Callback::Delivery { sid, status, description, custom_data, .. } => {
                delivery(app, shop_id, &sid, status, description.as_deref(), custom_data.as_deref()).await?
            }
            Callback::Reply { from, answer, .. } => reply(app, shop_id, &from, answer).await?,
        }
    }
    dialer::wake();
    Ok(())
}

async fn delivery(app: &App, shop_id: &str, sid: &str, status: WaStatus, description: Option<&str>, custom_data: Option<&str>) -> anyhow::Result<()> {
    let status = match status {
        WaStatus::Sent => WaDelivery::Sent,
        WaStatus::Delivered => WaDelivery::Delivered,
        WaStatus::Read => WaDelivery::Read,
        WaStatus::Failed => WaDelivery::Failed,
        WaStatus::Other => return Ok(()),
    };
    let mut found = match custom_data {
        Some(id) => stored::of_shop_by_id(&app.db, shop_id, id).await?,
        None => None,
    };
    if found.is_none() {
        found = stored::of_shop_by_sid(&app.db, shop_id, sid).await?;
    }
    let Some(m) = found else { return Ok(()) };
    let current = m.status.as_deref().and_then(WaDelivery::parse);
    if !status.supersedes(current) {
        return Ok(());
    }
    let Some(o) = sms::load_order(app, &m.order_id).await? else { return Ok(()) };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let error = (status == WaDelivery::Failed).then(|| description.unwrap_or("failed")).map(|d| d.chars().take(200).collect::<String>());
    if stored::record_status(&mut tx, &m.id, status, m.status.as_deref(), error.as_deref(), now).await? == 1 {
        let detail = match &error {
            Some(e) => format!("WhatsApp message {}: {status} ({e})", m.seq),
            None => format!("WhatsApp message {}: {status}", m.seq),
        };
        add_event(&mut tx, shop_id, &m.order_id, "whatsapp_status", &detail, now).await?;
        if status == WaDelivery::Failed {
            // It will never arrive: the step ends and the plan moves on now.
            super::runner::advance(app, &mut tx, shop_id, &m.order_id, &o.settings(), now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A customer's number as Exotel writes it (`+9198…`, `9198…`, `098…`), E.164.
fn phone_of(from: &str, default_country: &str) -> Option<Phone> {
    let digits = from.trim();
    let international = if !digits.starts_with('+') && digits.len() > 10 && digits.chars().all(|c| c.is_ascii_digit()) {
        Phone::parse(&format!("+{digits}"), default_country).ok()
    } else {
        None
    };
    international.or_else(|| Phone::parse(digits, default_country).ok())
}

async fn reply(app: &App, shop_id: &str, from: &str, answer: Reply) -> anyhow::Result<()> {
    let by_phone = |answerable: bool| async move {
        let Some(shop) = crate::db::shops::find(&app.db, shop_id).await? else { return anyhow::Ok(None) };
        let country = Settings::from_stored(&shop.settings).general.default_country;
        let Some(phone) = phone_of(from, &country) else { return Ok(None) };
        Ok(stored::latest_to_phone(&app.db, shop_id, &app.cipher.phone_index(phone.e164()), answerable).await?)
    };
    match answer {
        Reply::Button { token, choice } => {
            let found = stored::of_shop_by_token(&app.db, shop_id, &sha256_hex(token.as_bytes())).await?;
            match found {
                Some(m) => apply(app, shop_id, &m, choice, "a button").await,
                None => Ok(()),
            }
        }
        Reply::Typed(choice) => match by_phone(true).await? {
            Some(m) => apply(app, shop_id, &m, choice, "a typed reply").await,
            None => Ok(()),
        },
        Reply::Other(text) => {
            let Some(m) = by_phone(false).await? else { return Ok(()) };
            let now = app.clock.now_ms();
            let mut tx = app.db.begin().await?;
            if stored::record_reply(&mut tx, &m.id, "other", Some(&app.cipher.encrypt(&text)), now).await? == 1 {
                let detail = format!("WhatsApp message {}: the customer wrote a reply that is not an answer (not applied)", m.seq);
                add_event(&mut tx, shop_id, &m.order_id, "whatsapp_reply", &detail, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    }
}

/// The customer's choice on a message: resolves its order once (a late answer too); a choice the
/// merchant does not offer, or one for an order that takes no answer, is noted and not applied.
async fn apply(app: &App, shop_id: &str, m: &Found, choice: Choice, how: &str) -> anyhow::Result<()> {
    let Some(o) = sms::load_order(app, &m.order_id).await? else { return Ok(()) };
    let wa = o.settings().whatsapp;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let Some(tag) = tag_of(&wa, choice) else {
        let detail = format!("WhatsApp message {}: the customer chose {choice} by {how}, which is not offered (not applied)", m.seq);
        add_event_once(&mut tx, &format!("{}-not-offered-{choice}", m.id), shop_id, &m.order_id, "whatsapp_reply", &detail, now).await?;
        tx.commit().await?;
        return Ok(());
    };
    let reason = match choice {
        Choice::Confirm => "confirmed on WhatsApp",
        Choice::Cancel => "cancelled on WhatsApp",
        Choice::Callback => "callback requested on WhatsApp",
    };
    let cancel = choice == Choice::Cancel && wa.cancel_order;
    if super::answer(&mut tx, shop_id, &m.order_id, choice.status(), reason, &[tag], cancel, now).await? {
        stored::record_reply(&mut tx, &m.id, choice.as_str(), None, now).await?;
    } else if m.reply.is_none() {
        let detail = format!("WhatsApp message {}: the customer chose {choice} by {how}, but the order is {} (not applied)", m.seq, o.status);
        add_event_once(&mut tx, &format!("{}-late-{choice}", m.id), shop_id, &m.order_id, "whatsapp_reply", &detail, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_listed_and_cut() {
        assert_eq!(items_text(&[("Kurta".into(), 1), ("Dupatta ".into(), 2)]), "Kurta × 1, Dupatta × 2");
        assert_eq!(items_text(&[]), "your order");
        let long = items_text(&vec![("A very long product title indeed".to_string(), 1); 10]);
        assert!(long.chars().count() <= ITEMS_MAX_CHARS && long.ends_with('…'), "{long}");
    }

    #[test]
    fn choices_follow_the_tags() {
        let mut wa = Whatsapp::default();
        assert_eq!(offered(&wa), [Choice::Confirm, Choice::Cancel, Choice::Callback]);
        wa.callback_tag = " ".into();
        wa.cancel_tag.clear();
        assert_eq!(offered(&wa), [Choice::Confirm]);
    }

    #[test]
    fn numbers_as_exotel_writes_them() {
        for n in ["+919876543210", "919876543210", "09876543210", "9876543210"] {
            assert_eq!(phone_of(n, "IN").map(|p| p.e164().to_string()).as_deref(), Some("+919876543210"), "{n}");
        }
        assert!(phone_of("hello", "IN").is_none());
    }
}
