//! What one client may make the server do (SPEC §6: hostile input changes nothing and costs little):
//! the connection loop with its header read timeout, a deadline for reading a request body, and
//! per-client request limits on the public endpoints.
//!
//! - Headers: a client must send a request's headers within `HTTP_CLIENT_TIMEOUT_SECONDS` of
//!   opening the connection (or of its previous response), else the connection is closed.
//! - Bodies: a body must arrive within the same time from its headers, however it is trickled;
//!   a late one gets 408 and the connection is closed.
//! - The public pages (`/v/{token}`, `/auth`, `/auth/callback`): 120 requests a minute per client
//!   address (429 with `Retry-After`).
//! - Webhooks and Exotel callbacks are never limited while they authenticate: Shopify and Exotel
//!   send from many addresses at high rates. A client address whose requests there fail
//!   authentication (bad HMAC 401, unknown Exotel key or call 404) more than 1,200 times a minute
//!   gets 429 for a second at a time, whatever it sends then.
//! - A client is its IPv4 address, or its IPv6 /64 (one subscriber's prefix: a client can pick any
//!   of its 2^64 addresses). Every keyed limiter forgets a key once its budget is full again.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` resolves, then lets the requests in
/// flight finish. Like `axum::serve`, plus the header read timeout, which needs hyper's timer.
pub async fn serve(listener: TcpListener, router: Router, client_timeout: Duration, shutdown: impl Future<Output = ()>) {
    let (signal_tx, _) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = tower::ServiceExt::map_request(router.clone(), move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let mut signal = signal_tx.subscribe();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(client_timeout);
            let mut conn = pin!(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = signal.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(close_rx);
        });
    }
    drop(listener);
    let _ = signal_tx.send(());
    drop(close_rx);
    close_tx.closed().await;
}

/// The client's address for per-client limits. A peer on a loopback or private network is a load
/// balancer or proxy: the client is then the last `X-Forwarded-For` hop (the address that proxy saw,
/// which the client cannot choose). A public peer is the client, whatever its headers say.
pub fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    let ip = peer.ip().to_canonical();
    let proxied = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    if !proxied {
        return ip;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .next_back()
        .and_then(|v| v.rsplit(',').next())
        .and_then(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|a| a.to_canonical())
        .unwrap_or(ip)
}

fn peer_of(req: &Request) -> SocketAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

pub fn too_many(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "too many requests; please wait a moment")
        .into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// The key of a client in the per-client limits: its IPv4 address, or the /64 of its IPv6 address.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// [`client_ip`] as a per-client limit key ([`limit_key`]).
pub fn client_key(headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    limit_key(client_ip(headers, peer))
}

/// Checks between two prunings of a keyed limit's map.
const PRUNE_EVERY: u64 = 4096;

/// A keyed rate limit whose map stays bounded: every `PRUNE_EVERY` checks, the keys whose budget
/// is full again (indistinguishable from a key never seen) are dropped and the map shrunk, so a
/// flood from ever new addresses leaves at most a few seconds' worth of keys behind.
pub struct KeyedLimit<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn per_minute(n: u32) -> Self {
        Self::with_clock(Quota::per_minute(NonZeroU32::new(n).expect("non-zero")), DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> KeyedLimit<K, C> {
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        KeyedLimit { limiter: RateLimiter::dashmap_with_clock(quota, clock), checks: AtomicU64::new(0) }
    }

    /// Spends one request of `key`'s budget, or says how long until it may try again.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Drops the keys back to a full budget and gives the freed capacity back.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

static PUBLIC: LazyLock<KeyedLimit<IpAddr>> = LazyLock::new(|| KeyedLimit::per_minute(120));

/// Which per-client limit a request falls under.
pub async fn per_client(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/v/") || path == "/auth" || path.starts_with("/auth/") {
        public_pages(req, next).await
    } else if path == "/webhooks/shopify" || path.starts_with("/exotel/") {
        machine_callers(req, next).await
    } else {
        next.run(req).await
    }
}

/// Per-client limit of the public, unauthenticated pages.
async fn public_pages(req: Request, next: Next) -> Response {
    match PUBLIC.check(&client_key(req.headers(), peer_of(&req))) {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many(wait),
    }
}

static FAILURES: LazyLock<KeyedLimit<IpAddr>> = LazyLock::new(|| KeyedLimit::per_minute(1200));
/// Clients over their failure budget, until when (an entry is dropped once past).
static BLOCKED: LazyLock<Mutex<HashMap<IpAddr, Instant>>> = LazyLock::new(Default::default);
static ANY_BLOCKED: AtomicBool = AtomicBool::new(false);
const BLOCK: Duration = Duration::from_secs(1);

/// Webhooks and Exotel callbacks: only clients that keep failing authentication are held back.
async fn machine_callers(req: Request, next: Next) -> Response {
    // The genuine traffic's path: no lock and no address parsing while nobody is blocked.
    let mut headers = HeaderMap::new();
    if let Some(xff) = req.headers().get_all("x-forwarded-for").iter().next_back() {
        headers.insert("x-forwarded-for", xff.clone());
    }
    let peer = peer_of(&req);
    if ANY_BLOCKED.load(Ordering::Relaxed) {
        let ip = client_key(&headers, peer);
        let mut blocked = BLOCKED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = blocked.get(&ip).copied() {
            let now = Instant::now();
            if until > now {
                return too_many(until - now);
            }
            blocked.remove(&ip);
            ANY_BLOCKED.store(!blocked.is_empty(), Ordering::Relaxed);
        }
    }
    let resp = next.run(req).await;
    if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND) {
        let ip = client_key(&headers, peer);
        if FAILURES.check(&ip).is_err() {
            let mut blocked = BLOCKED.lock().unwrap_or_else(|p| p.into_inner());
            blocked.retain(|_, until| *until > Instant::now());
            blocked.insert(ip, Instant::now() + BLOCK);
            ANY_BLOCKED.store(true, Ordering::Relaxed);
        }
    }
    resp
}

/// A request body must be complete within `timeout` of the headers, however slowly it trickles
/// in; a late one is answered 408 (and hyper closes the connection, the body being unread).
pub async fn body_deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let by = tokio::time::Instant::now() + timeout;
    let req = req.map(|inner| Body::new(DeadlineBody { inner, by, deadline: None, timed_out: timed_out.clone() }));
    let resp = next.run(req).await;
    if timed_out.load(Ordering::Relaxed) {
        let mut late = (StatusCode::REQUEST_TIMEOUT, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "the request body was not sent in time")
            .into_response();
        late.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return late;
    }
    resp
}

/// A body that fails once its deadline has passed (one deadline for the whole body, unlike
/// tower-http's `TimeoutBody`, which restarts on every chunk).
struct DeadlineBody {
    inner: Body,
    by: tokio::time::Instant,
    /// Armed only once the body has to be waited for (most bodies come with their headers).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let by = this.by;
        let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(by)));
        if deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("the request body was not sent in time"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_address_behind_a_proxy_only() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4, 5.6.7.8"));
        let lb: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let public: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        // The last hop is what the load balancer saw; the first is whatever the client wrote.
        assert_eq!(client_ip(&h, lb), "5.6.7.8".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&h, public), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&HeaderMap::new(), lb), "10.0.0.2".parse::<IpAddr>().unwrap());
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, lb), "10.0.0.2".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let key = |s: &str| limit_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), key("2001:db8:1:2::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("203.0.113.9"), "203.0.113.9".parse::<IpAddr>().unwrap(), "IPv4 as is");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9".parse::<IpAddr>().unwrap(), "IPv4-mapped is IPv4");
        assert_ne!(key("203.0.113.9"), key("203.0.113.10"));

        let limit = KeyedLimit::with_clock(Quota::per_minute(NonZeroU32::new(2).unwrap()), governor::clock::FakeRelativeClock::default());
        assert!(limit.check(&key("2001:db8:1:2::1")).is_ok());
        assert!(limit.check(&key("2001:db8:1:2::2")).is_ok());
        assert!(limit.check(&key("2001:db8:1:2:ffff::9")).is_err(), "one budget for the /64");
        assert!(limit.check(&key("2001:db8:1:3::1")).is_ok(), "the next /64 has its own");
    }

    /// 100,000 clients, each seen once, 10 ms apart: the map holds only the last few seconds'
    /// keys, however many came before, and nothing once everyone's budget is full again.
    #[test]
    fn keyed_limits_forget_idle_clients() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limit = KeyedLimit::with_clock(Quota::per_minute(NonZeroU32::new(120).unwrap()), clock.clone());
        let mut most = 0;
        for i in 0..100_000u32 {
            let ip = if i % 2 == 0 { IpAddr::from(i.to_be_bytes()) } else { IpAddr::from(((i as u128) << 64).to_be_bytes()) };
            assert!(limit.check(&limit_key(ip)).is_ok());
            clock.advance(Duration::from_millis(10));
            most = most.max(limit.len());
        }
        assert!(most <= PRUNE_EVERY as usize + 200, "at most {most} keys held");
        clock.advance(Duration::from_secs(60));
        limit.prune();
        assert_eq!(limit.len(), 0);
        assert!(limit.is_empty());
    }
}
