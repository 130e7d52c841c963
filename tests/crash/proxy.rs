//! A pass-through in front of the fake Exotel that can hold answers back, so that a kill lands
//! while a request is in flight: Calls/connect (the fake has recorded — "dialled" — the call, the
//! app has not heard back yet), WhatsApp messages (the same: the fake has the message) and Balance
//! (the account check of a settings save).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
pub struct Knobs {
    pub connect_delay_ms: AtomicU64,
    pub balance_delay_ms: AtomicU64,
    pub whatsapp_delay_ms: AtomicU64,
    /// Calls/connect requests that reached the fake.
    pub connects: AtomicUsize,
    /// Balance requests received.
    pub balances: AtomicUsize,
    /// WhatsApp messages requests that reached the fake.
    pub whatsapp_sends: AtomicUsize,
}

#[derive(Clone)]
pub struct ExotelProxy {
    pub origin: String,
    pub knobs: Arc<Knobs>,
}

#[derive(Clone)]
struct Ctx {
    upstream: String,
    http: reqwest::Client,
    knobs: Arc<Knobs>,
}

impl ExotelProxy {
    pub async fn start(upstream: &str) -> ExotelProxy {
        let knobs = Arc::new(Knobs::default());
        let ctx = Ctx { upstream: upstream.to_string(), http: reqwest::Client::new(), knobs: knobs.clone() };
        let router = Router::new().fallback(forward).with_state(ctx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        ExotelProxy { origin, knobs }
    }

    pub fn set_connect_delay(&self, d: Duration) {
        self.knobs.connect_delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set_balance_delay(&self, d: Duration) {
        self.knobs.balance_delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set_whatsapp_delay(&self, d: Duration) {
        self.knobs.whatsapp_delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn whatsapp_sends(&self) -> usize {
        self.knobs.whatsapp_sends.load(Ordering::SeqCst)
    }

    pub fn connects(&self) -> usize {
        self.knobs.connects.load(Ordering::SeqCst)
    }

    pub fn balances(&self) -> usize {
        self.knobs.balances.load(Ordering::SeqCst)
    }
}

async fn forward(State(ctx): State<Ctx>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let connect = path.contains("/Calls/connect");
    let whatsapp = path.starts_with("/v2/accounts/") && path.ends_with("/messages");
    if path.contains("/Balance") {
        ctx.knobs.balances.fetch_add(1, Ordering::SeqCst);
        let d = ctx.knobs.balance_delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
    }
    let url = format!("{}{}", ctx.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut req = ctx.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    if connect {
        ctx.knobs.connects.fetch_add(1, Ordering::SeqCst);
        // The fake has recorded the call (Exotel dials it); the answer is what is slow.
        let d = ctx.knobs.connect_delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
    }
    if whatsapp {
        ctx.knobs.whatsapp_sends.fetch_add(1, Ordering::SeqCst);
        // The fake has the message (Exotel sends it); the answer is what is slow.
        let d = ctx.knobs.whatsapp_delay_ms.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
    }
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut out = (status, bytes).into_response();
    if let Some(ct) = content_type {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    out
}
