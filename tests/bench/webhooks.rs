//! Webhook intake benchmark: how fast `POST /webhooks/shopify` acknowledges signed `orders/create`
//! deliveries, durably, on SQLite and on PostgreSQL.
//!
//! ```text
//! cargo build --release && cargo bench --bench webhooks -- [sqlite|postgres]
//! ```
//!
//! With no database named it runs both. It builds nothing itself: it starts `target/release/codverify`
//! (or `$BENCH_BIN`) as a child process with `RUN_MODE=web`, so it measures **intake only** (HMAC
//! check, JSON check, durable group-committed write, job enqueue, 200) — no worker processes the
//! stored deliveries while it runs.
//!
//! Phases, each against a fresh database:
//! 1. warm-up (`BENCH_WARMUP`, default 2,000 requests, not reported);
//! 2. throughput: `BENCH_CONNECTIONS` (64) keep-alive connections send `BENCH_REQUESTS` (60,000)
//!    deliveries back to back (closed loop) → accepted/s;
//! 3. latency: an open loop at `BENCH_RATE` (1,000) requests/s for `BENCH_SECONDS` (10) s → p50/p99,
//!    measured from each request's scheduled send time, so a stalled server cannot hide its queue.
//!
//! Every response must be 200; anything else (or an I/O error, or a request left unsent by a phase's
//! time bound) is counted and fails the bench. Afterwards the child gets SIGTERM and the `webhooks`
//! table must hold exactly one row per accepted delivery. Peak RSS is the child's `VmHWM`.
//!
//! PostgreSQL: `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) is used
//! only to create and finally drop a fresh `codverify_bench_<random>` database. SQLite: a fresh file
//! under `$TMPDIR` (removed afterwards).
//!
//! The load generator is a minimal HTTP/1.1 keep-alive client over raw sockets on one thread, with
//! every request (headers, body, HMAC) serialised before timing starts: it costs a few percent of a
//! core, so on a small machine the server, not the client, is what gets measured. It still shares the
//! CPU with the server (and PostgreSQL); the report shows who used how much.
//!
//! Under `cargo test`/`cargo nextest` (no `--bench` argument) this target does nothing.

// The order payload is one big `json!` literal.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::Connection;
use tokio::task::JoinSet;

mod common;
use common::*;

const API_KEY: &str = "bench-key";
const SECRET: &str = "bench-secret";
const API_VERSION: &str = "2026-10";
const SHOPS: usize = 200;
/// One request that takes longer than this counts as failed (Shopify gives up after 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The open loop never holds more connections than this.
const MAX_OPEN_LOOP_CONNECTIONS: usize = 512;

// Targets this bench reports against.
const TARGET_ACCEPTED_PER_S: f64 = 6_000.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_RSS_MB: f64 = 100.0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Settings {
    bin: PathBuf,
    warmup: usize,
    requests: usize,
    connections: usize,
    rate: u32,
    seconds: u64,
    pg_admin_url: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let bin = std::env::var_os("BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/codverify"));
        let s = Settings {
            bin,
            warmup: env_num("BENCH_WARMUP", 2_000)?,
            requests: env_num("BENCH_REQUESTS", 60_000)?,
            connections: env_num("BENCH_CONNECTIONS", 64)?,
            rate: env_num("BENCH_RATE", 1_000)?,
            seconds: env_num("BENCH_SECONDS", 10)?,
            pg_admin_url: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        };
        if s.requests == 0 || s.connections == 0 || s.rate == 0 || s.seconds == 0 {
            bail!("BENCH_REQUESTS, BENCH_CONNECTIONS, BENCH_RATE and BENCH_SECONDS must be positive");
        }
        if s.requests > 1_000_000 || s.connections > 1_024 || s.rate > 50_000 || s.seconds > 300 {
            bail!("bench settings out of range (at most 1,000,000 requests, 1,024 connections, 50,000/s, 300 s)");
        }
        Ok(s)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo nextest run --all-targets` lists every target's tests: this one has none.
    if args.iter().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs benches without it.
    if !args.iter().any(|a| a == "--bench") {
        println!("webhooks bench: skipped (run `cargo build --release && cargo bench --bench webhooks -- [sqlite|postgres]`)");
        return ExitCode::SUCCESS;
    }
    let mut backends = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        match a.as_str() {
            "sqlite" => backends.push(Backend::Sqlite),
            "postgres" | "postgresql" => backends.push(Backend::Postgres),
            other => {
                eprintln!("webhooks bench: unknown argument {other:?}; expected sqlite and/or postgres");
                return ExitCode::from(2);
            }
        }
    }
    if backends.is_empty() {
        backends = vec![Backend::Sqlite, Backend::Postgres];
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("webhooks bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    if !settings.bin.is_file() {
        eprintln!(
            "webhooks bench: {} not found; build it first: cargo build --release",
            settings.bin.display()
        );
        return ExitCode::from(2);
    }
    // One thread for the whole load generator: it leaves the cores to the server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");

    let mut reports = Vec::new();
    let mut ok = true;
    for backend in backends {
        println!("\n=== {} ===", backend.name());
        match rt.block_on(run_backend(backend, &settings)) {
            Ok(r) => {
                ok &= r.passed();
                r.print();
                reports.push(r);
            }
            Err(e) => {
                eprintln!("webhooks bench ({}): FAILED: {e:#}", backend.name());
                ok = false;
            }
        }
    }
    if !reports.is_empty() {
        print_summary(&settings, &reports);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nwebhooks bench: FAILED (see above)");
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// Databases

enum BenchDb {
    Sqlite { dir: PathBuf, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl BenchDb {
    async fn create(backend: Backend, s: &Settings) -> anyhow::Result<BenchDb> {
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
                let mut admin = sqlx::PgConnection::connect(&s.pg_admin_url)
                    .await
                    .with_context(|| format!("connecting to BENCH_DATABASE_URL ({})", redact(&s.pg_admin_url)))?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                admin.close().await.ok();
                let mut url = url::Url::parse(&s.pg_admin_url).context("BENCH_DATABASE_URL is not a URL")?;
                url.set_path(&format!("/{name}"));
                Ok(BenchDb::Postgres {
                    admin_url: s.pg_admin_url.clone(),
                    name,
                    url: url.to_string(),
                })
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            BenchDb::Sqlite { url, .. } | BenchDb::Postgres { url, .. } => url,
        }
    }

    /// Rows in `webhooks`; call once the app has stopped.
    async fn count_webhooks(&self) -> anyhow::Result<i64> {
        let q = "SELECT COUNT(*) FROM webhooks WHERE topic = 'orders/create'";
        Ok(match self {
            BenchDb::Sqlite { url, .. } => {
                let mut c = sqlx::SqliteConnection::connect(url).await?;
                let n = sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await?;
                c.close().await.ok();
                n
            }
            BenchDb::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await?;
                let n = sqlx::query_scalar::<_, i64>(q).fetch_one(&mut c).await?;
                c.close().await.ok();
                n
            }
        })
    }

    /// How durable a commit is on this database, for the report.
    async fn durability_note(&self) -> String {
        match self {
            BenchDb::Sqlite { dir, .. } => {
                format!("WAL, synchronous=FULL (set by the app), file on {}", fs_type(dir))
            }
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

    async fn destroy(self) {
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
                    eprintln!("webhooks bench: could not drop database {name}: {e:#}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Small deterministic generator so bodies vary without a dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

fn rupees(paise: u64) -> String {
    format!("{}.{:02}", paise / 100, paise % 100)
}

fn money_set(paise: u64) -> Value {
    json!({
        "shop_money": {"amount": rupees(paise), "currency_code": "INR"},
        "presentment_money": {"amount": rupees(paise), "currency_code": "INR"}
    })
}

fn address(r: &mut Lcg, first: &str, last: &str, phone: &str) -> Value {
    let (city, province, code, zip) = [
        ("Mumbai", "Maharashtra", "MH", "400050"),
        ("Bengaluru", "Karnataka", "KA", "560034"),
        ("Jaipur", "Rajasthan", "RJ", "302001"),
        ("Kolkata", "West Bengal", "WB", "700019"),
        ("Lucknow", "Uttar Pradesh", "UP", "226010"),
    ][(r.next() % 5) as usize];
    json!({
        "first_name": first,
        "last_name": last,
        "name": format!("{first} {last}"),
        "address1": format!("{}, {} Road", 10 + r.next() % 890, r.pick(&["MG", "Station", "Temple", "Lake", "Hill"])),
        "address2": format!("Flat {}, {} Apartments", 100 + r.next() % 800, r.pick(&["Shanti", "Sai Krupa", "Green Park"])),
        "city": city,
        "province": province,
        "province_code": code,
        "zip": zip,
        "country": "India",
        "country_code": "IN",
        "company": null,
        "phone": phone
    })
}

/// A realistic `orders/create` payload (REST order shape) for a COD order, about 5 KB.
fn order_body(n: usize, shop: usize) -> String {
    let mut r = Lcg(n as u64 * 7919 + 17);
    let order_id = 5_600_000_000_000u64 + n as u64;
    let order_number = 1001 + n as u64;
    let first = r.pick(&["Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya"]);
    let last = r.pick(&["Sharma", "Iyer", "Patel", "Reddy", "Banerjee", "Singh", "Nair", "Gupta"]);
    let phone = format!("+91 9{:09}", r.next() % 1_000_000_000);
    let email = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), n % 1000);
    let created = format!("2026-11-22T{:02}:{:02}:{:02}+05:30", 9 + n % 12, n % 60, (n / 60) % 60);
    let shop_domain = format!("bench-shop-{shop}.myshopify.com");

    let products = [
        ("Cotton Kurta", "Mehr Textiles", "KRT"),
        ("Steel Water Bottle 1L", "Hydra", "BTL"),
        ("Ayurvedic Face Wash", "Vanaushadhi", "FWS"),
        ("Handloom Saree", "Mehr Textiles", "SAR"),
        ("Bluetooth Earbuds", "SoundKart", "EAR"),
        ("Masala Chai Tin 250g", "Assam Leaf Co", "CHI"),
    ];
    let mut subtotal = 0u64;
    let mut tax_total = 0u64;
    let items: Vec<Value> = (0..4)
        .map(|k| {
            let (title, vendor, sku) = products[(r.next() as usize + k) % products.len()];
            let price = (199 + r.next() % 2800) * 100;
            let qty = 1 + r.next() % 3;
            let tax = price * qty * 18 / 118;
            subtotal += price * qty;
            tax_total += tax;
            let item_id = 14_000_000_000_000u64 + (n as u64) * 8 + k as u64;
            let variant = r.pick(&["S / Indigo", "M / Maroon", "L / Mustard", "Default Title"]);
            json!({
                "id": item_id,
                "admin_graphql_api_id": format!("gid://shopify/LineItem/{item_id}"),
                "fulfillable_quantity": qty,
                "fulfillment_service": "manual",
                "fulfillment_status": null,
                "gift_card": false,
                "grams": 250 + r.next() % 900,
                "name": format!("{title} - {variant}"),
                "price": rupees(price),
                "product_exists": true,
                "product_id": 8_000_000_000_000u64 + r.next() % 1000,
                "properties": [
                    {"name": "Gift wrap", "value": r.pick(&["Yes", "No"])},
                    {"name": "_source", "value": "storefront"}
                ],
                "quantity": qty,
                "requires_shipping": true,
                "sku": format!("{sku}-{:05}", r.next() % 100_000),
                "taxable": true,
                "title": title,
                "total_discount": "0.00",
                "variant_id": 45_000_000_000_000u64 + r.next() % 100_000,
                "variant_title": variant,
                "vendor": vendor,
                "tax_lines": [{"price": rupees(tax), "rate": 0.18, "title": "IGST"}]
            })
        })
        .collect();
    let shipping = if subtotal >= 99_900 { 0 } else { 4_900 };
    let total = subtotal + shipping;
    let shipping_address = address(&mut r, first, last, &phone);
    let billing_address = address(&mut r, first, last, &phone);
    let customer_id = 7_000_000_000_000u64 + r.next() % 1_000_000;
    let token = format!("{:032x}", (r.next() as u128) << 64 | r.next() as u128);

    json!({
        "id": order_id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{order_id}"),
        "app_id": 580111,
        "browser_ip": format!("49.36.{}.{}", r.next() % 255, r.next() % 255),
        "buyer_accepts_marketing": false,
        "cancel_reason": null,
        "cancelled_at": null,
        "checkout_id": 36_000_000_000_000u64 + n as u64,
        "checkout_token": token,
        "confirmation_number": format!("X{:08X}", r.next() % 0xFFFF_FFFF),
        "confirmed": true,
        "contact_email": email,
        "created_at": created,
        "currency": "INR",
        "current_subtotal_price": rupees(subtotal),
        "current_total_price": rupees(total),
        "current_total_tax": rupees(tax_total),
        "customer_locale": "en-IN",
        "email": email,
        "estimated_taxes": false,
        "financial_status": "pending",
        "fulfillment_status": null,
        "landing_site": "/products/cotton-kurta",
        "name": format!("#{order_number}"),
        "note": null,
        "note_attributes": [],
        "number": order_number - 1000,
        "order_number": order_number,
        "order_status_url": format!("https://{shop_domain}/9{shop:04}/orders/{token}/authenticate?key=k{n}"),
        "payment_gateway_names": ["Cash on Delivery (COD)"],
        "phone": null,
        "presentment_currency": "INR",
        "processed_at": created,
        "source_name": "web",
        "subtotal_price": rupees(subtotal),
        "tags": "",
        "tax_lines": [{"price": rupees(tax_total), "rate": 0.18, "title": "IGST"}],
        "taxes_included": true,
        "test": false,
        "token": token,
        "total_discounts": "0.00",
        "total_line_items_price": rupees(subtotal),
        "total_outstanding": rupees(total),
        "total_price": rupees(total),
        "total_price_set": money_set(total),
        "total_tax": rupees(tax_total),
        "total_weight": 1800,
        "updated_at": created,
        "billing_address": billing_address,
        "customer": {
            "id": customer_id,
            "admin_graphql_api_id": format!("gid://shopify/Customer/{customer_id}"),
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": phone,
            "state": "disabled",
            "verified_email": true,
            "currency": "INR",
            "tax_exempt": false,
            "created_at": created,
            "updated_at": created,
            "default_address": {"city": shipping_address["city"], "country_code": "IN", "phone": phone, "default": true}
        },
        "discount_codes": [],
        "fulfillments": [],
        "line_items": items,
        "refunds": [],
        "shipping_address": shipping_address,
        "shipping_lines": [{
            "id": 4_900_000_000_000u64 + n as u64,
            "code": "Standard",
            "price": rupees(shipping),
            "source": "shopify",
            "title": "Standard Delivery (3-5 days)",
            "tax_lines": []
        }]
    })
    .to_string()
}

/// Every request of the run, serialised to the bytes that go on the wire (on every core: this
/// happens before timing). Returns them with the mean body size.
fn build_requests(port: u16, count: usize) -> (Vec<Vec<u8>>, usize) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(16);
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<(Vec<Vec<u8>>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|from| scope.spawn(move || build_range(port, from..(from + chunk).min(count))))
            .collect();
        handles.into_iter().map(|h| h.join().expect("request builder panicked")).collect()
    });
    let body_bytes: usize = parts.iter().map(|(_, b)| b).sum();
    let reqs: Vec<Vec<u8>> = parts.into_iter().flat_map(|(r, _)| r).collect();
    (reqs, body_bytes / count.max(1))
}

fn build_range(port: u16, range: std::ops::Range<usize>) -> (Vec<Vec<u8>>, usize) {
    let mut body_bytes = 0;
    let reqs = range
        .map(|n| {
            let shop = n % SHOPS;
            let body = order_body(n, shop);
            body_bytes += body.len();
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
            mac.update(body.as_bytes());
            let hmac = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            let head = format!(
                "POST /webhooks/shopify HTTP/1.1\r\n\
                 Host: 127.0.0.1:{port}\r\n\
                 User-Agent: Shopify-Captain-Hook\r\n\
                 Accept: */*\r\n\
                 Content-Type: application/json\r\n\
                 Content-Length: {}\r\n\
                 X-Shopify-Topic: orders/create\r\n\
                 X-Shopify-Shop-Domain: bench-shop-{shop}.myshopify.com\r\n\
                 X-Shopify-Hmac-Sha256: {hmac}\r\n\
                 X-Shopify-Webhook-Id: {}\r\n\
                 X-Shopify-Event-Id: {}\r\n\
                 X-Shopify-Triggered-At: 2026-11-22T10:15:00.000000000Z\r\n\
                 X-Shopify-API-Version: {API_VERSION}\r\n\r\n",
                body.len(),
                uuid::Uuid::new_v4(),
                uuid::Uuid::new_v4(),
            );
            let mut req = head.into_bytes();
            req.extend_from_slice(body.as_bytes());
            req
        })
        .collect();
    (reqs, body_bytes)
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client

// ---------------------------------------------------------------------------------------------
// Load phases

struct ClosedLoop {
    accepted: usize,
    failures: Failures,
    elapsed: Duration,
}

/// `connections` connections send requests `range` back to back until all are answered or
/// `bound` has passed.
async fn closed_loop(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    range: std::ops::Range<usize>,
    connections: usize,
    bound: Duration,
) -> ClosedLoop {
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let start = Instant::now();
    let deadline = start + bound;
    let mut set = JoinSet::new();
    for _ in 0..connections {
        let (next, reqs) = (next.clone(), reqs.clone());
        set.spawn(async move {
            let mut accepted = 0usize;
            let mut failures = Failures::default();
            let mut conn: Option<Conn> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                if Instant::now() >= deadline {
                    failures.unsent += 1;
                    continue;
                }
                let c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::connect(addr).await {
                        Ok(c) => c,
                        Err(e) => {
                            failures.error(format!("connect: {e}"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                let mut c = c;
                match tokio::time::timeout(REQUEST_TIMEOUT, c.roundtrip(&reqs[i])).await {
                    Ok(Ok((status, keep))) => {
                        if status == 200 {
                            accepted += 1;
                        } else {
                            *failures.statuses.entry(status).or_default() += 1;
                        }
                        if keep {
                            conn = Some(c);
                        }
                    }
                    Ok(Err(e)) => failures.error(e),
                    Err(_) => failures.error(format!("no answer within {REQUEST_TIMEOUT:?}")),
                }
            }
            (accepted, failures)
        });
    }
    let mut out = ClosedLoop {
        accepted: 0,
        failures: Failures::default(),
        elapsed: Duration::ZERO,
    };
    while let Some(r) = set.join_next().await {
        let (a, f) = r.expect("load task panicked");
        out.accepted += a;
        out.failures.merge(f);
    }
    out.elapsed = start.elapsed();
    out
}

struct OpenLoop {
    accepted: usize,
    failures: Failures,
    /// Scheduled send → full response, for every accepted request.
    latencies: Vec<Duration>,
    /// Actual send → full response.
    service: Vec<Duration>,
    /// How late the client sent (actual − scheduled).
    lag: Vec<Duration>,
    max_connections: usize,
    elapsed: Duration,
}

/// Sends requests `range` at a fixed `rate`, whatever the server's answers do (open loop): each
/// request goes out at its scheduled time on an idle connection, or a new one if none is idle.
async fn open_loop(addr: SocketAddr, reqs: Arc<Vec<Vec<u8>>>, range: std::ops::Range<usize>, rate: u32) -> anyhow::Result<OpenLoop> {
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let opened = Arc::new(AtomicUsize::new(0));
    for _ in 0..16 {
        pool.lock().unwrap().push(Conn::connect(addr).await?);
        opened.fetch_add(1, Ordering::Relaxed);
    }
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let mut out = OpenLoop {
        accepted: 0,
        failures: Failures::default(),
        latencies: Vec::with_capacity(range.len()),
        service: Vec::with_capacity(range.len()),
        lag: Vec::with_capacity(range.len()),
        max_connections: 0,
        elapsed: Duration::ZERO,
    };
    type Outcome = (Result<u16, String>, Duration, Duration, Duration);
    let mut set: JoinSet<Outcome> = JoinSet::new();
    let record = |out: &mut OpenLoop, o: Outcome| {
        let (res, lat, svc, lag) = o;
        match res {
            Ok(200) => {
                out.accepted += 1;
                out.latencies.push(lat);
                out.service.push(svc);
                out.lag.push(lag);
            }
            Ok(s) => *out.failures.statuses.entry(s).or_default() += 1,
            Err(e) => out.failures.error(e),
        }
    };
    // Tokio's timers tick in whole milliseconds and round up, which would add up to 1 ms to every
    // latency measured from the schedule. A plain thread paces instead (nanosleep, ~0.1 ms) and
    // hands each due request to the runtime.
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let pacer = {
        let range = range.clone();
        std::thread::spawn(move || {
            for (k, i) in range.enumerate() {
                let scheduled = start + period * k as u32;
                let now = Instant::now();
                if scheduled > now {
                    std::thread::sleep(scheduled - now);
                }
                if due_tx.send((i, scheduled)).is_err() {
                    return;
                }
            }
        })
    };
    while let Some((i, scheduled)) = due_rx.recv().await {
        while let Some(r) = set.try_join_next() {
            record(&mut out, r.expect("load task panicked"));
        }
        let (pool, reqs, opened) = (pool.clone(), reqs.clone(), opened.clone());
        set.spawn(async move {
            let sent = Instant::now();
            let idle = pool.lock().unwrap().pop();
            let conn = match idle {
                Some(c) => Ok(c),
                None if opened.fetch_add(1, Ordering::Relaxed) < MAX_OPEN_LOOP_CONNECTIONS => {
                    Conn::connect(addr).await.map_err(|e| format!("connect: {e}"))
                }
                None => Err(format!("more than {MAX_OPEN_LOOP_CONNECTIONS} requests in flight")),
            };
            let res = match conn {
                Ok(mut c) => match tokio::time::timeout(REQUEST_TIMEOUT, c.roundtrip(&reqs[i])).await {
                    Ok(Ok((status, keep))) => {
                        if keep {
                            pool.lock().unwrap().push(c);
                        }
                        Ok(status)
                    }
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
                },
                Err(e) => Err(e),
            };
            let done = Instant::now();
            (res, done - scheduled, done - sent, sent.saturating_duration_since(scheduled))
        });
    }
    pacer.join().expect("pacer thread panicked");
    // Every task ends within REQUEST_TIMEOUT (+ connect time), so this drain is bounded too.
    while let Some(r) = set.join_next().await {
        record(&mut out, r.expect("load task panicked"));
    }
    out.elapsed = start.elapsed();
    out.max_connections = opened.load(Ordering::Relaxed).min(MAX_OPEN_LOOP_CONNECTIONS);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Process accounting


// ---------------------------------------------------------------------------------------------
// The app under test

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// A port that was free a moment ago, for the child to bind.
    fn free_addr() -> anyhow::Result<SocketAddr> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        Ok(l.local_addr()?)
    }

    fn start(s: &Settings, addr: SocketAddr, db_url: &str) -> anyhow::Result<Server> {
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let child = Command::new(&s.bin)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", db_url)
            .env("BIND_ADDR", addr.to_string())
            .env("APP_URL", format!("http://{addr}"))
            .env("SHOPIFY_API_KEY", API_KEY)
            .env("SHOPIFY_API_SECRET", SECRET)
            .env("APP_ENCRYPTION_KEY", key)
            .env("RUN_MODE", "web")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", s.bin.display()))?;
        Ok(Server { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_healthy(&mut self) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("codverify exited during start-up ({status})");
            }
            if let Ok(mut c) = Conn::connect(self.addr).await {
                if let Ok(Ok((200, _))) = tokio::time::timeout(Duration::from_secs(2), c.roundtrip(req.as_bytes())).await {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("GET /healthz did not answer 200 within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    fn stop(mut self) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("codverify exited with {status} after SIGTERM");
                }
                return Ok(start.elapsed());
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("codverify did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached on an error path before `stop`: never leave the child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One run

struct Report {
    backend: Backend,
    durability: String,
    body_bytes: usize,
    startup: Duration,
    throughput: ClosedLoop,
    cpu: (f64, f64, f64),
    latency: OpenLoop,
    rss_peak_kb: Option<u64>,
    rss_end_kb: Option<u64>,
    accepted_total: usize,
    rows: i64,
    stop: Duration,
    rate: u32,
    connections: usize,
}

impl Report {
    fn accepted_per_s(&self) -> f64 {
        self.throughput.accepted as f64 / self.throughput.elapsed.as_secs_f64()
    }
    fn failures(&self) -> usize {
        self.throughput.failures.total() + self.latency.failures.total()
    }
    fn durable(&self) -> bool {
        self.rows == self.accepted_total as i64
    }
    fn passed(&self) -> bool {
        self.failures() == 0 && self.durable()
    }
    fn p(&self, p: f64) -> f64 {
        pct_ms(&self.latency.latencies, p)
    }
    fn rss_mb(&self) -> f64 {
        self.rss_peak_kb.map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN)
    }

    fn print(&self) {
        let t = &self.throughput;
        let l = &self.latency;
        println!("database        {}", self.durability);
        println!("request bodies  {} bytes on average (orders/create, COD, 4 line items, {SHOPS} shops)", self.body_bytes);
        println!("start-up        {:.2} s to GET /healthz 200 (migrations included)", self.startup.as_secs_f64());
        println!(
            "throughput      {} accepted in {:.2} s over {} connections = {:.0} accepted/s; failures: {}",
            t.accepted,
            t.elapsed.as_secs_f64(),
            self.connections,
            self.accepted_per_s(),
            if t.failures.total() == 0 { "none".into() } else { t.failures.describe() }
        );
        println!(
            "  CPU           server {:.0}%, load generator {:.0}%, everything else (PostgreSQL, kernel, other) {:.0}% of the machine",
            self.cpu.1, self.cpu.0, self.cpu.2
        );
        let sorted = |v: &Vec<Duration>| {
            let mut v = v.clone();
            v.sort_unstable();
            v
        };
        let svc = sorted(&l.service);
        let lag = sorted(&l.lag);
        println!(
            "latency         {} accepted at {}/s in {:.2} s; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; failures: {}",
            l.accepted,
            self.rate,
            l.elapsed.as_secs_f64(),
            self.p(50.0),
            self.p(90.0),
            self.p(99.0),
            self.p(99.9),
            self.p(100.0),
            if l.failures.total() == 0 { "none".into() } else { l.failures.describe() }
        );
        println!(
            "  (from send)   p50 {:.2} ms, p99 {:.2} ms; send lag behind schedule p99 {:.2} ms; {} connections used",
            pct_ms(&svc, 50.0),
            pct_ms(&svc, 99.0),
            pct_ms(&lag, 99.0),
            l.max_connections
        );
        println!(
            "memory          peak RSS (VmHWM) {:.1} MB, RSS at end {:.1} MB",
            self.rss_mb(),
            self.rss_end_kb.map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN)
        );
        println!(
            "durability      {} rows in webhooks after SIGTERM (graceful exit in {:.2} s) for {} accepted deliveries: {}",
            self.rows,
            self.stop.as_secs_f64(),
            self.accepted_total,
            if self.durable() { "ok" } else { "MISMATCH" }
        );
    }
}

async fn run_backend(backend: Backend, s: &Settings) -> anyhow::Result<Report> {
    let db = BenchDb::create(backend, s).await?;
    let result = run_on(backend, s, &db).await;
    db.destroy().await;
    result
}

async fn run_on(backend: Backend, s: &Settings, db: &BenchDb) -> anyhow::Result<Report> {
    let latency_count = s.rate as usize * s.seconds as usize;
    let total = s.warmup + s.requests + latency_count;

    let addr = Server::free_addr()?;
    let t = Instant::now();
    let (reqs, body_bytes) = build_requests(addr.port(), total);
    let reqs = Arc::new(reqs);
    println!("prepared        {total} signed requests in {:.1} s (before timing)", t.elapsed().as_secs_f64());
    let mut server = Server::start(s, addr, db.url())?;
    let startup = server.wait_healthy().await?;

    // Warm-up: connections, caches, the database's first pages.
    let w = closed_loop(addr, reqs.clone(), 0..s.warmup, s.connections, Duration::from_secs(60)).await;
    if w.failures.total() > 0 {
        bail!("warm-up failed: {}", w.failures.describe());
    }

    // Throughput: bounded by count and by time (well above what the target rate needs).
    let bound = Duration::from_secs_f64((s.requests as f64 / 500.0).max(30.0));
    let before = CpuSnapshot::take(server.pid());
    let throughput = closed_loop(addr, reqs.clone(), s.warmup..s.warmup + s.requests, s.connections, bound).await;
    let cpu = CpuSnapshot::take(server.pid()).usage_since(&before);

    // Let the server settle (idle connections close, batches drain) before measuring latency.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let first = s.warmup + s.requests;
    let mut latency = open_loop(addr, reqs.clone(), first..first + latency_count, s.rate).await?;
    latency.latencies.sort_unstable();

    let rss_peak_kb = proc_status_kb(server.pid(), "VmHWM:");
    let rss_end_kb = proc_status_kb(server.pid(), "VmRSS:");
    let durability = db.durability_note().await;
    let stop = server.stop()?;
    let rows = db.count_webhooks().await.context("counting stored webhooks")?;

    Ok(Report {
        backend,
        durability,
        body_bytes,
        startup,
        accepted_total: w.accepted + throughput.accepted + latency.accepted,
        throughput,
        cpu,
        latency,
        rss_peak_kb,
        rss_end_kb,
        rows,
        stop,
        rate: s.rate,
        connections: s.connections,
    })
}

fn print_summary(s: &Settings, reports: &[Report]) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mark = |ok: bool| if ok { "ok" } else { "MISS" };
    println!("\n=== summary: codverify webhook intake (RUN_MODE=web: intake only, no job processing) ===");
    println!(
        "{} CPUs shared by server, load generator and database; {} requests over {} connections; open loop {}/s for {} s",
        cores, s.requests, s.connections, s.rate, s.seconds
    );
    println!(
        "{:<10} {:>14} {:>10} {:>10} {:>13} {:>9} {:>10} {:>11}",
        "database", "accepted/s", "p50 ms", "p99 ms", "peak RSS MB", "failures", "rows", "durable"
    );
    for r in reports {
        println!(
            "{:<10} {:>9.0} {:<4} {:>10.2} {:>5.2} {:<4} {:>8.1} {:<4} {:>9} {:>10} {:>11}",
            r.backend.name(),
            r.accepted_per_s(),
            mark(r.accepted_per_s() >= TARGET_ACCEPTED_PER_S),
            r.p(50.0),
            r.p(99.0),
            mark(r.p(99.0) < TARGET_P99_MS),
            r.rss_mb(),
            mark(r.rss_mb() < TARGET_RSS_MB),
            r.failures(),
            r.rows,
            if r.durable() { "yes" } else { "NO" }
        );
    }
    println!(
        "targets: ≥ {TARGET_ACCEPTED_PER_S:.0} accepted/s, p99 < {TARGET_P99_MS:.0} ms at {}/s, peak RSS < {TARGET_RSS_MB:.0} MB (a MISS is reported, not failed;\n\
         any non-200 or a row count that differs from the accepted count fails the bench)",
        s.rate
    );
}
