//! The IVR fallback (SPEC §3 "Fallback"): when the IVR retries are spent, or the number is on the
//! DND registry, an SMS with a confirmation link or an SMS asking for a missed call goes out, and is
//! sent again on each retry while the customer has not answered; one interval after the last, the
//! order gets `fallback_retry_limit_reached`. The customer answers through the link (`link`) or a
//! missed call (`missed_call`); the SMS themselves go out through `sms`.

use super::dialer;
use crate::crypto::{random_token, sha256_hex};
use crate::db::events::add_event;
use crate::db::{Tx, links, orders};
use crate::domain::OrderStatus;
use crate::db::queue::Job;
use crate::settings::{Encoding, Fallback, FallbackMode, Settings};
use crate::app::App;
use super::sms::{NewSms, OrderInfo, is_gsm7, load_order, load_order_tx, queue_sms, render};

/// The tag of an order whose SMS fallback went unanswered.
pub const LIMIT_TAG: &str = "fallback_retry_limit_reached";

/// Starts the fallback of a pending order (IVR retries spent, or a DND number). Returns false when
/// the shop has no fallback: the caller ends the verification.
pub async fn start(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings, why: &str, now: i64) -> anyhow::Result<bool> {
    if settings.fallback.mode == FallbackMode::Off {
        return Ok(false);
    }
    if orders::start_fallback(tx, shop_id, order_id, now).await? {
        let detail = format!("SMS fallback ({}) started: {why}", settings.fallback.mode.as_str().replace('_', " "));
        add_event(tx, shop_id, order_id, "fallback_started", &detail, now).await?;
        step_in(app, tx, shop_id, order_id, settings, 1, now).await?;
    }
    Ok(true)
}

/// Job: the n-th step of an order's fallback.
pub async fn step(app: &App, order_id: &str, n: i64) -> anyhow::Result<()> {
    let Some(o) = load_order(app, order_id).await? else { return Ok(()) };
    if o.status != OrderStatus::Pending || o.shop_status != "installed" {
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    step_in(app, &mut tx, &o.shop_id, order_id, &o.settings(), n, app.clock.now_ms()).await?;
    tx.commit().await?;
    dialer::wake();
    Ok(())
}

/// Steps 1..=retries+1 send an SMS and schedule the next step; the step after the last gives up.
async fn step_in(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings, n: i64, now: i64) -> anyhow::Result<()> {
    let fb = &settings.fallback;
    let sends = fb.retries.max(0) + 1;
    if n > sends {
        let reason = format!("no answer to {sends} SMS");
        add_event(tx, shop_id, order_id, "fallback_retry_limit_reached", &reason, now).await?;
        super::resolve(tx, shop_id, order_id, OrderStatus::NoResponse, &reason, &[LIMIT_TAG], false, now).await?;
        return Ok(());
    }
    if !super::order_still_pending(tx, shop_id, order_id).await? {
        return Ok(());
    }
    let Some(o) = load_order_tx(app, tx, order_id).await? else { return Ok(()) };
    queue_fallback_sms(app, tx, &o, fb, &settings.general.account_sid, n, now).await?;
    // One interval after each SMS, the next (or, after the last, the limit); 60 min with no retries.
    let wait_min = if fb.retries == 0 { 60 } else { fb.retry_interval_minutes.max(1) };
    let job = Job::FallbackStep { order_id: order_id.to_string(), step: n + 1 };
    tx.schedule(&job, shop_id, Some(order_id), now + wait_min * 60_000, now).await
}

async fn queue_fallback_sms(app: &App, tx: &mut Tx, o: &OrderInfo, fb: &Fallback, account: &str, n: i64, now: i64) -> anyhow::Result<()> {
    let ((kind, body), secret_body, dlt, sent_text) = if fb.mode == FallbackMode::SmsLink {
        let token = random_token(18);
        let expires = now + fb.link_expiry_hours.clamp(1, 72) * 3600 * 1000;
        links::insert(tx, &sha256_hex(token.as_bytes()), &o.shop_id, &o.id, expires, now).await?;
        let link = format!("{}/v/{token}", app.config.app_url);
        // The link works for whoever holds it: the reports show it masked, the SMS carries it.
        let shown = format!("{}/v/{}", app.config.app_url, "*".repeat(8));
        let secret = render(&fb.link_template, o, Some(&link), None);
        (("link", render(&fb.link_template, o, Some(&shown), None)), Some(app.cipher.encrypt(&secret)), &fb.dlt_template_id, secret)
    } else {
        let body = render(&fb.missed_call_template, o, None, Some(&fb.missed_call_exophone));
        (("missed_call", body.clone()), None, &fb.missed_call_dlt_template_id, body)
    };
    let unicode = fb.encoding == Encoding::Unicode || !is_gsm7(&sent_text);
    let sms = NewSms {
        shop_id: &o.shop_id,
        order_id: Some(&o.id),
        kind,
        seq: n,
        account,
        to: o.phone.as_deref(),
        body: &body,
        secret_body,
        unicode,
        dlt_template_id: dlt,
    };
    queue_sms(app, tx, sms, now).await
}

