//! The Data requests page: every `customers/data_request` Shopify sent for the shop, with its
//! report to download (JSON, CSV) and when the merchant first opened it — Shopify requires the
//! merchant to hand the report to the customer. The page also holds the retention setting.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono_tz::Tz;
use serde_json::Value;

use super::embedded::{PageShop, embedded_page, with_csp};
use super::error::{AppError, AppResult};
use super::pages::IdToken;
use crate::AppState;
use crate::compliance::{self, DataRequest};
use crate::domain::mask;
use super::reports::{csv, labels};
use crate::reports as r;
use crate::settings::{Privacy, Settings};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app/data-requests", get(page))
        .route("/app/data-requests/{id}", get(report))
}

/// A request as the list shows it: the customer's identifiers masked (the report holds them).
pub struct RequestView {
    pub id: String,
    pub received_at: String,
    pub shopify_request_id: String,
    pub customer: String,
    pub orders_requested: String,
    pub opened_at: Option<String>,
}

#[derive(Template)]
#[template(path = "page_data_requests.html")]
struct DataRequestsPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    requests: Vec<RequestView>,
    privacy: Privacy,
    timezone: String,
}

/// `a***@example.com`: enough for the merchant to tell requests apart, not the address.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

fn customer_label(d: &DataRequest) -> String {
    let mut parts = Vec::new();
    if let Some(id) = d.customer_id {
        parts.push(format!("customer {id}"));
    }
    if let Some(e) = d.customer_email.as_deref().filter(|e| !e.is_empty()) {
        parts.push(mask_email(e));
    }
    if let Some(p) = d.customer_phone.as_deref().filter(|p| !p.is_empty()) {
        parts.push(mask(p));
    }
    if parts.is_empty() { "unknown customer".into() } else { parts.join(" · ") }
}

/// `GET /app/data-requests`
async fn page(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let settings = Settings::from_stored(&p.shop.settings);
    let tz = r::shop_tz(&settings);
    let requests = compliance::data_requests(&state.db, &state.cipher, &p.shop.id)
        .await?
        .iter()
        .map(|d| RequestView {
            id: d.id.clone(),
            received_at: labels::local(tz, d.received_at),
            shopify_request_id: d.shopify_request_id.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
            customer: customer_label(d),
            orders_requested: if d.orders_requested.is_empty() { "–".into() } else { d.orders_requested.replace(',', ", ") },
            opened_at: d.opened_at.map(|t| labels::local(tz, t)),
        })
        .collect();
    let page = DataRequestsPage {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token,
        nav: "data_requests",
        requests,
        privacy: settings.privacy,
        timezone: tz.name().to_string(),
    };
    embedded_page(&p.domain, &page)
}

/// `GET /app/data-requests/{id}?format=json|csv`: the report as a download. The first download
/// is recorded as the merchant opening the request.
async fn report(
    State(state): State<AppState>,
    p: PageShop,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(AppError::bad_request(format!("unknown format {other:?}: json or csv"))),
    };
    // Ids are 32 hex digits; anything else is nobody's request.
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let tz = r::shop_tz(&Settings::from_stored(&p.shop.settings));
    let (request, report) = compliance::open_data_request(&state.db, &state.cipher, &p.shop.id, &id, state.clock.now_ms())
        .await?
        .ok_or(AppError::NotFound)?;
    let day = labels::local(tz, request.received_at).chars().take(10).collect::<String>();
    let (body, kind, ext) = if csv {
        (report_csv(&report, tz), "text/csv; charset=utf-8", "csv")
    } else {
        (serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?, "application/json", "json")
    };
    let mut resp = ([(header::CONTENT_TYPE, kind)], body).into_response();
    let file = format!("data-request-{day}-{}.{ext}", &id[..8]);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_csp(Some(&p.domain), resp))
}

const CSV_HEADERS: [&str; 13] = [
    "Customer id",
    "Customer email",
    "Customer phone",
    "Shopify order id",
    "Order",
    "Name on the order",
    "Email on the order",
    "Phone on the order",
    "Verification status",
    "Reason",
    "Received at",
    "Calls",
    "SMS",
];

/// The report as CSV: one row per order (one row with the customer alone when the app holds no
/// order of theirs), cells guarded against spreadsheet formulas like every report's.
fn report_csv(report: &Value, tz: Tz) -> String {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let time = |v: &Value| v.as_i64().map(|t| labels::local(tz, t)).unwrap_or_default();
    let customer = &report["customer"];
    let who = [text(&customer["id"]), text(&customer["email"]), text(&customer["phone"])];
    let mut out = csv::csv_line(&CSV_HEADERS.map(String::from));
    let orders = report["orders"].as_array().cloned().unwrap_or_default();
    if orders.is_empty() {
        let mut row = who.to_vec();
        row.resize(CSV_HEADERS.len(), String::new());
        out.push_str(&csv::csv_line(&row));
    }
    for o in &orders {
        let calls = o["calls"]
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|c| format!("call {} at {}: {} ({} s)", text(&c["attempt"]), time(&c["dialed_at_ms"]), text(&c["result"]), text(&c["duration_seconds"])))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let sms = o["sms"]
            .as_array()
            .map(|sms| {
                sms.iter()
                    .map(|m| format!("{} SMS at {}: {}", text(&m["kind"]), time(&m["sent_at_ms"]), text(&m["status"])))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let mut row = who.to_vec();
        row.extend([
            text(&o["shopify_order_id"]),
            text(&o["name"]),
            text(&o["customer_name"]),
            text(&o["customer_email"]),
            text(&o["phone"]),
            text(&o["verification_status"]),
            text(&o["status_reason"]),
            time(&o["received_at_ms"]),
            calls,
            sms,
        ]);
        out.push_str(&csv::csv_line(&row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_are_masked_on_the_list() {
        assert_eq!(mask_email("asha@example.com"), "a***@example.com");
        let d = DataRequest {
            id: "x".into(),
            shopify_request_id: None,
            customer_id: Some(7001),
            customer_email: Some("asha@example.com".into()),
            customer_phone: Some("+919876543210".into()),
            orders_requested: String::new(),
            received_at: 0,
            opened_at: None,
        };
        assert_eq!(customer_label(&d), "customer 7001 · a***@example.com · ********3210");
    }

    #[test]
    fn csv_has_a_row_per_order_and_guards_formulas() {
        let report = json!({"customer": {"id": 7, "email": "=cmd@x.in", "phone": "+919876543210"}, "orders": [
            {"shopify_order_id": 1, "name": "#1001", "customer_name": "Asha", "customer_email": null, "phone": "+919876543210",
             "verification_status": "confirmed", "status_reason": "pressed 1", "received_at_ms": 0,
             "calls": [{"attempt": 1, "result": "confirm", "dialed_at_ms": 0, "duration_seconds": 12}], "sms": []}]});
        let csv = report_csv(&report, chrono_tz::Asia::Kolkata);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("7,'=cmd@x.in,'+919876543210,1,#1001,Asha,,'+919876543210,confirmed,pressed 1,1970-01-01 05:30:00,"), "{}", lines[1]);
        assert!(lines[1].contains("call 1 at 1970-01-01 05:30:00: confirm (12 s)"));
        let empty = report_csv(&json!({"customer": {"id": 7}, "orders": []}), chrono_tz::Asia::Kolkata);
        assert_eq!(empty.lines().count(), 2);
    }
}
