//! The load generator, on the bench's one-thread runtime: a closed loop (a fixed number of
//! connections sending back to back, for throughput) and an open loop (requests at a fixed rate
//! whatever the server does, each timed from its scheduled send, so a stalled server cannot hide
//! its queue). Every request is serialised before timing starts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Conn, Failures};

/// One request that takes longer than this counts as failed (Shopify gives up on a webhook after
/// 5 s).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The open loop never holds more connections than this.
pub(crate) const MAX_OPEN_LOOP_CONNECTIONS: usize = 512;

pub(crate) struct ClosedLoop {
    pub(crate) accepted: usize,
    pub(crate) failures: Failures,
    pub(crate) elapsed: Duration,
}

/// `connections` connections send requests `range` back to back until all are answered or
/// `bound` has passed; every answer must be 200.
pub(crate) async fn closed_loop(addr: SocketAddr, reqs: Arc<Vec<Vec<u8>>>, range: std::ops::Range<usize>, connections: usize, bound: Duration) -> ClosedLoop {
    closed_loop_expect(addr, reqs, range, connections, bound, |_| 200).await
}

/// As `closed_loop`, with the expected status of request i given by `expect(i)`.
pub(crate) async fn closed_loop_expect(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    range: std::ops::Range<usize>,
    connections: usize,
    bound: Duration,
    expect: impl Fn(usize) -> u16,
) -> ClosedLoop {
    let expected: Arc<Vec<u16>> = Arc::new((0..range.end).map(|i| if i >= range.start { expect(i) } else { 0 }).collect());
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let start = Instant::now();
    let deadline = start + bound;
    let mut set = JoinSet::new();
    for _ in 0..connections {
        let (next, reqs, expected) = (next.clone(), reqs.clone(), expected.clone());
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
                let mut c = match conn.take() {
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
                match tokio::time::timeout(REQUEST_TIMEOUT, c.roundtrip(&reqs[i])).await {
                    Ok(Ok((status, keep))) => {
                        if status == expected[i] {
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

/// One request of an open loop.
pub(crate) struct Sample {
    /// Which request (its index in `reqs`).
    pub(crate) index: usize,
    pub(crate) result: Result<u16, String>,
    pub(crate) scheduled: Instant,
    pub(crate) sent: Instant,
    pub(crate) done: Instant,
}

impl Sample {
    /// Scheduled send → full response.
    pub(crate) fn latency(&self) -> Duration {
        self.done - self.scheduled
    }
}

/// What an open loop saw.
pub(crate) struct OpenLoop {
    /// One per request sent, in the order the answers came.
    pub(crate) samples: Vec<Sample>,
    /// From the first scheduled send to the last answer.
    pub(crate) elapsed: Duration,
    /// The most connections it held open at once.
    pub(crate) max_connections: usize,
}

/// Sends requests `range` at a fixed `rate`, whatever the server's answers do (open loop): each
/// request goes out at its scheduled time on an idle connection, or a new one if none is idle.
pub(crate) async fn open_loop(addr: SocketAddr, reqs: Arc<Vec<Vec<u8>>>, range: std::ops::Range<usize>, rate: u32) -> anyhow::Result<OpenLoop> {
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let opened = Arc::new(AtomicUsize::new(0));
    for _ in 0..16.min(range.len()) {
        let c = Conn::connect(addr).await?;
        pool.lock().unwrap().push(c);
        opened.fetch_add(1, Ordering::Relaxed);
    }
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let mut out = Vec::with_capacity(range.len());
    let mut set: JoinSet<Sample> = JoinSet::new();
    // Tokio's timers tick in whole milliseconds and round up: a plain thread paces instead
    // (nanosleep, ~0.1 ms) and hands each due request to the runtime.
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
            out.push(r.expect("load task panicked"));
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
            let result = match conn {
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
            Sample {
                index: i,
                result,
                scheduled,
                sent,
                done: Instant::now(),
            }
        });
    }
    pacer.join().expect("pacer thread panicked");
    // Every task ends within REQUEST_TIMEOUT (+ connect time), so this drain is bounded too.
    while let Some(r) = set.join_next().await {
        out.push(r.expect("load task panicked"));
    }
    Ok(OpenLoop {
        samples: out,
        elapsed: start.elapsed(),
        max_connections: opened.load(Ordering::Relaxed).min(MAX_OPEN_LOOP_CONNECTIONS),
    })
}
