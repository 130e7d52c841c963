//! Fulfillment holds (SPEC §9): a pending order's fulfillment orders are put on hold in Shopify so
//! it cannot ship unverified; a confirmation releases them; a cancellation or no response keeps
//! them. One job (`SyncHold`) makes Shopify match the order: it reads the fulfillment orders
//! first and acts only on what differs, so a repeat (a duplicate job, a run after a crash) does
//! nothing twice, and Shopify's own handle check refuses a second hold of ours on one fulfillment
//! order.

use crate::app::App;
use crate::db::events::{add_event, add_event_once};
use crate::db::holds::{self, HoldTarget};
use crate::db::orders;
use crate::db::queue::Job;
use crate::db::Tx;
use crate::domain::{HoldState, OrderStatus, ShopStatus};
use crate::settings::Settings;
use crate::shopify::admin::AdminError;
use crate::shopify::fulfillment::{self, FulfillmentOrder, Held};

/// The scopes that let the app hold and release fulfillment orders (either kind of fulfillment
/// service the shop uses).
pub const WRITE_SCOPES: [&str; 2] = ["write_merchant_managed_fulfillment_orders", "write_third_party_fulfillment_orders"];

/// Whether the granted scopes (comma-separated, as the token response lists them) allow holds.
pub fn can_hold(granted: &str) -> bool {
    granted.split(',').map(str::trim).any(|s| WRITE_SCOPES.contains(&s))
}

/// The wait before the next try (Shopify unavailable, or no fulfillment order yet): 1 minute,
/// doubling, at most this long.
const RETRY_MAX_MINUTES: i64 = 30;

/// How long the app waits for Shopify to create an order's fulfillment orders before giving up.
pub const WAIT_FOR_FULFILLMENT_ORDERS_MS: i64 = 48 * 3600 * 1000;

/// Minutes before try number `failures + 1`.
pub fn retry_in_minutes(failures: u32) -> i64 {
    (1i64 << failures.min(5)).min(RETRY_MAX_MINUTES)
}

/// At intake, in the order's transaction, for a pending order: its hold is queued when the shop
/// holds orders and granted the scopes; without the scopes the timeline says so, once.
pub async fn on_intake(app: &App, tx: &mut Tx, shop_id: &str, order_id: &str, settings: &Settings) -> anyhow::Result<()> {
    if !settings.fulfillment.hold {
        return Ok(());
    }
    let granted = holds::shop_scopes(tx, shop_id).await?.unwrap_or_default();
    if !can_hold(&granted) {
        let detail = "not held from fulfilment: the app lacks Shopify's fulfillment-order permissions (the merchant can approve them from the App Info page)";
        add_event_once(tx, &format!("{order_id}-not-held-scopes"), shop_id, order_id, "fulfillment_not_held", detail, app.clock.now_ms()).await?;
        return Ok(());
    }
    if holds::set_state(tx, shop_id, order_id, &[], true, HoldState::Holding).await? {
        tx.push_jobs(&[Job::SyncHold { order_id: order_id.to_string(), failures: 0 }]).await?;
    }
    Ok(())
}

/// In the transaction of a confirmation: an order with a hold has it released.
pub async fn on_confirmed(tx: &mut Tx, shop_id: &str, order_id: &str) -> anyhow::Result<()> {
    let from = [HoldState::Holding, HoldState::Held, HoldState::NotHeld];
    if holds::set_state(tx, shop_id, order_id, &from, false, HoldState::Releasing).await? {
        tx.push_jobs(&[Job::SyncHold { order_id: order_id.to_string(), failures: 0 }]).await?;
    }
    Ok(())
}

/// What one pass found to do next.
enum Next {
    Done,
    /// Try again later (the job is scheduled already).
    Later,
}

/// Job (`SyncHold`): makes the order's holds in Shopify match its status — released when it is
/// confirmed, held otherwise. After acting it reads the status again and goes on when a
/// confirmation came in meanwhile.
pub async fn sync_hold(app: &App, order_id: &str, failures: u32) -> anyhow::Result<()> {
    let mut acted_for: Option<bool> = None;
    for _ in 0..3 {
        let Some(t) = holds::target(&app.db, order_id).await? else { return Ok(()) };
        if t.shop_status != ShopStatus::Installed {
            return Ok(());
        }
        let Some(state) = t.hold_state.as_deref().and_then(HoldState::parse) else { return Ok(()) };
        let release = t.status == OrderStatus::Confirmed;
        if acted_for == Some(release) {
            // The status did not change while Shopify was written to: done.
            return Ok(());
        }
        let next = match (release, state) {
            // Even when recorded as released: a hold job of the same order that was on its way
            // (or killed after its hold landed and run again) may have held it after the release
            // read the fulfillment orders. Reading them again costs one query; a hold left on a
            // confirmed order would stop it shipping.
            (true, _) => release_all(app, order_id, &t, state, failures).await?,
            // Never held again once released; held or given up on: nothing to do.
            (false, HoldState::Releasing | HoldState::Released | HoldState::Held | HoldState::NotHeld) => Next::Done,
            (false, HoldState::Holding) => hold_all(app, order_id, &t, failures).await?,
        };
        if matches!(next, Next::Later) {
            return Ok(());
        }
        acted_for = Some(release);
    }
    Ok(())
}

/// Puts our hold on every fulfillment order that can take one and lacks it.
async fn hold_all(app: &App, order_id: &str, t: &HoldTarget, failures: u32) -> anyhow::Result<Next> {
    let fos = match fulfillment::fulfillment_orders(app, &t.shop_id, &t.admin_graphql_id).await {
        Ok(f) => f,
        Err(e) => return failed(app, order_id, t, failures, e, 0, false).await,
    };
    let mut placed = 0usize;
    let mut ours = 0usize;
    let mut gone = 0usize;
    let mut error = None;
    for fo in fos.iter().filter(|f| f.our_holds.is_empty() && f.status.can_hold()) {
        match fulfillment::hold(app, &t.shop_id, &fo.id).await {
            Ok(Held::Placed) => placed += 1,
            Ok(Held::AlreadyThere) => ours += 1,
            Ok(Held::Gone) => gone += 1,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    ours += fos.iter().filter(|f| !f.our_holds.is_empty()).count();
    if let Some(e) = error {
        return failed(app, order_id, t, failures, e, placed, false).await;
    }
    let held = placed + ours;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let next = if held > 0 {
        let closed = fos.len() - held - gone;
        let detail = match closed {
            0 => format!("held from fulfilment in Shopify until the COD confirmation ({} fulfillment order{})", held, plural(held)),
            n => format!("held from fulfilment in Shopify until the COD confirmation ({held} fulfillment order{}; {n} closed or cancelled could not be held)", plural(held)),
        };
        if holds::set_state(&mut tx, &t.shop_id, order_id, &[HoldState::Holding], false, HoldState::Held).await? || placed > 0 {
            add_event(&mut tx, &t.shop_id, order_id, "fulfillment_held", &detail, now).await?;
        }
        Next::Done
    } else if fos.is_empty() || gone > 0 {
        // Shopify creates fulfillment orders shortly after the order (or replaced them meanwhile).
        if now - t.created_at >= WAIT_FOR_FULFILLMENT_ORDERS_MS {
            if holds::set_state(&mut tx, &t.shop_id, order_id, &[HoldState::Holding], false, HoldState::NotHeld).await? {
                add_event(&mut tx, &t.shop_id, order_id, "fulfillment_hold_gave_up", "not held: Shopify created no fulfillment order for it within 48 hours", now).await?;
            }
            Next::Done
        } else {
            let detail = "Shopify has no fulfillment order for it yet: the hold waits for one";
            add_event_once(&mut tx, &format!("{order_id}-hold-waiting"), &t.shop_id, order_id, "fulfillment_hold_waiting", detail, now).await?;
            retry_later(&mut tx, order_id, t, failures, now).await?;
            Next::Later
        }
    } else {
        if holds::set_state(&mut tx, &t.shop_id, order_id, &[HoldState::Holding], false, HoldState::NotHeld).await? {
            add_event(&mut tx, &t.shop_id, order_id, "fulfillment_not_held", "not held: its fulfillment orders are closed or cancelled", now).await?;
        }
        Next::Done
    };
    tx.commit().await?;
    Ok(next)
}

/// Releases our holds wherever they are (by their ids: other apps' holds stay).
async fn release_all(app: &App, order_id: &str, t: &HoldTarget, state: HoldState, failures: u32) -> anyhow::Result<Next> {
    // A corrected address still on its way to Shopify: releasing now could ship to the old one.
    // The address job queues this job again when it ends; the retry here is the backstop.
    if orders::address_update_pending(&app.db, &t.shop_id, order_id).await? {
        let now = app.clock.now_ms();
        let mut tx = app.db.begin().await?;
        let detail = "the hold stays until the address the shopper corrected is updated in Shopify";
        add_event_once(&mut tx, &format!("{order_id}-release-awaits-address"), &t.shop_id, order_id, "fulfillment_release_waiting", detail, now).await?;
        retry_later(&mut tx, order_id, t, failures, now).await?;
        tx.commit().await?;
        return Ok(Next::Later);
    }
    let fos: Vec<FulfillmentOrder> = match fulfillment::fulfillment_orders(app, &t.shop_id, &t.admin_graphql_id).await {
        Ok(f) => f.into_iter().filter(|f| !f.our_holds.is_empty()).collect(),
        Err(e) => return failed(app, order_id, t, failures, e, 0, true).await,
    };
    let mut released = 0usize;
    for fo in &fos {
        if let Err(e) = fulfillment::release(app, &t.shop_id, &fo.id, &fo.our_holds).await {
            return failed(app, order_id, t, failures, e, released, true).await;
        }
        released += 1;
    }
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let from = [HoldState::Releasing, HoldState::Holding, HoldState::Held, HoldState::NotHeld];
    let moved = holds::set_state(&mut tx, &t.shop_id, order_id, &from, false, HoldState::Released).await?;
    if released > 0 {
        let detail = format!("hold released in Shopify: the order can be fulfilled ({released} fulfillment order{})", plural(released));
        add_event(&mut tx, &t.shop_id, order_id, "fulfillment_released", &detail, now).await?;
    } else if moved && state == HoldState::Held {
        add_event(&mut tx, &t.shop_id, order_id, "fulfillment_released", "no hold of the app's was left in Shopify: the order can be fulfilled", now).await?;
    }
    tx.commit().await?;
    Ok(Next::Done)
}

/// A read, hold or release that failed: Shopify unavailable → tried again later (what landed is
/// not sent again: the next pass reads it back); refused → recorded, and a hold is given up on.
#[allow(clippy::too_many_arguments)]
async fn failed(app: &App, order_id: &str, t: &HoldTarget, failures: u32, e: AdminError, done: usize, releasing: bool) -> anyhow::Result<Next> {
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let what = if releasing { "release" } else { "hold" };
    let next = if e.is_transient() {
        let detail = format!(
            "Shopify {what} failed ({done} fulfillment order{} done), will retry in {} min: {e}",
            plural(done),
            retry_in_minutes(failures)
        );
        add_event(&mut tx, &t.shop_id, order_id, "fulfillment_hold_failed", &detail, now).await?;
        retry_later(&mut tx, order_id, t, failures, now).await?;
        Next::Later
    } else if releasing {
        // The hold stays on in Shopify: the merchant releases it there.
        holds::set_state(&mut tx, &t.shop_id, order_id, &[HoldState::Releasing], false, HoldState::Held).await?;
        let detail = format!("Shopify did not release the hold (release it in Shopify to ship the order): {e}");
        add_event(&mut tx, &t.shop_id, order_id, "fulfillment_release_refused", &detail, now).await?;
        Next::Done
    } else {
        let to = if done > 0 { HoldState::Held } else { HoldState::NotHeld };
        holds::set_state(&mut tx, &t.shop_id, order_id, &[HoldState::Holding], false, to).await?;
        let detail = format!("Shopify did not hold the order ({done} fulfillment order{} held): {e}", plural(done));
        add_event(&mut tx, &t.shop_id, order_id, "fulfillment_hold_refused", &detail, now).await?;
        Next::Done
    };
    tx.commit().await?;
    Ok(next)
}

/// Schedules the next pass on the app clock. Not tied to the order's timers (those are dropped when
/// it is resolved; a cancelled or unanswered order stays held).
async fn retry_later(tx: &mut Tx, order_id: &str, t: &HoldTarget, failures: u32, now: i64) -> anyhow::Result<()> {
    let job = Job::SyncHold { order_id: order_id.to_string(), failures: failures.saturating_add(1) };
    tx.schedule(&job, &t.shop_id, None, now + retry_in_minutes(failures) * 60_000, now).await
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_need_a_write_fulfillment_scope() {
        assert!(!can_hold("read_orders,write_orders"));
        assert!(!can_hold("read_merchant_managed_fulfillment_orders"));
        assert!(!can_hold(""));
        assert!(can_hold("read_orders, write_merchant_managed_fulfillment_orders"));
        assert!(can_hold("write_third_party_fulfillment_orders"));
        assert!(!can_hold("xwrite_third_party_fulfillment_orders"));
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        let waits: Vec<i64> = (0..8).map(retry_in_minutes).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_in_minutes(u32::MAX), 30);
    }
}
