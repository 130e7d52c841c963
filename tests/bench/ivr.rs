//! IVR benchmark: the Exotel callbacks under load, how soon an accepted order's call (or, on the
//! plan [whatsapp, ivr], its WhatsApp message) goes out, and how a large backlog of due calls or
//! messages drains under Exotel's per-account rate limit — on SQLite and on PostgreSQL.
//!
//! ```text
//! cargo build --release && cargo bench --bench ivr -- [sqlite|postgres] [callbacks|latency|backlog|wa-latency|wa-backlog]
//! cargo bench --bench ivr -- postgres wa-backlog                       # e.g. one database, one phase
//! BENCH_WA_ORDERS=2000 cargo bench --bench ivr -- sqlite wa-backlog    # a smaller backlog
//! ```
//!
//! With no database named it runs both; with no phase named it runs all five. It builds nothing
//! itself: it starts `target/release/codverify` (or `$BENCH_BIN`) as a child process with
//! `RUN_MODE=all` (web and workers in one process) and `TEST_CLOCK=1` (the app clock stands still at
//! 10:00 in India, inside calling hours, and moves only by `POST /_test/clock/advance`). A fake
//! Exotel (Calls/connect, Numbers, Balance, v2 WhatsApp messages) and a fake Shopify (token exchange, Admin GraphQL) run
//! inside the bench on their own thread, answer at once, never rate limit, and record the arrival
//! `Instant` of every request. Shops are installed and configured as a merchant's browser would:
//! a session token (HS256) to `GET /app/api/settings`, then `PUT /app/api/settings`.
//!
//! Phases, each against a fresh database and a fresh app process:
//! 1. **callbacks**: `BENCH_CB_SHOPS` (4) shops with `BENCH_CB_CALLS` (400) placed calls, half of
//!    them already confirmed by a key press; then an open loop at `BENCH_RATE` (1,000) requests/s
//!    for `BENCH_SECONDS` (10) s, after a 2,000-request warm-up: 50% `GET /exotel/{key}/greeting`,
//!    25% `GET /exotel/{key}/ivr/input` with `digits="9"` on a pending order (not an offered choice:
//!    422, records the digits and a timeline event), 25% `ivr/input` with `digits="1"` on an order
//!    already confirmed (200, changes nothing but the digits and a timeline event). p50/p99 per
//!    endpoint, from each request's scheduled send time. Target: p99 < 5 ms.
//! 2. **latency**: `BENCH_LATENCY_ORDERS` (200) signed `orders/create` webhooks, each a distinct COD
//!    order with its own phone number, at `BENCH_LATENCY_RATE` (10)/s, open loop, over 4 shops with
//!    immediate first calls → time from the webhook's 200 to the Calls/connect for that phone at the
//!    fake Exotel. `EXOTEL_CALLS_PER_MINUTE=6000` (the app's maximum) so that the rate limit is not
//!    what is measured. Target: p50 < 1 s, p99 < 2 s.
//! 3. **backlog**: `BENCH_BACKLOG_CALLS` (20,000) orders over `BENCH_BACKLOG_SHOPS` (200) shops on
//!    `BENCH_BACKLOG_ACCOUNTS` (20) Exotel accounts (shop i uses `acct{i % 20}`), first call 60 min
//!    after the order, Exotel limit `BENCH_CALLS_PER_MINUTE` (200, the app's default). Once every
//!    attempt is queued the app clock moves 3,600 s, so all are due at once; then, at the fake: per
//!    account, the most Calls/connect (and Numbers lookups) in any sliding 60 s window (must be ≤ the
//!    limit) and the sustained rate from its first to its last call (must be ≥ 95% of the limit); per
//!    shop, the wait from the clock advance to its first and to its last call (fairness).
//! 4. **wa-latency** and 5. **wa-backlog** (in `ivr/whatsapp.rs`): the same two measures for the
//!    WhatsApp step of the plan [whatsapp, ivr], the fake answering Exotel's v2 messages API (202,
//!    a sid per message): `BENCH_WA_LATENCY_ORDERS` (200) orders at `BENCH_LATENCY_RATE` → the
//!    fake's receipt of each order's message (target p50 < 1 s); `BENCH_WA_ORDERS` (20,000) orders
//!    over `BENCH_WA_SHOPS` (200) shops on `BENCH_WA_ACCOUNTS` (20) accounts, all due at once when
//!    the shops' hours open, paced by the `{account}/whatsapp` budget (`BENCH_CALLS_PER_MINUTE`):
//!    worst sliding minute per account (≤ the limit), sustained rate (≥ 95%), each shop's wait for
//!    its first and last message, and exactly one message per order. `BENCH_WA_HOURS=open`: the
//!    orders come in during the shops' hours instead (each message due as its order arrives).
//!
//! A phase fails (exit status 1) on any unexpected HTTP status, I/O error, lost or duplicated call
//! or message, or a sliding minute over the limit; a missed latency or throughput target is reported as MISS, not failed.
//!
//! PostgreSQL: `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) is used
//! only to create and finally drop a fresh `codverify_bench_<random>` database. SQLite: a fresh file
//! under `$TMPDIR` (removed afterwards). The load generator (`common/`) is the webhooks bench's
//! raw-socket HTTP/1.1 client, on one thread; it shares the 2 cores with the server, the fakes and
//! the database.
//!
//! Under `cargo test`/`cargo nextest` (no `--bench` argument) this target does nothing.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

mod common;
use common::*;
// The WhatsApp phases (plan [whatsapp, ivr]).
#[path = "ivr/whatsapp.rs"]
mod whatsapp;

const COD: &str = "Cash on Delivery (COD)";
/// The app's highest `EXOTEL_CALLS_PER_MINUTE`: used where the rate limit is not what is measured.
const UNLIMITED_CPM: i64 = 6000;
const MINUTE: Duration = Duration::from_secs(60);

// Targets this bench reports against.
const TARGET_CALLBACK_P99_MS: f64 = 5.0;
const TARGET_LATENCY_P50_MS: f64 = 1_000.0;
const TARGET_LATENCY_P99_MS: f64 = 2_000.0;
const TARGET_SUSTAINED_SHARE: f64 = 0.95;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Callbacks,
    Latency,
    Backlog,
    WaBacklog,
    WaLatency,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Callbacks => "callbacks",
            Phase::Latency => "latency",
            Phase::Backlog => "backlog",
            Phase::WaBacklog => "wa-backlog",
            Phase::WaLatency => "wa-latency",
        }
    }
}

struct Settings {
    bin: std::path::PathBuf,
    pg_admin_url: String,
    cb_shops: usize,
    cb_calls: usize,
    cb_rate: u32,
    cb_seconds: u64,
    lat_orders: usize,
    lat_rate: u32,
    bl_calls: usize,
    bl_shops: usize,
    bl_accounts: usize,
    bl_cpm: i64,
    wa_orders: usize,
    wa_shops: usize,
    wa_accounts: usize,
    wa_lat_orders: usize,
    /// wa-backlog: orders taken before the shops' hours, all due at once (else during them).
    wa_overnight: bool,
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let s = Settings {
            bin: release_bin(),
            pg_admin_url: pg_admin_url(),
            cb_shops: env_num("BENCH_CB_SHOPS", 4)?,
            cb_calls: env_num("BENCH_CB_CALLS", 400)?,
            cb_rate: env_num("BENCH_RATE", 1_000)?,
            cb_seconds: env_num("BENCH_SECONDS", 10)?,
            lat_orders: env_num("BENCH_LATENCY_ORDERS", 200)?,
            lat_rate: env_num("BENCH_LATENCY_RATE", 10)?,
            bl_calls: env_num("BENCH_BACKLOG_CALLS", 20_000)?,
            bl_shops: env_num("BENCH_BACKLOG_SHOPS", 200)?,
            bl_accounts: env_num("BENCH_BACKLOG_ACCOUNTS", 20)?,
            bl_cpm: env_num("BENCH_CALLS_PER_MINUTE", 200)?,
            wa_orders: env_num("BENCH_WA_ORDERS", 20_000)?,
            wa_shops: env_num("BENCH_WA_SHOPS", 200)?,
            wa_accounts: env_num("BENCH_WA_ACCOUNTS", 20)?,
            wa_lat_orders: env_num("BENCH_WA_LATENCY_ORDERS", 200)?,
            wa_overnight: match std::env::var("BENCH_WA_HOURS").as_deref() {
                Err(_) | Ok("closed") => true,
                Ok("open") => false,
                Ok(other) => bail!("BENCH_WA_HOURS must be closed or open, not {other:?}"),
            },
        };
        if [s.cb_shops, s.cb_calls, s.lat_orders, s.bl_calls, s.bl_shops, s.bl_accounts, s.wa_orders, s.wa_shops, s.wa_accounts, s.wa_lat_orders].contains(&0)
            || s.cb_rate == 0
            || s.cb_seconds == 0
            || s.lat_rate == 0
        {
            bail!("every BENCH_* count, rate and duration must be positive");
        }
        if s.cb_calls < 2 * s.cb_shops
            || s.bl_accounts > s.bl_shops
            || s.wa_accounts > s.wa_shops
            || s.bl_calls > 200_000
            || s.wa_orders > 200_000
            || s.lat_orders > 10_000
            || s.wa_lat_orders > 10_000
        {
            bail!("bench settings out of range (BENCH_CB_CALLS ≥ 2 per shop, accounts ≤ shops, ≤ 200,000 backlog calls or messages, ≤ 10,000 latency orders)");
        }
        if s.cb_rate > 50_000 || s.cb_seconds > 300 || s.lat_rate > 1_000 {
            bail!("bench settings out of range (at most 50,000/s for 300 s; latency rate at most 1,000/s)");
        }
        if !(10..=UNLIMITED_CPM).contains(&s.bl_cpm) {
            bail!("BENCH_CALLS_PER_MINUTE must be from 10 to {UNLIMITED_CPM}, as the app's EXOTEL_CALLS_PER_MINUTE");
        }
        Ok(s)
    }
}

fn main() -> ExitCode {
    let Some(args) = bench_args(
        "ivr",
        "cargo build --release && cargo bench --bench ivr -- [sqlite|postgres] [callbacks|latency|backlog|wa-backlog|wa-latency]",
    ) else {
        return ExitCode::SUCCESS;
    };
    let mut phases = Vec::new();
    let mut phase = |a: &str| {
        phases.push(match a {
            "callbacks" => Phase::Callbacks,
            "latency" => Phase::Latency,
            "backlog" => Phase::Backlog,
            "wa-backlog" => Phase::WaBacklog,
            "wa-latency" => Phase::WaLatency,
            _ => return false,
        });
        true
    };
    let Some(backends) = backends("ivr", &args, "sqlite, postgres, callbacks, latency, backlog, wa-backlog, wa-latency", &mut phase) else {
        return ExitCode::from(2);
    };
    if phases.is_empty() {
        phases = vec![Phase::Callbacks, Phase::Latency, Phase::Backlog, Phase::WaLatency, Phase::WaBacklog];
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ivr bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    if !bin_present("ivr", &settings.bin) {
        return ExitCode::from(2);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    // One thread for the load generator and the set-up client: it leaves the cores to the server.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");

    let mut summary: Vec<String> = Vec::new();
    let mut ok = true;
    for backend in &backends {
        for phase in &phases {
            println!("\n=== {} / {} ===", backend.name(), phase.name());
            match rt.block_on(run_phase(*backend, *phase, &settings)) {
                Ok(r) => {
                    ok &= r.passed;
                    summary.push(format!("{:<9} {:<10} {}", backend.name(), phase.name(), r.summary));
                }
                Err(e) => {
                    eprintln!("ivr bench ({} / {}): FAILED: {e:#}", backend.name(), phase.name());
                    summary.push(format!("{:<9} {:<10} FAILED: {e:#}", backend.name(), phase.name()));
                    ok = false;
                }
            }
        }
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("\n=== summary: codverify IVR ({cores} CPUs shared by server, fakes, load generator and database) ===");
    for line in &summary {
        println!("{line}");
    }
    println!(
        "targets: callbacks p99 < {TARGET_CALLBACK_P99_MS:.0} ms; order → Calls/connect (or WhatsApp request) p50 < {:.0} s, p99 < {:.0} s; \
         backlogs ≤ limit in every 60 s window and ≥ {:.0}% of it sustained (a MISS is reported; a window over the limit, a lost or \
         duplicated call or message, or an unexpected status fails)",
        TARGET_LATENCY_P50_MS / 1e3,
        TARGET_LATENCY_P99_MS / 1e3,
        TARGET_SUSTAINED_SHARE * 100.0
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("\nivr bench: FAILED (see above)");
        ExitCode::FAILURE
    }
}

/// What a phase hands to the summary.
struct PhaseResult {
    passed: bool,
    summary: String,
}

async fn run_phase(backend: Backend, phase: Phase, s: &Settings) -> anyhow::Result<PhaseResult> {
    let db = BenchDb::create(backend, &s.pg_admin_url).await?;
    let result = async {
        let fakes = Fakes::start()?;
        let cpm = if matches!(phase, Phase::Backlog | Phase::WaBacklog) { s.bl_cpm } else { UNLIMITED_CPM };
        let mut app = App::start(s, &db, &fakes, cpm).await?;
        println!("database        {}", db.durability_note().await);
        println!("start-up        {:.2} s to GET /healthz 200 (migrations included); EXOTEL_CALLS_PER_MINUTE={cpm}", app.startup.as_secs_f64());
        let r = match phase {
            Phase::Callbacks => callbacks(s, &mut app, &db, &fakes).await,
            Phase::Latency => latency(s, &mut app, &fakes).await,
            Phase::Backlog => backlog(s, &mut app, &db, &fakes).await,
            Phase::WaBacklog => whatsapp::backlog(s, &mut app, &db, &fakes).await,
            Phase::WaLatency => whatsapp::latency(s, &mut app, &fakes).await,
        };
        let rss = proc_status_kb(app.server.pid(), "VmHWM:");
        let stop = app.server.stop(Duration::from_secs(60));
        fakes.stop();
        let r = r?;
        let stop = stop?;
        println!(
            "memory          peak RSS (VmHWM) {:.1} MB; graceful exit {:.2} s after SIGTERM",
            rss.map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN),
            stop.as_secs_f64()
        );
        anyhow::Ok(r)
    }
    .await;
    db.destroy("ivr").await;
    result
}

// ---------------------------------------------------------------------------------------------
// Fake Exotel and fake Shopify (one HTTP server on its own thread: both origins point at it)

/// One request the fake Exotel received.
#[derive(Clone, Debug)]
struct Hit {
    account: String,
    /// Calls/connect: the customer's number (`From`); Numbers: the number looked up.
    number: String,
    /// Calls/connect: the attempt id (`CustomField`).
    custom_field: String,
    at: Instant,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Hit>,
    lookups: Vec<Hit>,
    /// WhatsApp messages (v2 messages API): `number` is `to`, `custom_field` the message id.
    messages: Vec<Hit>,
    balance_checks: usize,
    /// Requests to Exotel without Basic credentials (the real one would answer 401).
    unauthenticated: usize,
    token_requests: usize,
    graphql_requests: usize,
    issued: u64,
}

type Shared = Arc<Mutex<FakeState>>;

struct Fakes {
    origin: String,
    state: Shared,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Fakes {
    fn start() -> anyhow::Result<Fakes> {
        let state = Shared::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let origin = format!("http://{}", listener.local_addr()?);
        let router = Router::new()
            .route("/v1/Accounts/{sid}/Calls/connect.json", post(fake_connect))
            .route("/v1/Accounts/{sid}/Numbers/{number}", get(fake_numbers))
            .route("/v1/Accounts/{sid}/Balance.json", get(fake_balance))
            .route("/v2/accounts/{sid}/messages", post(fake_whatsapp))
            .route("/admin/oauth/access_token", post(fake_token))
            .route("/admin/api/{version}/graphql.json", post(fake_graphql))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("fakes".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("fakes runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("fakes listener");
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
        })?;
        Ok(Fakes {
            origin,
            state,
            stop: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }

    fn calls(&self) -> Vec<Hit> {
        self.state.lock().unwrap().calls.clone()
    }

    fn call_count(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    fn lookups(&self) -> Vec<Hit> {
        self.state.lock().unwrap().lookups.clone()
    }

    fn messages(&self) -> Vec<Hit> {
        self.state.lock().unwrap().messages.clone()
    }

    fn message_count(&self) -> usize {
        self.state.lock().unwrap().messages.len()
    }
}

fn has_basic_auth(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
}

fn json_response(body: Value) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn last10(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].iter().collect()
}

async fn fake_connect(State(state): State<Shared>, UrlPath(sid): UrlPath<String>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let from = form.get("From").cloned().unwrap_or_default();
    let call_sid = {
        let mut s = state.lock().unwrap();
        if !has_basic_auth(&headers) {
            s.unauthenticated += 1;
        }
        s.issued += 1;
        s.calls.push(Hit {
            account: sid.clone(),
            number: from.clone(),
            custom_field: form.get("CustomField").cloned().unwrap_or_default(),
            at,
        });
        format!("{:031x}g", s.issued)
    };
    json_response(json!({"Call": {
        "Sid": call_sid, "ParentCallSid": null, "AccountSid": sid, "To": form.get("CallerId"), "From": from,
        "Status": "in-progress", "Direction": "outbound-api", "StartTime": "2026-11-22 10:00:00",
        "Uri": format!("/v1/Accounts/{sid}/Calls/{call_sid}.json")
    }}))
}

async fn fake_numbers(State(state): State<Shared>, UrlPath((sid, number)): UrlPath<(String, String)>, headers: axum::http::HeaderMap) -> Response {
    let at = Instant::now();
    let number = number.strip_suffix(".json").unwrap_or(&number).to_string();
    {
        let mut s = state.lock().unwrap();
        if !has_basic_auth(&headers) {
            s.unauthenticated += 1;
        }
        s.lookups.push(Hit {
            account: sid,
            number: number.clone(),
            custom_field: String::new(),
            at,
        });
    }
    json_response(json!({"Numbers": {
        "PhoneNumber": format!("0{}", last10(&number)), "Circle": "MH", "CircleName": "Maharashtra Telecom Circle",
        "Type": "Mobile", "Operator": "A", "OperatorName": "Airtel", "DND": "No"
    }}))
}

/// `POST /v2/accounts/{sid}/messages`: one template message per request, as the app sends them;
/// 202 with a fresh sid, the shape `exotel::whatsapp::read_answer` takes.
async fn fake_whatsapp(State(state): State<Shared>, UrlPath(sid): UrlPath<String>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let m = req.pointer("/whatsapp/messages/0").cloned().unwrap_or(Value::Null);
    let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let message_sid = {
        let mut s = state.lock().unwrap();
        if !has_basic_auth(&headers) {
            s.unauthenticated += 1;
        }
        s.issued += 1;
        s.messages.push(Hit {
            account: sid,
            number: field("to"),
            custom_field: field("custom_data"),
            at,
        });
        format!("wa{:030x}", s.issued)
    };
    let answer = json!({"request_id": message_sid, "method": "POST", "http_code": 202, "metadata": {"failed": 0, "total": 1, "success": 1},
        "response": {"whatsapp": {"messages": [{"code": 202, "status": "success", "data": {"sid": message_sid}, "error_data": null}]}}});
    (axum::http::StatusCode::ACCEPTED, [(axum::http::header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

async fn fake_balance(State(state): State<Shared>, UrlPath(sid): UrlPath<String>) -> Response {
    state.lock().unwrap().balance_checks += 1;
    json_response(json!({"Balance": {"AccountSid": sid, "Amount": "1000.00", "Currency": "INR"}}))
}

async fn fake_token(State(state): State<Shared>) -> Response {
    let n = {
        let mut s = state.lock().unwrap();
        s.token_requests += 1;
        s.token_requests
    };
    json_response(json!({
        "access_token": format!("shpat_bench_{n}"),
        "scope": "read_orders,write_orders",
        "expires_in": 86_400,
        "refresh_token": format!("shprt_bench_{n}"),
        "refresh_token_expires_in": 7_776_000,
    }))
}

async fn fake_graphql(State(state): State<Shared>, body: Bytes) -> Response {
    state.lock().unwrap().graphql_requests += 1;
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let query = req.get("query").and_then(Value::as_str).unwrap_or("");
    let data = if query.contains("tagsAdd") {
        json!({"tagsAdd": {"node": {"id": req["variables"]["id"]}, "userErrors": []}})
    } else if query.contains("orderCancel") {
        json!({"orderCancel": {"job": {"id": "gid://shopify/Job/1", "done": false}, "orderCancelUserErrors": []}})
    } else {
        json!({})
    };
    let cost = json!({"requestedQueryCost": 10, "actualQueryCost": 10,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990, "restoreRate": 100.0}});
    json_response(json!({"data": data, "extensions": {"cost": cost}}))
}

// ---------------------------------------------------------------------------------------------
// The app under test

/// The running app with a set-up client (reqwest) and its frozen clock.
struct App {
    server: Server,
    startup: Duration,
    http: reqwest::Client,
    base: String,
    /// The app clock in unix seconds (it stands still between advances).
    now_secs: i64,
}

impl App {
    async fn start(s: &Settings, db: &BenchDb, fakes: &Fakes, calls_per_minute: i64) -> anyhow::Result<App> {
        let addr = Server::free_addr()?;
        let cpm = calls_per_minute.to_string();
        let env = [
            ("SHOPIFY_API_ORIGIN", fakes.origin.as_str()),
            ("EXOTEL_API_ORIGIN", fakes.origin.as_str()),
            ("EXOTEL_CALLS_PER_MINUTE", cpm.as_str()),
            ("TEST_CLOCK", "1"),
            ("RUN_MODE", "all"),
        ];
        let mut server = Server::start(&s.bin, addr, db.url(), &env)?;
        let startup = server.wait_healthy().await?;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        let mut app = App {
            server,
            startup,
            http,
            base: format!("http://{addr}"),
            now_secs: 0,
        };
        let clock: Value = app.http.get(app.url("/_test/clock")).send().await?.error_for_status()?.json().await?;
        let now_ms = clock["now_ms"].as_i64().context("GET /_test/clock: no now_ms")?;
        app.now_secs = now_ms / 1000;
        // Every phase starts at 10:00 in India, well inside calling hours.
        app.advance(secs_until_ist(now_ms, 10, 0)).await?;
        Ok(app)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn advance(&mut self, seconds: i64) -> anyhow::Result<()> {
        let r = self.http.post(self.url(&format!("/_test/clock/advance?seconds={seconds}"))).send().await?;
        if r.status() != 200 {
            bail!("clock advance: HTTP {}", r.status());
        }
        let v: Value = r.json().await?;
        self.now_secs = v["now_ms"].as_i64().context("clock advance: no now_ms")? / 1000;
        Ok(())
    }

    /// An App Bridge session token as Shopify would sign it, valid now on the app clock.
    fn session_token(&self, shop: &str) -> String {
        let now = self.now_secs;
        let claims = json!({
            "iss": format!("https://{shop}/admin"), "dest": format!("https://{shop}"), "aud": API_KEY,
            "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": uuid::Uuid::new_v4().to_string(), "sid": "bench",
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("session token")
    }

    /// Installs `shop` by token exchange and saves IVR settings on Exotel account `account`, with
    /// `ivr` fields over the defaults of [`settings_doc`]. Returns the shop's callback key.
    async fn install(&self, shop: &str, account: &str, ivr: Value) -> anyhow::Result<String> {
        self.install_doc(shop, settings_doc(account, ivr)).await
    }

    /// Installs `shop` and saves the settings document `doc`. Returns the shop's callback key.
    async fn install_doc(&self, shop: &str, doc: Value) -> anyhow::Result<String> {
        let r = self.http.get(self.url("/app/api/settings")).bearer_auth(self.session_token(shop)).send().await?;
        if r.status() != 200 {
            bail!("install of {shop}: HTTP {}: {}", r.status(), r.text().await.unwrap_or_default());
        }
        let r = self.http.put(self.url("/app/api/settings")).bearer_auth(self.session_token(shop)).json(&doc).send().await?;
        if r.status() != 200 {
            bail!("settings of {shop}: HTTP {}: {}", r.status(), r.text().await.unwrap_or_default());
        }
        let saved: Value = r.json().await?;
        let url = saved["callback_urls"]["greeting"].as_str().map(str::to_string).or_else(|| {
            // Whatever the document calls them, every callback URL holds the key after /exotel/.
            saved["callback_urls"].as_object()?.values().find_map(|v| v.as_str().map(str::to_string))
        });
        let key = url
            .as_deref()
            .and_then(|u| u.split("/exotel/").nth(1))
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string);
        match key {
            Some(k) => Ok(k),
            None => {
                // Fall back on a fresh GET.
                let r = self.http.get(self.url("/app/api/settings")).bearer_auth(self.session_token(shop)).send().await?;
                let doc: Value = r.json().await?;
                doc["callback_urls"]
                    .as_object()
                    .and_then(|m| m.values().find_map(|v| v.as_str()?.split("/exotel/").nth(1)?.split('/').next().map(str::to_string)))
                    .with_context(|| format!("no callback URL in the settings of {shop}"))
            }
        }
    }
}

/// The settings document of an IVR shop on Exotel account `account`, with `ivr` fields over the
/// defaults below.
fn settings_doc(account: &str, ivr: Value) -> Value {
    let mut section = json!({"first_call": "immediate", "exophone": "08047112345", "flow_id": "123456", "retries": 2,
        "retry_interval_minutes": 30, "timezone": "Asia/Kolkata", "window_start": "00:00", "window_end": "23:59",
        "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled", "callback_tag": "cod_callback"});
    for (k, v) in ivr.as_object().into_iter().flatten() {
        section[k] = v.clone();
    }
    json!({"general": {"verify": "cod", "method": "ivr", "exotel_subdomain": "api.in.exotel.com",
        "account_sid": account, "api_key": format!("key-{account}"), "api_token": format!("token-{account}")}, "ivr": section})
}

/// Seconds from `now_ms` to the next hh:mm:00 in Asia/Kolkata (UTC+05:30, no DST).
fn secs_until_ist(now_ms: i64, hh: u32, mm: u32) -> i64 {
    let ist_secs_of_day = (now_ms / 1000 + 19_800).rem_euclid(86_400);
    let target = i64::from(hh * 3600 + mm * 60);
    let d = (target - ist_secs_of_day).rem_euclid(86_400);
    if d == 0 { 86_400 } else { d }
}

/// Customer phone of order `n`: distinct per order, so a call maps back to its order.
fn phone_of(n: usize) -> String {
    format!("98{:08}", n % 100_000_000)
}

/// A signed `orders/create` delivery (COD, the customer's phone on the shipping address), as raw
/// HTTP/1.1 bytes.
fn order_request(port: u16, shop: &str, n: usize) -> Vec<u8> {
    let id = 5_600_000_000_000u64 + n as u64;
    let body = json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{}", 1001 + n),
        "order_number": 1001 + n,
        "total_price": format!("{}.00", 199 + n % 2800),
        "currency": "INR",
        "financial_status": "pending",
        "payment_gateway_names": [COD],
        "email": format!("customer{n}@example.com"),
        "phone": null,
        "created_at": "2026-11-22T10:00:00+05:30",
        "cancelled_at": null,
        "shipping_address": {"first_name": "Asha", "last_name": "Rao", "phone": format!("+91 {}", phone_of(n)), "city": "Pune",
            "zip": "411001", "country_code": "IN"},
        "billing_address": null,
        "customer": {"id": 7_000_000 + n, "email": format!("customer{n}@example.com"), "phone": null, "first_name": "Asha", "last_name": "Rao"},
        "line_items": [{"title": "Cotton Kurta", "quantity": 1, "price": format!("{}.00", 199 + n % 2800), "sku": format!("KRT-{n}")}],
    })
    .to_string();
    order_webhook(port, shop, &body, "2026-11-22T04:30:00.000000000Z", None)
}

fn get_request(port: u16, path_and_query: &str) -> Vec<u8> {
    format!("GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: Exotel\r\nAccept: */*\r\n\r\n").into_bytes()
}

/// Polls `f` every 250 ms until it returns true, or fails after `limit` (checking the child too).
async fn wait_until<F, Fut>(app: &mut App, limit: Duration, what: &str, mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    loop {
        if f().await? {
            return Ok(start.elapsed());
        }
        app.server.check_alive()?;
        if start.elapsed() > limit {
            bail!("timed out after {:.0} s waiting for {what}", limit.as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: callbacks

async fn callbacks(s: &Settings, app: &mut App, db: &BenchDb, fakes: &Fakes) -> anyhow::Result<PhaseResult> {
    let port = app.server.addr.port();
    for i in 0..s.cb_shops {
        app.install(&shop_domain(i), &format!("acct{i}"), json!({})).await?;
    }
    // Placed calls to call back about.
    let orders: Vec<Vec<u8>> = (0..s.cb_calls).map(|n| order_request(port, &shop_domain(n % s.cb_shops), n)).collect();
    let r = closed_loop(app.server.addr, Arc::new(orders), 0..s.cb_calls, 16, Duration::from_secs(120)).await;
    if r.failures.total() > 0 {
        bail!("orders for set-up: {}", r.failures.describe());
    }
    let want = s.cb_calls as i64;
    wait_until(app, Duration::from_secs(180), "every set-up call to be placed", move || async move {
        Ok(db.count("SELECT COUNT(*) FROM call_attempts WHERE state = 'placed'").await? == want)
    })
    .await?;
    let placed = db
        .rows3("SELECT a.id, s.exotel_key, a.call_sid FROM call_attempts a JOIN shops s ON s.id = a.shop_id WHERE a.state = 'placed' ORDER BY a.id")
        .await?;
    // Half of them confirmed by key 1 (as the caller would), the other half left pending.
    let (confirmed, pending): (Vec<_>, Vec<_>) = placed.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let confirmed: Vec<&(String, String, String)> = confirmed.into_iter().map(|(_, a)| a).collect();
    let pending: Vec<&(String, String, String)> = pending.into_iter().map(|(_, a)| a).collect();
    for (id, key, sid) in &confirmed {
        let r = app
            .http
            .get(app.url(&format!("/exotel/{key}/ivr/input")))
            .query(&[("CallSid", sid.as_str()), ("digits", "\"1\""), ("CustomField", id.as_str())])
            .send()
            .await?;
        if r.status() != 200 {
            bail!("confirming a set-up call: HTTP {}", r.status());
        }
    }
    let n_confirmed = confirmed.len() as i64;
    wait_until(app, Duration::from_secs(60), "the set-up confirmations to reach Shopify", move || async move {
        Ok(fakes.state.lock().unwrap().graphql_requests as i64 >= n_confirmed)
    })
    .await?;

    // Requests: kind 0 greeting (50%), 1 invalid key on a pending order, 2 repeat of key 1 on a
    // confirmed order.
    const KINDS: [(&str, u16); 3] = [
        ("GET greeting", 200),
        ("GET ivr/input digits=\"9\" (invalid key, pending order)", 422),
        ("GET ivr/input digits=\"1\" (repeat, confirmed order)", 200),
    ];
    let warmup = 2_000;
    let total = warmup + s.cb_rate as usize * s.cb_seconds as usize;
    let mut reqs = Vec::with_capacity(total);
    let mut kinds = Vec::with_capacity(total);
    for k in 0..total {
        let (kind, (id, key, sid)) = match k % 4 {
            0 | 2 => (0, placed[(k / 2) % placed.len()].clone()),
            1 => (1, pending[(k / 4) % pending.len()].clone()),
            _ => (2, confirmed[(k / 4) % confirmed.len()].clone()),
        };
        let path = match kind {
            0 => format!("/exotel/{key}/greeting?CallSid={sid}&CustomField={id}"),
            1 => format!("/exotel/{key}/ivr/input?CallSid={sid}&digits=%229%22&CustomField={id}"),
            _ => format!("/exotel/{key}/ivr/input?CallSid={sid}&digits=%221%22&CustomField={id}"),
        };
        reqs.push(get_request(port, &path));
        kinds.push(kind);
    }
    let reqs = Arc::new(reqs);
    let w = closed_loop_expect(app.server.addr, reqs.clone(), 0..warmup, 16, Duration::from_secs(60), |i| KINDS[kinds[i]].1).await;
    if w.failures.total() > 0 {
        bail!("warm-up failed: {}", w.failures.describe());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = CpuSnapshot::take(app.server.pid());
    let samples = open_loop(app.server.addr, reqs.clone(), warmup..total, s.cb_rate).await?.samples;
    let cpu = CpuSnapshot::take(app.server.pid()).usage_since(&before);

    let mut failures = Failures::default();
    let mut per_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    let mut all = Vec::new();
    let mut service = Vec::new();
    for smp in &samples {
        let kind = kinds[smp.index];
        match &smp.result {
            Ok(status) if *status == KINDS[kind].1 => {
                per_kind[kind].push(smp.latency());
                all.push(smp.latency());
                service.push(smp.done - smp.sent);
            }
            Ok(status) => *failures.statuses.entry(*status).or_default() += 1,
            Err(e) => failures.error(e),
        }
    }
    failures.unsent += (total - warmup).saturating_sub(samples.len());
    all.sort_unstable();
    service.sort_unstable();
    println!(
        "set-up          {} shops, {} placed calls ({} confirmed by key 1, {} pending); warm-up {warmup} requests",
        s.cb_shops,
        placed.len(),
        confirmed.len(),
        pending.len()
    );
    println!(
        "open loop       {}/s for {} s: {} answered as expected; failures: {}",
        s.cb_rate,
        s.cb_seconds,
        all.len(),
        if failures.total() == 0 { "none".into() } else { failures.describe() }
    );
    for (k, (name, status)) in KINDS.iter().enumerate() {
        let v = &mut per_kind[k];
        v.sort_unstable();
        println!(
            "  {name:<52} → {status}: n {:>6}, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            pct_ms(v, 50.0),
            pct_ms(v, 90.0),
            pct_ms(v, 99.0),
            pct_ms(v, 100.0)
        );
    }
    println!(
        "  all           p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms (from send: p50 {:.2} ms, p99 {:.2} ms)",
        pct_ms(&all, 50.0),
        pct_ms(&all, 99.0),
        pct_ms(&all, 99.9),
        pct_ms(&service, 50.0),
        pct_ms(&service, 99.0)
    );
    println!(
        "  CPU           server {:.0}%, load generator and fakes {:.0}%, everything else (PostgreSQL, kernel, other) {:.0}% of the machine",
        cpu.1, cpu.0, cpu.2
    );
    let worst = per_kind.iter().map(|v| pct_ms(v, 99.0)).fold(0.0, f64::max);
    let mark = if worst < TARGET_CALLBACK_P99_MS { "ok" } else { "MISS" };
    let summary = format!(
        "{}/s: greeting p50 {:.2} / p99 {:.2} ms; invalid key p50 {:.2} / p99 {:.2} ms; repeat key p50 {:.2} / p99 {:.2} ms [{mark}]; failures {}",
        s.cb_rate,
        pct_ms(&per_kind[0], 50.0),
        pct_ms(&per_kind[0], 99.0),
        pct_ms(&per_kind[1], 50.0),
        pct_ms(&per_kind[1], 99.0),
        pct_ms(&per_kind[2], 50.0),
        pct_ms(&per_kind[2], 99.0),
        failures.total()
    );
    Ok(PhaseResult {
        passed: failures.total() == 0,
        summary,
    })
}

// ---------------------------------------------------------------------------------------------
// Phase 2: order → call latency

async fn latency(s: &Settings, app: &mut App, fakes: &Fakes) -> anyhow::Result<PhaseResult> {
    const SHOPS: usize = 4;
    for i in 0..SHOPS {
        app.install(&shop_domain(i), &format!("acct{i}"), json!({"first_call": "immediate"})).await?;
    }
    let lat = contact_latency(s, app, s.lat_orders, SHOPS, &|| fakes.calls()).await?;
    lat.print(s, "", "call", "Calls/connect", &format!("; {} DND lookups", fakes.lookups().len()));
    let (p50, p99) = (lat.pct_ms(50.0), lat.pct_ms(99.0));
    let summary = format!(
        "{} orders at {}/s, EXOTEL_CALLS_PER_MINUTE={UNLIMITED_CPM}: accepted → Calls/connect p50 {p50:.0} ms [{}], p99 {p99:.0} ms [{}], max {:.0} ms; missing {}, failures {}",
        s.lat_orders,
        s.lat_rate,
        mark(p50 < TARGET_LATENCY_P50_MS),
        mark(p99 < TARGET_LATENCY_P99_MS),
        lat.pct_ms(100.0),
        lat.missing,
        lat.failures.total()
    );
    Ok(PhaseResult { passed: lat.passed(), summary })
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISS" }
}

/// What a latency phase measured: each accepted order's first contact with its customer (a call,
/// a WhatsApp message: a `Hit` on the fake) timed from the order's webhook.
struct ContactLatency {
    orders: usize,
    shops: usize,
    failures: Failures,
    /// The webhooks' own latency, sorted.
    ack: Vec<Duration>,
    accepted: usize,
    contacts: usize,
    /// Contact times from the webhook's 200 and from its scheduled send, sorted.
    from_ack: Vec<Duration>,
    from_sched: Vec<Duration>,
    /// Contacts that reached the fake before the load generator read the 200.
    early: usize,
    missing: usize,
    duplicated: usize,
    /// Contacts to a number no accepted order has.
    unmatched: usize,
    gave_up: bool,
}

/// Posts `orders` orders at `s.lat_rate`/s (open loop), order n to shop n % `shops`; waits up to
/// 60 s for a contact per accepted order (`contacts`: what the fake received so far) and matches
/// each to its order by the customer's number. Shared by the call and the WhatsApp latency phases.
async fn contact_latency(s: &Settings, app: &mut App, orders: usize, shops: usize, contacts: &dyn Fn() -> Vec<Hit>) -> anyhow::Result<ContactLatency> {
    let port = app.server.addr.port();
    let reqs: Vec<Vec<u8>> = (0..orders).map(|n| order_request(port, &shop_domain(n % shops), n)).collect();
    let samples = open_loop(app.server.addr, Arc::new(reqs), 0..orders, s.lat_rate).await?.samples;
    let mut failures = Failures::default();
    let mut accepted_at: HashMap<String, (Instant, Instant)> = HashMap::new();
    let mut ack = Vec::new();
    for smp in &samples {
        match &smp.result {
            Ok(200) => {
                accepted_at.insert(phone_of(smp.index), (smp.done, smp.scheduled));
                ack.push(smp.latency());
            }
            Ok(st) => *failures.statuses.entry(*st).or_default() += 1,
            Err(e) => failures.error(e),
        }
    }
    failures.unsent += orders.saturating_sub(samples.len());
    let accepted = accepted_at.len();
    let waited = wait_until(app, Duration::from_secs(60), "a contact for every accepted order", move || async move { Ok(contacts().len() >= accepted) }).await;
    let hits = contacts();
    let (mut from_ack, mut from_sched) = (Vec::new(), Vec::new());
    let (mut early, mut unmatched) = (0, 0);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for h in &hits {
        let phone = last10(&h.number);
        let Some(&(done, scheduled)) = accepted_at.get(&phone) else {
            unmatched += 1;
            continue;
        };
        *seen.entry(phone).or_default() += 1;
        if h.at < done {
            early += 1;
        }
        from_ack.push(h.at.saturating_duration_since(done));
        from_sched.push(h.at.saturating_duration_since(scheduled));
    }
    from_ack.sort_unstable();
    from_sched.sort_unstable();
    ack.sort_unstable();
    Ok(ContactLatency {
        orders,
        shops,
        failures,
        ack,
        accepted,
        contacts: hits.len(),
        from_ack,
        from_sched,
        early,
        missing: accepted_at.keys().filter(|p| !seen.contains_key(*p)).count(),
        duplicated: seen.values().filter(|n| **n > 1).count(),
        unmatched,
        gave_up: waited.is_err(),
    })
}

impl ContactLatency {
    /// Percentile `p` of the time from the webhook's 200 to the contact.
    fn pct_ms(&self, p: f64) -> f64 {
        pct_ms(&self.from_ack, p)
    }

    fn passed(&self) -> bool {
        self.failures.total() == 0 && self.missing == 0 && self.duplicated == 0 && self.unmatched == 0
    }

    /// The phase's report: the orders (`plan` after the shops), the contacts (`noun`: one of them;
    /// `requests`: what the fake counted; `extra` after the counts) and their times.
    fn print(&self, s: &Settings, plan: &str, noun: &str, requests: &str, extra: &str) {
        println!(
            "orders          {} webhooks at {}/s (open loop) over {} shops{plan}: {} accepted, webhook p50 {:.2} ms / p99 {:.2} ms; failures: {}",
            self.orders,
            s.lat_rate,
            self.shops,
            self.accepted,
            pct_ms(&self.ack, 50.0),
            pct_ms(&self.ack, 99.0),
            if self.failures.total() == 0 { "none".into() } else { self.failures.describe() }
        );
        println!(
            "{:<16}{} {requests} for {} accepted orders; missing {}, duplicated {}, unmatched {}{extra}{}",
            format!("{noun}s"),
            self.contacts,
            self.accepted,
            self.missing,
            self.duplicated,
            self.unmatched,
            if self.gave_up { " (gave up waiting after 60 s)" } else { "" }
        );
        println!(
            "{:<16}from the webhook's 200: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms{}",
            format!("order → {noun}"),
            self.pct_ms(50.0),
            self.pct_ms(90.0),
            self.pct_ms(99.0),
            self.pct_ms(100.0),
            if self.early > 0 { format!(" ({} {noun}s arrived before the client read the 200)", self.early) } else { String::new() }
        );
        println!(
            "                from the webhook's scheduled send: p50 {:.0} ms, p99 {:.0} ms",
            pct_ms(&self.from_sched, 50.0),
            pct_ms(&self.from_sched, 99.0)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: backlog under the rate limit

/// The most instants of `at` (sorted) within any 60 s window.
fn max_in_any_minute(at: &[Instant]) -> usize {
    let (mut best, mut lo) = (0, 0);
    for hi in 0..at.len() {
        while at[hi].duration_since(at[lo]) >= MINUTE {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn backlog(s: &Settings, app: &mut App, db: &BenchDb, fakes: &Fakes) -> anyhow::Result<PhaseResult> {
    let port = app.server.addr.port();
    let t = Instant::now();
    let mut shop_of_key = HashMap::new();
    for i in 0..s.bl_shops {
        let account = format!("acct{}", i % s.bl_accounts);
        let key = app
            .install(&shop_domain(i), &account, json!({"first_call": "after", "first_call_delay_minutes": 60}))
            .await?;
        shop_of_key.insert(key, i);
    }
    println!("set-up          {} shops installed and configured in {:.1} s", s.bl_shops, t.elapsed().as_secs_f64());
    let reqs: Vec<Vec<u8>> = (0..s.bl_calls).map(|n| order_request(port, &shop_domain(n % s.bl_shops), n)).collect();
    let r = closed_loop(app.server.addr, Arc::new(reqs), 0..s.bl_calls, 32, Duration::from_secs(600)).await;
    if r.failures.total() > 0 {
        bail!("posting the backlog's orders: {}", r.failures.describe());
    }
    println!(
        "orders          {} webhooks accepted in {:.1} s ({:.0}/s, closed loop, 32 connections)",
        r.accepted,
        r.elapsed.as_secs_f64(),
        r.accepted as f64 / r.elapsed.as_secs_f64()
    );
    let want = s.bl_calls as i64;
    let queued_in = wait_until(app, Duration::from_secs(900), "every order's first call to be queued", move || async move {
        Ok(db.count("SELECT COUNT(*) FROM call_attempts WHERE state = 'queued'").await? >= want)
    })
    .await?;
    println!(
        "intake          {} attempts queued (not yet due) {:.1} s after the last webhook; {} calls placed before the advance",
        want,
        queued_in.as_secs_f64(),
        fakes.call_count()
    );
    if fakes.call_count() > 0 {
        bail!("calls were placed before they were due");
    }
    // Every attempt's owner shop, by attempt id (the CustomField of its call).
    let attempts = db
        .rows3("SELECT a.id, s.exotel_key, a.account_sid FROM call_attempts a JOIN shops s ON s.id = a.shop_id")
        .await?;
    let shop_of_attempt: HashMap<String, usize> = attempts
        .into_iter()
        .filter_map(|(id, key, _)| shop_of_key.get(&key).map(|i| (id, *i)))
        .collect();

    let expected_minutes = s.bl_calls as f64 / s.bl_accounts as f64 / (s.bl_cpm as f64 * 0.975);
    let limit = Duration::from_secs_f64(expected_minutes * 60.0 * 1.5 + 120.0);
    let before = CpuSnapshot::take(app.server.pid());
    let t0 = Instant::now();
    app.advance(3600).await?;
    println!(
        "advance         app clock +3600 s: all {} calls due at once; expecting ~{:.1} min at ~{:.0}/min per account",
        want,
        expected_minutes,
        s.bl_cpm as f64 * 0.975
    );
    let mut last_report = Instant::now();
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        let n = fakes.call_count();
        if n >= s.bl_calls {
            break;
        }
        if n != last_count {
            last_count = n;
            last_progress = Instant::now();
        }
        app.server.check_alive()?;
        if t0.elapsed() > limit || last_progress.elapsed() > Duration::from_secs(60) {
            println!("  gave up after {:.0} s with {n} of {} calls placed", t0.elapsed().as_secs_f64(), s.bl_calls);
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!("  {:>5.0} s     {n} calls placed ({:.0}/min overall)", t0.elapsed().as_secs_f64(), n as f64 / t0.elapsed().as_secs_f64() * 60.0);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained = t0.elapsed();
    let cpu = CpuSnapshot::take(app.server.pid()).usage_since(&before);
    // Let the last dials record their outcome before counting states.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let placed_rows = db.count("SELECT COUNT(*) FROM call_attempts WHERE state = 'placed'").await?;

    let calls = fakes.calls();
    let lookups = fakes.lookups();
    let (unauthenticated, balance_checks) = {
        let st = fakes.state.lock().unwrap();
        (st.unauthenticated, st.balance_checks)
    };
    // Per account: Calls/connect and Numbers instants.
    // Keyed (length, name) so that acct2 sorts before acct10.
    let mut per_account: BTreeMap<(usize, String), (Vec<Instant>, Vec<Instant>)> = BTreeMap::new();
    for c in &calls {
        per_account.entry((c.account.len(), c.account.clone())).or_default().0.push(c.at);
    }
    for l in &lookups {
        per_account.entry((l.account.len(), l.account.clone())).or_default().1.push(l.at);
    }
    let mut worst_calls_minute = 0;
    let mut worst_lookups_minute = 0;
    let mut sustained: Vec<f64> = Vec::new();
    let mut first_offsets: Vec<f64> = Vec::new();
    println!("per account     (limit {}/min; GCRA spacing in the app)", s.bl_cpm);
    println!(
        "  {:<8} {:>6} {:>14} {:>16} {:>13} {:>13} {:>11}",
        "account", "calls", "max calls/60s", "max lookups/60s", "sustained/min", "first call s", "last call s"
    );
    for ((_, account), (c, l)) in per_account.iter_mut() {
        c.sort();
        l.sort();
        let mc = max_in_any_minute(c);
        let ml = max_in_any_minute(l);
        worst_calls_minute = worst_calls_minute.max(mc);
        worst_lookups_minute = worst_lookups_minute.max(ml);
        let (first, last) = (c.first().copied(), c.last().copied());
        let rate = match (first, last) {
            (Some(f), Some(l)) if c.len() > 1 && l > f => (c.len() - 1) as f64 / (l - f).as_secs_f64() * 60.0,
            _ => f64::NAN,
        };
        sustained.push(rate);
        let fo = first.map(|f| f.saturating_duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
        let lo = last.map(|f| f.saturating_duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
        first_offsets.push(fo);
        println!("  {account:<8} {:>6} {mc:>14} {ml:>16} {rate:>13.1} {fo:>13.2} {lo:>11.1}", c.len());
    }
    // Per shop: wait to its first and its last call.
    let mut shop_first: HashMap<usize, Instant> = HashMap::new();
    let mut shop_last: HashMap<usize, Instant> = HashMap::new();
    let mut shop_calls: HashMap<usize, usize> = HashMap::new();
    let mut unknown = 0;
    let mut per_attempt: HashMap<&str, usize> = HashMap::new();
    for c in &calls {
        *per_attempt.entry(c.custom_field.as_str()).or_default() += 1;
        let Some(&shop) = shop_of_attempt.get(&c.custom_field) else {
            unknown += 1;
            continue;
        };
        shop_first.entry(shop).and_modify(|t| *t = (*t).min(c.at)).or_insert(c.at);
        shop_last.entry(shop).and_modify(|t| *t = (*t).max(c.at)).or_insert(c.at);
        *shop_calls.entry(shop).or_default() += 1;
    }
    let duplicates = per_attempt.values().filter(|n| **n > 1).count();
    let secs = |t: &Instant| t.saturating_duration_since(t0).as_secs_f64();
    let mut firsts: Vec<f64> = shop_first.values().map(secs).collect();
    let mut lasts: Vec<f64> = shop_last.values().map(secs).collect();
    let mut counts: Vec<f64> = shop_calls.values().map(|n| *n as f64).collect();
    let minmax = |v: &[f64]| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let (first_min, first_max) = minmax(&firsts);
    let (last_min, last_max) = minmax(&lasts);
    let (sus_min, sus_max) = minmax(&sustained);
    let (_, first_acct_max) = minmax(&first_offsets);
    let first_med = median(&mut firsts);
    let last_med = median(&mut lasts);
    let calls_med = median(&mut counts);
    println!(
        "calls           {} Calls/connect of {} in {:.1} s ({:.0}/min overall); {} attempts 'placed' in the database; {} DND lookups; \
         {} without Basic auth; {} balance checks; duplicates {duplicates}, unknown attempts {unknown}",
        calls.len(),
        s.bl_calls,
        drained.as_secs_f64(),
        calls.len() as f64 / drained.as_secs_f64() * 60.0,
        placed_rows,
        lookups.len(),
        unauthenticated,
        balance_checks
    );
    println!(
        "rate limit      worst 60 s window: {worst_calls_minute} calls, {worst_lookups_minute} lookups per account (limit {}); \
         sustained {sus_min:.1}–{sus_max:.1} calls/min per account ({:.1}–{:.1}% of the limit); first call of every account within {first_acct_max:.2} s",
        s.bl_cpm,
        sus_min / s.bl_cpm as f64 * 100.0,
        sus_max / s.bl_cpm as f64 * 100.0
    );
    println!(
        "fairness        per shop ({} shops, median {calls_med:.0} calls each), from the advance: first call min {first_min:.2} / median {first_med:.2} / max {first_max:.2} s; \
         last call min {last_min:.1} / median {last_med:.1} / max {last_max:.1} s",
        shop_first.len()
    );
    println!(
        "  CPU           server {:.0}%, load generator and fakes {:.0}%, everything else (PostgreSQL, kernel, other) {:.0}% of the machine",
        cpu.1, cpu.0, cpu.2
    );
    let within_limit = worst_calls_minute as i64 <= s.bl_cpm && worst_lookups_minute as i64 <= s.bl_cpm;
    let complete = calls.len() == s.bl_calls && duplicates == 0 && unknown == 0;
    let fast_enough = sus_min >= TARGET_SUSTAINED_SHARE * s.bl_cpm as f64;
    let summary = format!(
        "{} calls, {} shops, {} accounts, limit {}/min: worst minute {worst_calls_minute} calls / {worst_lookups_minute} lookups [{}], sustained {sus_min:.1}–{sus_max:.1}/min [{}], \
         drained in {:.0} s; per-shop first call ≤ {first_max:.1} s, last call {last_min:.0}–{last_max:.0} s (median {last_med:.0} s){}",
        s.bl_calls,
        s.bl_shops,
        s.bl_accounts,
        s.bl_cpm,
        if within_limit { "ok" } else { "OVER LIMIT" },
        mark(fast_enough),
        drained.as_secs_f64(),
        if complete { String::new() } else { format!("; INCOMPLETE: {} calls, {duplicates} duplicated", calls.len()) }
    );
    Ok(PhaseResult {
        passed: within_limit && complete,
        summary,
    })
}
