//! The fresh database of a run: a new SQLite file under `$TMPDIR`, or a new
//! `codverify_bench_<random>` database on the PostgreSQL server of `BENCH_DATABASE_URL`; dropped
//! afterwards either way.

use std::path::PathBuf;

use anyhow::Context;
use sqlx::Connection;

use super::{Backend, fs_type, redact};

pub(crate) enum BenchDb {
    Sqlite { dir: PathBuf, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl BenchDb {
    pub(crate) async fn create(backend: Backend, pg_admin_url: &str) -> anyhow::Result<BenchDb> {
        let tag = hex::encode(rand::random::<[u8; 6]>());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("codverify-bench-{tag}"));
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let url = format!("sqlite://{}", dir.join("bench.db").display());
                Ok(BenchDb::Sqlite { dir, url })
            }
            Backend::Postgres => {
                let name = format!("codverify_bench_{tag}");
                let mut admin = sqlx::PgConnection::connect(pg_admin_url)
                    .await
                    .with_context(|| format!("connecting to BENCH_DATABASE_URL ({})", redact(pg_admin_url)))?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                admin.close().await.ok();
                let mut url = url::Url::parse(pg_admin_url).context("BENCH_DATABASE_URL is not a URL")?;
                url.set_path(&format!("/{name}"));
                Ok(BenchDb::Postgres {
                    admin_url: pg_admin_url.to_string(),
                    name,
                    url: url.to_string(),
                })
            }
        }
    }

    pub(crate) fn url(&self) -> &str {
        match self {
            BenchDb::Sqlite { url, .. } | BenchDb::Postgres { url, .. } => url,
        }
    }

    /// One integer from the app's database (a short-lived connection of its own).
    pub(crate) async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match self {
            BenchDb::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await?;
                c.close().await.ok();
                n
            }
            BenchDb::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                let n = sqlx::query_scalar::<_, i64>(sql).fetch_one(&mut c).await?;
                c.close().await.ok();
                n
            }
        })
    }

    /// Rows of three text columns.
    pub(crate) async fn rows3(&self, sql: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match self {
            BenchDb::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                let rows = sqlx::query_as(sql).fetch_all(&mut c).await?;
                c.close().await.ok();
                rows
            }
            BenchDb::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                let rows = sqlx::query_as(sql).fetch_all(&mut c).await?;
                c.close().await.ok();
                rows
            }
        })
    }

    /// How durable a commit is on this database, for the report.
    pub(crate) async fn durability_note(&self) -> String {
        match self {
            BenchDb::Sqlite { dir, .. } => format!("SQLite, WAL, synchronous=FULL (set by the app), file on {}", fs_type(dir)),
            BenchDb::Postgres { url, .. } => {
                let settings = async {
                    let mut c = sqlx::PgConnection::connect(url).await?;
                    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut c).await?;
                    let sc: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut c).await?;
                    let v: String = sqlx::query_scalar("SHOW server_version").fetch_one(&mut c).await?;
                    c.close().await.ok();
                    anyhow::Ok(format!("PostgreSQL {v}, fsync={fsync}, synchronous_commit={sc}"))
                };
                settings.await.unwrap_or_else(|e| format!("PostgreSQL (settings unreadable: {e})"))
            }
        }
    }

    /// Removes the database (`bench` names the bench in a failure to).
    pub(crate) async fn destroy(self, bench: &str) {
        match self {
            BenchDb::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(&dir);
            }
            BenchDb::Postgres { admin_url, name, .. } => {
                let drop = async {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await.ok();
                    anyhow::Ok(())
                };
                if let Err(e) = drop.await {
                    eprintln!("{bench} bench: could not drop database {name}: {e:#}");
                }
            }
        }
    }
}
