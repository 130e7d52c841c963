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
//! The load generator (`common/`, shared with the IVR bench) is a minimal HTTP/1.1 keep-alive
//! client over raw sockets on one thread, with every request (headers, body, HMAC) serialised
//! before timing starts: it costs a few percent of a core, so on a small machine the server, not
//! the client, is what gets measured. It still shares the CPU with the server (and PostgreSQL); the
//! report shows who used how much.
//!
//! Under `cargo test`/`cargo nextest` (no `--bench` argument) this target does nothing.

// The order payload is one big `json!` literal.
#![recursion_limit = "256"]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

mod common;
use common::*;

const SHOPS: usize = 200;

// Targets this bench reports against.
const TARGET_ACCEPTED_PER_S: f64 = 6_000.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET_RSS_MB: f64 = 100.0;

struct Settings {
    bin: std::path::PathBuf,
    warmup: usize,
    requests: usize,
    connections: usize,
    rate: u32,
    seconds: u64,
    pg_admin_url: String,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let s = Settings {
            bin: release_bin(),
            warmup: env_num("BENCH_WARMUP", 2_000)?,
            requests: env_num("BENCH_REQUESTS", 60_000)?,
            connections: env_num("BENCH_CONNECTIONS", 64)?,
            rate: env_num("BENCH_RATE", 1_000)?,
            seconds: env_num("BENCH_SECONDS", 10)?,
            pg_admin_url: pg_admin_url(),
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
    let Some(args) = bench_args("webhooks", "cargo build --release && cargo bench --bench webhooks -- [sqlite|postgres]") else {
        return ExitCode::SUCCESS;
    };
    let Some(backends) = backends("webhooks", &args, "sqlite and/or postgres", |_| false) else {
        return ExitCode::from(2);
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("webhooks bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    if !bin_present("webhooks", &settings.bin) {
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
    let domain = shop_domain(shop);

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
        "order_status_url": format!("https://{domain}/9{shop:04}/orders/{token}/authenticate?key=k{n}"),
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
            order_webhook(port, &shop_domain(shop), &body, "2026-11-22T10:15:00.000000000Z", Some("*/*"))
        })
        .collect();
    (reqs, body_bytes)
}

// ---------------------------------------------------------------------------------------------
// The latency phase

/// The open loop's answers, as this bench reports them.
struct Latency {
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

impl Latency {
    fn of(run: OpenLoop) -> Latency {
        let mut out = Latency {
            accepted: 0,
            failures: Failures::default(),
            latencies: Vec::with_capacity(run.samples.len()),
            service: Vec::with_capacity(run.samples.len()),
            lag: Vec::with_capacity(run.samples.len()),
            max_connections: run.max_connections,
            elapsed: run.elapsed,
        };
        for smp in run.samples {
            match smp.result {
                Ok(200) => {
                    out.accepted += 1;
                    out.latencies.push(smp.latency());
                    out.service.push(smp.done - smp.sent);
                    out.lag.push(smp.sent.saturating_duration_since(smp.scheduled));
                }
                Ok(s) => *out.failures.statuses.entry(s).or_default() += 1,
                Err(e) => out.failures.error(e),
            }
        }
        out
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
    latency: Latency,
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
    let db = BenchDb::create(backend, &s.pg_admin_url).await?;
    let result = run_on(backend, s, &db).await;
    db.destroy("webhooks").await;
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
    let mut server = Server::start(&s.bin, addr, db.url(), &[("RUN_MODE", "web")])?;
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
    let mut latency = Latency::of(open_loop(addr, reqs.clone(), first..first + latency_count, s.rate).await?);
    latency.latencies.sort_unstable();

    let rss_peak_kb = proc_status_kb(server.pid(), "VmHWM:");
    let rss_end_kb = proc_status_kb(server.pid(), "VmRSS:");
    let durability = db.durability_note().await;
    let stop = server.stop(Duration::from_secs(30))?;
    let rows = db
        .count("SELECT COUNT(*) FROM webhooks WHERE topic = 'orders/create'")
        .await
        .context("counting stored webhooks")?;

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
