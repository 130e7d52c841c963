//! History reports (Call, SMS, Missed call, WhatsApp, Order) with filters, pagination and CSV; each order's
//! timeline and click-to-call are `orders`. Every query is scoped to the authenticated shop. The
//! queries are `db::reports`, the report rules `crate::reports`; this module only presents.

pub mod csv;
pub mod labels;
mod orders;
pub mod svg;

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::web::embedded::{PageShop, embedded_page, with_csp};
use crate::web::error::{AppError, AppResult};
use crate::db::reports as rdb;
use crate::domain::OrderStatus;
use crate::reports::{self as r, Filters, Report};
use crate::settings::Settings;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app/history/{report}", get(history))
        .route("/app/orders/{order_id}", get(orders::timeline_page))
        .route("/app/api/orders/{order_id}", get(orders::order_json))
        .route("/app/api/orders/{order_id}/call", post(orders::click_to_call))
        .route("/exotel/{key}/agent-call-status", post(orders::agent_call_status))
}

fn today(tz: Tz, now_ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(now_ms).map(|t| t.with_timezone(&tz).date_naive()).unwrap_or_default()
}

/// The query that authenticates a document load and keeps the report's filters, without `drop`.
fn query_string(q: &HashMap<String, String>, drop: &[&str], add: &[(&str, String)]) -> String {
    let mut keys: Vec<&String> = q.keys().filter(|k| !drop.contains(&k.as_str()) && !add.iter().any(|(a, _)| a == k)).collect();
    keys.sort();
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for k in keys {
        s.append_pair(k, &q[k]);
    }
    for (k, v) in add {
        s.append_pair(k, v);
    }
    s.finish()
}

/// What a document load needs to link to another page of the app.
fn auth_query(q: &HashMap<String, String>, shop: &str) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    s.append_pair("shop", shop);
    for k in ["host", "embedded", "id_token"] {
        if let Some(v) = q.get(k) {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

pub struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub tone: Option<&'static str>,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell { text: text.into(), href: None, tone: None }
}

pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: String,
    /// (value, label, selected) for selects.
    pub options: Vec<(String, String, bool)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "report_history.html")]
struct HistoryPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    title: &'static str,
    intro: &'static str,
    path: String,
    hidden: Vec<(String, String)>,
    fields: Vec<FieldView>,
    error: Option<String>,
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    total: i64,
    page: i64,
    pages: i64,
    first_row: i64,
    last_row: i64,
    prev_url: Option<String>,
    next_url: Option<String>,
    csv_url: String,
    per_page_options: Vec<(i64, bool)>,
    counts: Option<Vec<(&'static str, &'static str, i64)>>,
    channels: Vec<(&'static str, &'static str, String, i64, i64)>,
    chart_svg: String,
    timezone: String,
}

fn text_field(name: &'static str, label: &'static str, kind: &'static str, value: &str, f: &Filters) -> FieldView {
    FieldView { name, label, kind, value: value.to_string(), options: vec![], error: f.errors.get(name).cloned() }
}

fn select_field(name: &'static str, label: &'static str, value: &str, options: &[(&str, &str)], f: &Filters) -> FieldView {
    let mut opts = vec![(String::new(), "All".to_string(), value.is_empty())];
    opts.extend(options.iter().map(|(v, l)| (v.to_string(), l.to_string(), *v == value)));
    FieldView { name, label, kind: "select", value: value.to_string(), options: opts, error: f.errors.get(name).cloned() }
}

fn fields_for(report: Report, f: &Filters) -> Vec<FieldView> {
    let mut v = vec![
        text_field("customer", "Customer number", "tel", &f.customer, f),
        text_field("order", "Order number", "text", &f.order, f),
    ];
    match report {
        Report::Calls => {
            v.push(text_field("agent", "Agent number", "tel", &f.agent, f));
            v.push(select_field("direction", "Direction", &f.direction, &r::CALL_DIRECTIONS, f));
            v.push(select_field("input", "IVR input", &f.input, &r::IVR_INPUTS, f));
            let st: Vec<(&str, &str)> = r::CALL_STATUSES.iter().map(|s| (*s, *s)).collect();
            v.push(select_field("status", "Status", &f.status, &st, f));
        }
        Report::Sms => {
            let st: Vec<(&str, &str)> = r::SMS_STATUSES.iter().map(|s| (*s, *s)).collect();
            v.push(select_field("status", "SMS status", &f.status, &st, f));
        }
        Report::Orders => v.push(select_field("status", "Verification status", &f.status, &r::ORDER_STATUSES, f)),
        Report::Whatsapp => {
            let st: Vec<(&str, &str)> = r::WHATSAPP_STATUSES.iter().map(|s| (*s, *s)).collect();
            v.push(select_field("status", "Message status", &f.status, &st, f));
            v.push(select_field("reply", "Reply", &f.reply, &r::WHATSAPP_REPLIES, f));
        }
        Report::Missed => {}
    }
    v.push(text_field("from", "From date", "date", &f.from, f));
    v.push(text_field("to", "To date (max 7 days)", "date", &f.to, f));
    v
}

/// `GET /app/history/{calls|sms|missed-calls|whatsapp|orders}[?…&format=csv]`
async fn history(
    State(state): State<AppState>,
    p: PageShop,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let report = Report::from_slug(&slug).ok_or(AppError::NotFound)?;
    let settings = Settings::from_stored(&p.shop.settings);
    let tz = r::shop_tz(&settings);
    let f = Filters::parse(&q, report, tz, today(tz, state.clock.now_ms()), &settings.general.default_country)
        .for_shop(&settings)
        .index_phones(&state.cipher);
    let csv = q.get("format").is_some_and(|v| v == "csv");
    let shop_id = p.shop.id.as_str();
    let link_q = auth_query(&q, &p.shop.domain);
    let order_link = |id: i64| Some(format!("/app/orders/{id}?{link_q}"));

    let (headers, rows, total, counts, overview) = if !f.is_valid() {
        (headers_of(report), vec![], 0, None, None)
    } else {
        let limit = if csv { None } else { Some((f.per_page, f.offset())) };
        let db = &state.db;
        match report {
            Report::Orders => {
                let counts = rdb::order_counts(db, shop_id, &f).await?;
                let rows = rdb::orders(db, &state.cipher, shop_id, &f, limit).await?;
                let total = counts.of(&f.status);
                let overview = if csv { None } else { Some(rdb::overview(db, shop_id, &f, tz).await?) };
                let cells = rows
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        vec![
                            cell((f.offset() + i as i64 + 1).to_string()),
                            Cell { text: o.name.clone(), href: order_link(o.shopify_order_id), tone: None },
                            cell(o.phone.clone().unwrap_or_default()),
                            cell(o.customer_name.clone().unwrap_or_default()),
                            cell(labels::local(tz, o.created_at)),
                            cell(o.total_price.clone()),
                            cell(o.currency.clone()),
                            cell(o.payment_type()),
                            Cell { text: r::status_label(&o.status).into(), href: None, tone: Some(labels::tone(&o.status)) },
                            cell(o.status_reason.clone().unwrap_or_default()),
                            cell(o.outcome_tags.clone().unwrap_or_default()),
                        ]
                    })
                    .collect();
                (headers_of(report), cells, total, Some(counts), overview)
            }
            Report::Calls => {
                let total = if csv { 0 } else { rdb::calls_count(db, shop_id, &f).await? };
                let rows = rdb::calls(db, &state.cipher, shop_id, &f, limit).await?;
                let cells = rows
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        vec![
                            cell((f.offset() + i as i64 + 1).to_string()),
                            Cell { text: c.name.clone(), href: order_link(c.shopify_order_id), tone: None },
                            cell(labels::local(tz, c.at)),
                            cell(c.direction()),
                            cell(c.ivr_input()),
                            Cell { text: c.status.clone(), href: None, tone: Some(labels::call_tone(&c.status)) },
                            cell(c.customer.clone().unwrap_or_default()),
                            cell(c.agent.clone().unwrap_or_else(|| "–".into())),
                            cell(c.answered_by.clone().unwrap_or_else(|| "–".into())),
                            cell(c.duration_seconds.map(|d| d.to_string()).unwrap_or_default()),
                            cell(c.result.clone().unwrap_or_default()),
                            cell(c.call_sid.clone().unwrap_or_default()),
                        ]
                    })
                    .collect();
                (headers_of(report), cells, total, None, None)
            }
            Report::Sms => {
                let total = if csv { 0 } else { rdb::sms_count(db, shop_id, &f).await? };
                let rows = rdb::sms(db, &state.cipher, shop_id, &f, limit).await?;
                let cells = rows
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        vec![
                            cell((f.offset() + i as i64 + 1).to_string()),
                            Cell {
                                text: m.name.clone().unwrap_or_else(|| "–".into()),
                                href: m.shopify_order_id.and_then(order_link),
                                tone: None,
                            },
                            cell(m.to_phone.clone().unwrap_or_default()),
                            cell(labels::local(tz, m.at)),
                            Cell { text: m.status.clone(), href: None, tone: Some(labels::sms_tone(&m.status)) },
                            cell(m.detailed_status.clone().unwrap_or_default()),
                            cell(m.kind_label()),
                            cell(m.body.clone()),
                            cell(m.sms_sid.clone().unwrap_or_default()),
                        ]
                    })
                    .collect();
                (headers_of(report), cells, total, None, None)
            }
            Report::Whatsapp => {
                let total = if csv { 0 } else { rdb::whatsapp_count(db, shop_id, &f).await? };
                let rows = rdb::whatsapp(db, &state.cipher, shop_id, &f, limit).await?;
                let cells = rows
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        vec![
                            cell((f.offset() + i as i64 + 1).to_string()),
                            cell(labels::local(tz, m.at)),
                            Cell { text: m.name.clone(), href: order_link(m.shopify_order_id), tone: None },
                            cell(m.to_phone.clone().unwrap_or_default()),
                            Cell { text: m.status.clone(), href: None, tone: Some(labels::whatsapp_tone(&m.status)) },
                            cell(m.error.clone().unwrap_or_default()),
                            cell(m.reply_label()),
                            Cell { text: r::status_label(&m.order_status).into(), href: None, tone: Some(labels::tone(&m.order_status)) },
                            cell(m.message_sid.clone().unwrap_or_default()),
                        ]
                    })
                    .collect();
                (headers_of(report), cells, total, None, None)
            }
            Report::Missed => {
                let total = if csv { 0 } else { rdb::missed_count(db, shop_id, &f).await? };
                let rows = rdb::missed(db, &state.cipher, shop_id, &f, limit).await?;
                let exophone = settings.fallback.missed_call_exophone.clone();
                let cells = rows
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        vec![
                            cell((f.offset() + i as i64 + 1).to_string()),
                            cell(if m.orders.is_empty() { "–".to_string() } else { m.orders.clone() }),
                            cell(m.phone.clone().unwrap_or_else(|| m.call_from.clone())),
                            cell(exophone.clone()),
                            cell(labels::local(tz, m.at)),
                            cell(m.call_sid.clone().unwrap_or_default()),
                            Cell { text: m.outcome_label().into(), href: None, tone: Some(if m.outcome == "counted" { "success" } else { "info" }) },
                        ]
                    })
                    .collect();
                (headers_of(report), cells, total, None, None)
            }
        }
    };

    if csv {
        if !f.is_valid() {
            let resp = (StatusCode::UNPROCESSABLE_ENTITY, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], f.message()).into_response();
            return Ok(with_csp(Some(&p.domain), resp));
        }
        let mut body = csv::csv_line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
        for row in &rows {
            body.push_str(&csv::csv_line(&row.iter().map(|c| c.text.clone()).collect::<Vec<_>>()));
        }
        let file = format!("{}-history-{}-to-{}.csv", report.slug(), f.from, f.to);
        let mut resp = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(with_csp(Some(&p.domain), resp));
    }

    let pages = ((total + f.per_page - 1) / f.per_page).max(1);
    let path = format!("/app/history/{}", report.slug());
    let page_url = |n: i64| format!("{path}?{}", query_string(&q, &["page", "format"], &[("page", n.to_string())]));
    let (nav, title, intro) = match report {
        Report::Calls => ("calls", "Call history", "IVR calls to customers and click-to-calls by your agents."),
        Report::Sms => ("sms", "SMS history", "Confirmation links, missed-call requests, confirmations and OTPs sent to customers."),
        Report::Missed => ("missed", "Missed call history", "Missed calls customers gave to confirm their orders."),
        Report::Orders => ("orders", "Order history", "Orders the app verified, with their verification status."),
        Report::Whatsapp => ("whatsapp_history", "WhatsApp history", "Confirmation messages sent to customers on WhatsApp, their delivery status and the customer's reply."),
    };
    let hidden = ["shop", "host", "embedded", "id_token"]
        .iter()
        .filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let counts_view = counts.as_ref().map(|c| {
        vec![
            ("total", "Total orders", c.total),
            (OrderStatus::Confirmed.as_str(), "Confirmed orders", c.confirmed),
            (OrderStatus::Cancelled.as_str(), "Cancelled orders", c.cancelled),
            (OrderStatus::CallbackRequested.as_str(), "Callback requested orders", c.callback_requested),
            (OrderStatus::Pending.as_str(), "Pending verification orders", c.pending),
            (OrderStatus::NoResponse.as_str(), "No response orders", c.no_response),
            (OrderStatus::Skipped.as_str(), "Not verified orders", c.skipped),
        ]
    });
    let channels = overview
        .as_ref()
        .map(|o| {
            o.channels
                .iter()
                .enumerate()
                // A channel that reached nobody has no rate, not 0%.
                .map(|(i, c)| {
                    let rate = if c.reached == 0 { "–".to_string() } else { format!("{:.0}%", c.rate_pct()) };
                    (c.label, svg::CHANNEL_COLOURS[i], rate, c.confirmed, c.reached)
                })
                .collect()
        })
        .unwrap_or_default();
    let first_row = if rows.is_empty() { 0 } else { f.offset() + 1 };
    let page = HistoryPage {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token: q.get("id_token").cloned().unwrap_or_default(),
        nav,
        title,
        intro,
        csv_url: format!("{path}?{}", query_string(&q, &["page", "format"], &[("format", "csv".into())])),
        prev_url: (f.page > 1).then(|| page_url(f.page - 1)),
        next_url: (f.page < pages).then(|| page_url(f.page + 1)),
        path,
        hidden,
        fields: fields_for(report, &f),
        error: (!f.is_valid()).then(|| f.message()),
        headers,
        last_row: f.offset() + rows.len() as i64,
        first_row,
        rows,
        total,
        page: f.page,
        pages,
        per_page_options: r::PAGE_SIZES.iter().map(|n| (*n, *n == f.per_page)).collect(),
        counts: counts_view,
        channels,
        chart_svg: overview.as_ref().map(svg::overview_svg).unwrap_or_default(),
        timezone: tz.name().to_string(),
    };
    let mut resp = embedded_page(&p.domain, &page)?;
    if !f.is_valid() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

fn headers_of(report: Report) -> Vec<&'static str> {
    match report {
        Report::Orders => vec![
            "Sr.No.", "Order Number", "Customer Number", "Customer Name", "Order Date Time", "Order Amount", "Currency",
            "Payment Type", "Verification Status", "Reason", "Tags",
        ],
        Report::Calls => vec![
            "Sr.No.", "Order Number", "Call Date Time", "Direction", "IVR Input", "Status", "Customer Number", "Agent Number",
            "Answered By", "Duration (s)", "Result", "Call SID",
        ],
        Report::Sms => vec![
            "Sr.No.", "Order Number", "Customer Number", "SMS Date Time", "SMS Status", "Detailed Status", "Type", "SMS Content", "SMS SID",
        ],
        Report::Missed => vec!["Sr.No.", "Orders Number", "Customer Number", "Exophone", "Call Date Time", "Call SID", "Outcome"],
        Report::Whatsapp => vec![
            "Sr.No.", "Message Date Time", "Order Number", "Customer Number", "Message Status", "Error", "Reply", "Result", "Message ID",
        ],
    }
}
