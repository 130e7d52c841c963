//! Verifying an order with the shopper: intake decides, `start` begins the shop's method, the IVR
//! steps live in `ivr` (placed by `dialer`), and `sync_order` writes outcomes to Shopify.

pub mod address;
pub mod dialer;
pub mod fallback;
pub mod hold;
pub mod intake;
pub mod ivr;
pub mod link;
pub mod missed_call;
pub mod otp;
pub mod plan;
pub mod review;
pub mod runner;
pub mod schedule;
pub mod sms;
pub mod targeting;
pub mod whatsapp;

use std::sync::atomic::AtomicBool;

use futures::future::BoxFuture;

use crate::db::events::{add_event, add_event_once};
use crate::db::queue::Job;
use crate::db::{Tx, attempts, orders, outbox};
use crate::domain::{OrderStatus, ShopStatus};
use crate::settings::{Method, Settings};
use crate::shopify::admin::{self, AdminError};
use crate::app::App;

/// The channels the dialer sends through: calls by `ivr`, SMS by `sms`, WhatsApp by `whatsapp`.
pub struct Channels;

impl dialer::Channels for Channels {
    fn send<'a>(&'a self, app: &'a App, outbox: dialer::Outbox, id: &'a str, sent: &'a AtomicBool) -> BoxFuture<'a, anyhow::Result<()>> {
        match outbox {
            dialer::Outbox::Calls => Box::pin(ivr::dial(app, id, sent)),
            dialer::Outbox::Sms => Box::pin(sms::send(app, id, sent)),
            dialer::Outbox::Whatsapp => Box::pin(whatsapp::send(app, id, sent)),
        }
    }

    fn recover_stale<'a>(&'a self, app: &'a App, outbox: dialer::Outbox, claimed_before_wall: i64) -> BoxFuture<'a, anyhow::Result<()>> {
        match outbox {
            dialer::Outbox::Calls => Box::pin(ivr::recover_stale_dials(app, claimed_before_wall)),
            dialer::Outbox::Sms => Box::pin(sms::recover_stale_sends(app, claimed_before_wall)),
            dialer::Outbox::Whatsapp => Box::pin(whatsapp::recover_stale_sends(app, claimed_before_wall)),
        }
    }
}

/// Begins verifying a `pending` order with the shop's method, inside the transaction that took it.
/// Safe to repeat: the event has a fixed id, and the first call only goes in once.
pub async fn begin(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings) -> anyhow::Result<()> {
    let event_id = format!("{order_id}-verification-started");
    let detail = format!("verification by {}", settings.general.method);
    if add_event_once(tx, &event_id, shop_id, order_id, "verification_started", &detail, app.clock.now_ms()).await? {
        match settings.general.method {
            // The plan's first step (the IVR or WhatsApp) is the runner's.
            Method::Ivr | Method::Whatsapp => runner::advance(app, tx, shop_id, order_id, settings, app.clock.now_ms()).await?,
            Method::Otp => {
                let now = app.clock.now_ms();
                if let Some(o) = sms::load_order_tx(app, tx, order_id).await? {
                    otp::issue(app, tx, &o, settings, None, now).await?;
                }
                // A code not entered in time hands the order to the plan's steps.
                if settings.otp.escalate_after_minutes > 0 {
                    let at = now + settings.otp.escalate_after_minutes * 60_000;
                    tx.schedule(&Job::EscalateOtp { order_id: order_id.to_string() }, shop_id, Some(order_id), at, now).await?;
                }
            }
        }
    }
    Ok(())
}

/// Job (`StartVerification`): begins a pending order's verification in a transaction of its own.
/// Intake begins it directly; the job stays for work queued by earlier versions and for timers.
pub async fn start(app: &App, order_id: &str) -> anyhow::Result<()> {
    let Some((shop_id, status, settings)) = orders::status_and_settings_if_installed(&app.db, order_id).await? else { return Ok(()) };
    if status != OrderStatus::Pending {
        return Ok(());
    }
    let mut tx = app.db.begin().await?;
    begin(app, &mut tx, &shop_id, order_id, &Settings::from_stored(&settings)).await?;
    tx.commit().await?;
    dialer::wake();
    Ok(())
}

/// Whether the order is still pending, holding its row until this transaction ends (PostgreSQL row
/// lock; SQLite transactions are serial anyway), so a resolution committing at the same moment
/// cannot miss what this transaction schedules for the order.
pub(crate) async fn order_still_pending(tx: &mut Tx, shop_id: &str, order_id: &str) -> anyhow::Result<bool> {
    Ok(orders::hold_row_if_pending(tx, shop_id, order_id).await?)
}

/// Stops every call, message and timer still waiting for an order (resolved or cancelled elsewhere), or
/// for a whole shop (uninstalled).
pub async fn stop_pending(tx: &mut Tx, shop_id: &str, order_id: Option<&str>, now: i64) -> anyhow::Result<u64> {
    let timers = tx.cancel_timers(shop_id, order_id).await?;
    let calls = attempts::cancel_queued(tx, shop_id, order_id, now).await?;
    // Confirmation SMS after a missed call still go: they answer the customer.
    let sms = outbox::cancel_queued_sms(tx, shop_id, order_id, now).await?;
    let whatsapp = outbox::cancel_queued_whatsapp(tx, shop_id, order_id, now).await?;
    Ok(timers + calls + sms + whatsapp)
}

/// Resolves a `pending` order, once: the status and reason, the timeline event, what was still
/// scheduled for it dropped, and the Shopify update queued (tags, and the cancellation if asked).
/// Returns false, changing nothing, when the order was no longer pending.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &[&str], cancel: bool, now: i64) -> anyhow::Result<bool> {
    let tags: Vec<String> = tags.iter().filter(|t| !t.is_empty()).map(|t| t.to_string()).collect();
    if !orders::resolve_pending(tx, shop_id, order_id, status, reason, &tags.join(","), now).await? {
        return Ok(false);
    }
    resolved(tx, shop_id, order_id, status, reason, tags, cancel, now).await?;
    Ok(true)
}

/// Whether an order in this status still takes the shopper's answer: a pending one, and one that
/// ended `no_response` (a late answer, SPEC §3/§8). A cancelled order (in Shopify, or by an
/// answer) is not open; the app learns nothing of fulfilment (see README, "Late answers").
pub fn takes_answer(status: &str) -> bool {
    matches!(OrderStatus::parse(status), Some(OrderStatus::Pending | OrderStatus::NoResponse))
}

/// Resolves an order with the shopper's answer (`confirmed`, `cancelled`, `callback_requested`),
/// once: like [`resolve`] for a pending order; an order that ended `no_response` takes it too (a
/// late answer). Each step is a conditional update, so repeats and races change nothing. A late
/// answer's tags are added next to the no-response tag already on the order (tags are never
/// removed). Returns false, changing nothing, when the order takes no answer any more.
#[allow(clippy::too_many_arguments)]
pub async fn answer(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &[&str], cancel: bool, now: i64) -> anyhow::Result<bool> {
    if resolve(tx, shop_id, order_id, status, reason, tags, cancel, now).await? {
        return Ok(true);
    }
    let tags: Vec<String> = tags.iter().filter(|t| !t.is_empty()).map(|t| t.to_string()).collect();
    let reason = format!("{reason} (a late answer: the order had ended without a response)");
    if !orders::answer_late(tx, shop_id, order_id, status, &reason, &tags.join(","), now).await? {
        return Ok(false);
    }
    resolved(tx, shop_id, order_id, status, &reason, tags, cancel, now).await?;
    Ok(true)
}

/// Resolves an order waiting for a person (callback requested, or ended `no_response`) on the
/// shopper's behalf, recording `agent`, once: the status and reason, the timeline event and the
/// Shopify update like a shopper's answer ([`answer`]); its tags are added to those it has.
/// Returns false, changing nothing, when the order no longer waits.
#[allow(clippy::too_many_arguments)]
pub async fn resolve_waiting(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: &[&str], cancel: bool, agent: &str, now: i64) -> anyhow::Result<bool> {
    let tags: Vec<String> = tags.iter().filter(|t| !t.is_empty()).map(|t| t.to_string()).collect();
    if !orders::resolve_waiting(tx, shop_id, order_id, status, reason, &tags.join(","), agent, now).await? {
        return Ok(false);
    }
    resolved(tx, shop_id, order_id, status, reason, tags, cancel, now).await?;
    Ok(true)
}

/// What follows a resolution in its transaction: what was still scheduled dropped, the timeline
/// event, and the Shopify update queued.
#[allow(clippy::too_many_arguments)]
async fn resolved(tx: &mut Tx, shop_id: &str, order_id: &str, status: OrderStatus, reason: &str, tags: Vec<String>, cancel: bool, now: i64) -> anyhow::Result<()> {
    stop_pending(tx, shop_id, Some(order_id), now).await?;
    add_event(tx, shop_id, order_id, status.as_str(), reason, now).await?;
    if status == OrderStatus::Confirmed {
        hold::on_confirmed(tx, shop_id, order_id).await?;
    }
    if !tags.is_empty() || cancel {
        tx.push_jobs(&[Job::SyncOrder { order_id: order_id.to_string(), tags, cancel, failures: 0 }]).await?;
    }
    Ok(())
}

/// Queues tags for a still-pending order (system tags such as `ivr_retry_limit_reached`).
pub async fn tag(tx: &mut Tx, order_id: &str, tags: &[&str]) -> anyhow::Result<()> {
    let tags = tags.iter().map(|t| t.to_string()).collect();
    tx.push_jobs(&[Job::SyncOrder { order_id: order_id.to_string(), tags, cancel: false, failures: 0 }]).await
}

/// The wait before a Shopify update that found Shopify unavailable is tried again, on the app
/// clock: 1 minute, doubling, at most this long. It is tried for as long as the shop is installed.
const SYNC_RETRY_MAX_MINUTES: i64 = 30;

/// Job: writes an outcome to the Shopify order. Tags are added (never removed) and the
/// cancellation is asked for at most once per job. When Shopify is unavailable (throttled, 5xx,
/// unreachable, after the client's own retries), what has not landed yet is scheduled again on the
/// app clock (a tag that landed is not sent again), however long the outage lasts.
pub async fn sync_order(app: &App, order_id: &str, tags: &[String], cancel: bool, failures: u32) -> anyhow::Result<()> {
    let Some((shop_id, gid, shop_status)) = orders::shopify_target(&app.db, order_id).await? else { return Ok(()) };
    if shop_status != ShopStatus::Installed {
        return Ok(());
    }
    let mut events: Vec<(&str, String)> = Vec::new();
    let result = async {
        if !tags.is_empty() {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            admin::tags_add(app, &shop_id, &gid, &refs).await?;
            events.push(("tags_added", format!("tagged in Shopify: {}", tags.join(", "))));
        }
        if cancel {
            match admin::order_cancel(app, &shop_id, &gid, "Cancelled by the customer through codverify").await {
                Ok(()) => events.push(("shopify_cancelled", "cancelled in Shopify (restocked, no refund, customer not emailed)".into())),
                Err(AdminError::Refused(m)) => events.push(("shopify_cancel_refused", format!("Shopify did not cancel the order: {m}"))),
                Err(e) => return Err(e),
            }
        }
        Ok::<(), AdminError>(())
    }
    .await;
    let retry_in_minutes = (1i64 << failures.min(5)).min(SYNC_RETRY_MAX_MINUTES);
    let failed = match &result {
        Err(e) if e.is_transient() => Some(format!("Shopify update failed, will retry in {retry_in_minutes} min: {e}")),
        Err(e) => Some(format!("Shopify update failed: {e}")),
        Ok(()) => None,
    };
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    for (kind, detail) in &events {
        add_event(&mut tx, &shop_id, order_id, kind, detail, now).await?;
    }
    if let Some(detail) = &failed {
        add_event(&mut tx, &shop_id, order_id, "shopify_update_failed", detail, now).await?;
        if result.as_ref().is_err_and(AdminError::is_transient) {
            // Not tied to the order's timers: those are dropped when its calls settle, this is not.
            let tagged = events.iter().any(|(kind, _)| *kind == "tags_added");
            let rest = Job::SyncOrder {
                order_id: order_id.to_string(),
                tags: if tagged { Vec::new() } else { tags.to_vec() },
                cancel,
                failures: failures.saturating_add(1),
            };
            tx.schedule(&rest, &shop_id, None, now + retry_in_minutes * 60_000, now).await?;
        }
    } else {
        orders::mark_synced(&mut tx, &shop_id, order_id, now).await?;
    }
    tx.commit().await?;
    Ok(())
}
