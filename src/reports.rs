//! The history reports (Call, SMS, Missed call, Order) and an order's timeline: filters, the
//! 7-day rule, the queries (each scoped to one shop, served by the indexes of
//! `migrations/20261123000010_reports.sql`), CSV, and the Order history overview.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::crypto::Cipher;
use crate::db::Db;
use crate::domain::{OrderStatus, Phone};
use crate::on_db;
use crate::settings::{Settings, Verify};

/// The widest From–To range a report takes, in days between the two dates.
pub const MAX_RANGE_DAYS: i64 = 7;
pub const PAGE_SIZES: [i64; 4] = [10, 25, 50, 100];

/// The shop's zone (`ivr.timezone`), India's when unset or unknown.
pub fn shop_tz(settings: &Settings) -> Tz {
    settings.ivr.timezone.trim().parse().unwrap_or(chrono_tz::Asia::Kolkata)
}

/// `YYYY-MM-DD HH:MM:SS` in the shop's zone.
pub fn local(tz: Tz, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// RFC 3339 with the shop's offset (for JSON).
pub fn local_rfc3339(tz: Tz, ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).to_rfc3339()).unwrap_or_default()
}

/// Unix ms of local midnight starting `d` in `tz` (the first instant of the day when midnight is skipped).
pub fn day_start(tz: Tz, d: NaiveDate) -> i64 {
    let mut t = d.and_hms_opt(0, 0, 0).expect("midnight");
    for _ in 0..48 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return x.timestamp_millis();
        }
        t += chrono::TimeDelta::minutes(30);
    }
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")).timestamp_millis()
}

/// A query argument, bound in order to `$1`, `$2`, ….
#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// Dynamic SQL with its arguments: `push_arg` gives the `$n` of a new argument.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

async fn fetch_all<R>(db: &Db, sql: &Sql) -> Result<Vec<R>, sqlx::Error>
where
    R: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
{
    on_db!(db, c => bind_all!(sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(sql.text.clone())), &sql.args).fetch_all(c).await)
}

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Calls,
    Sms,
    Missed,
    Orders,
}

impl Report {
    pub fn from_slug(s: &str) -> Option<Report> {
        Some(match s {
            "calls" => Report::Calls,
            "sms" => Report::Sms,
            "missed-calls" => Report::Missed,
            "orders" => Report::Orders,
            _ => return None,
        })
    }
    pub fn slug(self) -> &'static str {
        match self {
            Report::Calls => "calls",
            Report::Sms => "sms",
            Report::Missed => "missed-calls",
            Report::Orders => "orders",
        }
    }
}

pub const ORDER_STATUSES: [(&str, &str); 6] = [
    (OrderStatus::Pending.as_str(), "Pending verification"),
    (OrderStatus::Confirmed.as_str(), "Confirmed"),
    (OrderStatus::Cancelled.as_str(), "Cancelled"),
    (OrderStatus::CallbackRequested.as_str(), "Callback requested"),
    (OrderStatus::NoResponse.as_str(), "No response"),
    (OrderStatus::Skipped.as_str(), "Not verified"),
];
pub const CALL_STATUSES: [&str; 6] = ["completed", "busy", "no-answer", "failed", "canceled", "in-progress"];
pub const CALL_DIRECTIONS: [(&str, &str); 2] = [("outbound", "Outbound (IVR)"), ("click_to_call", "Click-to-call")];
pub const IVR_INPUTS: [(&str, &str); 5] =
    [("confirm", "Confirm"), ("cancel", "Cancel"), ("callback", "Callback"), ("invalid", "Invalid key"), ("none", "No input")];
pub const SMS_STATUSES: [&str; 7] = ["queued", "sending", "submitted", "sent", "failed", "failed-dnd", "unknown"];

/// A report's filters as asked (query string), checked.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub customer: String,
    pub agent: String,
    pub order: String,
    pub status: String,
    pub direction: String,
    pub input: String,
    pub from: String,
    pub to: String,
    pub page: i64,
    pub per_page: i64,
    /// Unix ms: [start, end).
    pub start_ms: i64,
    pub end_ms: i64,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    /// E.164 forms of the number filters.
    pub customer_e164: Option<String>,
    pub agent_e164: Option<String>,
    /// Their lookup hashes (numbers are stored encrypted), set by [`Filters::index_phones`].
    pub customer_index: Option<String>,
    pub agent_index: Option<String>,
    /// field → message; the report is not run while any is set.
    pub errors: BTreeMap<&'static str, String>,
    /// Order history of a shop that verifies COD orders only: prepaid orders are not its business
    /// and are neither listed nor counted.
    pub cod_only: bool,
}

impl Filters {
    /// Order history leaves prepaid orders out when the shop verifies COD orders only.
    pub fn for_shop(mut self, settings: &Settings) -> Filters {
        self.cod_only = settings.general.verify == Verify::Cod;
        self
    }

    pub fn index_phones(mut self, cipher: &crate::crypto::Cipher) -> Filters {
        self.customer_index = self.customer_e164.as_deref().map(|p| cipher.phone_index(p));
        self.agent_index = self.agent_e164.as_deref().map(|p| cipher.phone_index(p));
        self
    }

    pub fn parse(q: &HashMap<String, String>, report: Report, tz: Tz, today: NaiveDate, default_country: &str) -> Filters {
        let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        let mut f = Filters {
            customer: get("customer"),
            agent: get("agent"),
            order: get("order"),
            status: get("status"),
            direction: get("direction"),
            input: get("input"),
            from: get("from"),
            to: get("to"),
            ..Filters::default()
        };
        f.per_page = get("per_page").parse().ok().filter(|n| PAGE_SIZES.contains(n)).unwrap_or(25);
        f.page = get("page").parse().ok().filter(|n: &i64| *n >= 1 && *n <= 1_000_000).unwrap_or(1);
        let phone = |raw: &str| Phone::parse(raw, if default_country.is_empty() { "IN" } else { default_country });
        if !f.customer.is_empty() {
            match phone(&f.customer) {
                Ok(p) => f.customer_e164 = Some(p.e164().to_string()),
                Err(_) => {
                    f.errors.insert("customer", "Enter a phone number, with its country code (e.g. +919876543210) or as dialled locally.".into());
                }
            }
        }
        if report == Report::Calls && !f.agent.is_empty() {
            match phone(&f.agent) {
                Ok(p) => f.agent_e164 = Some(p.e164().to_string()),
                Err(_) => {
                    f.errors.insert("agent", "Enter the agent's phone number with its country code (e.g. +919812345678).".into());
                }
            }
        }
        let allowed: Vec<&str> = match report {
            Report::Orders => ORDER_STATUSES.iter().map(|s| s.0).collect(),
            Report::Calls => CALL_STATUSES.to_vec(),
            Report::Sms => SMS_STATUSES.to_vec(),
            Report::Missed => vec![],
        };
        if !f.status.is_empty() && !allowed.contains(&f.status.as_str()) {
            f.errors.insert("status", format!("Unknown status {:?}.", f.status));
        }
        if !f.direction.is_empty() && !CALL_DIRECTIONS.iter().any(|d| d.0 == f.direction) {
            f.errors.insert("direction", format!("Unknown direction {:?}.", f.direction));
        }
        if !f.input.is_empty() && !IVR_INPUTS.iter().any(|d| d.0 == f.input) {
            f.errors.insert("input", format!("Unknown IVR input {:?}.", f.input));
        }
        if f.order.len() > 64 {
            f.errors.insert("order", "An order number is at most 64 characters.".into());
        }
        let date = |s: &str, field: &'static str, errors: &mut BTreeMap<&'static str, String>| -> Option<NaiveDate> {
            if s.is_empty() {
                return None;
            }
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.insert(field, "Enter a date as YYYY-MM-DD.".into());
                    None
                }
            }
        };
        let from = date(&f.from, "from", &mut f.errors);
        let to = date(&f.to, "to", &mut f.errors);
        if f.errors.contains_key("from") || f.errors.contains_key("to") {
            return f;
        }
        let week = Days::new((MAX_RANGE_DAYS - 1) as u64);
        let (from, to) = match (from, to) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, (a + week).min(today.max(a))),
            (None, Some(b)) => (b - week, b),
            (None, None) => (today - week, today),
        };
        if to < from {
            f.errors.insert("to", "The To date is before the From date.".into());
        } else if (to - from).num_days() > MAX_RANGE_DAYS {
            f.errors.insert(
                "to",
                format!(
                    "From and To can be at most {MAX_RANGE_DAYS} days apart: pick a To date no later than {} or a later From date.",
                    from + Days::new(MAX_RANGE_DAYS as u64)
                ),
            );
        }
        f.from = from.to_string();
        f.to = to.to_string();
        f.from_date = Some(from);
        f.to_date = Some(to);
        f.start_ms = day_start(tz, from);
        f.end_ms = day_start(tz, to + Days::new(1));
        f
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// The first error, for a one-line message (CSV answers, banners).
    pub fn message(&self) -> String {
        self.errors.values().cloned().collect::<Vec<_>>().join(" ")
    }
}

/// The order-number filter: `1001` or `#1001` match the order number or the order's name.
fn order_clause(sql: &mut Sql, alias: &str, order: &str) {
    let bare = order.trim_start_matches('#');
    let name = sql.arg(Arg::Text(if bare.chars().all(|c| c.is_ascii_digit()) { format!("#{bare}") } else { order.to_string() }));
    match bare.parse::<i64>() {
        Ok(n) if bare.chars().all(|c| c.is_ascii_digit()) => {
            let num = sql.arg(Arg::Int(n));
            sql.push(&format!(" AND ({alias}.order_number = {num} OR {alias}.name = {name})"));
        }
        _ => sql.push(&format!(" AND {alias}.name = {name}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Order history

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub shopify_order_id: i64,
    pub name: String,
    pub order_number: Option<i64>,
    pub phone: Option<String>,
    pub customer_name: Option<String>,
    pub created_at: i64,
    pub total_price: String,
    pub currency: String,
    pub gateways: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub outcome_tags: Option<String>,
}

impl OrderRow {
    pub fn payment_type(&self) -> String {
        serde_json::from_str::<Vec<String>>(&self.gateways).map(|g| g.join(", ")).unwrap_or_else(|_| self.gateways.clone())
    }
}

/// Order counts over the filters but the status one (the status filter picks one of them).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub total: i64,
    pub confirmed: i64,
    pub cancelled: i64,
    pub callback_requested: i64,
    pub pending: i64,
    pub no_response: i64,
    pub skipped: i64,
}

impl Counts {
    pub fn of(&self, status: &str) -> i64 {
        match OrderStatus::parse(status) {
            Some(OrderStatus::Confirmed) => self.confirmed,
            Some(OrderStatus::Cancelled) => self.cancelled,
            Some(OrderStatus::CallbackRequested) => self.callback_requested,
            Some(OrderStatus::Pending) => self.pending,
            Some(OrderStatus::NoResponse) => self.no_response,
            Some(OrderStatus::Skipped) => self.skipped,
            None => self.total,
        }
    }
}

fn orders_where(shop_id: &str, f: &Filters, with_status: bool) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    sql.push(&format!(" FROM orders o WHERE o.shop_id = {s} AND o.created_at >= {a} AND o.created_at < {b}"));
    if f.cod_only {
        sql.push(" AND o.is_cod = TRUE");
    }
    if with_status && !f.status.is_empty() {
        let st = sql.arg(Arg::Text(f.status.clone()));
        sql.push(&format!(" AND o.status = {st}"));
    }
    if let Some(p) = &f.customer_index {
        let p = sql.arg(Arg::Text(p.clone()));
        sql.push(&format!(" AND o.phone_hash = {p}"));
    }
    if !f.order.is_empty() {
        order_clause(&mut sql, "o", &f.order);
    }
    sql
}

const ORDER_COLUMNS: &str = "SELECT o.shopify_order_id, o.name, o.order_number, o.phone_enc AS phone, o.customer_name, o.created_at, \
    o.total_price, o.currency, o.gateways, o.status, o.status_reason, o.outcome_tags";

/// One page of orders (`limit` None: every filtered row, for CSV), newest first.
pub async fn orders(db: &Db, cipher: &Cipher, shop_id: &str, f: &Filters, limit: Option<(i64, i64)>) -> Result<Vec<OrderRow>, sqlx::Error> {
    let mut sql = orders_where(shop_id, f, true);
    sql.text = format!("{ORDER_COLUMNS}{} ORDER BY o.created_at DESC, o.shopify_order_id DESC", sql.text);
    if let Some((n, off)) = limit {
        sql.push(&format!(" LIMIT {n} OFFSET {off}"));
    }
    let rows: Vec<OrderRow> = fetch_all(db, &sql).await?;
    Ok(rows.into_iter().map(|mut r| { r.phone = cipher.open_opt(r.phone.as_deref()); r }).collect())
}

pub async fn order_counts(db: &Db, shop_id: &str, f: &Filters) -> Result<Counts, sqlx::Error> {
    let mut sql = orders_where(shop_id, f, false);
    sql.text = format!("SELECT o.status, COUNT(*){} GROUP BY o.status", sql.text);
    let rows: Vec<(String, i64)> = fetch_all(db, &sql).await?;
    let mut c = Counts::default();
    for (status, n) in rows {
        c.total += n;
        match OrderStatus::parse(&status) {
            Some(OrderStatus::Confirmed) => c.confirmed = n,
            Some(OrderStatus::Cancelled) => c.cancelled = n,
            Some(OrderStatus::CallbackRequested) => c.callback_requested = n,
            Some(OrderStatus::Pending) => c.pending = n,
            Some(OrderStatus::NoResponse) => c.no_response = n,
            Some(OrderStatus::Skipped) => c.skipped = n,
            None => {}
        }
    }
    Ok(c)
}

/// The channels an order can be confirmed through, told apart by the resolving reason the
/// verification code writes (`status_reason`).
pub const CHANNELS: [(&str, &str, &str); 4] = [
    ("ivr", "IVR call", "o.status_reason LIKE 'pressed %'"),
    ("sms_link", "SMS link", "o.status_reason LIKE '%on the confirmation link'"),
    ("missed_call", "Missed call", "o.status_reason LIKE 'confirmed by a missed call%'"),
    ("otp", "OTP", "o.status_reason LIKE 'OTP %'"),
];

/// What reached the customer for each channel (an order counts once per channel).
const CHANNEL_REACH: [&str; 4] = [
    "EXISTS (SELECT 1 FROM call_attempts a WHERE a.order_id = o.id AND a.dialed_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'link' AND m.sent_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'missed_call' AND m.sent_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'otp' AND m.sent_at IS NOT NULL)",
];

/// The channel that resolved an order, from its reason.
pub fn channel_of(reason: &str) -> Option<&'static str> {
    if reason.starts_with("pressed ") {
        Some("ivr")
    } else if reason.ends_with("on the confirmation link") {
        Some("sms_link")
    } else if reason.starts_with("confirmed by a missed call") {
        Some("missed_call")
    } else if reason.starts_with("OTP ") {
        Some("otp")
    } else {
        None
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ChannelRate {
    pub key: &'static str,
    pub label: &'static str,
    /// Orders of the range the channel reached (a call placed, an SMS sent).
    pub reached: i64,
    /// Orders confirmed through it.
    pub confirmed: i64,
}

impl ChannelRate {
    pub fn rate_pct(&self) -> f64 {
        if self.reached == 0 { 0.0 } else { 100.0 * self.confirmed as f64 / self.reached as f64 }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DayRate {
    pub date: String,
    pub total: i64,
    pub confirmed: i64,
    /// Confirmed per channel, in `CHANNELS` order (plus none: confirmed otherwise).
    pub by_channel: [i64; 4],
}

impl DayRate {
    pub fn rate_pct(&self) -> f64 {
        if self.total == 0 { 0.0 } else { 100.0 * self.confirmed as f64 / self.total as f64 }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Overview {
    pub channels: Vec<ChannelRate>,
    pub days: Vec<DayRate>,
}

/// Confirmation rate per channel and per day over the range (customer/order filters apply; the
/// status filter does not).
pub async fn overview(db: &Db, shop_id: &str, f: &Filters, tz: Tz) -> Result<Overview, sqlx::Error> {
    let (Some(from), Some(to)) = (f.from_date, f.to_date) else {
        return Ok(Overview { channels: vec![], days: vec![] });
    };
    let mut cols = Vec::new();
    for (i, (_, _, confirmed)) in CHANNELS.iter().enumerate() {
        cols.push(format!("COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)", CHANNEL_REACH[i]));
        cols.push(format!("COALESCE(SUM(CASE WHEN o.status = 'confirmed' AND {confirmed} THEN 1 ELSE 0 END), 0)"));
    }
    let mut sql = orders_where(shop_id, f, false);
    sql.text = format!("SELECT {}{}", cols.join(", "), sql.text);
    let row: Vec<(i64, i64, i64, i64, i64, i64, i64, i64)> = fetch_all(db, &sql).await?;
    let r = row.first().copied().unwrap_or_default();
    let pairs = [(r.0, r.1), (r.2, r.3), (r.4, r.5), (r.6, r.7)];
    let channels = CHANNELS
        .iter()
        .zip(pairs)
        .map(|((key, label, _), (reached, confirmed))| ChannelRate { key, label, reached, confirmed })
        .collect();

    // Days of the range in the shop's zone: the bucket is picked by local-midnight boundaries.
    let n_days = (to - from).num_days() + 1;
    let mut case = String::from("CASE");
    for i in 1..n_days {
        let b = day_start(tz, from + Days::new(i as u64));
        case.push_str(&format!(" WHEN o.created_at < {b} THEN {}", i - 1));
    }
    case.push_str(&format!(" ELSE {} END", n_days - 1));
    let mut cols = vec![format!("CAST({case} AS BIGINT) AS d"), "COUNT(*)".into(), "COALESCE(SUM(CASE WHEN o.status = 'confirmed' THEN 1 ELSE 0 END), 0)".into()];
    for (_, _, confirmed) in CHANNELS {
        cols.push(format!("COALESCE(SUM(CASE WHEN o.status = 'confirmed' AND {confirmed} THEN 1 ELSE 0 END), 0)"));
    }
    let mut sql = orders_where(shop_id, f, false);
    sql.text = format!("SELECT {}{} GROUP BY 1", cols.join(", "), sql.text);
    let rows: Vec<(i64, i64, i64, i64, i64, i64, i64)> = fetch_all(db, &sql).await?;
    let mut days: Vec<DayRate> = (0..n_days)
        .map(|i| DayRate { date: (from + Days::new(i as u64)).to_string(), total: 0, confirmed: 0, by_channel: [0; 4] })
        .collect();
    for (d, total, confirmed, a, b, c, e) in rows {
        if let Some(day) = days.get_mut(d as usize) {
            day.total = total;
            day.confirmed = confirmed;
            day.by_channel = [a, b, c, e];
        }
    }
    Ok(Overview { channels, days })
}

/// Colours of the channels in the chart (Polaris data-visualisation palette), and "other".
pub const CHANNEL_COLOURS: [&str; 5] = ["#2c6ecb", "#47c1bf", "#9c6ade", "#f49342", "#8c9196"];

/// The per-day chart: one bar per day whose height is the day's confirmation rate, stacked by the
/// channel that confirmed. Plain SVG, no script.
pub fn overview_svg(o: &Overview) -> String {
    let (w, h, left, bottom, top) = (640.0f64, 220.0f64, 40.0f64, 28.0f64, 10.0f64);
    let plot_h = h - bottom - top;
    let n = o.days.len().max(1) as f64;
    let slot = (w - left - 10.0) / n;
    let bar = (slot * 0.6).min(48.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" class=\"chart\">\
         <title id=\"chart-title\">Confirmation rate per day</title><desc id=\"chart-desc\">"
    );
    let desc: Vec<String> = o.days.iter().map(|d| format!("{}: {:.0}% of {} orders confirmed", d.date, d.rate_pct(), d.total)).collect();
    s.push_str(&html_escape(&desc.join("; ")));
    s.push_str("</desc>");
    for pct in [0, 25, 50, 75, 100] {
        let y = top + plot_h * (1.0 - pct as f64 / 100.0);
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">{pct}%</text>",
            w - 10.0,
            left - 4.0,
            y + 3.0
        ));
    }
    for (i, d) in o.days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        let other = d.confirmed - d.by_channel.iter().sum::<i64>();
        let parts = d.by_channel.iter().copied().chain([other.max(0)]).enumerate();
        for (c, count) in parts {
            if count <= 0 || d.total == 0 {
                continue;
            }
            let hgt = plot_h * count as f64 / d.total as f64;
            y -= hgt;
            let label = CHANNELS.get(c).map(|c| c.1).unwrap_or("Other");
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{hgt:.1}\" fill=\"{}\"><title>{} {}: {count} confirmed</title></rect>",
                CHANNEL_COLOURS[c],
                d.date,
                label
            ));
        }
        let short = d.date.get(5..).unwrap_or(&d.date);
        // A day without orders has no rate: "–", not a 0% that reads like a real one.
        let rate = if d.total == 0 { "–".to_string() } else { format!("{:.0}%", d.rate_pct()) };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#616161\">{short}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\" fill=\"#303030\">{}</text>",
            x + bar / 2.0,
            h - bottom + 14.0,
            x + bar / 2.0,
            (y - 3.0).max(top + 8.0),
            rate
        ));
    }
    s.push_str("</svg>");
    s
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

// ---------------------------------------------------------------------------------------------
// Call history: IVR attempts Exotel placed, and click-to-calls.

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CallRow {
    pub kind: String,
    pub shopify_order_id: i64,
    pub name: String,
    pub at: i64,
    pub customer: Option<String>,
    pub agent: Option<String>,
    pub status: String,
    pub digits: Option<String>,
    pub choice: Option<String>,
    pub answered_by: Option<String>,
    pub duration_seconds: Option<i64>,
    pub result: Option<String>,
    pub call_sid: Option<String>,
    pub attempt_no: i64,
}

impl CallRow {
    pub fn direction(&self) -> &'static str {
        if self.kind == "click_to_call" { "Click-to-call" } else { "Outbound" }
    }
    /// `1 (confirm)`, `-` when nothing was pressed.
    pub fn ivr_input(&self) -> String {
        match (&self.digits, &self.choice) {
            (Some(d), Some(c)) => format!("{d} ({c})"),
            (Some(d), None) => d.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "–".into(),
        }
    }
}

pub async fn calls(db: &Db, cipher: &Cipher, shop_id: &str, f: &Filters, limit: Option<(i64, i64)>) -> Result<Vec<CallRow>, sqlx::Error> {
    let mut sql = calls_sql(shop_id, f, "SELECT x.*");
    sql.push(" ORDER BY x.at DESC, x.call_sid DESC");
    if let Some((n, off)) = limit {
        sql.push(&format!(" LIMIT {n} OFFSET {off}"));
    }
    let rows: Vec<CallRow> = fetch_all(db, &sql).await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.customer = cipher.open_opt(r.customer.as_deref());
            r.agent = cipher.open_opt(r.agent.as_deref());
            r
        })
        .collect())
}

pub async fn calls_count(db: &Db, shop_id: &str, f: &Filters) -> Result<i64, sqlx::Error> {
    let sql = calls_sql(shop_id, f, "SELECT COUNT(*)");
    let n: Vec<(i64,)> = fetch_all(db, &sql).await?;
    Ok(n.first().map(|r| r.0).unwrap_or(0))
}

fn calls_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    let ivr = format!(
        "SELECT 'outbound' AS kind, o.shopify_order_id, o.name, o.order_number, c.dialed_at AS at, o.phone_enc AS customer, \
           o.phone_hash AS customer_hash, CAST(NULL AS TEXT) AS agent, CAST(NULL AS TEXT) AS agent_hash, COALESCE(c.exotel_status, CASE WHEN c.state = 'ended' THEN c.result ELSE 'in-progress' END) AS status, \
           c.digits, c.choice, c.answered_by, c.duration_seconds, c.result, c.call_sid, c.attempt_no \
         FROM call_attempts c JOIN orders o ON o.id = c.order_id \
         WHERE c.shop_id = {s} AND c.dialed_at >= {a} AND c.dialed_at < {b}"
    );
    let agent = format!(
        "SELECT 'click_to_call' AS kind, o.shopify_order_id, o.name, o.order_number, c.dialed_at AS at, c.customer_phone_enc AS customer, \
           c.customer_phone_hash AS customer_hash, c.agent_phone_enc AS agent, c.agent_phone_hash AS agent_hash, COALESCE(c.exotel_status, 'in-progress') AS status, \
           CAST(NULL AS TEXT) AS digits, CAST(NULL AS TEXT) AS choice, CAST(NULL AS TEXT) AS answered_by, c.duration_seconds, \
           CAST(NULL AS TEXT) AS result, c.call_sid, CAST(0 AS BIGINT) AS attempt_no \
         FROM agent_calls c JOIN orders o ON o.id = c.order_id \
         WHERE c.shop_id = {s} AND c.dialed_at >= {a} AND c.dialed_at < {b}"
    );
    let branches = match f.direction.as_str() {
        "outbound" => ivr,
        "click_to_call" => agent,
        _ if f.agent_e164.is_some() => agent,
        _ => format!("{ivr} UNION ALL {agent}"),
    };
    let cols = if select == "SELECT x.*" {
        "SELECT x.kind, x.shopify_order_id, x.name, x.at, x.customer, x.agent, x.status, x.digits, x.choice, x.answered_by, \
         x.duration_seconds, x.result, x.call_sid, x.attempt_no"
    } else {
        select
    };
    sql.text = format!("{cols} FROM ({branches}) x WHERE 1 = 1");
    if let Some(p) = &f.customer_index {
        let p = sql.arg(Arg::Text(p.clone()));
        sql.push(&format!(" AND x.customer_hash = {p}"));
    }
    if let Some(p) = &f.agent_index {
        let p = sql.arg(Arg::Text(p.clone()));
        sql.push(&format!(" AND x.agent_hash = {p}"));
    }
    if !f.status.is_empty() {
        let st = sql.arg(Arg::Text(f.status.clone()));
        sql.push(&format!(" AND x.status = {st}"));
    }
    match f.input.as_str() {
        "" => {}
        "none" => sql.push(" AND x.digits IS NULL AND x.choice IS NULL AND x.kind = 'outbound'"),
        choice => {
            let c = sql.arg(Arg::Text(choice.into()));
            sql.push(&format!(" AND x.choice = {c}"));
        }
    }
    if !f.order.is_empty() {
        order_clause(&mut sql, "x", &f.order);
    }
    sql
}

// ---------------------------------------------------------------------------------------------
// SMS history

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SmsRow {
    pub shopify_order_id: Option<i64>,
    pub name: Option<String>,
    pub to_phone: Option<String>,
    pub at: i64,
    pub status: String,
    pub detailed_status: Option<String>,
    pub kind: String,
    pub body: String,
    pub sms_sid: Option<String>,
}

impl SmsRow {
    pub fn kind_label(&self) -> &'static str {
        match self.kind.as_str() {
            "link" => "Confirmation link",
            "missed_call" => "Missed call request",
            "confirmation" => "Confirmation",
            "otp" => "OTP",
            _ => "SMS",
        }
    }
}

fn sms_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    sql.text = format!(
        "{select} FROM sms_messages m LEFT JOIN orders o ON o.id = m.order_id \
         WHERE m.shop_id = {s} AND m.sent_at >= {a} AND m.sent_at < {b}"
    );
    if let Some(p) = &f.customer_index {
        let p = sql.arg(Arg::Text(p.clone()));
        sql.push(&format!(" AND m.to_phone_hash = {p}"));
    }
    if !f.status.is_empty() {
        let st = sql.arg(Arg::Text(f.status.clone()));
        sql.push(&format!(" AND COALESCE(m.status, m.state) = {st}"));
    }
    if !f.order.is_empty() {
        order_clause(&mut sql, "o", &f.order);
    }
    sql
}

pub async fn sms(db: &Db, cipher: &Cipher, shop_id: &str, f: &Filters, limit: Option<(i64, i64)>) -> Result<Vec<SmsRow>, sqlx::Error> {
    let mut sql = sms_sql(
        shop_id,
        f,
        "SELECT o.shopify_order_id, o.name, m.to_phone_enc AS to_phone, m.sent_at AS at, COALESCE(m.status, m.state) AS status, \
           m.detailed_status, m.kind, m.body, m.sms_sid",
    );
    sql.push(" ORDER BY m.sent_at DESC, m.id DESC");
    if let Some((n, off)) = limit {
        sql.push(&format!(" LIMIT {n} OFFSET {off}"));
    }
    let rows: Vec<SmsRow> = fetch_all(db, &sql).await?;
    Ok(rows.into_iter().map(|mut r| { r.to_phone = cipher.open_opt(r.to_phone.as_deref()); r }).collect())
}

pub async fn sms_count(db: &Db, shop_id: &str, f: &Filters) -> Result<i64, sqlx::Error> {
    let n: Vec<(i64,)> = fetch_all(db, &sms_sql(shop_id, f, "SELECT COUNT(*)")).await?;
    Ok(n.first().map(|r| r.0).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Missed call history

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MissedRow {
    pub orders: String,
    pub phone: Option<String>,
    pub call_from: String,
    pub outcome: String,
    pub at: i64,
    pub call_sid: Option<String>,
}

impl MissedRow {
    pub fn outcome_label(&self) -> &'static str {
        match self.outcome.as_str() {
            "counted" => "Confirmed",
            "repeat" => "Repeat call",
            "nothing_pending" => "No pending order",
            "not_in_use" => "Missed-call confirmation off",
            "invalid_number" => "Invalid number",
            _ => "Other",
        }
    }
}

fn missed_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    sql.text = format!("{select} FROM missed_calls mc WHERE mc.shop_id = {s} AND mc.at >= {a} AND mc.at < {b}");
    if let Some(p) = &f.customer_index {
        let p = sql.arg(Arg::Text(p.clone()));
        sql.push(&format!(" AND mc.phone_hash = {p}"));
    }
    if !f.order.is_empty() {
        // `orders` holds the names it confirmed, joined by ", ".
        let bare = f.order.trim_start_matches('#');
        let name = sql.arg(Arg::Text(format!("%, #{bare}, %")));
        sql.push(&format!(" AND (', ' || mc.orders || ', ') LIKE {name}"));
    }
    sql
}

pub async fn missed(db: &Db, cipher: &Cipher, shop_id: &str, f: &Filters, limit: Option<(i64, i64)>) -> Result<Vec<MissedRow>, sqlx::Error> {
    let mut sql = missed_sql(shop_id, f, "SELECT mc.orders, mc.phone_enc AS phone, mc.call_from, mc.outcome, mc.at, mc.call_sid");
    sql.push(" ORDER BY mc.at DESC, mc.id DESC");
    if let Some((n, off)) = limit {
        sql.push(&format!(" LIMIT {n} OFFSET {off}"));
    }
    let rows: Vec<MissedRow> = fetch_all(db, &sql).await?;
    Ok(rows.into_iter().map(|mut r| { r.phone = cipher.open_opt(r.phone.as_deref()); r }).collect())
}

pub async fn missed_count(db: &Db, shop_id: &str, f: &Filters) -> Result<i64, sqlx::Error> {
    let n: Vec<(i64,)> = fetch_all(db, &missed_sql(shop_id, f, "SELECT COUNT(*)")).await?;
    Ok(n.first().map(|r| r.0).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Timeline

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderDetail {
    pub id: String,
    pub shopify_order_id: i64,
    pub name: String,
    pub phone: Option<String>,
    pub customer_name: Option<String>,
    pub total_price: String,
    pub currency: String,
    pub gateways: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub outcome_tags: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

impl OrderDetail {
    pub fn tags(&self) -> Vec<String> {
        self.outcome_tags.as_deref().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub kind: String,
    pub detail: String,
    pub at: i64,
}

pub async fn order_detail(db: &Db, cipher: &Cipher, shop_id: &str, shopify_order_id: i64) -> Result<Option<OrderDetail>, sqlx::Error> {
    let found = on_db!(db, c => sqlx::query_as::<_, OrderDetail>(
        "SELECT id, shopify_order_id, name, phone_enc AS phone, customer_name, total_price, currency, gateways, status, status_reason, \
           outcome_tags, created_at, resolved_at FROM orders WHERE shop_id = $1 AND shopify_order_id = $2")
        .bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)?;
    Ok(found.map(|mut o| {
        o.phone = cipher.open_opt(o.phone.as_deref());
        o
    }))
}

/// The order's events in the order they happened (ties keep the order they were written in).
pub async fn timeline(db: &Db, shop_id: &str, order_id: &str) -> Result<Vec<Event>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, Event>(
        "SELECT kind, detail, at FROM order_events WHERE order_id = $1 AND shop_id = $2 ORDER BY at")
        .bind(order_id).bind(shop_id).fetch_all(c).await)
}

/// A readable name for an event kind.
pub fn event_label(kind: &str) -> String {
    let known = match kind {
        "order_received" => "Order received",
        "call_scheduled" => "Call scheduled",
        "call_placed" => "Call placed",
        "call_unconfirmed" => "Call not confirmed by Exotel",
        "call_ended" => "Call ended",
        "key_pressed" => "Key pressed",
        "ivr_retry_limit_reached" => "IVR retries used up",
        "fallback_started" => "Fallback started",
        "fallback_retry_limit_reached" => "Fallback retries used up",
        "sms" => "SMS",
        "sms_status" => "SMS delivery status",
        "otp_sent" => "OTP sent",
        "otp_incorrect" => "Incorrect OTP",
        "resend_otp_limit_reached" => "OTP resends used up",
        "incorrect_otp_limit_reached" => "OTP entry locked (too many incorrect OTPs)",
        "tags_added" => "Tagged in Shopify",
        "shopify_cancelled" => "Cancelled in Shopify",
        "shopify_cancel_refused" => "Shopify refused the cancellation",
        "shopify_update_failed" => "Shopify update failed",
        "exotel_retry" => "Exotel error, retrying",
        "order_cancelled" => "Order cancelled",
        "confirmed" => "Confirmed",
        "cancelled" => "Cancelled",
        "callback_requested" => "Callback requested",
        "no_response" => "No response",
        "agent_call" => "Click-to-call placed",
        "agent_call_failed" => "Click-to-call failed",
        "agent_call_ended" => "Click-to-call ended",
        _ => "",
    };
    if known.is_empty() {
        let s = kind.replace('_', " ");
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
    } else {
        known.to_string()
    }
}

/// Badge tone of an event or status.
pub fn tone(kind: &str) -> &'static str {
    match kind {
        "confirmed" | "tags_added" => "success",
        "cancelled" | "order_cancelled" | "shopify_cancelled" | "shopify_update_failed" | "shopify_cancel_refused" | "exotel_retry"
        | "agent_call_failed" | "otp_incorrect" => "critical",
        "callback_requested" | "no_response" | "ivr_retry_limit_reached" | "fallback_retry_limit_reached" | "resend_otp_limit_reached"
        | "incorrect_otp_limit_reached" => "warning",
        _ => "info",
    }
}

pub fn status_label(status: &str) -> &'static str {
    ORDER_STATUSES.iter().find(|s| s.0 == status).map(|s| s.1).unwrap_or("Unknown")
}

// ---------------------------------------------------------------------------------------------
// CSV

/// One CSV cell: a cell that a spreadsheet would read as a formula (= + - @, or a leading tab or
/// carriage return) gets a leading apostrophe; cells with a comma, quote or line break are quoted.
pub fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

pub fn csv_line(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_and_guards_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+919876543210"), "'+919876543210");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn ranges_follow_the_seven_day_rule() {
        let tz = chrono_tz::Asia::Kolkata;
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        let f = Filters::parse(&q(&[]), Report::Orders, tz, today, "IN");
        assert_eq!((f.from.as_str(), f.to.as_str(), f.is_valid()), ("2026-11-17", "2026-11-23", true));
        assert_eq!(f.end_ms - f.start_ms, 7 * 86_400_000);
        let f = Filters::parse(&q(&[("from", "2026-11-01"), ("to", "2026-11-08")]), Report::Orders, tz, today, "IN");
        assert!(f.is_valid());
        let f = Filters::parse(&q(&[("from", "2026-11-01"), ("to", "2026-11-09")]), Report::Orders, tz, today, "IN");
        assert!(f.errors["to"].contains("at most 7 days apart"), "{:?}", f.errors);
        let f = Filters::parse(&q(&[("from", "2026-11-05"), ("to", "2026-11-01")]), Report::Orders, tz, today, "IN");
        assert!(f.errors["to"].contains("before"));
        let f = Filters::parse(&q(&[("customer", "98765 43210"), ("per_page", "7"), ("page", "0")]), Report::Orders, tz, today, "IN");
        assert_eq!((f.customer_e164.as_deref(), f.per_page, f.page), (Some("+919876543210"), 25, 1));
        let f = Filters::parse(&q(&[("customer", "abc"), ("status", "nope")]), Report::Orders, tz, today, "IN");
        assert!(f.errors.contains_key("customer") && f.errors.contains_key("status"));
    }

    #[test]
    fn channels_from_reasons() {
        assert_eq!(channel_of("pressed 1 on call 2 (confirm)"), Some("ivr"));
        assert_eq!(channel_of("confirmed on the confirmation link"), Some("sms_link"));
        assert_eq!(channel_of("confirmed by a missed call from ******3210"), Some("missed_call"));
        assert_eq!(channel_of("OTP verified"), Some("otp"));
        assert_eq!(channel_of("cancelled in Shopify"), None);
    }
}
