//! The history reports' queries (Call, SMS, Missed call, WhatsApp, Order) and an order's timeline, each
//! scoped to one shop and served by the indexes of `migrations/20261123000010_reports.sql`: the
//! query builder, the rows they fill, and the Order history overview's counts.

mod activity;
mod whatsapp;

pub use activity::{CallRow, MissedRow, SmsRow, calls, calls_count, missed, missed_count, sms, sms_count};
pub use whatsapp::{WhatsappRow, whatsapp, whatsapp_count};

use chrono::Days;
use chrono_tz::Tz;

use crate::crypto::Cipher;
use crate::db::Db;
use crate::domain::OrderStatus;
use crate::on_db;
use crate::reports::{Filters, day_start};

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
    /// A filter `AND {expr} = value`, when the filter is set (a blank text is "any").
    fn and_eq(&mut self, expr: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            let p = self.arg(Arg::Text(v.to_string()));
            self.push(&format!(" AND {expr} = {p}"));
        }
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
    if with_status {
        sql.and_eq("o.status", Some(f.status.as_str()));
    }
    sql.and_eq("o.phone_hash", f.customer_index.as_deref());
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
/// verification code writes (`status_reason`). An agent's confirmation on the shopper's behalf
/// (`resolved_by` set) is none of them, whatever the agent's name says.
pub const CHANNELS: [(&str, &str, &str); 5] = [
    ("whatsapp", "WhatsApp", "o.status_reason LIKE '%WhatsApp%'"),
    ("ivr", "IVR call", "o.status_reason LIKE 'pressed %'"),
    ("sms_link", "SMS link", "o.status_reason LIKE '%on the confirmation link'"),
    ("missed_call", "Missed call", "o.status_reason LIKE 'confirmed by a missed call%'"),
    ("otp", "OTP", "o.status_reason LIKE 'OTP %'"),
];

/// What reached the customer for each channel (an order counts once per channel).
const CHANNEL_REACH: [&str; 5] = [
    "EXISTS (SELECT 1 FROM whatsapp_messages w WHERE w.order_id = o.id AND w.sent_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM call_attempts a WHERE a.order_id = o.id AND a.dialed_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'link' AND m.sent_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'missed_call' AND m.sent_at IS NOT NULL)",
    "EXISTS (SELECT 1 FROM sms_messages m WHERE m.order_id = o.id AND m.kind = 'otp' AND m.sent_at IS NOT NULL)",
];

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
    pub by_channel: [i64; 5],
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

/// Reached and confirmed for each of `CHANNELS`, in turn.
type ReachRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
/// Day index, orders, confirmed, and confirmed through each of `CHANNELS`.
type DayRow = (i64, i64, i64, i64, i64, i64, i64, i64);

/// Confirmation rate per channel and per day over the range (customer/order filters apply; the
/// status filter does not).
pub async fn overview(db: &Db, shop_id: &str, f: &Filters, tz: Tz) -> Result<Overview, sqlx::Error> {
    let (Some(from), Some(to)) = (f.from_date, f.to_date) else {
        return Ok(Overview { channels: vec![], days: vec![] });
    };
    let mut cols = Vec::new();
    for (i, (_, _, confirmed)) in CHANNELS.iter().enumerate() {
        cols.push(format!("COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0)", CHANNEL_REACH[i]));
        cols.push(format!("COALESCE(SUM(CASE WHEN o.status = 'confirmed' AND o.resolved_by IS NULL AND {confirmed} THEN 1 ELSE 0 END), 0)"));
    }
    let mut sql = orders_where(shop_id, f, false);
    sql.text = format!("SELECT {}{}", cols.join(", "), sql.text);
    let row: Vec<ReachRow> = fetch_all(db, &sql).await?;
    let r = row.first().copied().unwrap_or_default();
    let pairs = [(r.0, r.1), (r.2, r.3), (r.4, r.5), (r.6, r.7), (r.8, r.9)];
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
        cols.push(format!("COALESCE(SUM(CASE WHEN o.status = 'confirmed' AND o.resolved_by IS NULL AND {confirmed} THEN 1 ELSE 0 END), 0)"));
    }
    let mut sql = orders_where(shop_id, f, false);
    sql.text = format!("SELECT {}{} GROUP BY 1", cols.join(", "), sql.text);
    let rows: Vec<DayRow> = fetch_all(db, &sql).await?;
    let mut days: Vec<DayRate> = (0..n_days)
        .map(|i| DayRate { date: (from + Days::new(i as u64)).to_string(), total: 0, confirmed: 0, by_channel: [0; 5] })
        .collect();
    for (d, total, confirmed, w, a, b, c, e) in rows {
        if let Some(day) = days.get_mut(d as usize) {
            day.total = total;
            day.confirmed = confirmed;
            day.by_channel = [w, a, b, c, e];
        }
    }
    Ok(Overview { channels, days })
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
    /// The agent who resolved it on the shopper's behalf (the review queue), if one did.
    pub resolved_by: Option<String>,
    /// Where its fulfillment hold stands (`HoldState`; NULL: not held).
    pub hold_state: Option<String>,
}

impl OrderDetail {
    pub fn tags(&self) -> Vec<String> {
        self.outcome_tags.as_deref().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub detail: String,
    pub at: i64,
}

pub async fn order_detail(db: &Db, cipher: &Cipher, shop_id: &str, shopify_order_id: i64) -> Result<Option<OrderDetail>, sqlx::Error> {
    let found = on_db!(db, c => sqlx::query_as::<_, OrderDetail>(
        "SELECT id, shopify_order_id, name, phone_enc AS phone, customer_name, total_price, currency, gateways, status, status_reason, \
           outcome_tags, created_at, resolved_at, resolved_by, hold_state FROM orders WHERE shop_id = $1 AND shopify_order_id = $2")
        .bind(shop_id).bind(shopify_order_id).fetch_optional(c).await)?;
    Ok(found.map(|mut o| {
        o.phone = cipher.open_opt(o.phone.as_deref());
        o
    }))
}

/// The order's events in the order they happened (ties keep the order they were written in).
pub async fn timeline(db: &Db, shop_id: &str, order_id: &str) -> Result<Vec<Event>, sqlx::Error> {
    on_db!(db, c => sqlx::query_as::<_, Event>(
        "SELECT id, kind, detail, at FROM order_events WHERE order_id = $1 AND shop_id = $2 ORDER BY at")
        .bind(order_id).bind(shop_id).fetch_all(c).await)
}
