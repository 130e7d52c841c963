//! The WhatsApp phases of the IVR bench: shops on the plan [whatsapp, ivr], their orders' first
//! contact a WhatsApp template sent through Exotel's v2 messages API (the fake answers 202 at once
//! and records each request's account, `to` and arrival `Instant`).
//!
//! - **wa-latency**: `BENCH_WA_LATENCY_ORDERS` (200) orders at `BENCH_LATENCY_RATE` (10)/s over 4
//!   shops, inside the shops' hours → time from the webhook's 200 to the fake's receipt of that
//!   order's message. `EXOTEL_CALLS_PER_MINUTE=6000`. Target: p50 < 1 s.
//! - **wa-backlog**: `BENCH_WA_ORDERS` (20,000) orders over `BENCH_WA_SHOPS` (200) shops on
//!   `BENCH_WA_ACCOUNTS` (20) accounts (shop i on `acct{i % 20}`), taken at 10:00 while the shops'
//!   hours start at 11:00 (the overnight queue): each order's first message is queued, due at
//!   11:00. Once every order has one, the app clock moves 3,600 s and all 20,000 messages are due
//!   at once; the `{account}/
//!   whatsapp` budget (`BENCH_CALLS_PER_MINUTE`, 200) paces them. Per account: the most messages in
//!   any sliding 60 s (over the limit fails), the sustained rate first → last message (≥ 95% of
//!   the limit, else MISS); per shop: the wait from the advance to its first and last message;
//!   every order exactly one message (a duplicate or a missing one fails). `BENCH_WA_HOURS=open`:
//!   the shops are open, each message is due as its order comes in, and waits count from the
//!   first webhook (the dialer's pacing without 20,000 plan timers at once). The frozen clock never
//!   reaches the end of the WhatsApp step's wait, so no call is due: any call is reported.

use super::*;

/// The customer's number of order `n` (see `phone_of`) back to `n`.
fn order_of(phone: &str) -> Option<usize> {
    let p = last10(phone);
    p.strip_prefix("98")?.parse().ok()
}

/// The settings of a shop on the plan [whatsapp, ivr], on Exotel account `account`; its hours
/// (the IVR section's window, which WhatsApp keeps too) from `window_start`.
fn plan_doc(account: &str, window_start: &str) -> Value {
    let mut doc = settings_doc(account, json!({"window_start": window_start, "window_end": "23:59"}));
    doc["general"]["method"] = json!("whatsapp");
    doc["plan"] = json!({"steps": ["whatsapp", "ivr"]});
    doc["whatsapp"] = json!({"sender": "+919812345678", "template_name": "cod_confirmation", "template_language": "en",
        "retries": 0, "retry_interval_minutes": 0, "wait_minutes": 60, "confirm_tag": "wa_confirmed", "cancel_tag": "wa_cancelled",
        "callback_tag": "wa_callback", "cancel_order": false});
    doc
}

// ---------------------------------------------------------------------------------------------
// wa-latency

pub(super) async fn latency(s: &Settings, app: &mut App, fakes: &Fakes) -> anyhow::Result<PhaseResult> {
    const SHOPS: usize = 4;
    for i in 0..SHOPS {
        app.install_doc(&shop_domain(i), plan_doc(&format!("acct{i}"), "00:00")).await?;
    }
    let lat = contact_latency(s, app, s.wa_lat_orders, SHOPS, &|| fakes.messages()).await?;
    lat.print(s, " on [whatsapp, ivr]", "message", "WhatsApp requests", &format!("; {} calls", fakes.call_count()));
    let (p50, p99) = (lat.pct_ms(50.0), lat.pct_ms(99.0));
    let summary = format!(
        "{} orders at {}/s on [whatsapp, ivr]: accepted → WhatsApp request p50 {p50:.0} ms [{}], p99 {p99:.0} ms, max {:.0} ms; missing {}, duplicated {}, failures {}",
        s.wa_lat_orders,
        s.lat_rate,
        mark(p50 < TARGET_LATENCY_P50_MS),
        lat.pct_ms(100.0),
        lat.missing,
        lat.duplicated,
        lat.failures.total()
    );
    Ok(PhaseResult { passed: lat.passed(), summary })
}

// ---------------------------------------------------------------------------------------------
// wa-backlog

pub(super) async fn backlog(s: &Settings, app: &mut App, db: &BenchDb, fakes: &Fakes) -> anyhow::Result<PhaseResult> {
    let port = app.server.addr.port();
    let (orders, shops, accounts, limit) = (s.wa_orders, s.wa_shops, s.wa_accounts, s.bl_cpm);
    let t = Instant::now();
    // The clock stands at 10:00. Overnight, the shops' hours start an hour later.
    let window_start = if s.wa_overnight { "11:00" } else { "00:00" };
    for i in 0..shops {
        app.install_doc(&shop_domain(i), plan_doc(&format!("acct{}", i % accounts), window_start)).await?;
    }
    println!("set-up          {shops} shops on [whatsapp, ivr] installed and configured in {:.1} s", t.elapsed().as_secs_f64());
    let expected_minutes = orders as f64 / accounts as f64 / (limit as f64 * 0.975);
    let give_up = Duration::from_secs_f64(expected_minutes * 60.0 * 1.5 + 120.0);
    let before = CpuSnapshot::take(app.server.pid());
    let reqs: Vec<Vec<u8>> = (0..orders).map(|n| order_request(port, &shop_domain(n % shops), n)).collect();
    let posted = Instant::now();
    let r = closed_loop(app.server.addr, Arc::new(reqs), 0..orders, 32, Duration::from_secs(600)).await;
    if r.failures.total() > 0 {
        bail!("posting the backlog's orders: {}", r.failures.describe());
    }
    println!(
        "orders          {} webhooks accepted in {:.1} s ({:.0}/s, closed loop, 32 connections)",
        r.accepted,
        r.elapsed.as_secs_f64(),
        r.accepted as f64 / r.elapsed.as_secs_f64()
    );
    // Waits count from when every message could go: the advance overnight, the first webhook otherwise.
    let t0 = if s.wa_overnight {
        overnight(app, db, fakes, orders).await?
    } else {
        println!("open hours      each order's message is due as it comes in; waits counted from the first webhook");
        posted
    };
    println!("drain           expecting ~{expected_minutes:.1} min at ~{:.0}/min per account", limit as f64 * 0.975);
    let (mut last_report, mut last_count, mut last_progress) = (Instant::now(), 0, Instant::now());
    loop {
        let n = fakes.message_count();
        if n >= orders {
            break;
        }
        if n != last_count {
            last_count = n;
            last_progress = Instant::now();
        }
        app.server.check_alive()?;
        if t0.elapsed() > give_up || last_progress.elapsed() > Duration::from_secs(60) {
            println!("  gave up after {:.0} s with {n} of {orders} messages sent", t0.elapsed().as_secs_f64());
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!("  {:>5.0} s     {n} messages ({:.0}/min overall)", t0.elapsed().as_secs_f64(), n as f64 / t0.elapsed().as_secs_f64() * 60.0);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained = t0.elapsed();
    let cpu = CpuSnapshot::take(app.server.pid()).usage_since(&before);
    // Let the last sends record their outcome (and anything extra arrive) before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent_rows = db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE state = 'sent'").await?;
    let messages = fakes.messages();
    let unauthenticated = fakes.state.lock().unwrap().unauthenticated;
    let calls = fakes.call_count();

    // Per account. Keyed (length, name) so that acct2 sorts before acct10.
    let mut per_account: BTreeMap<(usize, String), Vec<Instant>> = BTreeMap::new();
    for m in &messages {
        per_account.entry((m.account.len(), m.account.clone())).or_default().push(m.at);
    }
    let mut worst_minute = 0;
    let mut sustained: Vec<f64> = Vec::new();
    let mut first_offsets: Vec<f64> = Vec::new();
    println!("per account     (limit {limit}/min; GCRA spacing in the app)");
    println!("  {:<8} {:>8} {:>17} {:>13} {:>14} {:>14}", "account", "messages", "max messages/60s", "sustained/min", "first msg s", "last msg s");
    for ((_, account), at) in per_account.iter_mut() {
        at.sort();
        let mc = max_in_any_minute(at);
        worst_minute = worst_minute.max(mc);
        let (first, last) = (at.first().copied(), at.last().copied());
        let rate = match (first, last) {
            (Some(f), Some(l)) if at.len() > 1 && l > f => (at.len() - 1) as f64 / (l - f).as_secs_f64() * 60.0,
            _ => f64::NAN,
        };
        sustained.push(rate);
        let fo = first.map(|f| f.saturating_duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
        let lo = last.map(|f| f.saturating_duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
        first_offsets.push(fo);
        println!("  {account:<8} {:>8} {mc:>17} {rate:>13.1} {fo:>14.2} {lo:>14.1}", at.len());
    }
    // Per order and per shop (order n is shop n % shops: the number tells both).
    let mut per_order: HashMap<usize, usize> = HashMap::new();
    let mut shop_first: HashMap<usize, Instant> = HashMap::new();
    let mut shop_last: HashMap<usize, Instant> = HashMap::new();
    let mut unknown = 0;
    for m in &messages {
        let Some(n) = order_of(&m.number).filter(|n| *n < orders) else {
            unknown += 1;
            continue;
        };
        *per_order.entry(n).or_default() += 1;
        let shop = n % shops;
        shop_first.entry(shop).and_modify(|t| *t = (*t).min(m.at)).or_insert(m.at);
        shop_last.entry(shop).and_modify(|t| *t = (*t).max(m.at)).or_insert(m.at);
    }
    let duplicates = per_order.values().filter(|c| **c > 1).count();
    let missing = orders - per_order.len();
    let secs = |t: &Instant| t.saturating_duration_since(t0).as_secs_f64();
    let mut firsts: Vec<f64> = shop_first.values().map(secs).collect();
    let mut lasts: Vec<f64> = shop_last.values().map(secs).collect();
    let minmax = |v: &[f64]| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let (first_min, first_max) = minmax(&firsts);
    let (last_min, last_max) = minmax(&lasts);
    let (sus_min, sus_max) = minmax(&sustained);
    let (_, first_acct_max) = minmax(&first_offsets);
    let first_med = median(&mut firsts);
    let last_med = median(&mut lasts);
    println!(
        "messages        {} WhatsApp requests for {orders} orders in {:.1} s ({:.0}/min overall); {sent_rows} rows 'sent' in the database; \
         {unauthenticated} without Basic auth; missing {missing}, duplicated {duplicates}, unknown {unknown}; {calls} calls placed",
        messages.len(),
        drained.as_secs_f64(),
        messages.len() as f64 / drained.as_secs_f64() * 60.0
    );
    println!(
        "rate limit      worst 60 s window: {worst_minute} messages per account (limit {limit}); sustained {sus_min:.1}–{sus_max:.1}/min per account \
         ({:.1}–{:.1}% of the limit); first message of every account within {first_acct_max:.2} s",
        sus_min / limit as f64 * 100.0,
        sus_max / limit as f64 * 100.0
    );
    println!(
        "fairness        per shop ({} shops, {} orders each), from the start: first message min {first_min:.2} / median {first_med:.2} / max {first_max:.2} s; \
         last message min {last_min:.1} / median {last_med:.1} / max {last_max:.1} s",
        shop_first.len(),
        orders / shops
    );
    println!(
        "  CPU           server {:.0}%, load generator and fakes {:.0}%, everything else (PostgreSQL, kernel, other) {:.0}% of the machine",
        cpu.1, cpu.0, cpu.2
    );
    let within_limit = worst_minute as i64 <= limit;
    let complete = missing == 0 && duplicates == 0 && unknown == 0;
    let fast_enough = sus_min >= TARGET_SUSTAINED_SHARE * limit as f64;
    let summary = format!(
        "{orders} messages, {shops} shops, {accounts} accounts, limit {limit}/min: worst minute {worst_minute} [{}], sustained {sus_min:.1}–{sus_max:.1}/min [{}], \
         drained in {:.0} s; per-shop first message ≤ {first_max:.1} s, last {last_min:.0}–{last_max:.0} s (median {last_med:.0} s){}",
        if within_limit { "ok" } else { "OVER LIMIT" },
        mark(fast_enough),
        drained.as_secs_f64(),
        if complete { String::new() } else { format!("; INCOMPLETE: {missing} missing, {duplicates} duplicated, {unknown} unknown") }
    );
    Ok(PhaseResult {
        passed: within_limit && complete,
        summary,
    })
}

/// Overnight: waits until every order's first message is queued for the shops' hours (nothing
/// sent), then opens them (clock +3600 s, 11:00): every message is due at once. Returns when it did.
async fn overnight(app: &mut App, db: &BenchDb, fakes: &Fakes, orders: usize) -> anyhow::Result<Instant> {
    let want = orders as i64;
    let timed_in = wait_until(app, Duration::from_secs(900), "every order's plan to wait for the shops' hours", move || async move {
        Ok(db.count("SELECT COUNT(DISTINCT order_id) FROM whatsapp_messages WHERE state = 'queued'").await? >= want)
    })
    .await?;
    let queued_early = db.count("SELECT COUNT(*) FROM whatsapp_messages").await?;
    println!(
        "intake          {want} orders' first message queued for 11:00 {:.1} s after the last webhook; {queued_early} messages written, {} sent before the advance",
        timed_in.as_secs_f64(),
        fakes.message_count()
    );
    if fakes.message_count() > 0 {
        bail!("messages were sent before the shops' hours");
    }
    let t0 = Instant::now();
    app.advance(3600).await?;
    println!("advance         app clock +3600 s (11:00): all {orders} messages due at once");
    Ok(t0)
}
