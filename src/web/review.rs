//! The review queue (SPEC §9): `GET /app/review` lists the shop's orders that wait for a person,
//! oldest first, with click-to-call (`POST /app/api/orders/{id}/call`, for a callback) and
//! buttons that confirm or cancel on the shopper's behalf through
//! `POST /app/api/orders/{id}/resolve`. The rules are `crate::verification::review`.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::db::review as stored;
use crate::domain::{OrderStatus, mask};
use crate::reports as r;
use crate::settings::Settings;
use crate::verification::review::{self as review, Refused, Resolution};
use crate::web::embedded::{PageShop, ShopSession, embedded_page, with_csp};
use crate::web::error::{ApiResult, AppError, AppResult};
use crate::web::reports::labels;
use crate::AppState;

/// The most rows the page shows at once; the oldest come first, so resolving them brings the rest.
const PAGE_ROWS: i64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app/review", get(page))
        .route("/app/api/orders/{order_id}/resolve", post(resolve))
}

pub struct Row {
    pub shopify_order_id: i64,
    pub name: String,
    pub href: String,
    pub amount: String,
    pub customer: String,
    pub phone: String,
    pub status_label: &'static str,
    pub tone: &'static str,
    pub why: String,
    pub since: String,
    pub can_call: bool,
}

#[derive(Template)]
#[template(path = "review_queue.html")]
struct ReviewPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    rows: Vec<Row>,
    total: i64,
    more: i64,
    agent_phone: String,
    timezone: String,
}

/// `GET /app/review`: the orders waiting for a person.
async fn page(State(state): State<AppState>, p: PageShop, Query(q): Query<HashMap<String, String>>) -> AppResult<Response> {
    let settings = Settings::from_stored(&p.shop.settings);
    let tz = r::shop_tz(&settings);
    let waiting = stored::waiting(&state.db, &state.cipher, &p.shop.id, PAGE_ROWS).await?;
    let total = stored::waiting_count(&state.db, &p.shop.id).await?;
    let mut link_q = url::form_urlencoded::Serializer::new(String::new());
    link_q.append_pair("shop", &p.shop.domain);
    for k in ["host", "embedded", "id_token"] {
        if let Some(v) = q.get(k) {
            link_q.append_pair(k, v);
        }
    }
    let link_q = link_q.finish();
    let rows: Vec<Row> = waiting
        .iter()
        .map(|o| Row {
            shopify_order_id: o.shopify_order_id,
            name: o.name.clone(),
            href: format!("/app/orders/{}?{link_q}", o.shopify_order_id),
            amount: format!("{} {}", o.currency, o.total_price),
            customer: o.customer_name.clone().unwrap_or_default(),
            phone: o.phone.as_deref().map(mask).unwrap_or_default(),
            status_label: r::status_label(&o.status),
            tone: labels::tone(&o.status),
            why: review::why(&o.status, o.status_reason.as_deref(), o.contacts),
            since: labels::local(tz, o.since),
            can_call: o.status == OrderStatus::CallbackRequested && o.phone.as_deref().is_some_and(|p| !p.is_empty()),
        })
        .collect();
    let page = ReviewPage {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token: q.get("id_token").cloned().unwrap_or_default(),
        nav: "review",
        more: (total - rows.len() as i64).max(0),
        rows,
        total,
        agent_phone: settings.contact.phone.clone(),
        timezone: tz.name().to_string(),
    };
    embedded_page(&p.domain, &page)
}

fn api_json(shop_domain: &str, status: StatusCode, body: Value) -> Response {
    let domain = crate::domain::ShopDomain::parse(shop_domain).ok();
    with_csp(domain.as_ref(), (status, Json(body)).into_response())
}

/// `POST /app/api/orders/{shopify_order_id}/resolve` `{"action": "confirm"|"cancel", "agent": "…"}`:
/// confirms or cancels a waiting order on the shopper's behalf. 422 for a bad action or agent name,
/// 404 for an order that is not this shop's, 409 for one that does not wait (any more); nothing
/// changes in those cases.
async fn resolve(State(state): State<AppState>, ShopSession(shop): ShopSession, Path(raw): Path<String>, body: Bytes) -> ApiResult<Response> {
    let id: i64 = raw.trim().parse().map_err(|_| AppError::NotFound)?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| AppError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let mut errors = BTreeMap::new();
    let action = doc.get("action").and_then(Value::as_str).and_then(Resolution::parse);
    if action.is_none() {
        errors.insert("action".to_string(), "Choose \"confirm\" or \"cancel\".".to_string());
    }
    let agent = match doc.get("agent").and_then(Value::as_str).map(review::agent_name) {
        Some(Ok(name)) => Some(name),
        Some(Err(why)) => {
            errors.insert("agent".to_string(), why.to_string());
            None
        }
        None => {
            errors.insert("agent".to_string(), "Enter your name: it is recorded with the order.".to_string());
            None
        }
    };
    let (Some(action), Some(agent)) = (action, agent) else {
        return Err(AppError::Invalid(errors).into());
    };
    let (code, body) = match review::resolve(&state, &shop, id, action, &agent).await? {
        Ok(status) => (
            StatusCode::OK,
            json!({"order": {"shopify_order_id": id, "status": status, "status_label": r::status_label(status.as_str()), "resolved_by": agent}}),
        ),
        Err(Refused::NotFound) => return Err(AppError::NotFound.into()),
        Err(Refused::NotWaiting(status)) => (
            StatusCode::CONFLICT,
            json!({
                "error": format!(
                    "This order is not waiting for review: it is {} now. Nothing was changed.",
                    r::status_label(&status).to_lowercase()
                ),
                "status": status,
            }),
        ),
    };
    Ok(api_json(&shop.domain, code, body))
}
