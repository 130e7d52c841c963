//! One storage layer over SQLite or PostgreSQL, chosen from `DATABASE_URL`.
//!
//! Queries are written once, with `$1`-style parameters that both drivers accept, and run through
//! [`on_db!`] / [`on_tx!`], which expand the same code for whichever pool is in use. The schema in
//! `migrations/` uses only portable SQL (TEXT ids made by the app, BIGINT unix milliseconds in UTC,
//! BOOLEAN), so one set of migrations serves both databases.

pub mod addresses;
pub mod agent_calls;
pub mod attempts;
pub mod contacts;
pub mod costs;
pub mod data_requests;
pub mod erasure;
pub mod events;
pub mod holds;
pub mod inbox;
pub mod links;
pub mod missed_calls;
pub mod orders;
pub mod otps;
pub mod outbox;
pub mod outcome_days;
pub mod outcomes;
pub mod pii;
pub mod queue;
pub mod rates;
pub mod reports;
pub mod review;
pub mod shops;
pub mod sms;
pub mod whatsapp;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on either database. `pushed_jobs` records whether jobs were enqueued in it, so
/// that the job workers can be woken once it commits.
pub struct Tx {
    pub(crate) inner: TxInner,
    pub(crate) pushed_jobs: bool,
}

pub enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$c` bound to the pool of whichever database is configured. The `exec` form
/// executes the statement `$q` and gives the number of rows it changed.
#[macro_export]
macro_rules! on_db {
    ($db:expr, exec $c:ident => $q:expr) => {
        $crate::on_db!($db, $c => $q.execute($c).await.map(|r| r.rows_affected()))
    };
    ($db:expr, $c:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($c) => $body,
            $crate::db::Db::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection (`&mut …Connection`). The `exec`
/// form executes the statement `$q` and gives the number of rows it changed.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, exec $c:ident => $q:expr) => {
        $crate::on_tx!($tx, $c => $q.execute($c).await.map(|r| r.rows_affected()))
    };
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut ($tx).inner {
            $crate::db::TxInner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::TxInner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the webhook is acknowledged. Webhook intake groups
                // commits, so the fsync cost is paid once per batch, not once per request.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "MEMORY")
                // Erased customer data (redaction, retention) is overwritten with zeros instead of
                // lingering in free pages and free space of the database file.
                .pragma("secure_delete", "ON");
            if let Some(dir) = std::path::Path::new(opts.get_filename()).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies the app's migrations and apalis' job tables. Safe to run from several processes at
    /// once on PostgreSQL (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut app = sqlx::migrate!("./migrations");
        // apalis-sqlite uses sqlx's default table; ours gets its own so the two histories don't clash.
        app.dangerous_set_table_name("codverify_migrations");
        match self {
            Db::Sqlite(pool) => {
                app.run(pool).await?;
                // Not `SqliteStorage::setup`: it would switch this pool to `synchronous = OFF`.
                apalis_sqlite::SqliteStorage::migrations().run(pool).await?;
            }
            Db::Postgres(pool) => {
                app.run(pool).await?;
                apalis_postgres::PostgresStorage::migrations().run(pool).await?;
                // Webhook bodies arrive compressed and encrypted: PostgreSQL's own compression
                // could only waste CPU on them. (PostgreSQL-only storage setting; idempotent.)
                let storage: String = sqlx::query_scalar(
                    "SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'webhooks'::regclass AND attname = 'body_enc'",
                )
                .fetch_one(pool)
                .await?;
                if storage != "e" {
                    sqlx::query("ALTER TABLE webhooks ALTER COLUMN body_enc SET STORAGE EXTERNAL").execute(pool).await?;
                }
                // And a sealed body (a few KB) stays in its row instead of costing a second table
                // and index insert in TOAST.
                let options: Option<Vec<String>> =
                    sqlx::query_scalar("SELECT reloptions FROM pg_class WHERE oid = 'webhooks'::regclass").fetch_one(pool).await?;
                if !options.unwrap_or_default().iter().any(|o| o == "toast_tuple_target=8160") {
                    sqlx::query("ALTER TABLE webhooks SET (toast_tuple_target = 8160)").execute(pool).await?;
                }
            }
        }
        outcome_days::install_marks(self).await?;
        Ok(())
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let inner = match self {
            // IMMEDIATE takes the write lock up front: a deferred transaction that later tries to
            // write fails at once with SQLITE_BUSY instead of waiting its turn.
            Db::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx { inner, pushed_jobs: false })
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, c => sqlx::query("SELECT 1").execute(c).await.map(|_| ()))
    }

    pub async fn close(&self) {
        on_db!(self, c => c.close().await)
    }
}

impl Tx {
    /// For the few statements whose locking clause only PostgreSQL has.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres(_))
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        if self.pushed_jobs {
            queue::wake_workers();
        }
        Ok(())
    }
}

/// A fresh id for a row: UUID v4 in its simple form (32 hex chars).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
