//! The webhook inbox: stored Shopify deliveries, and the group-commit writer that stores them.
//!
//! Deliveries are written by one writer task per process that groups whatever arrived together into
//! one transaction (group commit): every delivery is on disk before its 200, and the fsync is paid
//! once per batch instead of once per request. What a delivery does is the workflow's
//! (`crate::inbox`); the writer calls it through [`ImmediateEffects`] for the topics that act at once.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::crypto::Cipher;
use crate::db::queue::Job;
use crate::db::{Db, Tx, new_id};
use crate::{on_db, on_tx};

/// What a delivery does before its 200, in the transaction that stores it (SPEC §11): once
/// Shopify says the app is gone or the order is cancelled, nothing due meanwhile may still go out.
pub enum Immediate {
    Uninstall,
    /// The `orders/cancelled` body.
    CancelOrder(serde_json::Value),
}

impl Immediate {
    /// For the topics that act at once: `Ok(None)` for the others, `Err` for a body that is not JSON.
    pub fn of(topic: &str, body: &str) -> Result<Option<Immediate>, serde_json::Error> {
        Ok(match topic {
            "app/uninstalled" => Some(Immediate::Uninstall),
            "orders/cancelled" => {
                let mut v: serde_json::Value = serde_json::from_str(body)?;
                strip_nul(&mut v);
                Some(Immediate::CancelOrder(v))
            }
            _ => None,
        })
    }
}

pub struct NewWebhook {
    pub webhook_id: String,
    pub topic: String,
    pub shop_domain: String,
    pub api_version: Option<String>,
    pub triggered_at: Option<String>,
    /// The body sealed by [`seal_body`]: it holds the customer's name, address and phone.
    pub body_enc: Vec<u8>,
    pub received_at: i64,
    pub immediate: Option<Immediate>,
}

type Reply = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct Intake(mpsc::Sender<(NewWebhook, Reply)>);

/// 256 rows × 8 parameters stays far below SQLite's and PostgreSQL's parameter limits.
const MAX_BATCH: usize = 256;

/// What an [`Immediate`] delivery does, inside the writer's transaction: the outcome to record.
/// Implemented by the webhook workflow (`crate::inbox`) above this layer.
pub trait ImmediateEffects: Send + Sync + 'static {
    fn act<'a>(&'a self, tx: &'a mut Tx, hook: &'a NewWebhook, what: &'a Immediate, now: i64) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// What the writer needs to act on the deliveries that take effect before their 200.
#[derive(Clone)]
struct Effects {
    effects: Arc<dyn ImmediateEffects>,
    clock: Clock,
}

impl Intake {
    /// Starts the writer tasks; `effects` acts on the deliveries that take effect before their 200.
    pub fn start(db: Db, clock: Clock, effects: Arc<dyn ImmediateEffects>) -> Self {
        let effects = Effects { effects, clock };
        let (tx, rx) = mpsc::channel::<(NewWebhook, Reply)>(4 * MAX_BATCH);
        // SQLite has one writer; PostgreSQL commits concurrent transactions in parallel, so a few
        // writers overlap their round trips.
        let writers = match db {
            Db::Sqlite(_) => 1,
            Db::Postgres(_) => 4,
        };
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..writers {
            let (db, rx, effects) = (db.clone(), rx.clone(), effects.clone());
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(MAX_BATCH);
                loop {
                    if rx.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
                        return;
                    }
                    let (hooks, replies): (Vec<NewWebhook>, Vec<Reply>) = batch.drain(..).unzip();
                    let mut result = store_batch(&db, &effects, &hooks).await;
                    // A deadlock or serialization failure is PostgreSQL asking for a retry.
                    for _ in 0..3 {
                        match &result {
                            Err(e) if is_retryable(e) => result = store_batch(&db, &effects, &hooks).await,
                            _ => break,
                        }
                    }
                    let result = result.map_err(|e| {
                        tracing::error!(error = %e, count = hooks.len(), "could not store webhooks; Shopify will redeliver");
                        e.to_string()
                    });
                    for r in replies {
                        let _ = r.send(result.clone());
                    }
                }
            });
        }
        Intake(tx)
    }

    /// Returns once the delivery is committed (or known to be a repeat of a committed one).
    pub async fn submit(&self, hook: NewWebhook) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.0.send((hook, tx)).await.map_err(|_| "shutting down".to_string())?;
        rx.await.map_err(|_| "shutting down".to_string())?
    }
}

/// Stores a batch in one transaction with one multi-row INSERT, acts on the new deliveries that
/// take effect at once ([`Immediate`]) in the same transaction, and enqueues one job for the other
/// new ones. Repeats (same webhook id, in this batch or before) are acknowledged but start nothing.
async fn store_batch(db: &Db, effects: &Effects, hooks: &[NewWebhook]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<&NewWebhook> = hooks.iter().filter(|h| seen.insert(h.webhook_id.as_str())).collect();
    // Parallel writers take the webhook ids' index locks in one global order, so two batches
    // holding the same repeated deliveries cannot deadlock on PostgreSQL.
    unique.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    let rows: Vec<(String, &NewWebhook)> = unique.into_iter().map(|h| (new_id(), h)).collect();
    let mut tx = db.begin().await?;
    let mut inserted = std::collections::HashSet::with_capacity(rows.len());
    // Chunks of 128, 64, …, 1 rows on SQLite: a handful of distinct statements, each prepared once
    // and cached. PostgreSQL plans wide multi-row statements slowly (measured: a third of the
    // throughput), so there each row is its own statement and parallel writers overlap the trips.
    let widest = match db {
        Db::Sqlite(_) => MAX_BATCH / 2,
        Db::Postgres(_) => 1,
    };
    let mut rest = rows.as_slice();
    while !rest.is_empty() {
        let n = 1usize << rest.len().min(widest).ilog2();
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let sql = insert_sql(n);
        let ids: Vec<String> = on_tx!(&mut tx, c => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for (id, h) in chunk {
                q = q.bind(id).bind(&h.webhook_id).bind(&h.topic).bind(&h.shop_domain).bind(&h.api_version)
                    .bind(&h.triggered_at).bind(&h.body_enc).bind(h.received_at);
            }
            q.fetch_all(c).await
        })?;
        inserted.extend(ids);
    }
    let mut for_job = Vec::with_capacity(inserted.len());
    for (id, h) in rows.iter().filter(|(id, _)| inserted.contains(id)) {
        let done = match &h.immediate {
            Some(what) => act_now(&mut tx, effects, id, h, what).await?,
            None => false,
        };
        if !done {
            for_job.push(id.clone());
        }
    }
    if !for_job.is_empty() {
        tx.push_jobs(&[Job::Webhooks { webhook_ids: for_job }]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Acts on an [`Immediate`] delivery inside the writer's transaction and marks it processed.
/// Returns false, having changed nothing, when the delivery itself is at fault (the job then
/// records why, as for any other topic); a database that failed fails the batch, which is retried
/// and otherwise answered 503, so Shopify redelivers.
async fn act_now(tx: &mut Tx, effects: &Effects, id: &str, hook: &NewWebhook, what: &Immediate) -> anyhow::Result<bool> {
    on_tx!(tx, c => sqlx::query("SAVEPOINT act_now").execute(c).await.map(|_| ()))?;
    let now = effects.clock.now_ms();
    let acted = effects.effects.act(tx, hook, what, now).await;
    let outcome = match acted {
        Ok(outcome) => outcome,
        Err(e) if is_connection_or_retry(&e) => return Err(e),
        Err(e) => {
            tracing::warn!(topic = %hook.topic, shop = %hook.shop_domain, error = %e, "left for the webhook job");
            on_tx!(tx, c => sqlx::query("ROLLBACK TO SAVEPOINT act_now").execute(c).await.map(|_| ()))?;
            on_tx!(tx, c => sqlx::query("RELEASE SAVEPOINT act_now").execute(c).await.map(|_| ()))?;
            return Ok(false);
        }
    };
    mark_processed(tx, id, &outcome, now).await?;
    on_tx!(tx, c => sqlx::query("RELEASE SAVEPOINT act_now").execute(c).await.map(|_| ()))?;
    tracing::info!(topic = %hook.topic, shop = %hook.shop_domain, %outcome, "webhook acted on before its 200");
    Ok(true)
}

/// A failure of the database rather than of the statement: a lost connection, a deadlock or a
/// serialization failure. The batch is retried; a constraint or data error is the delivery's.
fn is_connection_or_retry(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<sqlx::Error>() {
        None => false,
        Some(sqlx::Error::Database(_)) => is_retryable(e),
        Some(_) => true,
    }
}

fn is_retryable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// `INSERT … VALUES ($1, …, $8), …` for `rows` deliveries.
fn insert_sql(rows: usize) -> String {
    const COLUMNS: usize = 8;
    // `body` (plaintext, before encryption at rest) stays empty.
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
            format!("({}, '', {})", p[..6].join(", "), p[6..].join(", "))
        })
        .collect();
    format!(
        "INSERT INTO webhooks (id, webhook_id, topic, shop_domain, api_version, triggered_at, body, body_enc, received_at) \
         VALUES {} ON CONFLICT (webhook_id) DO NOTHING RETURNING id",
        values.join(", ")
    )
}

/// Marks a stored delivery processed with its outcome. The body holds customer data; once acted on
/// it is not kept.
pub async fn mark_processed(tx: &mut Tx, id: &str, outcome: &str, now: i64) -> anyhow::Result<()> {
    on_tx!(tx, exec c => sqlx::query("UPDATE webhooks SET processed_at = $1, outcome = $2, body = '', body_enc = NULL WHERE id = $3")
        .bind(now).bind(outcome).bind(id))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct StoredWebhook {
    pub topic: String,
    pub shop_domain: String,
    pub body: String,
    pub body_enc: Option<Vec<u8>>,
    pub triggered_at: Option<String>,
    pub received_at: i64,
    pub processed_at: Option<i64>,
}

/// One stored delivery, if it exists.
pub async fn load(db: &Db, id: &str) -> Result<Option<StoredWebhook>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as(
        "SELECT topic, shop_domain, body, body_enc, triggered_at, received_at, processed_at FROM webhooks WHERE id = $1")
        .bind(id).fetch_optional(c).await)
}

/// Compressed (JSON shrinks to about a third, and so do the write-ahead log and its fsyncs), then
/// encrypted.
pub fn seal_body(cipher: &Cipher, body: &[u8]) -> Vec<u8> {
    cipher.encrypt_bytes(&lz4_flex::compress_prepend_size(body))
}

pub fn open_body(cipher: &Cipher, sealed: &[u8]) -> anyhow::Result<String> {
    let packed = cipher.decrypt_bytes(sealed)?;
    let raw = lz4_flex::decompress_size_prepended(&packed)?;
    Ok(String::from_utf8(raw)?)
}

/// PostgreSQL text cannot hold NUL; a `\\u0000` in a customer's note or name is dropped.
pub fn strip_nul(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => s.retain(|c| c != '\0'),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul),
        serde_json::Value::Object(m) => {
            if m.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(m);
                m.extend(old.into_iter().map(|(k, v)| (k.replace('\0', ""), v)));
            }
            m.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

