//! Shopify's mandatory privacy webhooks: `customers/data_request`, `customers/redact`, `shop/redact`.
//! Each runs inside the webhook job's transaction.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::Cipher;
use crate::db::{Tx, new_id};
use crate::domain::Phone;
use crate::on_tx;

#[derive(Deserialize, Default)]
struct Customer {
    id: Option<i64>,
    email: Option<String>,
    phone: Option<String>,
}

#[derive(Deserialize)]
struct CustomerPayload {
    #[serde(default)]
    customer: Customer,
    #[serde(default)]
    orders_to_redact: Vec<i64>,
    #[serde(default)]
    orders_requested: Vec<i64>,
    #[serde(default)]
    data_request: Option<Value>,
}

#[derive(sqlx::FromRow)]
struct OrderRef {
    id: String,
    shopify_order_id: i64,
    name: String,
    phone: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    status: String,
    status_reason: Option<String>,
    created_at: i64,
}

async fn shop_id(tx: &mut Tx, shop_domain: &str) -> anyhow::Result<Option<String>> {
    Ok(on_tx!(tx, c => sqlx::query_scalar("SELECT id FROM shops WHERE domain = $1").bind(shop_domain).fetch_optional(c).await)?)
}

/// The orders of `shop_id` that belong to the customer: by customer id, by the order ids Shopify
/// lists, or by the customer's phone number.
async fn customer_orders(tx: &mut Tx, cipher: &Cipher, shop_id: &str, customer: &Customer, order_ids: &[i64]) -> anyhow::Result<Vec<OrderRef>> {
    let cols = "id, shopify_order_id, name, phone_enc AS phone, customer_name, customer_email, status, status_reason, created_at";
    let phone = customer
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p, "IN").ok())
        .map(|p| cipher.phone_index(p.e164()));
    let sql = format!(
        "SELECT {cols} FROM orders WHERE shop_id = $1 AND ((customer_id IS NOT NULL AND customer_id = $2) \
         OR (phone_hash IS NOT NULL AND phone_hash = $3) OR (customer_email IS NOT NULL AND customer_email = $4))"
    );
    let mut found: Vec<OrderRef> = on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(shop_id).bind(customer.id).bind(phone).bind(&customer.email).fetch_all(c).await)?;
    for oid in order_ids {
        if found.iter().any(|o| o.shopify_order_id == *oid) {
            continue;
        }
        let sql = format!("SELECT {cols} FROM orders WHERE shop_id = $1 AND shopify_order_id = $2");
        let row: Option<OrderRef> =
            on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(oid).fetch_optional(c).await)?;
        found.extend(row);
    }
    for o in &mut found {
        o.phone = cipher.open_opt(o.phone.as_deref());
    }
    Ok(found)
}

/// Records the request and gathers what this app holds about the customer for the merchant.
pub async fn data_request(tx: &mut Tx, cipher: &Cipher, shop_domain: &str, body: &Value, now: i64) -> anyhow::Result<String> {
    // A payload that cannot be read is recorded as such: retrying the job would not change it.
    let p: CustomerPayload = match serde_json::from_value(body.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(format!("ignored: not a customer payload ({e})")),
    };
    let Some(shop_id) = shop_id(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let orders = customer_orders(tx, cipher, &shop_id, &p.customer, &p.orders_requested).await?;
    let mut listed = Vec::new();
    for o in &orders {
        // The calls and SMS made to the customer about the order, as the merchant's reports show them.
        let calls: Vec<(i64, Option<String>, Option<i64>, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(
            "SELECT attempt_no, result, dialed_at, duration_seconds FROM call_attempts WHERE order_id = $1 AND shop_id = $2 ORDER BY attempt_no")
            .bind(&o.id).bind(&shop_id).fetch_all(c).await)?;
        let sms: Vec<(String, Option<String>, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(
            "SELECT kind, status, sent_at FROM sms_messages WHERE order_id = $1 AND shop_id = $2 ORDER BY created_at")
            .bind(&o.id).bind(&shop_id).fetch_all(c).await)?;
        listed.push(json!({
            "shopify_order_id": o.shopify_order_id, "name": o.name, "phone": o.phone,
            "customer_name": o.customer_name, "customer_email": o.customer_email,
            "verification_status": o.status, "status_reason": o.status_reason, "received_at_ms": o.created_at,
            "calls": calls.iter().map(|(n, result, at, secs)| json!({"attempt": n, "result": result, "dialed_at_ms": at, "duration_seconds": secs})).collect::<Vec<_>>(),
            "sms": sms.iter().map(|(kind, status, at)| json!({"kind": kind, "status": status, "sent_at_ms": at})).collect::<Vec<_>>(),
        }));
    }
    let report = json!({
        "customer": { "id": p.customer.id, "email": p.customer.email, "phone": p.customer.phone },
        "orders": listed,
    });
    let request_id = p.data_request.as_ref().and_then(|d| d.get("id")).and_then(Value::as_i64);
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO data_requests (id, shop_id, shopify_request_id, customer_id, customer_email, customer_phone_enc, report_enc, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(new_id()).bind(&shop_id).bind(request_id).bind(p.customer.id).bind(&p.customer.email)
        .bind(p.customer.phone.as_deref().map(|phone| cipher.encrypt(phone))).bind(cipher.encrypt(&report.to_string())).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(format!("data request recorded ({} orders)", orders.len()))
}

/// Erases the customer's personal data (phone, name, email, address-derived details) from orders
/// and their timelines. The orders' verification outcome stays for the merchant's reports.
pub async fn customer_redact(tx: &mut Tx, cipher: &Cipher, shop_domain: &str, body: &Value) -> anyhow::Result<String> {
    let p: CustomerPayload = match serde_json::from_value(body.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(format!("ignored: not a customer payload ({e})")),
    };
    let Some(shop_id) = shop_id(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let orders = customer_orders(tx, cipher, &shop_id, &p.customer, &p.orders_to_redact).await?;
    for o in &orders {
        on_tx!(tx, c => sqlx::query(
            "UPDATE orders SET phone_enc = NULL, phone_hash = NULL, phone_source = NULL, customer_name = NULL, customer_email = NULL WHERE id = $1 AND shop_id = $2")
            .bind(&o.id).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        on_tx!(tx, c => sqlx::query("UPDATE order_events SET detail = '' WHERE order_id = $1 AND shop_id = $2")
            .bind(&o.id).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        // Recordings hold the customer's voice; SMS their number and text.
        on_tx!(tx, c => sqlx::query("UPDATE call_attempts SET recording_url = NULL WHERE order_id = $1 AND shop_id = $2")
            .bind(&o.id).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        on_tx!(tx, c => sqlx::query(
            "UPDATE sms_messages SET to_phone_enc = NULL, to_phone_hash = NULL, body = '', body_enc = NULL WHERE order_id = $1 AND shop_id = $2")
            .bind(&o.id).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        on_tx!(tx, c => sqlx::query("UPDATE agent_calls SET customer_phone_enc = '', customer_phone_hash = NULL WHERE order_id = $1 AND shop_id = $2")
            .bind(&o.id).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        if let Some(phone) = &o.phone {
            on_tx!(tx, c => sqlx::query(
                "UPDATE missed_calls SET phone_enc = NULL, phone_hash = NULL, call_from = '' WHERE phone_hash = $1 AND shop_id = $2")
                .bind(cipher.phone_index(phone)).bind(&shop_id).execute(c).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(format!("redacted {} orders", orders.len()))
}

/// Erases everything held about a shop (sent 48 hours after uninstall). A shop that has installed
/// the app again since is left alone.
pub async fn shop_redact(tx: &mut Tx, shop_domain: &str) -> anyhow::Result<String> {
    let shop: Option<(String, String)> =
        on_tx!(tx, c => sqlx::query_as("SELECT id, status FROM shops WHERE domain = $1").bind(shop_domain).fetch_optional(c).await)?;
    if let Some((id, status)) = shop {
        if status == "installed" {
            return Ok("ignored: the shop is installed again".into());
        }
        on_tx!(tx, c => sqlx::query("DELETE FROM timers WHERE shop_id = $1").bind(&id).execute(c).await.map(|r| r.rows_affected()))?;
        on_tx!(tx, c => sqlx::query("DELETE FROM shops WHERE id = $1").bind(&id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    on_tx!(tx, c => sqlx::query("DELETE FROM webhooks WHERE shop_domain = $1").bind(shop_domain).execute(c).await.map(|r| r.rows_affected()))?;
    Ok("shop data erased".into())
}
