//! The job queue's mechanics. apalis runs the jobs; what is due *when* is decided by the app's
//! clock: a job for later waits in the `timers` table, and a pump moves it into apalis once the app
//! clock says it is due (apalis alone would ask the database's clock, which `TEST_CLOCK` cannot
//! move). [`Job`] is plain data here, so workflows can enqueue work without knowing who runs it;
//! `crate::worker` maps each job to its workflow.

use std::sync::{LazyLock, Mutex};

use apalis::prelude::*;
use futures::channel::mpsc;
use serde::{Deserialize, Serialize};

use crate::db::{Db, Tx, TxInner, new_id};
use crate::{on_db, on_tx};

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
    /// Ask Exotel's Call details for the price of an answered call its status report left
    /// unpriced (Exotel fills it in minutes after the call). `tries`: lookups so far that found none.
    PriceCall {
        shop_id: String,
        attempt_id: String,
        #[serde(default)]
        tries: u32,
    },
    /// The n-th step of an order's SMS fallback, as earlier versions queued it: now it runs the
    /// order's plan (`AdvancePlan`), whatever `step` says.
    FallbackStep { order_id: String, step: i64 },
    /// A wait of an order's verification plan is over: decide and make its next move.
    AdvancePlan { order_id: String },
    /// An order that ended `no_response` is cancelled in Shopify unless an answer came since
    /// (`plan.no_response_action` "cancel").
    CancelUnanswered { order_id: String },
    /// The checkout code of an OTP order was not entered in time: the plan's steps begin
    /// (`otp.escalate_after_minutes`).
    EscalateOtp { order_id: String },
    /// Write an outcome to the Shopify order: add tags, and cancel it when asked. `failures`: how
    /// many times Shopify was unavailable for it so far (its retries wait longer each time).
    SyncOrder {
        order_id: String,
        tags: Vec<String>,
        cancel: bool,
        #[serde(default)]
        failures: u32,
    },
    /// Write the shipping address the shopper corrected (`address_corrections` row
    /// `correction_id`, sealed there: never in a job) to the Shopify order with `orderUpdate`.
    /// `failures`: how many times Shopify was unavailable for it so far.
    UpdateAddress {
        order_id: String,
        correction_id: String,
        #[serde(default)]
        failures: u32,
    },
    /// Make the order's fulfillment holds in Shopify match its status: held while it is not
    /// confirmed, released once it is. `failures`: retries so far (Shopify unavailable, or no
    /// fulfillment orders yet); each waits longer.
    SyncHold {
        order_id: String,
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
            Job::StartVerification { .. } | Job::ReconcileCall { .. } | Job::ReconcileSms { .. } | Job::PriceCall { .. } | Job::FallbackStep { .. }
            | Job::AdvancePlan { .. }
            | Job::CancelUnanswered { .. }
            | Job::EscalateOtp { .. } => QUEUES[1],
            // Housekeeping shares the Shopify queue: it must never hold up a call.
            Job::SyncOrder { .. } | Job::UpdateAddress { .. } | Job::SyncHold { .. } | Job::PrivacyRetention => QUEUES[2],
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("jobs serialize")
    }
}

/// Max runs of one job before apalis gives up on it. Handlers treat external failures themselves
/// (scheduling a later retry), so a returned error means something local and usually brief.
pub const MAX_ATTEMPTS: usize = 5;

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

    /// Schedules `job` for an order at `due_at_ms`, in place of the same job already scheduled for it
    /// (a plan's wait is re-decided after every event; only the latest decision stands).
    pub async fn reschedule(&mut self, job: &Job, shop_id: &str, order_id: &str, due_at_ms: i64, now_ms: i64) -> anyhow::Result<()> {
        let payload = serde_json::to_string(job)?;
        on_tx!(self, exec c => sqlx::query("DELETE FROM timers WHERE shop_id = $1 AND order_id = $2 AND job = $3")
            .bind(shop_id).bind(order_id).bind(&payload))?;
        self.schedule(job, shop_id, Some(order_id), due_at_ms, now_ms).await
    }

    /// Drops every scheduled job of an order (cancelled elsewhere) or of a whole shop (uninstalled).
    pub async fn cancel_timers(&mut self, shop_id: &str, order_id: Option<&str>) -> anyhow::Result<u64> {
        let n = match order_id {
            Some(o) => on_tx!(self, exec c => sqlx::query("DELETE FROM timers WHERE shop_id = $1 AND order_id = $2")
                .bind(shop_id).bind(o))?,
            None => on_tx!(self, exec c => sqlx::query("DELETE FROM timers WHERE shop_id = $1")
                .bind(shop_id))?,
        };
        Ok(n)
    }
}

/// Workers of this process waiting to hear that jobs were committed: a nudge after each commit that
/// enqueued jobs lets the SQLite workers pick them up at once instead of at their next poll
/// (PostgreSQL gets the same from LISTEN/NOTIFY).
static WAITING_WORKERS: LazyLock<Mutex<Vec<mpsc::UnboundedSender<()>>>> = LazyLock::new(Default::default);

pub fn job_nudges() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded();
    WAITING_WORKERS.lock().expect("lock poisoned").push(tx);
    rx
}

pub fn wake_workers() {
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
        let claimed = on_tx!(&mut tx, exec c => sqlx::query("UPDATE schedules SET next_at = $1 WHERE name = $2 AND next_at <= $3")
            .bind(now_ms + every_ms).bind(name).bind(now_ms))?;
        if claimed == 1 {
            jobs.push(job);
        }
    }
    tx.push_jobs(&jobs).await?;
    tx.commit().await?;
    Ok(due.len())
}

/// The next time after `now_ms` when a queued call, SMS or WhatsApp message or a timer is due.
pub async fn next_due_after(db: &Db, now_ms: i64) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, c => sqlx::query_scalar(
        "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM call_attempts WHERE state = 'queued' AND due_at > $1 \
         UNION ALL SELECT MIN(due_at) FROM sms_messages WHERE state = 'queued' AND due_at > $1 \
         UNION ALL SELECT MIN(due_at) FROM whatsapp_messages WHERE state = 'queued' AND due_at > $1 \
         UNION ALL SELECT MIN(due_at) FROM timers WHERE due_at > $1) nexts")
        .bind(now_ms).fetch_one(c).await)
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

