//! Call, SMS and Missed call history: the rows and their queries.

use super::{Arg, Sql, fetch_all, order_clause};
use crate::crypto::Cipher;
use crate::db::Db;
use crate::reports::Filters;

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
    sql.and_eq("x.customer_hash", f.customer_index.as_deref());
    sql.and_eq("x.agent_hash", f.agent_index.as_deref());
    sql.and_eq("x.status", Some(f.status.as_str()));
    match f.input.as_str() {
        "" => {}
        "none" => sql.push(" AND x.digits IS NULL AND x.choice IS NULL AND x.kind = 'outbound'"),
        choice => sql.and_eq("x.choice", Some(choice)),
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

fn sms_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    sql.text = format!(
        "{select} FROM sms_messages m LEFT JOIN orders o ON o.id = m.order_id \
         WHERE m.shop_id = {s} AND m.sent_at >= {a} AND m.sent_at < {b}"
    );
    sql.and_eq("m.to_phone_hash", f.customer_index.as_deref());
    sql.and_eq("COALESCE(m.status, m.state)", Some(f.status.as_str()));
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

fn missed_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    sql.text = format!("{select} FROM missed_calls mc WHERE mc.shop_id = {s} AND mc.at >= {a} AND mc.at < {b}");
    sql.and_eq("mc.phone_hash", f.customer_index.as_deref());
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
