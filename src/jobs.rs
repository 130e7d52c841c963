//! Background work. apalis runs the jobs; what is due *when* is decided by the app's clock: a job
//! for later waits in the `timers` table, and a pump moves it into apalis once the app clock says it
//! is due (apalis alone would ask the database's clock, which `TEST_CLOCK` cannot move).

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use futures::channel::mpsc;
use serde::{Deserialize, Serialize};

use crate::db::{Db, Tx, TxInner, new_id};
use crate::{AppState, on_db, on_tx};

/// Every kind of background work. Serialized as JSON with a `kind` tag; keep variants stable, queued
/// jobs outlive deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Act on stored Shopify webhook deliveries (one job per group-committed batch).
    Webhooks { webhook_ids: Vec<String> },
    /// Begin verifying a newly taken order.
    StartVerification { order_id: String },
    /// Settle a call attempt whose end Exotel never reported (or whose dial outcome is unknown).
    ReconcileCall { attempt_id: String },
    /// Look up an SMS whose status report never came (SMS details API), like `ReconcileCall`.
    ReconcileSms { sms_id: String },
    /// The n-th step of an order's SMS fallback: send SMS n, or (past the last) give up.
    FallbackStep { order_id: String, step: i64 },
    /// Write an outcome to the Shopify order: add tags, and cancel it when asked. `failures`: how
    /// many times Shopify was unavailable for it so far (its retries wait longer each time).
    SyncOrder {
        order_id: String,
        tags: Vec<String>,
        cancel: bool,
        #[serde(default)]
        failures: u32,
    },
    /// The daily retention run: customer details older than each shop's retention period are erased.
    PrivacyRetention,
}

/// Queue names are explicit so that renaming a Rust type never orphans queued jobs. Shopify
/// writes have a queue of their own so a slow Admin API never delays calls.
pub const QUEUES: [&str; 3] = ["codverify.webhooks", "codverify.verification", "codverify.shopify"];

impl Job {
    pub fn queue(&self) -> &'static str {
        match self {
            Job::Webhooks { .. } => QUEUES[0],
            Job::StartVerification { .. } | Job::ReconcileCall { .. } | Job::ReconcileSms { .. } | Job::FallbackStep { .. } => QUEUES[1],
            // Housekeeping shares the Shopify queue: it must never hold up a call.
            Job::SyncOrder { .. } | Job::PrivacyRetention => QUEUES[2],
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("jobs serialize")
    }
}

/// Max runs of one job before apalis gives up on it. Handlers treat external failures themselves
/// (scheduling a later retry), so a returned error means something local and usually brief.
const MAX_ATTEMPTS: usize = 5;

impl Tx {
    /// Enqueues jobs to run now, inside this transaction: they exist if and only if it commits.
    pub async fn push_jobs(&mut self, jobs: &[Job]) -> anyhow::Result<()> {
        for queue in QUEUES {
            let tasks: Vec<Task<Vec<u8>>> = jobs
                .iter()
                .filter(|j| j.queue() == queue)
                .map(|j| TaskBuilder::new(j.encode()).max_attempts(MAX_ATTEMPTS).build())
                .collect();
            if tasks.is_empty() {
                continue;
            }
            match &mut self.inner {
                TxInner::Sqlite(t) => apalis_sqlite::queries::push_tasks(&mut **t, queue, &tasks).await?,
                TxInner::Postgres(t) => apalis_postgres::queries::push_tasks(&mut **t, queue, tasks).await?,
            }
            self.pushed_jobs = true;
        }
        Ok(())
    }

    /// Schedules a job for `due_at_ms` on the app clock, inside this transaction.
    pub async fn schedule(&mut self, job: &Job, shop_id: &str, order_id: Option<&str>, due_at_ms: i64, now_ms: i64) -> anyhow::Result<()> {
        let payload = serde_json::to_string(job)?;
        on_tx!(self, c => sqlx::query(
            "INSERT INTO timers (id, shop_id, order_id, job, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(new_id()).bind(shop_id).bind(order_id).bind(payload).bind(due_at_ms).bind(now_ms)
            .execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Drops every scheduled job of an order (cancelled elsewhere) or of a whole shop (uninstalled).
    pub async fn cancel_timers(&mut self, shop_id: &str, order_id: Option<&str>) -> anyhow::Result<u64> {
        let n = match order_id {
            Some(o) => on_tx!(self, c => sqlx::query("DELETE FROM timers WHERE shop_id = $1 AND order_id = $2")
                .bind(shop_id).bind(o).execute(c).await.map(|r| r.rows_affected()))?,
            None => on_tx!(self, c => sqlx::query("DELETE FROM timers WHERE shop_id = $1")
                .bind(shop_id).execute(c).await.map(|r| r.rows_affected()))?,
        };
        Ok(n)
    }
}

/// Workers of this process waiting to hear that jobs were committed: a nudge after each commit that
/// enqueued jobs lets the SQLite workers pick them up at once instead of at their next poll
/// (PostgreSQL gets the same from LISTEN/NOTIFY).
static WAITING_WORKERS: LazyLock<Mutex<Vec<mpsc::UnboundedSender<()>>>> = LazyLock::new(Default::default);

fn job_nudges() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded();
    WAITING_WORKERS.lock().expect("lock poisoned").push(tx);
    rx
}

pub(crate) fn wake_workers() {
    WAITING_WORKERS.lock().expect("lock poisoned").retain(|w| w.unbounded_send(()).is_ok());
}

/// Work repeated on the app clock: (row in `schedules`, interval, job).
const SCHEDULES: [(&str, i64, Job); 1] = [("privacy_retention", 24 * 3600 * 1000, Job::PrivacyRetention)];

/// Moves due timers into apalis. Each timer row is deleted in the same transaction that enqueues its
/// job, so with several processes pumping, a timer is enqueued exactly once.
pub async fn pump_due_timers(db: &Db, now_ms: i64) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let due: Vec<(String,)> = on_tx!(&mut tx, c => sqlx::query_as(
        "DELETE FROM timers WHERE id IN (SELECT id FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT 500) RETURNING job")
        .bind(now_ms).fetch_all(c).await)?;
    let mut jobs = Vec::with_capacity(due.len());
    for (payload,) in &due {
        match serde_json::from_str::<Job>(payload) {
            Ok(job) => jobs.push(job),
            Err(e) => tracing::error!(error = %e, "dropping a timer whose job no longer parses"),
        }
    }
    // Daily work: whichever process moves the schedule on enqueues the run, in this transaction.
    for (name, every_ms, job) in SCHEDULES {
        let claimed = on_tx!(&mut tx, c => sqlx::query("UPDATE schedules SET next_at = $1 WHERE name = $2 AND next_at <= $3")
            .bind(now_ms + every_ms).bind(name).bind(now_ms).execute(c).await.map(|r| r.rows_affected()))?;
        if claimed == 1 {
            jobs.push(job);
        }
    }
    tx.push_jobs(&jobs).await?;
    tx.commit().await?;
    Ok(due.len())
}

/// Where the background work stands. Tests use it to check that no work is left behind; operators
/// can read it as the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    /// Queued or running in apalis (including failed runs that will be retried).
    pub queued: i64,
    /// Waiting in `timers` for their time on the app clock.
    pub scheduled: i64,
    /// Given up on after every attempt.
    pub dead: i64,
}

pub async fn counts(db: &Db) -> anyhow::Result<JobCounts> {
    let apalis_table = match db {
        Db::Sqlite(_) => "Jobs",
        Db::Postgres(_) => "apalis.jobs",
    };
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN status IN ('Pending', 'Queued', 'Running') \
           OR (status = 'Failed' AND attempts < max_attempts) THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts) THEN 1 ELSE 0 END), 0) \
         FROM {apalis_table}"
    );
    let (queued, dead): (i64, i64) = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(c).await)?;
    let scheduled: i64 = on_db!(db, c => sqlx::query_scalar("SELECT COUNT(*) FROM timers").fetch_one(c).await)?;
    Ok(JobCounts { queued, scheduled, dead })
}

async fn handle(job: Job, state: Data<AppState>) -> Result<(), BoxDynError> {
    let result = match &job {
        Job::Webhooks { webhook_ids } => crate::shopify::webhooks::process_all(&state, webhook_ids).await,
        Job::StartVerification { order_id } => crate::verification::start(&state, order_id).await,
        Job::ReconcileCall { attempt_id } => crate::verification::ivr::reconcile(&state, attempt_id).await,
        Job::ReconcileSms { sms_id } => crate::verification::fallback::reconcile_sms(&state, sms_id).await,
        Job::FallbackStep { order_id, step } => crate::verification::fallback::step(&state, order_id, *step).await,
        Job::SyncOrder { order_id, tags, cancel, failures } => crate::verification::sync_order(&state, order_id, tags, *cancel, *failures).await,
        Job::PrivacyRetention => crate::compliance::erase_expired(&state).await.map(|_| ()),
    };
    if let Err(e) = &result {
        tracing::warn!(?job, error = %e, "job failed; apalis will run it again");
    }
    result.map_err(|e| e.into_boxed_dyn_error())
}

/// Runs the apalis workers and the timer pump until `shutdown` resolves; in-flight jobs finish first.
/// Each queue's worker runs in a task of its own and is started again if it ever stops on an error.
pub async fn run_workers(state: AppState, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let worker_id = format!("{}-{}", std::process::id(), &new_id()[..8]);
    let pump = tokio::spawn(run_pump(state.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dialer = tokio::spawn(crate::verification::dialer::run(state.clone(), stop_rx.clone()));
    let mut workers = Vec::new();
    for queue in QUEUES {
        let name = format!("{queue}-{worker_id}");
        workers.push(tokio::spawn(run_queue(state.clone(), queue, name, stop_rx.clone())));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = dialer.await;
    pump.abort();
    Ok(())
}

async fn run_queue(state: AppState, queue: &'static str, base_name: String, stop: tokio::sync::watch::Receiver<bool>) {
    for start in 0u64.. {
        // Each start registers under a new name: jobs the stopped worker had taken (a dropped
        // connection can stop it between taking a job and recording its result) stay locked by the
        // old name, and apalis gives them to a live worker once that name misses its heartbeats.
        // Under the old name they would stay locked for good, the restarted worker never dead.
        let name = if start == 0 { base_name.clone() } else { format!("{base_name}-r{start}") };
        let mut stop_signal = stop.clone();
        let signal = async move { stop_signal.wait_for(|s| *s).await.map(|_| ()).map_err(|e| std::io::Error::other(e)) };
        let result = match &state.db {
            Db::Sqlite(pool) => {
                // apalis' SQLite worker can miss a wake-up and sit idle with work queued until its
                // next heartbeat; a 2 s heartbeat bounds that pause (see README, "Known limits").
                let storage = SqliteStorage::<Job>::new(pool)
                    .with_config(apalis_sqlite::Config::default().queue(queue).heartbeat_interval(Duration::from_secs(2)))
                    .poll_with_strategy(Strategy::new().stream(job_nudges()).interval(Duration::from_millis(200)));
                WorkerBuilder::new(name.clone()).backend(storage).data(state.clone()).concurrency(8).build(handle).run_until(signal).await
            }
            Db::Postgres(pool) => {
                // LISTEN/NOTIFY picks new work up at once; the interval catches anything pushed
                // while the listener was (re)connecting.
                let strategy = Strategy::new()
                    .stream(apalis_postgres::Pubsub::new(pool.clone(), queue.to_string()))
                    .interval(Duration::from_millis(500));
                // Orphaned jobs (see above) are taken back after 5 missed 3 s heartbeats.
                let config = apalis_postgres::Config::default().queue(queue).heartbeat_interval(Duration::from_secs(3)).missed_heartbeats(5);
                let storage = PostgresStorage::<Job>::new(pool)
                    .with_config(config)
                    .poll_with_strategy(strategy);
                WorkerBuilder::new(name.clone()).backend(storage).data(state.clone()).concurrency(8).build(handle).run_until(signal).await
            }
        };
        if *stop.borrow() {
            return;
        }
        // A worker whose polling failed (a busy database, a dropped connection) is started again:
        // queued work must never wait for a process restart.
        tracing::warn!(worker = %name, result = ?result.err(), "job worker stopped; restarting it");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn run_pump(state: AppState) {
    let mut advanced = state.clock.subscribe();
    loop {
        if let Err(e) = pump_due_timers(&state.db, state.clock.now_ms()).await {
            tracing::warn!(error = %e, "timer pump failed; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = advanced.changed() => {}
        }
    }
}
