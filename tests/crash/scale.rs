//! Scale-out: three app processes on one PostgreSQL database — `RUN_MODE=web`, `RUN_MODE=worker`
//! and `RUN_MODE=all` — under load, webhooks and Exotel callbacks spread over the two that serve
//! HTTP. No job runs twice, no attempt is dialled twice, each Exotel account stays under
//! `EXOTEL_CALLS_PER_MINUTE` across all of them, and killing any one of them (SIGKILL) mid-run
//! loses nothing: the others finish the work.
//!
//! The dialer's rate budget is a GCRA row per (account, API) in the database, advanced on the
//! **wall clock** in the transaction that claims the call — not on the app clock. So the check is
//! on real time too: the fake Exotel's arrival `Instant`s, any sliding 60 s per account. The run
//! uses the system clock throughout (`RUN_MODE=worker` serves no HTTP, so its test clock could not
//! be moved): shops call around the clock, first call at once, no retries (a retry is at least
//! 10 minutes away).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Timelike;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::fake_exotel::FakeExotel;
use crate::fake_shop::FakeShop;
use crate::harness::{AppProc, Reader, base_vars, env_num, http_client, work_dir};
use crate::world::{self, PARKED_SQL, Shop, World, check_invariants, install_shop, spawn_driver, spawn_senders};
use crate::{API_KEY, API_SECRET};

const CALLS_PER_MINUTE: usize = 30;
const ACCOUNTS: [&str; 2] = ["acct-a", "acct-b"];
const MODES: [&str; 3] = ["web", "worker", "all"];

/// A zone in which the whole-day window (00:00–23:59) is open for the next hours.
fn open_zone() -> &'static str {
    let ist = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Kolkata);
    if ist.hour() >= 20 || ist.hour() < 1 { "UTC" } else { "Asia/Kolkata" }
}

struct Procs {
    slots: [Option<AppProc>; 3],
}

impl Procs {
    fn web_targets(&self) -> Vec<String> {
        self.slots.iter().flatten().filter_map(|p| p.addr.clone()).collect()
    }
    fn assert_alive(&mut self) {
        for p in self.slots.iter_mut().flatten() {
            p.assert_alive();
        }
    }
}

/// Waits until the work of every order so far is done by the processes still running: every
/// webhook accepted, every call answered, no job queued, no dial in flight, every order resolved
/// (or parked: its call claimed by a killed process before it went out, recovered and waiting
/// for its reconcile).
async fn settle(world: &world::Shared, db: &Reader, procs: &mut Procs, what: &str, dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(env_num("SCALE_SETTLE_SECONDS", 900) as u64);
    let mut quiet = 0;
    loop {
        procs.assert_alive();
        let (accepted, unfinished) = {
            let w = world.lock().unwrap();
            (w.all_accepted(), w.unfinished_calls())
        };
        let pending = db.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await;
        let parked = db.rows(PARKED_SQL, 1).await.len() as i64;
        let (queued, _) = db.job_counts().await;
        let in_flight = db.count("SELECT COUNT(*) FROM call_attempts WHERE state IN ('dialing', 'placed') OR (state = 'queued')").await;
        if accepted && unfinished == 0 && queued == 0 && in_flight == 0 && pending == parked {
            quiet += 1;
            if quiet == 3 {
                return;
            }
        } else {
            quiet = 0;
        }
        assert!(
            Instant::now() < deadline,
            "scale-out ({what}): not settled: all accepted {accepted}, {unfinished} calls unanswered, {queued} jobs queued, \
             {in_flight} attempts queued or in flight, {pending} orders pending ({parked} parked); logs in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(db_url) = crate::pg::fresh_pg_database().await else { return };
    let first_orders = env_num("SCALE_ORDERS", 70);
    let kill_orders = env_num("SCALE_KILL_ORDERS", 16);
    let rounds = env_num("SCALE_ROUNDS", 1);
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = work_dir("scale-out");
    println!("scale-out: {first_orders} orders, then {rounds} round(s) of killing web, worker and all ({kill_orders} orders each), seed {seed}, logs in {}", dir.display());

    let exotel = FakeExotel::start().await;
    let shopify = FakeShop::start(API_KEY, API_SECRET).await;
    let mut vars = base_vars(&db_url, &shopify.origin, &exotel.origin);
    vars.insert("EXOTEL_CALLS_PER_MINUTE".into(), CALLS_PER_MINUTE.to_string());
    let http = http_client();

    // `all` first: it migrates the fresh database; the others find it migrated.
    let mut starts: HashMap<&str, usize> = HashMap::new();
    let mut start = |mode: &'static str| {
        let n = starts.entry(mode).or_default();
        *n += 1;
        dir.join(format!("{mode}-{n}.log"))
    };
    let all = AppProc::start(&vars, "all", start("all")).await;
    let web = AppProc::start(&vars, "web", start("web")).await;
    let worker = AppProc::start(&vars, "worker", start("worker")).await;
    let mut procs = Procs { slots: [Some(web), Some(worker), Some(all)] };
    let db = Reader::open(&db_url).await;

    let zone = open_zone();
    let world: world::Shared = Arc::new(Mutex::new(World::default()));
    let install_at = procs.slots[0].as_ref().unwrap().addr.clone().unwrap();
    for i in 0..4 {
        let domain = format!("scale-{i}.myshopify.com");
        let account = ACCOUNTS[i % 2];
        let cancel = i < 2;
        let ivr = json!({"retries": 0, "retry_interval_minutes": 0, "timezone": zone, "cancel_order": cancel});
        let key = install_shop(&http, &install_at, chrono::Utc::now().timestamp(), &domain, account, ivr).await;
        world.lock().unwrap().shops.push(Shop { domain, key, cancel_order: cancel, whatsapp: false });
    }
    world.lock().unwrap().targets = procs.web_targets();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = spawn_senders(world.clone(), http.clone(), 6, stop.clone());
    tasks.push(spawn_driver(world.clone(), exotel.clone(), http.clone(), stop.clone()));

    // Phase 1: all three up; a backlog larger than a minute's budget on each account.
    world.lock().unwrap().add_orders(first_orders, None);
    settle(&world, &db, &mut procs, "all three running", &dir).await;
    let phase1 = world.lock().unwrap().orders.len();
    {
        // Exactly once with nobody killed: one call per order, one tagsAdd per order, one
        // orderCancel per order cancelled in Shopify, no job run a second time.
        let w = world.lock().unwrap();
        let s = shopify.state.lock().unwrap();
        let calls = exotel.connect_requests();
        let mut errors = Vec::new();
        for o in &w.orders[..phase1] {
            let n = calls.iter().filter(|c| c.field("From").is_some_and(|f| f.ends_with(&o.phone))).count();
            if n != 1 {
                errors.push(format!("order {}: {n} calls", o.id));
            }
            let gid = format!("gid://shopify/Order/{}", o.id);
            let tags = s.tag_requests.get(&gid).copied().unwrap_or(0);
            if tags != 1 {
                errors.push(format!("order {}: {tags} tagsAdd", o.id));
            }
            if s.cancel_requests.get(&gid).copied().unwrap_or(0) > 1 {
                errors.push(format!("order {}: orderCancel sent {} times", o.id, s.cancel_requests[&gid]));
            }
        }
        assert!(errors.is_empty(), "with all three processes up, work was done twice:\n  {}", errors.join("\n  "));
    }
    let rerun = db.jobs_rerun().await;
    assert_eq!(rerun, 0, "with all three processes up, {rerun} jobs ran more than once");
    println!(
        "scale-out: {phase1} orders over web+worker+all in {:.0} s, every job once, every attempt dialled once",
        started.elapsed().as_secs_f64()
    );

    // Then each process in turn is killed mid-run; the two others finish the work.
    let mut killed = Vec::new();
    for _ in 0..rounds {
        for (slot, mode) in MODES.iter().enumerate() {
            let before = exotel.calls().len();
            // Shopify answers slowly, so that Shopify updates are in flight in the jobs of the
            // process killed: the others must run them again (apalis' heartbeat check).
            let delay = rng.random_range(200..800u64);
            shopify.set_delay(Duration::from_millis(delay));
            world.lock().unwrap().add_orders(kill_orders, None);
            // Mid-run: some of the new calls placed, most still to come, an update in flight.
            let end = Instant::now() + Duration::from_secs(120);
            while exotel.calls().len() < before + (kill_orders / 4).max(1) && Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let arrivals = shopify.arrivals();
            let end = Instant::now() + Duration::from_secs(60);
            while shopify.arrivals() == arrivals && Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..delay))).await;
            let t_kill = Instant::now();
            procs.slots[slot].as_mut().unwrap().assert_alive();
            procs.slots[slot].take().unwrap().kill9();
            shopify.set_delay(Duration::ZERO);
            world.lock().unwrap().targets = procs.web_targets();
            settle(&world, &db, &mut procs, &format!("{mode} killed"), &dir).await;
            killed.push(format!("{mode} (the others finished in {:.0} s)", t_kill.elapsed().as_secs_f64()));
            procs.slots[slot] = Some(AppProc::start(&vars, mode, start(mode)).await);
            world.lock().unwrap().targets = procs.web_targets();
        }
    }
    settle(&world, &db, &mut procs, "end", &dir).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let w = std::mem::take(&mut *world.lock().unwrap());
    let fig = check_invariants(&w, &exotel, &shopify, &db, 1, true).await;
    let mut busiest = Vec::new();
    for account in ACCOUNTS {
        let max = exotel.max_calls_in_any_minute(account);
        let n = exotel.calls().iter().filter(|c| c.account == account).count();
        assert!(max <= CALLS_PER_MINUTE, "{account}: {max} calls in one minute across the processes (limit {CALLS_PER_MINUTE})");
        busiest.push(format!("{account}: {n} calls, busiest minute {max}"));
    }
    for p in procs.slots.iter_mut().flatten() {
        p.stop();
    }
    // Who did the work (from the processes' logs; a figure, not a check).
    let mut placed: HashMap<String, usize> = HashMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let mode = name.split('-').next().unwrap_or("").to_string();
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        *placed.entry(mode).or_default() += text.matches("call placed").count();
    }
    println!("scale-out: killed {} — nothing lost", killed.join(", "));
    println!(
        "scale-out: calls placed by worker {}, by all {}, by web {}",
        placed.get("worker").copied().unwrap_or(0),
        placed.get("all").copied().unwrap_or(0),
        placed.get("web").copied().unwrap_or(0)
    );
    println!(
        "scale-out: {} orders checked ({} confirmed, {} cancelled, {} no response, {} parked after a kill), {} calls checked ({} attempts), \
         each attempt dialled at most once; {}; limit {CALLS_PER_MINUTE}/min; {} tagsAdd / {} orderCancel re-sent after kills, {} jobs re-run; {:.0} s",
        fig.orders,
        fig.confirmed,
        fig.cancelled,
        fig.no_response,
        fig.parked,
        fig.calls,
        fig.attempts,
        busiest.join("; "),
        fig.tag_resends,
        fig.cancel_resends,
        fig.jobs_rerun,
        started.elapsed().as_secs_f64()
    );
    drop(db);
    crate::pg::drop_pg_database(&db_url).await;
}
