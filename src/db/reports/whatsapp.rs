//! WhatsApp history (SPEC §8): one row per message of `whatsapp_messages`, with its order's
//! result. A message's time is when it went out, or when it was written if it never did (refused,
//! cancelled, still queued), so that those show too.

use super::{Arg, Sql, fetch_all, order_clause};
use crate::crypto::Cipher;
use crate::db::Db;
use crate::reports::Filters;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WhatsappRow {
    pub shopify_order_id: i64,
    pub name: String,
    pub to_phone: Option<String>,
    pub at: i64,
    /// Exotel's latest delivery report, else the row's state.
    pub status: String,
    pub error: Option<String>,
    pub reply: Option<String>,
    pub reply_text: Option<String>,
    pub order_status: String,
    pub message_sid: Option<String>,
}

const AT: &str = "COALESCE(m.sent_at, m.created_at)";

fn whatsapp_sql(shop_id: &str, f: &Filters, select: &str) -> Sql {
    let mut sql = Sql::default();
    let s = sql.arg(Arg::Text(shop_id.into()));
    let a = sql.arg(Arg::Int(f.start_ms));
    let b = sql.arg(Arg::Int(f.end_ms));
    // `o.shop_id` too: a message is only ever shown with its own shop's order.
    sql.text = format!(
        "{select} FROM whatsapp_messages m JOIN orders o ON o.id = m.order_id AND o.shop_id = m.shop_id \
         WHERE m.shop_id = {s} AND {AT} >= {a} AND {AT} < {b}"
    );
    sql.and_eq("m.to_phone_hash", f.customer_index.as_deref());
    sql.and_eq("COALESCE(m.status, m.state)", Some(f.status.as_str()));
    match f.reply.as_str() {
        "" => {}
        "none" => sql.push(" AND m.reply IS NULL"),
        reply => sql.and_eq("m.reply", Some(reply)),
    }
    if !f.order.is_empty() {
        order_clause(&mut sql, "o", &f.order);
    }
    sql
}

/// One page of messages (`limit` None: every filtered row, for CSV), newest first.
pub async fn whatsapp(db: &Db, cipher: &Cipher, shop_id: &str, f: &Filters, limit: Option<(i64, i64)>) -> Result<Vec<WhatsappRow>, sqlx::Error> {
    let mut sql = whatsapp_sql(
        shop_id,
        f,
        &format!(
            "SELECT o.shopify_order_id, o.name, m.to_phone_enc AS to_phone, {AT} AS at, COALESCE(m.status, m.state) AS status, m.error, \
               m.reply, m.reply_text_enc AS reply_text, o.status AS order_status, m.message_sid"
        ),
    );
    sql.push(&format!(" ORDER BY {AT} DESC, m.id DESC"));
    if let Some((n, off)) = limit {
        sql.push(&format!(" LIMIT {n} OFFSET {off}"));
    }
    let rows: Vec<WhatsappRow> = fetch_all(db, &sql).await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.to_phone = cipher.open_opt(r.to_phone.as_deref());
            r.reply_text = cipher.open_opt(r.reply_text.as_deref());
            r
        })
        .collect())
}

pub async fn whatsapp_count(db: &Db, shop_id: &str, f: &Filters) -> Result<i64, sqlx::Error> {
    let n: Vec<(i64,)> = fetch_all(db, &whatsapp_sql(shop_id, f, "SELECT COUNT(*)")).await?;
    Ok(n.first().map(|r| r.0).unwrap_or(0))
}
