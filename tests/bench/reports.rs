//! Order history benchmark: the report's queries over 1,000,000 orders of one shop, on SQLite and
//! on PostgreSQL.
//!
//! ```text
//! cargo bench --bench reports -- [sqlite|postgres]
//! ```
//!
//! With no database named it runs both. In process, through the app's own code: a fresh database
//! is migrated (so the indexes are the app's), `BENCH_ORDERS` (1,000,000) orders of one shop spread
//! over `BENCH_DAYS` (200) days are bulk-inserted, plus `BENCH_NOISE` (200,000) orders of 20 other
//! shops over the same days, then the statistics are refreshed (`ANALYZE`; PostgreSQL also
//! `VACUUM`, as autovacuum would, so index-only scans apply). Each query then runs
//! `BENCH_ITERATIONS` (200) times after 20 warm-up runs; p50/p95/max are reported:
//!
//! - first page: the last 7 days, newest 25 (what the page shows first);
//! - counts: total/confirmed/cancelled/callback/pending over the same 7 days;
//! - page load: first page + counts, as the handler runs them;
//! - status filter: pending orders of the 7 days, first page, and the page 40 deep;
//! - customer filter: one number over the 7 days;
//! - overview: confirmation rate per channel and per day (not part of the 50 ms target).
//!
//! The target: order history answers in < 50 ms p95 (page load). The bench fails when it does not.
//!
//! PostgreSQL: `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) is used
//! only to create and finally drop a fresh `codverify_bench_<random>` database. SQLite: a fresh file
//! under `$TMPDIR` (removed afterwards).
//!
//! Under `cargo test`/`cargo nextest` (no `--bench` argument) this target does nothing.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use codverify::crypto::Cipher;
use codverify::db::Db;
use codverify::on_db;
use codverify::db::reports;
use codverify::reports::{Filters, Report};

mod common;
use common::*;

const SHOP: &str = "shop-bench";
const NOISE_SHOPS: i64 = 20;
const DAY_MS: i64 = 86_400_000;
/// 2026-01-01T00:00:00+05:30, the first day of the data.
const T0: i64 = 1_767_205_800_000;
const TARGET_P95: Duration = Duration::from_millis(50);

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> ExitCode {
    let Some(args) = bench_args("reports", "cargo bench --bench reports -- [sqlite|postgres]") else {
        return ExitCode::SUCCESS;
    };
    let Some(backends) = backends("reports", &args, "sqlite and/or postgres", |_| false) else {
        return ExitCode::from(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut ok = true;
    for b in backends {
        match rt.block_on(run(b)) {
            Ok(met) => ok &= met,
            Err(e) => {
                eprintln!("reports bench ({b:?}): {e:#}");
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn run(backend: Backend) -> anyhow::Result<bool> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = BenchDb::create(backend, &pg_admin_url()).await?;
    let result = bench(backend, db.url()).await;
    db.destroy("reports").await;
    result
}

async fn bench(backend: Backend, url: &str) -> anyhow::Result<bool> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let orders = env_i64("BENCH_ORDERS", 1_000_000);
    let noise = env_i64("BENCH_NOISE", 200_000);
    let days = env_i64("BENCH_DAYS", 200);
    let iterations = env_i64("BENCH_ITERATIONS", 200) as usize;

    let t = Instant::now();
    for i in 0..=NOISE_SHOPS {
        let id = if i == 0 { SHOP.to_string() } else { format!("shop-noise-{i}") };
        let settings = r#"{"ivr":{"timezone":"Asia/Kolkata"}}"#;
        on_db!(&db, c => sqlx::query(
            "INSERT INTO shops (id, domain, status, exotel_key, settings, created_at, updated_at) VALUES ($1, $2, 'installed', $3, $4, 0, 0)")
            .bind(&id).bind(format!("{id}.myshopify.com")).bind(format!("key-{id}")).bind(settings).execute(c).await.map(|_| ()))?;
    }
    let cipher = Cipher::new(&[42u8; 32]);
    let phone = phone_of(orders - 10);
    let phones = Phones { sealed: cipher.encrypt(&phone), customer_k: (orders - 10) % 400_000, customer_hash: cipher.phone_index(&phone) };
    insert_orders(&db, backend, SHOP, 0, orders, days, &phones).await?;
    let per_noise = noise / NOISE_SHOPS;
    for i in 1..=NOISE_SHOPS {
        insert_orders(&db, backend, &format!("shop-noise-{i}"), 10_000_000 * i, per_noise, days, &phones).await?;
    }
    let loaded = t.elapsed();
    let t = Instant::now();
    match &db {
        Db::Sqlite(p) => {
            sqlx::query("ANALYZE").execute(p).await?;
        }
        Db::Postgres(p) => {
            sqlx::query("VACUUM ANALYZE orders").execute(p).await?;
        }
    }
    println!(
        "\n== order history, {backend:?}: {orders} orders of one shop + {noise} of {NOISE_SHOPS} others over {days} days \
         (loaded in {:.1} s, analysed in {:.1} s)",
        loaded.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );

    let tz = chrono_tz::Asia::Kolkata;
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let today = first + chrono::Days::new((days - 1) as u64);
    let filters = |pairs: &[(&str, &str)]| {
        let q: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let f = Filters::parse(&q, Report::Orders, tz, today, "IN").index_phones(&cipher);
        assert!(f.is_valid(), "{:?}", f.errors);
        f
    };
    let week = filters(&[]);
    let pending = filters(&[("status", "pending")]);
    let deep = filters(&[("status", "pending"), ("page", "40")]);
    let customer = filters(&[("customer", phone.as_str())]);
    let db = &db;

    let first_page = time(iterations, || async { reports::orders(db, &cipher, SHOP, &week, Some((25, 0))).await.map(|r| r.len()) }).await?;
    let counts = time(iterations, || async { reports::order_counts(db, SHOP, &week).await.map(|c| c.total as usize) }).await?;
    let page_load = time(iterations, || async {
        let c = reports::order_counts(db, SHOP, &week).await?;
        let r = reports::orders(db, &cipher, SHOP, &week, Some((25, 0))).await?;
        Ok::<usize, sqlx::Error>(r.len() + c.total as usize)
    })
    .await?;
    let status_first = time(iterations, || async { reports::orders(db, &cipher, SHOP, &pending, Some((25, 0))).await.map(|r| r.len()) }).await?;
    let status_load = time(iterations, || async {
        let c = reports::order_counts(db, SHOP, &pending).await?;
        let r = reports::orders(db, &cipher, SHOP, &pending, Some((25, 0))).await?;
        Ok::<usize, sqlx::Error>(r.len() + c.total as usize)
    })
    .await?;
    let status_deep = time(iterations, || async { reports::orders(db, &cipher, SHOP, &deep, Some((25, deep.offset()))).await.map(|r| r.len()) }).await?;
    let by_customer = time(iterations, || async {
        let c = reports::order_counts(db, SHOP, &customer).await?;
        let r = reports::orders(db, &cipher, SHOP, &customer, Some((25, 0))).await?;
        Ok::<usize, sqlx::Error>(r.len() + c.total as usize)
    })
    .await?;
    let overview = time(iterations.min(50), || async { reports::overview(db, SHOP, &week, tz).await.map(|o| o.days.len()) }).await?;

    let c = reports::order_counts(db, SHOP, &week).await?;
    println!(
        "7-day range: {} orders (confirmed {}, cancelled {}, callback {}, pending {}); customer filter: {} orders",
        c.total,
        c.confirmed,
        c.cancelled,
        c.callback_requested,
        c.pending,
        reports::order_counts(db, SHOP, &customer).await?.total
    );
    println!("{:<44} {:>9} {:>9} {:>9}", "query", "p50 ms", "p95 ms", "max ms");
    let rows = [
        ("first page (25, newest, 7 days)", &first_page),
        ("counts (7 days)", &counts),
        ("page load: counts + first page", &page_load),
        ("status=pending: first page", &status_first),
        ("status=pending: counts + first page", &status_load),
        ("status=pending: page 40", &status_deep),
        ("customer number: counts + first page", &by_customer),
        ("overview (per channel, per day)", &overview),
    ];
    for (name, s) in rows {
        println!("{name:<44} {:>9.2} {:>9.2} {:>9.2}", ms(s.p50), ms(s.p95), ms(s.max));
    }
    let met = [&page_load, &status_load, &by_customer].iter().all(|s| s.p95 < TARGET_P95);
    println!("target: page loads < {} ms p95: {}", TARGET_P95.as_millis(), if met { "met" } else { "NOT MET" });
    db.close().await;
    Ok(met)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

async fn time<F, Fut, E>(n: usize, mut f: F) -> anyhow::Result<Stats>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    for _ in 0..20 {
        f().await?;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(f().await?);
        v.push(t.elapsed());
    }
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    Ok(Stats { p50: at(0.50), p95: at(0.95), max: *v.last().unwrap() })
}

/// What the orders' encrypted phone columns are filled with.
struct Phones {
    sealed: String,
    customer_k: i64,
    customer_hash: String,
}

/// The number of the i-th order (a few hundred customers order again and again).
fn phone_of(i: i64) -> String {
    format!("+9198{:08}", i % 400_000)
}

/// Bulk insert in SQL (a series generated by the database): `n` orders of `shop`, ids from
/// `first_id`, spread evenly over `days` days from T0, statuses 50% confirmed (by IVR, link,
/// missed call and OTP in turn), 10% cancelled, 10% callback requested, 20% pending, 10% no response.
async fn insert_orders(db: &Db, backend: Backend, shop: &str, first_id: i64, n: i64, days: i64, phones: &Phones) -> anyhow::Result<()> {
    let step = (days * DAY_MS) / n.max(1);
    let cols = "id, shop_id, shopify_order_id, admin_graphql_id, name, order_number, total_price, currency, gateways, is_cod, \
                customer_name, phone_enc, phone_hash, phone_source, status, status_reason, created_at, updated_at";
    let status = "CASE WHEN g % 10 < 5 THEN 'confirmed' WHEN g % 10 = 5 THEN 'cancelled' WHEN g % 10 = 6 THEN 'callback_requested' \
                  WHEN g % 10 < 9 THEN 'pending' ELSE 'no_response' END";
    let reason = "CASE WHEN g % 10 < 5 THEN (CASE g % 4 WHEN 0 THEN 'pressed 1 on call 1 (confirm)' WHEN 1 THEN 'confirmed on the confirmation link' \
                  WHEN 2 THEN 'confirmed by a missed call from ******3210' ELSE 'OTP verified' END) \
                  WHEN g % 10 = 5 THEN 'pressed 2 on call 1 (cancel)' WHEN g % 10 = 6 THEN 'pressed 3 on call 2 (callback)' \
                  WHEN g % 10 = 9 THEN 'every call and SMS went unanswered' ELSE NULL END";
    // Every row holds a real ciphertext of the same size (rows are opened when shown); the lookup
    // hash is the real one for the customer the bench filters on, a stand-in of the same length
    // for the others.
    let Phones { sealed, customer_k, customer_hash } = phones;
    let hash = |pad: &str| format!("CASE WHEN g % 400000 = {customer_k} THEN '{customer_hash}' ELSE {pad} END");
    // Both generators name their column `g`, which the CASE expressions above read.
    let values = |g: &str, fmt_hash: &str| {
        format!(
            "SELECT '{shop}-' || {g}, '{shop}', {first_id} + {g}, 'gid://shopify/Order/' || ({first_id} + {g}), '#' || (1000 + {g}), 1000 + {g}, \
               '499.00', 'INR', '[\"Cash on Delivery (COD)\"]', TRUE, 'Customer ' || {g}, '{sealed}', {fmt_hash}, 'shipping_address', \
               {status}, {reason}, {T0} + {g} * {step}, {T0} + {g} * {step}",
            status = status,
            reason = reason,
        )
    };
    match db {
        Db::Postgres(p) => {
            let chunk = 250_000;
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                let sql = format!(
                    "INSERT INTO orders ({cols}) {} FROM generate_series({start}::bigint, {}::bigint) AS s(g)",
                    values("g", &hash("lpad((g % 400000)::text, 32, '0')")),
                    end - 1
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await?;
                start = end;
            }
        }
        Db::Sqlite(p) => {
            let chunk = 250_000;
            let mut start = 0;
            while start < n {
                let end = (start + chunk).min(n);
                let sql = format!(
                    "WITH RECURSIVE s(g) AS (SELECT {start} UNION ALL SELECT g + 1 FROM s WHERE g + 1 < {end}) \
                     INSERT INTO orders ({cols}) {} FROM s",
                    values("g", &hash("printf('%032d', g % 400000)"))
                );
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await?;
                start = end;
            }
        }
    }
    let _ = backend;
    Ok(())
}
