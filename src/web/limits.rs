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

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
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

/// Keyed limiters keep a cell per address seen; now and then the ones back to full are dropped.
fn prune(limiter: &DefaultKeyedRateLimiter<IpAddr>, counter: &AtomicU64) {
    if counter.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        limiter.retain_recent();
    }
}

static PUBLIC: LazyLock<DefaultKeyedRateLimiter<IpAddr>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(120).expect("non-zero"))));
static PUBLIC_SEEN: AtomicU64 = AtomicU64::new(0);

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
    let ip = client_ip(req.headers(), peer_of(&req));
    prune(&PUBLIC, &PUBLIC_SEEN);
    match PUBLIC.check_key(&ip) {
        Ok(()) => next.run(req).await,
        Err(not_until) => too_many(not_until.wait_time_from(DefaultClock::default().now())),
    }
}

static FAILURES: LazyLock<DefaultKeyedRateLimiter<IpAddr>> =
    LazyLock::new(|| RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(1200).expect("non-zero"))));
static FAILURES_SEEN: AtomicU64 = AtomicU64::new(0);
/// Addresses over their failure budget, until when.
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
        let ip = client_ip(&headers, peer);
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
        let ip = client_ip(&headers, peer);
        prune(&FAILURES, &FAILURES_SEEN);
        if FAILURES.check_key(&ip).is_err() {
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
}
