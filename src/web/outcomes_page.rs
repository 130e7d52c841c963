//! The Outcomes page (issue 18): `GET /app/outcomes?from=&to=[&format=csv&table=status|channel|funnel|state]`.
//! For a range of order creation days it shows the return-to-origin rate per verification status
//! (with the counts, so a small sample reads as one), the cost per channel and the time to
//! confirm. Every number comes from `web::outcomes::Outcomes`, the computation the API answers
//! with; this module only presents.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate};

use crate::AppState;
use crate::costs::{Channel, Funnel, Totals, rupees_text};
use crate::domain::{OrderStatus, stored_enum};
use crate::outcomes::{RangeError, SMALL_SAMPLE, StateTally, Tally, by_hour, default_range, duration_text, parse_range, time_to_confirm_counts};
use crate::pincode::State as ShipState;
use crate::reports::{shop_tz, status_label};
use crate::settings::Settings;
use crate::web::embedded::{PageShop, embedded_page, with_csp};
use crate::web::error::AppResult;
use crate::web::outcomes::Outcomes;
use crate::web::reports::csv::csv_line;
use crate::web::reports::svg::{CHANNEL_COLOURS, RateBar, funnel_svg, rate_bars_svg};

/// The statuses in the order the page compares them: confirmed first, then the unverified and the
/// unanswered it is compared against, then the rest.
const STATUS_ORDER: [OrderStatus; 6] = [
    OrderStatus::Confirmed,
    OrderStatus::Skipped,
    OrderStatus::NoResponse,
    OrderStatus::Cancelled,
    OrderStatus::CallbackRequested,
    OrderStatus::Pending,
];

const STATUS_HEADERS: [&str; 8] =
    ["Verification status", "Orders", "Shipped", "Delivered", "Returned", "Cancelled after shipping", "Known outcomes (n)", "RTO rate"];
const CHANNEL_HEADERS: [&str; 5] = ["Channel", "Contacts", "Confirmed", "Cost (INR)", "Cost per confirmed (INR)"];
const FUNNEL_HEADERS: [&str; 9] =
    ["Channel", "Sent", "Delivered", "Answered", "Confirmed", "Delivered/sent", "Answered/delivered", "Confirmed/answered", "Sent to confirmed"];
const STATE_HEADERS: [&str; 8] = ["State code", "State", "Orders", "Confirmed", "Confirmation rate", "Known outcomes (n)", "Returned", "RTO rate"];

pub struct StatusRow {
    pub key: &'static str,
    pub label: &'static str,
    pub t: Tally,
    /// delivered + returned: what the rate is of.
    pub known: i64,
    /// "25.0%", or "–" without a known outcome.
    pub rate: String,
    pub small: bool,
}

pub struct StateRow {
    /// The state's code ("MH"), or "unknown".
    pub key: &'static str,
    pub name: &'static str,
    pub t: StateTally,
    /// "62.5%", or "–".
    pub confirmation_rate: String,
    pub rto_rate: String,
    /// Fewer orders than [`SMALL_SAMPLE`]: the confirmation rate is a small sample.
    pub small_orders: bool,
    /// Fewer known outcomes than [`SMALL_SAMPLE`]: the RTO rate is.
    pub small_known: bool,
}

fn state_rows(by_state: &[(Option<ShipState>, StateTally)]) -> Vec<StateRow> {
    by_state
        .iter()
        .map(|(s, t)| StateRow {
            key: s.map_or("unknown", ShipState::code),
            name: s.map_or("Unknown", ShipState::name),
            t: *t,
            confirmation_rate: rate_text(t.confirmation_rate()),
            rto_rate: rate_text(t.rto_rate()),
            small_orders: t.orders < SMALL_SAMPLE,
            small_known: t.known < SMALL_SAMPLE,
        })
        .collect()
}

pub struct ChannelRow {
    pub key: &'static str,
    pub label: &'static str,
    pub contacts: i64,
    pub confirmed: i64,
    pub cost: String,
    pub per_confirmed: String,
}

/// A channel's funnel on the page: its counts, and each stage as a share of the one before.
pub struct FunnelRow {
    pub key: &'static str,
    pub label: &'static str,
    pub f: Funnel,
    pub delivered_rate: String,
    pub answered_rate: String,
    pub confirmed_rate: String,
    pub sent_to_confirmed: String,
}

fn funnel_rows(funnel: &[(Channel, Funnel)]) -> Vec<FunnelRow> {
    funnel
        .iter()
        .map(|(c, f)| FunnelRow {
            key: c.as_str(),
            label: c.label(),
            f: *f,
            delivered_rate: rate_text(f.delivered_rate()),
            answered_rate: rate_text(f.answered_rate()),
            confirmed_rate: rate_text(f.confirmed_rate()),
            sent_to_confirmed: rate_text(f.sent_to_confirmed()),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "outcomes.html")]
struct OutcomesPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    hidden: Vec<(String, String)>,
    from: String,
    to: String,
    error: Option<String>,
    timezone: String,
    cod_only: bool,
    small_sample: i64,
    statuses: Vec<StatusRow>,
    chart_svg: String,
    channels: Vec<ChannelRow>,
    overall: Option<ChannelRow>,
    confirm_n: i64,
    p50: String,
    p90: String,
    csv_status_url: String,
    csv_channel_url: String,
    /// ("09:00–10:00", orders, confirmed, rate) for each hour of the day.
    hours: Vec<(String, i64, i64, String)>,
    /// The page's answer in two sentences: did confirmed orders come back less, and what did a
    /// confirmation cost.
    headline: Vec<String>,
    funnel: Vec<FunnelRow>,
    funnel_svg: String,
    csv_funnel_url: String,
    states: Vec<StateRow>,
    csv_state_url: String,
}

stored_enum! {
    /// The tables the page downloads as CSV (`table=`).
    CsvTable {
        Status = "status",
        Channel = "channel",
        Funnel = "funnel",
        State = "state",
    }
}

/// A rate in a CSV cell: 4 decimals, empty without one.
fn csv_rate(r: Option<f64>) -> String {
    r.map(|x| format!("{x:.4}")).unwrap_or_default()
}

fn rate_text(r: Option<f64>) -> String {
    r.map_or("–".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn status_rows(by_status: &[(OrderStatus, Tally)]) -> Vec<StatusRow> {
    STATUS_ORDER
        .iter()
        .filter_map(|s| by_status.iter().find(|(k, _)| k == s))
        .map(|(s, t)| StatusRow {
            key: s.as_str(),
            label: status_label(s.as_str()),
            t: *t,
            known: t.delivered + t.returned,
            rate: rate_text(t.rto_rate()),
            small: t.shipped < SMALL_SAMPLE,
        })
        .collect()
}

/// What the page answers, in words: the RTO rate of confirmed orders against that of the orders
/// nobody confirmed (not verified, or no response), each with its n and a warning under
/// [`SMALL_SAMPLE`]; then the cost per confirmed order.
fn headline(by_status: &[(OrderStatus, Tally)], overall: &Totals) -> Vec<String> {
    let sum = |keep: &dyn Fn(OrderStatus) -> bool| {
        by_status.iter().filter(|(s, _)| keep(*s)).fold((0, 0), |(d, r), (_, t)| (d + t.delivered, r + t.returned))
    };
    let (cd, cr) = sum(&|s| s == OrderStatus::Confirmed);
    let (od, or) = sum(&|s| matches!(s, OrderStatus::Skipped | OrderStatus::NoResponse));
    let (confirmed, others) = (crate::outcomes::rto_rate(cd, cr), crate::outcomes::rto_rate(od, or));
    let text = |r: Option<f64>, n: i64| format!("{} returned (n = {n})", rate_text(r));
    let compared = format!("{} for confirmed orders against {} for orders not verified or not answered", text(confirmed, cd + cr), text(others, od + or));
    let mut rto = match (confirmed, others) {
        (Some(c), Some(o)) if c < o => format!("Confirmed orders came back less often: {compared}."),
        (Some(_), Some(_)) => format!("Confirmed orders did not come back less often: {compared}."),
        _ => format!("Not enough delivery outcomes yet to compare: {compared}."),
    };
    if confirmed.is_some() && others.is_some() && (cd + cr < SMALL_SAMPLE || od + or < SMALL_SAMPLE) {
        rto.push_str(&format!(" Fewer than {SMALL_SAMPLE} known outcomes on a side: a small sample."));
    }
    let cost = match overall.per_confirmed_paise() {
        Some(p) => format!("A confirmation cost ₹{} on average: the cost of all channels in these dates over the {} confirmed orders.", rupees_text(p), overall.confirmed),
        None => "No order of these dates was confirmed, so there is no cost per confirmation yet.".to_string(),
    };
    vec![rto, cost]
}

/// A status's name under its bar: short enough that six fit side by side.
fn chart_label(status: &str) -> &'static str {
    match OrderStatus::parse(status) {
        Some(OrderStatus::CallbackRequested) => "Callback",
        Some(OrderStatus::Pending) => "Pending",
        _ => status_label(status),
    }
}

fn channel_row(key: &'static str, label: &'static str, t: &Totals) -> ChannelRow {
    ChannelRow {
        key,
        label,
        contacts: t.contacts,
        confirmed: t.confirmed,
        cost: rupees_text(t.cost_paise),
        per_confirmed: t.per_confirmed_paise().map(rupees_text).unwrap_or_else(|| "–".into()),
    }
}

/// The query that authenticates a document load, with `extra` added.
fn link(q: &HashMap<String, String>, extra: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for k in ["shop", "host", "embedded", "id_token"] {
        if let Some(v) = q.get(k) {
            s.append_pair(k, v);
        }
    }
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    format!("/app/outcomes?{}", s.finish())
}

/// The range asked for: a date left out is filled in (to: today; from: 29 days before to), then
/// checked as the API checks it. Err: the message for the page.
fn range(q: &HashMap<String, String>, today: NaiveDate) -> (String, String, Result<(NaiveDate, NaiveDate), String>) {
    let given = |k: &str| q.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let to = given("to").unwrap_or_else(|| today.to_string());
    let from = given("from").unwrap_or_else(|| {
        let end = NaiveDate::parse_from_str(&to, "%Y-%m-%d").unwrap_or(today);
        default_range(end).0.to_string()
    });
    let parsed = parse_range(Some(&from), Some(&to)).map_err(|e| match e {
        RangeError::Malformed(m) => m,
        RangeError::Invalid(errors) => errors.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join("; "),
    });
    (from, to, parsed)
}

fn csv_response(p: &PageShop, name: &str, body: String) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_csp(Some(&p.domain), resp)
}

fn text_error(p: &PageShop, status: StatusCode, msg: String) -> Response {
    with_csp(Some(&p.domain), (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg).into_response())
}

/// `GET /app/outcomes`
pub async fn page(State(state): State<AppState>, p: PageShop, Query(q): Query<HashMap<String, String>>) -> AppResult<Response> {
    let settings = Settings::from_stored(&p.shop.settings);
    let tz = shop_tz(&settings);
    let today = DateTime::from_timestamp_millis(state.clock.now_ms()).map(|t| t.with_timezone(&tz).date_naive()).unwrap_or_default();
    let (from_s, to_s, parsed) = range(&q, today);

    if q.get("format").is_some_and(|f| f == "csv") {
        let table = q.get("table").map(String::as_str).unwrap_or("");
        let Some(table) = CsvTable::parse(table) else {
            return Ok(text_error(&p, StatusCode::BAD_REQUEST, "table must be status, channel, funnel or state".into()));
        };
        let (from, to) = match parsed {
            Ok(r) => r,
            Err(m) => return Ok(text_error(&p, StatusCode::UNPROCESSABLE_ENTITY, m)),
        };
        let o = Outcomes::load(&state, &p.shop, from, to).await?;
        let mut body = String::new();
        match table {
        CsvTable::Status => {
            body.push_str(&csv_line(&STATUS_HEADERS.map(String::from)));
            for r in status_rows(&o.by_status) {
                let rate = csv_rate(r.t.rto_rate());
                let t = r.t;
                let cells = [r.key.to_string(), t.orders.to_string(), t.shipped.to_string(), t.delivered.to_string(), t.returned.to_string(),
                    t.cancelled_after_shipping.to_string(), r.known.to_string(), rate];
                body.push_str(&csv_line(&cells));
            }
        }
        CsvTable::Funnel => {
            body.push_str(&csv_line(&FUNNEL_HEADERS.map(String::from)));
            for (c, f) in &o.funnel {
                let cells = [c.as_str().to_string(), f.sent.to_string(), f.delivered.to_string(), f.answered.to_string(), f.confirmed.to_string(),
                    csv_rate(f.delivered_rate()), csv_rate(f.answered_rate()), csv_rate(f.confirmed_rate()), csv_rate(f.sent_to_confirmed())];
                body.push_str(&csv_line(&cells));
            }
        }
        CsvTable::State => {
            body.push_str(&csv_line(&STATE_HEADERS.map(String::from)));
            for r in state_rows(&o.by_state) {
                let t = r.t;
                let cells = [r.key.to_string(), r.name.to_string(), t.orders.to_string(), t.confirmed.to_string(), csv_rate(t.confirmation_rate()),
                    t.known.to_string(), t.returned.to_string(), csv_rate(t.rto_rate())];
                body.push_str(&csv_line(&cells));
            }
        }
        CsvTable::Channel => {
            body.push_str(&csv_line(&CHANNEL_HEADERS.map(String::from)));
            let rows = o.costs.by_channel.iter().map(|(c, t)| channel_row(c.as_str(), c.label(), t));
            for r in rows.chain([channel_row("all", "All channels", &o.costs.overall)]) {
                let per = if r.per_confirmed == "–" { String::new() } else { r.per_confirmed };
                body.push_str(&csv_line(&[r.key.to_string(), r.contacts.to_string(), r.confirmed.to_string(), r.cost, per]));
            }
        }
        }
        return Ok(csv_response(&p, &format!("outcomes-{}-{from}-to-{to}.csv", table.as_str()), body));
    }

    let hidden = ["shop", "host", "embedded", "id_token"].iter().filter_map(|k| q.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
    let mut page = OutcomesPage {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token: q.get("id_token").cloned().unwrap_or_default(),
        nav: "outcomes",
        hidden,
        from: from_s.clone(),
        to: to_s.clone(),
        error: None,
        timezone: tz.name().to_string(),
        cod_only: false,
        small_sample: SMALL_SAMPLE,
        statuses: vec![],
        chart_svg: String::new(),
        channels: vec![],
        overall: None,
        confirm_n: 0,
        p50: "–".into(),
        p90: "–".into(),
        csv_status_url: link(&q, &[("from", &from_s), ("to", &to_s), ("format", "csv"), ("table", "status")]),
        csv_channel_url: link(&q, &[("from", &from_s), ("to", &to_s), ("format", "csv"), ("table", "channel")]),
        hours: vec![],
        headline: vec![],
        funnel: vec![],
        funnel_svg: String::new(),
        csv_funnel_url: link(&q, &[("from", &from_s), ("to", &to_s), ("format", "csv"), ("table", "funnel")]),
        states: vec![],
        csv_state_url: link(&q, &[("from", &from_s), ("to", &to_s), ("format", "csv"), ("table", "state")]),
    };
    match parsed {
        Err(m) => {
            page.error = Some(m);
            let mut resp = embedded_page(&p.domain, &page)?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Ok((from, to)) => {
            let o = Outcomes::load(&state, &p.shop, from, to).await?;
            let ttc = time_to_confirm_counts(&o.facts.confirm);
            page.cod_only = o.cod_only;
            page.statuses = status_rows(&o.by_status);
            page.headline = headline(&o.by_status, &o.costs.overall);
            let bars: Vec<RateBar> = page
                .statuses
                .iter()
                .enumerate()
                .map(|(i, r)| RateBar { label: chart_label(r.key).to_string(), rate: r.t.rto_rate(), n: r.known, colour: CHANNEL_COLOURS[i % CHANNEL_COLOURS.len()] })
                .collect();
            page.chart_svg = rate_bars_svg("rto-chart", "Return-to-origin rate per verification status", &bars);
            page.channels = o.costs.by_channel.iter().map(|(c, t)| channel_row(c.as_str(), c.label(), t)).collect();
            page.overall = Some(channel_row("all", "All channels", &o.costs.overall));
            page.funnel = funnel_rows(&o.funnel);
            page.funnel_svg = funnel_svg("funnel-chart", &o.funnel);
            page.hours = by_hour(o.tz, &o.facts.quarters)
                .iter()
                .enumerate()
                .map(|(h, t)| {
                    let rate = t.rate().map_or("–".to_string(), |r| format!("{:.1}%", r * 100.0));
                    (format!("{h:02}:00–{:02}:00", (h + 1) % 24), t.orders, t.confirmed, rate)
                })
                .collect();
            page.states = state_rows(&o.by_state);
            page.confirm_n = ttc.orders;
            page.p50 = ttc.p50_ms.map(duration_text).unwrap_or_else(|| "–".into());
            page.p90 = ttc.p90_ms.map(duration_text).unwrap_or_else(|| "–".into());
            embedded_page(&p.domain, &page)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_compares_confirmed_with_unverified_and_unanswered() {
        let t = |delivered, returned| Tally { orders: delivered + returned, shipped: delivered + returned, delivered, returned, cancelled_after_shipping: 0 };
        let cost = Totals { contacts: 10, confirmed: 40, cost_paise: 5000 };
        let by = [(OrderStatus::Confirmed, t(36, 4)), (OrderStatus::Skipped, t(10, 10)), (OrderStatus::NoResponse, t(5, 15)), (OrderStatus::Cancelled, t(0, 9))];
        let h = headline(&by, &cost);
        assert_eq!(h[0], "Confirmed orders came back less often: 10.0% returned (n = 40) for confirmed orders against 62.5% returned (n = 40) \
            for orders not verified or not answered.");
        assert_eq!(h[1], "A confirmation cost ₹1.25 on average: the cost of all channels in these dates over the 40 confirmed orders.");
        let worse = [(OrderStatus::Confirmed, t(1, 1)), (OrderStatus::NoResponse, t(3, 1))];
        let h = headline(&worse, &Totals::default());
        assert!(h[0].starts_with("Confirmed orders did not come back less often: 50.0% returned (n = 2)"), "{}", h[0]);
        assert!(h[0].ends_with("Fewer than 30 known outcomes on a side: a small sample."), "{}", h[0]);
        assert_eq!(h[1], "No order of these dates was confirmed, so there is no cost per confirmation yet.");
        let h = headline(&[(OrderStatus::Confirmed, t(3, 0))], &cost);
        assert!(h[0].starts_with("Not enough delivery outcomes yet to compare: 0.0% returned (n = 3) for confirmed orders against – returned (n = 0)"), "{}", h[0]);
    }

    #[test]
    fn a_missing_date_is_filled_in_and_a_bad_one_is_refused() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        let today = d("2026-12-06");
        assert_eq!(range(&q(&[]), today).2, Ok((d("2026-11-07"), today)));
        assert_eq!(range(&q(&[("to", "2026-11-30"), ("from", " ")]), today).2, Ok((d("2026-11-01"), d("2026-11-30"))));
        assert_eq!(range(&q(&[("from", "2026-12-01")]), today).2, Ok((d("2026-12-01"), today)));
        let long = range(&q(&[("from", "2026-07-01"), ("to", "2026-10-01")]), today).2.unwrap_err();
        assert!(long.contains("at most 92 days") && long.contains("2026-09-30"), "{long}");
        assert!(range(&q(&[("from", "someday")]), today).2.unwrap_err().contains("from must be a date"));
    }
}
