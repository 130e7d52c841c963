//! An order's timeline (page and JSON) and click-to-call (`crate::click_to_call`) for an order
//! whose customer asked for a callback, with Exotel's status callback for those calls.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::DateTime;
use serde_json::{Value, json};

use super::{auth_query, labels};
use crate::click_to_call::{self, Outcome, Refused};
use crate::db::reports as rdb;
use crate::db::shops::Shop;
use crate::domain::{OrderStatus, ShopDomain};
use crate::exotel;
use crate::reports as r;
use crate::settings::Settings;
use crate::verification::address;
use crate::web::embedded::{PageShop, ShopSession, embedded_page, with_csp};
use crate::web::error::{ApiResult, AppError, AppResult};
use crate::AppState;

// ---------------------------------------------------------------------------------------------
// Timeline

pub struct EventView {
    pub at: String,
    pub label: String,
    pub detail: String,
    pub tone: &'static str,
}

#[derive(Template)]
#[template(path = "order_timeline.html")]
struct TimelinePage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    name: String,
    shopify_order_id: i64,
    customer: String,
    phone: String,
    amount: String,
    payment: String,
    created: String,
    status_label: &'static str,
    status_tone: &'static str,
    reason: String,
    tags: Vec<String>,
    hold_label: &'static str,
    events: Vec<EventView>,
    can_call: bool,
    agent_phone: String,
    back_url: String,
    timezone: String,
}

/// The order's address corrections, opened for the merchant, each address on one line.
async fn corrections(state: &AppState, shop_id: &str, order_id: &str) -> Result<Vec<CorrectionView>, sqlx::Error> {
    let rows = crate::db::addresses::of_order(&state.db, shop_id, order_id).await?;
    let open = |sealed: &str| address::one_line(address::parse(state.cipher.open(sealed).as_deref()).as_ref());
    Ok(rows
        .into_iter()
        .map(|c| CorrectionView { event_id: address::event_id(&c.id), old: open(&c.old_enc), new: open(&c.new_enc), update: c.state, at: c.created_at })
        .collect())
}

struct CorrectionView {
    event_id: String,
    old: String,
    new: String,
    /// `address_corrections.state`: where its Shopify update stands.
    update: String,
    at: i64,
}

/// An event's detail, with the addresses of the correction it names (they are stored sealed).
fn event_detail(e: &rdb::Event, corrections: &[CorrectionView]) -> String {
    match corrections.iter().find(|c| c.event_id == e.id) {
        Some(c) if !e.detail.is_empty() => format!("{}: {} → {}", e.detail, c.old, c.new),
        _ => e.detail.clone(),
    }
}

fn parse_order_id(raw: &str) -> Result<i64, AppError> {
    raw.trim().parse::<i64>().map_err(|_| AppError::NotFound)
}

/// `GET /app/orders/{shopify_order_id}`: the order's timeline page.
pub(super) async fn timeline_page(
    State(state): State<AppState>,
    p: PageShop,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let id = parse_order_id(&raw)?;
    let o = rdb::order_detail(&state.db, &state.cipher, &p.shop.id, id).await?.ok_or(AppError::NotFound)?;
    let events = rdb::timeline(&state.db, &p.shop.id, &o.id).await?;
    let corrections = corrections(&state, &p.shop.id, &o.id).await?;
    let settings = Settings::from_stored(&p.shop.settings);
    let tz = r::shop_tz(&settings);
    let zone = |ms: i64| {
        DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string()).unwrap_or_default()
    };
    let page = TimelinePage {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token: q.get("id_token").cloned().unwrap_or_default(),
        nav: "orders",
        name: o.name.clone(),
        shopify_order_id: o.shopify_order_id,
        customer: o.customer_name.clone().unwrap_or_default(),
        phone: o.phone.clone().unwrap_or_default(),
        amount: format!("{} {}", o.currency, o.total_price),
        payment: serde_json::from_str::<Vec<String>>(&o.gateways).map(|g| g.join(", ")).unwrap_or_default(),
        created: zone(o.created_at),
        status_label: r::status_label(&o.status),
        status_tone: labels::tone(&o.status),
        reason: o.status_reason.clone().unwrap_or_default(),
        tags: o.tags(),
        hold_label: labels::hold_label(o.hold_state.as_deref()),
        events: events
            .iter()
            .map(|e| EventView { at: zone(e.at), label: labels::event_label(&e.kind), detail: event_detail(e, &corrections), tone: labels::tone(&e.kind) })
            .collect(),
        can_call: o.status == OrderStatus::CallbackRequested,
        agent_phone: settings.contact.phone.clone(),
        back_url: format!("/app/history/orders?{}", auth_query(&q, &p.shop.domain)),
        timezone: tz.name().to_string(),
    };
    embedded_page(&p.domain, &page)
}

fn api_json(shop: &Shop, status: StatusCode, body: Value) -> Response {
    let domain = ShopDomain::parse(&shop.domain).ok();
    with_csp(domain.as_ref(), (status, Json(body)).into_response())
}

/// `GET /app/api/orders/{shopify_order_id}`: status, reason, tags and the timeline.
pub(super) async fn order_json(State(state): State<AppState>, ShopSession(shop): ShopSession, Path(raw): Path<String>) -> ApiResult<Response> {
    let id = parse_order_id(&raw)?;
    let o = rdb::order_detail(&state.db, &state.cipher, &shop.id, id).await?.ok_or(AppError::NotFound)?;
    let events = rdb::timeline(&state.db, &shop.id, &o.id).await?;
    let corrections = corrections(&state, &shop.id, &o.id).await?;
    let tz = r::shop_tz(&Settings::from_stored(&shop.settings));
    let body = json!({
        "order": {
            "shopify_order_id": o.shopify_order_id,
            "name": o.name,
            "phone": o.phone,
            "customer_name": o.customer_name,
            "total_price": o.total_price,
            "currency": o.currency,
            "created_at": labels::local_rfc3339(tz, o.created_at),
        },
        "status": o.status,
        "reason": o.status_reason,
        "channel": o.status_reason.as_deref().and_then(r::channel_of),
        "tags": o.tags(),
        "hold": o.hold_state,
        "hold_label": labels::hold_label(o.hold_state.as_deref()),
        "resolved_at": o.resolved_at.map(|t| labels::local_rfc3339(tz, t)),
        "resolved_by": o.resolved_by,
        "timezone": tz.name(),
        "can_call": o.status == OrderStatus::CallbackRequested,
        "timeline": events.iter().map(|e| json!({
            "at": labels::local_rfc3339(tz, e.at),
            "kind": e.kind,
            "label": labels::event_label(&e.kind),
            "detail": event_detail(e, &corrections),
        })).collect::<Vec<_>>(),
        "address_corrections": corrections.iter().map(|c| json!({
            "at": labels::local_rfc3339(tz, c.at),
            "old": c.old,
            "new": c.new,
            "shopify_update": c.update,
        })).collect::<Vec<_>>(),
    });
    Ok(api_json(&shop, StatusCode::OK, body))
}

// ---------------------------------------------------------------------------------------------
// Click-to-call (the workflow is `crate::click_to_call`)

/// `POST /app/api/orders/{shopify_order_id}/call` `{"agent": "+91…"}` (default: Contact details
/// phone): Exotel rings the agent, then connects the customer, showing the ExoPhone.
pub(super) async fn click_to_call(State(state): State<AppState>, ShopSession(shop): ShopSession, Path(raw): Path<String>, body: Bytes) -> ApiResult<Response> {
    let id = parse_order_id(&raw)?;
    let doc: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("the body is not valid JSON: {e}")))?
    };
    let o = rdb::order_detail(&state.db, &state.cipher, &shop.id, id).await?.ok_or(AppError::NotFound)?;
    let agent = doc.get("agent").and_then(Value::as_str);
    let (code, body) = match click_to_call::place(&state, &shop, &o, agent).await? {
        Err(Refused::NotACallback(status)) => (
            StatusCode::CONFLICT,
            json!({"error": format!("Only orders whose customer asked for a callback can be called from here; this one is {status}.")}),
        ),
        Err(Refused::Invalid(errors)) => return Err(AppError::Invalid(errors).into()),
        Err(Refused::NotSetUp) => (
            StatusCode::CONFLICT,
            json!({"error": "Exotel is not set up: save the account SID, API key and token in Settings and the ExoPhone in IVR call settings."}),
        ),
        Err(Refused::Busy { secs }) => {
            let mut resp = api_json(
                &shop,
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": format!("Exotel's call limit for this account is reached right now; try again in {secs} s."), "retry_after_seconds": secs}),
            );
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return Ok(resp);
        }
        Ok(Outcome::Placed { id, call_sid, status, agent, customer }) => {
            (StatusCode::OK, json!({"call": {"id": id, "call_sid": call_sid, "status": status, "agent": agent, "customer": customer}}))
        }
        Ok(Outcome::Failed { error, why }) => {
            let code = match error {
                exotel::ExotelError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                exotel::ExotelError::Timeout => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            (code, json!({"error": format!("Exotel did not place the call: {why}")}))
        }
    };
    Ok(api_json(&shop, code, body))
}

/// `POST /exotel/{key}/agent-call-status`: Exotel's terminal report of a click-to-call.
pub(super) async fn agent_call_status(State(state): State<AppState>, Path(key): Path<String>, req: axum::extract::Request) -> Response {
    let plain = |code: StatusCode, msg: &'static str| (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg).into_response();
    let result: anyhow::Result<Response> = async {
        // Same key check and report forms (multipart, form, JSON) as Exotel's other callbacks.
        let (shop_id, fields) = match crate::web::exotel::shop_report(&state, &key, req).await? {
            Ok(found) => found,
            Err(answer) => return Ok(answer),
        };
        // Not a click-to-call of this shop: 404 like every other Exotel callback, nothing changes.
        if !click_to_call::ended(&state, &shop_id, &fields).await? {
            return Ok(plain(StatusCode::NOT_FOUND, "not found"));
        }
        Ok(plain(StatusCode::OK, "OK"))
    }
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "agent call status report failed");
        plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })
}
