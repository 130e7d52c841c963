//! `POST /webhooks/shopify`: HMAC first, then a durable write, then 200; the work runs in jobs,
//! except `app/uninstalled` and `orders/cancelled`, which take effect in the write's transaction.
//!
//! Deliveries are written by one writer task per process that groups whatever arrived together into
//! one transaction (group commit): every delivery is on disk before its 200, and the fsync is paid
//! once per batch instead of once per request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::crypto::Cipher;
use crate::db::{Db, Tx, new_id};
use crate::domain::ShopDomain;
use crate::jobs::Job;
use crate::web::error::{AppError, AppResult};
use crate::{App, AppState, on_db, on_tx, verification};

/// Largest accepted delivery. Big orders with hundreds of line items stay well below it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Topics this app acts on; anything else is acknowledged and dropped.
const TOPICS: [&str; 6] = [
    "orders/create",
    "orders/cancelled",
    "app/uninstalled",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
];

/// What a delivery does before its 200, in the transaction that stores it (SPEC §11): once
/// Shopify says the app is gone or the order is cancelled, nothing due meanwhile may still go out.
pub enum Immediate {
    Uninstall,
    /// The `orders/cancelled` body.
    CancelOrder(serde_json::Value),
}

impl Immediate {
    /// For the topics that act at once: `Ok(None)` for the others, `Err` for a body that is not JSON.
    fn of(topic: &str, body: &str) -> Result<Option<Immediate>, serde_json::Error> {
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

/// What the writer needs to act on the deliveries that take effect before their 200.
#[derive(Clone)]
struct Effects {
    cipher: Cipher,
    clock: Clock,
}

impl Intake {
    pub fn start(db: Db, cipher: Cipher, clock: Clock) -> Self {
        let effects = Effects { cipher, clock };
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
    let acted = match what {
        Immediate::Uninstall => uninstalled(tx, &hook.shop_domain, delivered_at(hook.triggered_at.as_deref(), hook.received_at), now).await,
        Immediate::CancelOrder(body) => verification::intake::order_cancelled(&effects.cipher, tx, &hook.shop_domain, body, now).await,
    };
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
    // The body holds customer data; once acted on it is not kept.
    on_tx!(tx, c => sqlx::query("UPDATE webhooks SET processed_at = $1, outcome = $2, body = '', body_enc = NULL WHERE id = $3")
        .bind(now).bind(&outcome).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
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

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // Newer "events" deliveries use lower-case `shopify-*` names; accept both.
    let short = name.strip_prefix("X-").unwrap_or(name);
    headers
        .get(name)
        .or_else(|| headers.get(short))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> AppResult<StatusCode> {
    let Some(shopify) = state.shopify.as_ref() else {
        return Err(AppError::NotFound);
    };
    let valid = header(&headers, "X-Shopify-Hmac-Sha256").is_some_and(|h| crate::crypto::verify_hmac_base64(shopify.secret(), &body, h));
    if !valid {
        return Err(AppError::unauthorized("invalid webhook HMAC"));
    }
    let topic = header(&headers, "X-Shopify-Topic").ok_or_else(|| AppError::bad_request("missing X-Shopify-Topic"))?;
    if !TOPICS.contains(&topic) {
        tracing::debug!(topic, "ignoring a webhook topic this app does not use");
        return Ok(StatusCode::OK);
    }
    let shop = header(&headers, "X-Shopify-Shop-Domain")
        .ok_or_else(|| AppError::bad_request("missing X-Shopify-Shop-Domain"))
        .and_then(|s| ShopDomain::parse(s).map_err(AppError::BadRequest))?;
    if !shopify.serves(&shop) {
        return Err(AppError::unauthorized("these credentials sign for the demo shop alone"));
    }
    let webhook_id = header(&headers, "X-Shopify-Webhook-Id")
        .or_else(|| header(&headers, "X-Shopify-Event-Id"))
        .ok_or_else(|| AppError::bad_request("missing X-Shopify-Webhook-Id"))?;
    if webhook_id.len() > 255 {
        return Err(AppError::bad_request("X-Shopify-Webhook-Id is too long"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| AppError::bad_request("body is not UTF-8"))?;
    // Validated without building a tree: the job parses it properly later.
    let is_object = text.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    if !is_object {
        return Err(AppError::bad_request("body is not a JSON object"));
    }
    let immediate = Immediate::of(topic, text).map_err(|_| AppError::bad_request("body is not a JSON object"))?;
    let hook = NewWebhook {
        webhook_id: webhook_id.to_string(),
        topic: topic.to_string(),
        shop_domain: shop.to_string(),
        api_version: header(&headers, "X-Shopify-API-Version").map(str::to_string),
        triggered_at: header(&headers, "X-Shopify-Triggered-At").map(str::to_string),
        body_enc: seal_body(&state.cipher, &body),
        received_at: state.clock.now_ms(),
        immediate,
    };
    state.intake.submit(hook).await.map_err(AppError::Unavailable)?;
    Ok(StatusCode::OK)
}

/// Compressed (JSON shrinks to about a third, and so do the write-ahead log and its fsyncs), then
/// encrypted.
pub fn seal_body(cipher: &crate::crypto::Cipher, body: &[u8]) -> Vec<u8> {
    cipher.encrypt_bytes(&lz4_flex::compress_prepend_size(body))
}

fn open_body(cipher: &crate::crypto::Cipher, sealed: &[u8]) -> anyhow::Result<String> {
    let packed = cipher.decrypt_bytes(sealed)?;
    let raw = lz4_flex::decompress_size_prepended(&packed)?;
    Ok(String::from_utf8(raw)?)
}

#[derive(sqlx::FromRow)]
struct StoredWebhook {
    topic: String,
    shop_domain: String,
    body: String,
    body_enc: Option<Vec<u8>>,
    triggered_at: Option<String>,
    received_at: i64,
    processed_at: Option<i64>,
}

/// The job: acts on each stored delivery of a batch, in order. Every delivery is done (or skipped
/// as already done) on its own, so a re-run after a failure repeats nothing.
pub async fn process_all(app: &App, ids: &[String]) -> anyhow::Result<()> {
    let mut first_error = None;
    for id in ids {
        if let Err(e) = process(app, id).await {
            tracing::warn!(webhook = %id, error = %e, "webhook processing failed");
            first_error.get_or_insert(e);
        }
    }
    // New orders may have queued calls that are due now.
    verification::dialer::wake();
    first_error.map_or(Ok(()), Err)
}

/// Acts on one stored delivery, once. The effect and the "processed" mark commit together.
async fn process(app: &App, id: &str) -> anyhow::Result<()> {
    let row: Option<StoredWebhook> = on_db!(&app.db, c => sqlx::query_as(
        "SELECT topic, shop_domain, body, body_enc, triggered_at, received_at, processed_at FROM webhooks WHERE id = $1")
        .bind(id).fetch_optional(c).await)?;
    let Some(hook) = row else { return Ok(()) };
    if hook.processed_at.is_some() {
        return Ok(());
    }
    // Deliveries stored before encryption at rest kept their body in the clear.
    let text = match &hook.body_enc {
        Some(sealed) => open_body(&app.cipher, sealed)?,
        None => hook.body.clone(),
    };
    let mut body: serde_json::Value = serde_json::from_str(&text)?;
    // PostgreSQL text cannot hold NUL; a `\u0000` in a customer's note or name is dropped.
    strip_nul(&mut body);
    let mut tx = app.db.begin().await?;
    let now = app.clock.now_ms();
    let outcome = match hook.topic.as_str() {
        "orders/create" => verification::intake::take_order(app, &mut tx, &hook.shop_domain, &body).await?,
        "orders/cancelled" => verification::intake::order_cancelled(&app.cipher, &mut tx, &hook.shop_domain, &body, now).await?,
        "app/uninstalled" => uninstalled(&mut tx, &hook.shop_domain, delivered_at(hook.triggered_at.as_deref(), hook.received_at), now).await?,
        "customers/data_request" => crate::compliance::data_request(&mut tx, &app.cipher, &hook.shop_domain, &body, now).await?,
        "customers/redact" => crate::compliance::customer_redact(&mut tx, &app.cipher, &hook.shop_domain, &body, now).await?,
        "shop/redact" => crate::compliance::shop_redact(&mut tx, &hook.shop_domain).await?,
        other => format!("ignored: topic {other}"),
    };
    // The body holds customer data; once acted on it is not kept.
    on_tx!(&mut tx, c => sqlx::query("UPDATE webhooks SET processed_at = $1, outcome = $2, body = '', body_enc = NULL WHERE id = $3")
        .bind(now).bind(&outcome).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    tracing::info!(topic = %hook.topic, shop = %hook.shop_domain, %outcome, "webhook processed");
    Ok(())
}

fn strip_nul(v: &mut serde_json::Value) {
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

/// When a delivery happened: when Shopify says it was triggered (a retry arrives hours later), or
/// when it arrived, whichever is earlier.
fn delivered_at(triggered_at: Option<&str>, received_at: i64) -> i64 {
    triggered_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(received_at, |t| t.timestamp_millis().min(received_at))
}

/// Stops the shop's pending work at once and forgets its token. Idempotent, and harmless when the
/// delivery is older than a re-install that followed it.
async fn uninstalled(tx: &mut Tx, shop_domain: &str, delivered_at: i64, now: i64) -> anyhow::Result<String> {
    let shop: Option<(String, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, installed_at FROM shops WHERE domain = $1").bind(shop_domain).fetch_optional(c).await)?;
    let Some((shop_id, installed_at)) = shop else {
        return Ok("ignored: unknown shop".into());
    };
    if installed_at.is_some_and(|at| at > delivered_at) {
        return Ok("ignored: the shop re-installed after this delivery".into());
    }
    on_tx!(tx, c => sqlx::query(
        "UPDATE shops SET status = 'uninstalled', access_token_enc = NULL, access_token_expires_at = NULL, \
         refresh_token_enc = NULL, refresh_token_expires_at = NULL, token_refresh_lease_until = NULL, \
         uninstalled_at = COALESCE(uninstalled_at, $1), updated_at = $1 WHERE id = $2")
        .bind(now).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
    let stopped = crate::verification::stop_pending(tx, &shop_id, None, now).await?;
    Ok(format!("uninstalled; {stopped} scheduled calls and jobs stopped"))
}

#[cfg(test)]
mod tests {
    use super::delivered_at;

    #[test]
    fn a_delivery_dates_from_its_trigger_when_earlier() {
        let received = 1_764_950_400_000; // 2025-12-05T16:00:00Z
        assert_eq!(delivered_at(Some("2025-12-05T15:59:00.877041743Z"), received), received - 59_123);
        assert_eq!(delivered_at(Some("2025-12-05T16:00:30Z"), received), received, "a clock ahead of ours changes nothing");
        assert_eq!(delivered_at(Some("yesterday"), received), received);
        assert_eq!(delivered_at(None, received), received);
    }
}
