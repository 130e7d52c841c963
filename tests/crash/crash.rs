//! Crash test: one app process (`RUN_MODE=all`, `TEST_CLOCK=1`) under a stream of orders and
//! Exotel callbacks, killed with SIGKILL at random moments in every phase of the work and started
//! again on the same database, then checked for the invariants once everything has settled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::fake_exotel::FakeExotel;
use crate::fake_shop::FakeShop;
use crate::harness::{AppProc, Backend, Reader, TestClock, base_vars, env_num, http_client, session_token, work_dir};
use crate::proxy::ExotelProxy;
use crate::world::{self, Shop, World, check_invariants, install_shop, plan_whatsapp, spawn_driver, spawn_senders};
use crate::{API_KEY, API_SECRET};

/// Where a kill is aimed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// While a burst of webhooks is being taken in (group commit, webhook jobs, intake).
    Intake,
    /// While Calls/connect is in flight: Exotel has the call, the app has not recorded it.
    CallInFlight,
    /// While a WhatsApp message is in flight: Exotel has it (sends it), the app has not heard back.
    WhatsAppSend,
    /// While a tagsAdd / orderCancel is in flight to Shopify.
    Tagging,
    /// While PUT /app/api/settings is in flight (its Exotel account check is slow).
    SettingsSave,
    /// Any moment of a mixed load, right after the clock moved (retries coming due).
    Anywhere,
}

const PHASES: [Phase; 6] = [Phase::Intake, Phase::CallInFlight, Phase::WhatsAppSend, Phase::Tagging, Phase::SettingsSave, Phase::Anywhere];
const SETTINGS_SHOP: &str = "crash-settings.myshopify.com";
const RETRIES: usize = 2;

/// Two complete settings documents that differ in every section; a save must leave one or the other.
fn settings_doc(variant: usize) -> Value {
    let a = variant == 0;
    json!({
        "general": {"verify": if a { "cod" } else { "all" }, "method": "ivr", "exotel_subdomain": if a { "api.in.exotel.com" } else { "api.exotel.com" },
            "account_sid": if a { "setacct-a" } else { "setacct-b" }, "api_key": if a { "key-a" } else { "key-b" },
            "api_token": if a { "token-a-1111" } else { "token-b-2222" },
            "cod_gateways": if a { json!(["Cash on Delivery (COD)"]) } else { json!(["COD", "Pay on delivery"]) }},
        "ivr": {"first_call": if a { "immediate" } else { "after" }, "first_call_delay_minutes": if a { 0 } else { 15 },
            "exophone": if a { "08047112345" } else { "08047119999" }, "flow_id": if a { "111111" } else { "222222" },
            "retries": if a { 1 } else { 3 }, "retry_interval_minutes": if a { 15 } else { 45 }, "timezone": if a { "Asia/Kolkata" } else { "Asia/Dubai" },
            "window_start": if a { "08:00" } else { "10:00" }, "window_end": if a { "20:00" } else { "22:00" },
            "confirm_tag": if a { "a_confirmed" } else { "b_confirmed" }, "cancel_tag": if a { "a_cancelled" } else { "b_cancelled" },
            "callback_tag": if a { "a_callback" } else { "b_callback" }, "cancel_order": a},
        "contact": {"name": if a { "Alpha Ops" } else { "Beta Ops" }, "email": if a { "alpha@example.com" } else { "beta@example.com" },
            "phone": if a { "+919876500001" } else { "+919876500002" }},
    })
}

/// The settings document without what is not the merchant's to save.
fn saved_part(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        o.remove("callback_urls");
    }
    v
}

async fn get_settings(http: &reqwest::Client, addr: &str, now_secs: i64) -> Value {
    let r = http.get(format!("{addr}/app/api/settings")).bearer_auth(session_token(SETTINGS_SHOP, now_secs)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    saved_part(r.json().await.unwrap())
}

async fn put_settings(http: &reqwest::Client, addr: &str, now_secs: i64, variant: usize) -> Option<u16> {
    let r = http.put(format!("{addr}/app/api/settings")).bearer_auth(session_token(SETTINGS_SHOP, now_secs)).json(&settings_doc(variant)).send().await;
    r.ok().map(|r| r.status().as_u16())
}

/// Waits (generously) for `cond`; false if it never came.
async fn wait_for(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

pub async fn run(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kills = env_num("CRASH_KILLS", 6);
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = work_dir(backend.name());
    let db_url = match backend {
        Backend::Sqlite => format!("sqlite://{}/codverify.db", dir.display()),
        Backend::Postgres => match crate::pg::fresh_pg_database().await {
            Some(u) => u,
            None => return,
        },
    };
    println!("crash/{}: {kills} kill points, seed {seed} (CRASH_SEED), logs in {}", backend.name(), dir.display());

    let exotel = FakeExotel::start().await;
    let proxy = ExotelProxy::start(&exotel.origin).await;
    let shopify = FakeShop::start(API_KEY, API_SECRET).await;
    let mut vars = base_vars(&db_url, &shopify.origin, &proxy.origin);
    vars.insert("TEST_CLOCK".into(), "1".into());
    let http = http_client();

    let mut starts = 0usize;
    let mut app = AppProc::start(&vars, "all", dir.join(format!("app-{starts:03}.log"))).await;
    let mut addr = app.addr.clone().unwrap();
    let mut clock = TestClock { now_ms: 0 };
    clock.sync(&http, &addr).await;
    let db = Reader::open(&db_url).await;

    // Shops: IVR around the clock (the clock jumps hours ahead over a run), first call at once,
    // two retries 10 minutes apart; two of them cancel in Shopify on a "2". The third (a third of
    // the orders) asks on WhatsApp first: plan [whatsapp, ivr], two messages 10 minutes apart.
    let world: world::Shared = Arc::new(Mutex::new(World::default()));
    for (domain, cancel, whatsapp) in [("crash-a.myshopify.com", true, false), ("crash-b.myshopify.com", false, false), ("crash-c.myshopify.com", true, true)] {
        let key = install_shop(&http, &addr, clock.secs(), domain, "acct1", json!({"cancel_order": cancel})).await;
        if whatsapp {
            plan_whatsapp(&http, &addr, clock.secs(), domain, cancel).await;
        }
        world.lock().unwrap().shops.push(Shop { domain: domain.into(), key, cancel_order: cancel, whatsapp });
    }
    // The settings shop: both documents saved once to learn how each reads back.
    let r = http.get(format!("{addr}/app/api/settings")).bearer_auth(session_token(SETTINGS_SHOP, clock.secs())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut snapshots = Vec::new();
    for v in [1, 0] {
        let r = http.put(format!("{addr}/app/api/settings")).bearer_auth(session_token(SETTINGS_SHOP, clock.secs())).json(&settings_doc(v)).send().await.unwrap();
        assert_eq!(r.status(), 200, "settings document {v}: {}", r.text().await.unwrap());
        snapshots.push(get_settings(&http, &addr, clock.secs()).await);
    }
    snapshots.reverse(); // snapshots[v] is variant v
    assert_ne!(snapshots[0], snapshots[1]);
    let mut settings_variant = 0usize; // what is stored now
    let mut settings_checks = 0usize;
    let mut saves_cut = 0usize;
    let mut saves_completed = 0usize;

    world.lock().unwrap().targets = vec![addr.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = spawn_senders(world.clone(), http.clone(), 6, stop.clone());
    tasks.push(spawn_driver(world.clone(), exotel.clone(), http.clone(), stop.clone()));
    world.lock().unwrap().add_orders(10, None);

    let mut by_phase = [0usize; PHASES.len()];
    let mut missed = 0usize;
    for k in 0..kills {
        let phase = PHASES[k % PHASES.len()];
        let mut pending_save: Option<(usize, tokio::task::JoinHandle<Option<u16>>)> = None;
        match phase {
            Phase::Intake => {
                // A burst; the kill lands once the first of it is answered, with the rest in flight.
                let before = world.lock().unwrap().webhook_posts;
                world.lock().unwrap().add_orders(24, None);
                if wait_for(Duration::from_secs(30), || world.lock().unwrap().webhook_posts > before).await {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
                } else {
                    missed += 1;
                }
            }
            Phase::CallInFlight => {
                // Some answers come after the app's 2 s timeout (the "unknown" path), most before.
                let delay = rng.random_range(600..3000u64);
                proxy.set_connect_delay(Duration::from_millis(delay));
                let before = proxy.connects();
                world.lock().unwrap().add_orders(4, Some(&[0, 1, 2, 3, 4]));
                if wait_for(Duration::from_secs(60), || proxy.connects() > before).await {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..delay.min(1900)))).await;
                } else {
                    missed += 1;
                }
            }
            Phase::WhatsAppSend => {
                // As for calls: some answers come after the app's 2 s timeout (the message is
                // recorded `unknown` and never sent again), the kill mostly while one is in flight.
                let delay = rng.random_range(600..3000u64);
                proxy.set_whatsapp_delay(Duration::from_millis(delay));
                let before = proxy.whatsapp_sends();
                // Every third order goes to the WhatsApp shop.
                world.lock().unwrap().add_orders(6, None);
                if wait_for(Duration::from_secs(60), || proxy.whatsapp_sends() > before).await {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..delay.min(1900)))).await;
                } else {
                    missed += 1;
                }
            }
            Phase::Tagging => {
                let delay = rng.random_range(400..1500u64);
                shopify.set_delay(Duration::from_millis(delay));
                let before = shopify.arrivals();
                world.lock().unwrap().add_orders(4, Some(&[0, 1]));
                if wait_for(Duration::from_secs(60), || shopify.arrivals() > before).await {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..delay))).await;
                } else {
                    missed += 1;
                }
            }
            Phase::SettingsSave => {
                // Half the time the account check is slow (the kill lands during it, or just after,
                // at the write); otherwise the kill aims at the write itself.
                let delay = if rng.random_bool(0.5) { rng.random_range(200..1200u64) } else { 0 };
                proxy.set_balance_delay(Duration::from_millis(delay));
                let before = proxy.balances();
                let target = 1 - settings_variant;
                let (h, a, now) = (http.clone(), addr.clone(), clock.secs());
                pending_save = Some((target, tokio::spawn(async move { put_settings(&h, &a, now, target).await })));
                world.lock().unwrap().add_orders(2, None);
                if wait_for(Duration::from_secs(30), || proxy.balances() > before).await {
                    // Mostly during the account check, sometimes just after it (the write).
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..delay + 25))).await;
                } else {
                    missed += 1;
                }
            }
            Phase::Anywhere => {
                world.lock().unwrap().add_orders(6, None);
                clock.advance(&http, &addr, 601).await;
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
            }
        }
        app.assert_alive();
        app.kill9();
        world.lock().unwrap().targets.clear();
        by_phase[k % PHASES.len()] += 1;
        proxy.set_connect_delay(Duration::ZERO);
        proxy.set_balance_delay(Duration::ZERO);
        proxy.set_whatsapp_delay(Duration::ZERO);
        shopify.set_delay(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;

        starts += 1;
        app = AppProc::start(&vars, "all", dir.join(format!("app-{starts:03}.log"))).await;
        addr = app.addr.clone().unwrap();
        clock.sync(&http, &addr).await;
        world.lock().unwrap().targets = vec![addr.clone()];

        // Settings are the old document or the new one, never a mix; a save that got its 200 stays.
        let saved = match pending_save.take() {
            Some((target, h)) => Some((target, h.await.unwrap())),
            None => None,
        };
        let now = get_settings(&http, &addr, clock.secs()).await;
        let variant = snapshots.iter().position(|s| *s == now).unwrap_or_else(|| {
            panic!("kill {k}: the settings are neither the old nor the new document:\n{now:#}\nold/new:\n{:#}\n{:#}", snapshots[0], snapshots[1])
        });
        if let Some((target, status)) = saved {
            match status {
                Some(200) => {
                    assert_eq!(variant, target, "kill {k}: a save answered 200 was lost");
                    saves_completed += 1;
                }
                Some(s) => panic!("kill {k}: settings save answered {s}"),
                None => saves_cut += 1,
            }
        }
        settings_variant = variant;
        settings_checks += 1;
        // Retries (10 minutes) come due as the run goes on.
        clock.advance(&http, &addr, 601).await;
    }

    // Settle: no new orders; every webhook delivered; calls answered; the clock moved on whenever
    // the app waits for it (retries, reconciles), until every order is resolved and no work is left.
    let settle_deadline = Instant::now() + Duration::from_secs(env_num("CRASH_SETTLE_SECONDS", 900) as u64);
    let mut quiet = 0;
    let mut last_advance = Instant::now();
    let settle_started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        app.assert_alive();
        let (accepted, unfinished) = {
            let w = world.lock().unwrap();
            (w.all_accepted(), w.unfinished_calls())
        };
        let pending = db.count("SELECT COUNT(*) FROM orders WHERE status = 'pending'").await;
        let (queued, _) = db.job_counts().await;
        let busy = db.count("SELECT COUNT(*) FROM call_attempts WHERE state IN ('dialing', 'placed', 'unknown')").await
            + db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE state IN ('queued', 'sending')").await;
        if accepted && unfinished == 0 && pending == 0 && queued == 0 && busy == 0 {
            quiet += 1;
            if quiet == 3 {
                break;
            }
        } else {
            quiet = 0;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "crash/{}: settling for {:.0} s: webhooks all accepted {accepted}, {unfinished} calls unanswered, {pending} orders pending, {queued} jobs queued, {busy} attempts in flight",
                backend.name(),
                settle_started.elapsed().as_secs_f64()
            );
        }
        if Instant::now() > settle_deadline {
            let dialing = db.rows("SELECT id, state, CAST(claimed_at_wall AS TEXT) FROM call_attempts WHERE state IN ('dialing', 'placed', 'unknown')", 3).await;
            panic!(
                "crash/{}: not settled after the deadline: all webhooks accepted {accepted}, {unfinished} calls unanswered, {pending} orders pending, \
                 {queued} jobs queued, attempts in flight {dialing:?}; logs in {}",
                backend.name(),
                dir.display()
            );
        }
        if accepted && unfinished == 0 && queued == 0 && last_advance.elapsed() > Duration::from_millis(700) {
            clock.advance(&http, &addr, 601).await;
            last_advance = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled_in = settle_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }

    let w = std::mem::take(&mut *world.lock().unwrap());
    let fig = check_invariants(&w, &exotel, &shopify, &db, RETRIES + 1, false).await;
    let stored = get_settings(&http, &addr, clock.secs()).await;
    assert_eq!(stored, snapshots[settings_variant], "the settings changed after the last check");
    let max_minute = exotel.max_calls_in_any_minute("acct1");
    assert!(max_minute <= 200, "{max_minute} calls in one minute on acct1 (limit 200)");
    let (posts, unanswered, non200, cb_sent, cb_unanswered) = (w.webhook_posts, w.webhook_unanswered, w.webhook_non200, w.callbacks_sent, w.callbacks_unanswered);
    let (wa_cb_sent, wa_cb_unanswered) = (w.wa_callbacks_sent, w.wa_callbacks_unanswered);
    app.stop();
    println!(
        "crash/{}: {kills} kill points survived (intake {}, call in flight {}, WhatsApp send in flight {}, tagging {}, settings save {}, anywhere {}; {missed} phases not reached before the kill), {starts} restarts, {:.0} s (settling after the last kill {settled_in:.0} s)",
        backend.name(),
        by_phase[0],
        by_phase[1],
        by_phase[2],
        by_phase[3],
        by_phase[4],
        by_phase[5],
        started.elapsed().as_secs_f64()
    );
    println!(
        "crash/{}: {} orders checked ({} confirmed, {} cancelled, {} no response); webhooks: {posts} posts, {unanswered} unanswered and {non200} non-200 re-sent",
        backend.name(),
        fig.orders,
        fig.confirmed,
        fig.cancelled,
        fig.no_response
    );
    println!(
        "crash/{}: {} calls checked ({} attempts, {} settled as unknown), each attempt dialled at most once; {cb_sent} callbacks ({cb_unanswered} unanswered, re-sent); busiest minute {max_minute} calls",
        backend.name(),
        fig.calls,
        fig.attempts,
        fig.unknown_attempts
    );
    println!(
        "crash/{}: Shopify: every outcome tag exactly once per order; {} tagsAdd and {} orderCancel re-sent after a kill (idempotent / refused as already cancelled); {} jobs re-run; settings: {settings_checks} checks, {saves_completed} saves completed, {saves_cut} cut by a kill, never mixed",
        backend.name(),
        fig.tag_resends,
        fig.cancel_resends,
        fig.jobs_rerun
    );
    println!(
        "crash/{}: WhatsApp: {} orders, {} messages taken by Exotel ({} rows sent, {} unknown after a timeout or a kill, never re-sent: {} re-sends; {} rows due after the answer, not sent), \
         {} orders answered on WhatsApp, {} went on to their calls; {wa_cb_sent} WhatsApp callbacks ({wa_cb_unanswered} unanswered, re-sent)",
        backend.name(),
        fig.wa_orders,
        fig.wa_messages,
        fig.wa_sent,
        fig.wa_unknown,
        fig.wa_resends,
        fig.wa_cancelled,
        fig.wa_answered,
        fig.wa_then_called
    );
    if backend == Backend::Postgres {
        drop(db);
        crate::pg::drop_pg_database(&db_url).await;
    }
}
