//! The dialer: places queued calls and sends queued SMS that are due on the app clock, keeping
//! every Exotel account under its rate limits across all processes, and sharing each account's
//! capacity fairly between shops (a flash sale at one shop does not hold back the others).
//!
//! The dialer is the outbox below the channels: it knows rows, budgets and claims, and hands a
//! claimed row to the channel that sends it ([`Channels`], implemented above it), never importing
//! the channels itself.
//!
//! Not an apalis queue: a rate-limited call must wait without holding a worker slot, and the choice
//! of which call goes next depends on every shop's backlog at that moment.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore, watch};

use crate::app::App;
use crate::db::outbox;
pub use crate::db::outbox::Outbox;

type AppState = Arc<App>;

pub use crate::db::rates::{BURST_MS, take_budget};

/// The spacing of requests to one API of an account for a limit of `per_minute`. GCRA lets at
/// most floor((60 000 + BURST_MS) / T) + 1 requests into any 60-second window; T keeps that (plus
/// one for clock jitter between processes) under the limit. For Exotel's 200/min: T = 307 ms, at
/// most 198 in any minute, 195/min (97.7%) sustained under a backlog.
pub fn emission_interval_ms(per_minute: i64) -> i64 {
    (60_000 + BURST_MS + per_minute - 3) / (per_minute - 2) + 1
}
/// Calls in flight per process (origination can take up to 30 s).
const MAX_IN_FLIGHT: usize = 64;
/// How often the queue is looked at when nothing wakes the dialer sooner.
const POLL: Duration = Duration::from_millis(250);
/// A claim older than this without an outcome means its process died mid-dial: longer than a dial
/// can take — the DND lookup (its own timeout), Calls/connect (`EXOTEL_TIMEOUT_SECONDS`), the
/// pauses between tries to record its outcome, and 30 s for the database around them. (A fixed
/// 120 s was shorter than a live dial can be with the timeout near its 120 s maximum, and that
/// dial's outcome was then thrown away.)
fn stale_dial_ms(state: &AppState) -> i64 {
    let recording = RECORD_PAUSE * RECORD_TRIES;
    (crate::exotel::DEFAULT_TIMEOUT + state.config.exotel_timeout + recording).as_millis() as i64 + 30_000
}

/// How often, and how far apart, the outcome of a request that went to Exotel is tried to be
/// recorded when the database fails (after that the claim is left to `recover_stale_*`).
pub const RECORD_TRIES: u32 = 20;
pub const RECORD_PAUSE: Duration = Duration::from_millis(500);

static WAKE: Notify = Notify::const_new();

/// Looks at the queue now (after committing new due calls in this process).
pub fn wake() {
    WAKE.notify_one();
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Puts a claimed row back in the queue after a transient Exotel failure (429, 5xx, unreachable):
/// backoff on the wall clock, 1 s doubling to 5 min, and none of the customer's retries spent.
#[allow(clippy::too_many_arguments)]
pub async fn back_off(app: &App, outbox: Outbox, id: &str, shop_id: &str, order_id: Option<&str>, failures_so_far: i64, label: &str, why: &str) -> anyhow::Result<()> {
    let failures = failures_so_far + 1;
    let wait_ms = (1_000i64 << (failures - 1).min(9)).min(300_000);
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let n = outbox::back_off(&mut tx, outbox, id, failures, wall_ms() + wait_ms, why, now).await?;
    if let (1, Some(order_id)) = (n, order_id) {
        // The first failure and every tenth: the timeline shows the outage without flooding.
        if failures == 1 || failures % 10 == 0 {
            let detail = format!("{label}: Exotel could not take it ({why}); trying again in {} s", wait_ms / 1000);
            crate::db::events::add_event(&mut tx, shop_id, order_id, "exotel_retry", &detail, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Puts a claimed row whose request was never sent back in the queue (a second later), trying
/// through a database blip; spends none of the customer's retries nor the row's backoff.
async fn requeue(state: &AppState, outbox: Outbox, id: &str) {
    for _ in 0..RECORD_TRIES {
        let done = outbox::requeue(&state.db, outbox, id, wall_ms() + 1_000, state.clock.now_ms()).await;
        match done {
            Ok(_) => return,
            Err(e) => tracing::warn!(?outbox, row = %id, error = %e, "could not put an unsent row back in the queue; trying again"),
        }
        tokio::time::sleep(RECORD_PAUSE).await;
    }
}

/// Claims one queued row and its rate budget together: both or neither.
async fn claim(state: &AppState, outbox: Outbox, id: &str, account: &str, wall: i64) -> anyhow::Result<Claim> {
    let mut tx = state.db.begin().await?;
    if !outbox::claim(&mut tx, outbox, id, wall, state.clock.now_ms()).await? {
        return Ok(Claim::Gone);
    }
    // Exotel limits each API separately; a first call also looks the number up (Numbers API, DND).
    let mut budgets = vec![format!("{account}/{}", outbox.api())];
    if outbox == Outbox::Calls {
        if !outbox::number_looked_up(&mut tx, id).await? {
            budgets.push(format!("{account}/numbers"));
        }
    }
    let interval = emission_interval_ms(state.config.exotel_calls_per_minute);
    for budget in &budgets {
        if let Err(wait_ms) = take_budget(&mut tx, budget, interval, wall).await? {
            return Ok(Claim::RateLimited(wait_ms));
        }
    }
    outbox::shop_served(&mut tx, outbox, id, wall).await?;
    tx.commit().await?;
    Ok(Claim::Claimed)
}

/// What the channels above the dialer do with a claimed row. `sent` turns true once a request may
/// have gone to Exotel (a failure before that puts the row back in the queue).
pub trait Channels: Send + Sync + 'static {
    fn send<'a>(&'a self, app: &'a App, outbox: Outbox, id: &'a str, sent: &'a AtomicBool) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Settles the rows of `outbox` claimed before `claimed_before_wall` whose process died mid-send.
    fn recover_stale<'a>(&'a self, app: &'a App, outbox: Outbox, claimed_before_wall: i64) -> BoxFuture<'a, anyhow::Result<()>>;
}

enum Claim {
    Claimed,
    Gone,
    RateLimited(i64),
}

/// Runs until `stop`; calls in flight are finished before it returns.
pub async fn run(state: AppState, channels: Arc<dyn Channels>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight = tokio::task::JoinSet::new();
    let mut advanced = state.clock.subscribe();
    let mut last_recovery = 0i64;
    while !*stop.borrow() {
        let mut next = POLL;
        match tick(&state, &channels, &slots, &mut in_flight).await {
            Ok(Some(wait)) => next = next.min(wait),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "dialer pass failed; trying again"),
        }
        let wall = wall_ms();
        if wall - last_recovery > 30_000 {
            last_recovery = wall;
            if let Err(e) = channels.recover_stale(&state, Outbox::Calls, wall - stale_dial_ms(&state)).await {
                tracing::warn!(error = %e, "could not recover stale dials");
            }
            if let Err(e) = channels.recover_stale(&state, Outbox::Sms, wall - stale_dial_ms(&state)).await {
                tracing::warn!(error = %e, "could not recover stale SMS sends");
            }
            if let Err(e) = channels.recover_stale(&state, Outbox::Whatsapp, wall - stale_dial_ms(&state)).await {
                tracing::warn!(error = %e, "could not recover stale WhatsApp sends");
            }
        }
        while in_flight.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = WAKE.notified() => {}
            _ = advanced.changed() => {}
            _ = stop.changed() => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// One pass over the due calls, SMS and WhatsApp messages. Returns how soon a rate-limited budget has room again.
async fn tick(state: &AppState, channels: &Arc<dyn Channels>, slots: &Arc<Semaphore>, in_flight: &mut tokio::task::JoinSet<()>) -> anyhow::Result<Option<Duration>> {
    let mut soonest: Option<i64> = None;
    for outbox in [Outbox::Calls, Outbox::Sms, Outbox::Whatsapp] {
        let wall = wall_ms();
        let rows = outbox::due(&state.db, outbox, state.clock.now_ms(), wall).await?;
        let mut limited: HashSet<String> = HashSet::new();
        for (id, account) in rows {
            if limited.contains(&account) {
                continue;
            }
            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
            match claim(state, outbox, &id, &account, wall_ms()).await? {
                Claim::Claimed => {
                    let (state, channels) = (state.clone(), channels.clone());
                    in_flight.spawn(async move {
                        let sent = AtomicBool::new(false);
                        let result = channels.send(&state, outbox, &id, &sent).await;
                        if let Err(e) = result {
                            tracing::error!(?outbox, row = %id, error = %e, "send failed");
                            if !sent.load(Ordering::SeqCst) {
                                // The database failed before anything went to Exotel: back in the queue.
                                requeue(&state, outbox, &id).await;
                            }
                        }
                        drop(permit);
                    });
                }
                Claim::Gone => {}
                Claim::RateLimited(wait) => {
                    limited.insert(account);
                    soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                }
            }
        }
    }
    Ok(soonest.map(|ms| Duration::from_millis(ms as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most requests GCRA lets into any 60 s window, for spacing `t`.
    fn worst_minute(t: i64) -> i64 {
        (60_000 + BURST_MS) / t + 1
    }

    #[test]
    fn spacing_keeps_every_minute_under_the_limit() {
        assert_eq!(emission_interval_ms(200), 307);
        for limit in [10, 60, 200, 600, 1000, 6000] {
            let t = emission_interval_ms(limit);
            assert!(worst_minute(t) <= limit - 1, "limit {limit}: T {t} lets {} through", worst_minute(t));
            // Under a backlog the account is used at 95% or more of its limit (small limits excepted:
            // the burst allowance is a larger share of them).
            if (200..=1000).contains(&limit) {
                assert!(60_000 / t * 100 >= 95 * limit, "limit {limit}: T {t} is too slow");
            }
        }
    }
}
