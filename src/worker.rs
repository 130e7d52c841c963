//! The worker registry, on top of everything: which workflow runs each [`Job`], the apalis workers
//! of each queue, the timer pump and the dialer. The queue's mechanics are `db::queue`.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;

use crate::app::App;
use crate::db::queue::{Job, QUEUES, job_nudges, pump_due_timers};
use crate::db::{Db, new_id};

type AppState = Arc<App>;

async fn handle(job: Job, state: Data<AppState>) -> Result<(), BoxDynError> {
    let result = match &job {
        Job::Webhooks { webhook_ids } => crate::inbox::process_all(&state, webhook_ids).await,
        Job::StartVerification { order_id } => crate::verification::start(&state, order_id).await,
        Job::ReconcileCall { attempt_id } => crate::verification::ivr::reconcile(&state, attempt_id).await,
        Job::PriceCall { shop_id, attempt_id, tries } => crate::verification::ivr::price_call(&state, shop_id, attempt_id, *tries).await,
        Job::ReconcileSms { sms_id } => crate::verification::sms::reconcile_sms(&state, sms_id).await,
        Job::FallbackStep { order_id, .. } | Job::AdvancePlan { order_id } => crate::verification::runner::advance_job(&state, order_id).await,
        Job::CancelUnanswered { order_id } => crate::verification::runner::cancel_unanswered(&state, order_id).await,
        Job::EscalateOtp { order_id } => crate::verification::runner::escalate_otp(&state, order_id).await,
        Job::SyncOrder { order_id, tags, cancel, failures } => crate::verification::sync_order(&state, order_id, tags, *cancel, *failures).await,
        Job::UpdateAddress { order_id, correction_id, failures } => {
            crate::verification::address::update_in_shopify(&state, order_id, correction_id, *failures).await
        }
        Job::SyncHold { order_id, failures } => crate::verification::hold::sync_hold(&state, order_id, *failures).await,
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
    let dialer = tokio::spawn(crate::verification::dialer::run(state.clone(), Arc::new(crate::verification::Channels), stop_rx.clone()));
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
        let signal = async move { stop_signal.wait_for(|s| *s).await.map(|_| ()).map_err(std::io::Error::other) };
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
