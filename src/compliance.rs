//! Shopify's mandatory privacy webhooks: `customers/data_request`, `customers/redact`, `shop/redact`.
//! Each runs inside the webhook job's transaction.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::Cipher;
use crate::db::{Tx, new_id};
use crate::domain::Phone;
use crate::settings::Settings;
use crate::app::App;
use crate::{on_db, on_tx};

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
    let requested = p.orders_requested.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let request_id = p.data_request.as_ref().and_then(|d| d.get("id")).and_then(Value::as_i64);
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO data_requests (id, shop_id, shopify_request_id, customer_id, customer_email, customer_phone_enc, report_enc, received_at, \
           orders_requested) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(new_id()).bind(&shop_id).bind(request_id).bind(p.customer.id).bind(&p.customer.email)
        .bind(p.customer.phone.as_deref().map(|phone| cipher.encrypt(phone))).bind(cipher.encrypt(&report.to_string())).bind(now)
        .bind(requested))?;
    Ok(format!("data request recorded ({} orders)", orders.len()))
}

/// Erases the customer's personal data from that customer's orders in the shop (and from what hangs
/// off them), from the missed calls of their number, and deletes their data requests. The orders'
/// verification outcome stays for the merchant's reports.
pub async fn customer_redact(tx: &mut Tx, cipher: &Cipher, shop_domain: &str, body: &Value, now: i64) -> anyhow::Result<String> {
    let p: CustomerPayload = match serde_json::from_value(body.clone()) {
        Ok(p) => p,
        Err(e) => return Ok(format!("ignored: not a customer payload ({e})")),
    };
    let Some(shop_id) = shop_id(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let orders = customer_orders(tx, cipher, &shop_id, &p.customer, &p.orders_to_redact).await?;
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    // Chunks keep each statement's parameters well under the databases' limits.
    for chunk in ids.chunks(RETENTION_BATCH as usize) {
        erase_orders(tx, &shop_id, chunk, now).await?;
    }
    let mut phones: Vec<String> = orders.iter().filter_map(|o| o.phone.clone()).collect();
    phones.extend(customer_phone(&p.customer));
    phones.sort();
    phones.dedup();
    for phone in &phones {
        on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE missed_calls SET {MISSED_CALL_ERASED} WHERE phone_hash = $1 AND shop_id = $2")))
            .bind(cipher.phone_index(phone)).bind(&shop_id))?;
    }
    let requests = delete_data_requests(tx, cipher, &shop_id, &p.customer, &phones).await?;
    Ok(format!("redacted {} orders, {requests} data requests", orders.len()))
}

/// The customer's phone number from a compliance payload, in E.164.
fn customer_phone(customer: &Customer) -> Option<String> {
    customer.phone.as_deref().and_then(|p| Phone::parse(p, "IN").ok()).map(|p| p.e164().to_string())
}

/// Deletes the shop's data requests about the customer: same customer id, e-mail or phone number.
async fn delete_data_requests(tx: &mut Tx, cipher: &Cipher, shop_id: &str, customer: &Customer, phones: &[String]) -> anyhow::Result<usize> {
    let sql = format!("SELECT {DATA_REQUEST_COLUMNS} FROM data_requests WHERE shop_id = $1");
    let rows: Vec<DataRequest> = on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).fetch_all(c).await)?;
    let email = customer.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let mut deleted = 0;
    for DataRequest { id, customer_id, customer_email: stored_email, customer_phone: stored_phone, .. } in rows {
        let phone = cipher
            .open_opt(stored_phone.as_deref())
            .and_then(|p| Phone::parse(&p, "IN").ok())
            .map(|p| p.e164().to_string());
        let same_email = match (email, stored_email.as_deref().map(str::trim)) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        let same = (customer.id.is_some() && customer_id == customer.id) || same_email || phone.is_some_and(|p| phones.contains(&p));
        if same {
            on_tx!(tx, exec c => sqlx::query("DELETE FROM data_requests WHERE id = $1 AND shop_id = $2")
                .bind(&id).bind(shop_id))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// What an erased missed call keeps: when, its outcome and the orders it confirmed.
const MISSED_CALL_ERASED: &str = "phone_enc = NULL, phone_hash = NULL, call_from = ''";
/// What an erased SMS keeps: kind, status and times.
const SMS_ERASED: &str = "to_phone_enc = NULL, to_phone_hash = NULL, body = '', body_enc = NULL";

/// Erases the customer's details from orders of one shop — name, e-mail, phone, customer id, line
/// items — and from what hangs off them: call recordings, the SMS sent (number and text), the
/// click-to-call's customer number, and the timeline's details. Statuses, reasons, amounts, times
/// and counts stay, so the reports still add up. The one erase of both `customers/redact` and the
/// retention period.
pub async fn erase_orders(tx: &mut Tx, shop_id: &str, order_ids: &[String], now: i64) -> anyhow::Result<()> {
    if order_ids.is_empty() {
        return Ok(());
    }
    // $1 = the shop, then the order ids.
    let ids = |first: usize| (0..order_ids.len()).map(|i| format!("${}", i + first)).collect::<Vec<_>>().join(", ");
    let statements = [
        format!(
            "UPDATE orders SET erased_at = $2, phone_enc = NULL, phone_hash = NULL, phone_source = NULL, customer_id = NULL, \
             customer_name = NULL, customer_email = NULL, items = NULL WHERE shop_id = $1 AND id IN ({})",
            ids(3)
        ),
        format!("UPDATE order_events SET detail = '' WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        // Recordings hold the customer's voice.
        format!("UPDATE call_attempts SET recording_url = NULL WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        format!("UPDATE sms_messages SET {SMS_ERASED} WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
        format!("UPDATE agent_calls SET customer_phone_enc = '', customer_phone_hash = NULL WHERE shop_id = $1 AND order_id IN ({})", ids(2)),
    ];
    for (i, sql) in statements.into_iter().enumerate() {
        on_tx!(tx, c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(shop_id);
            if i == 0 {
                q = q.bind(now);
            }
            for id in order_ids {
                q = q.bind(id);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Rows erased by one retention run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub orders: u64,
    pub missed_calls: u64,
    pub sms: u64,
    pub data_requests: u64,
}

/// At most this many rows are erased per transaction, so a first run over a large backlog never
/// holds the database (SQLite's one writer) for long.
const RETENTION_BATCH: i64 = 200;

/// The daily retention run: in every shop, customer details older than `privacy.retention_days`
/// are erased from orders (and what hangs off them), missed calls and SMS, and older data requests
/// are deleted — in batches, each its own transaction. Running it twice erases nothing twice.
pub async fn erase_expired(app: &App) -> anyhow::Result<Erased> {
    let now = app.clock.now_ms();
    let shops: Vec<(String, String)> = on_db!(&app.db, c => sqlx::query_as("SELECT id, settings FROM shops ORDER BY id").fetch_all(c).await)?;
    let mut total = Erased::default();
    for (shop_id, settings) in shops {
        let cutoff = Settings::from_stored(&settings).privacy.cutoff_ms(now);
        loop {
            let mut tx = app.db.begin().await?;
            let ids: Vec<String> = on_tx!(&mut tx, c => sqlx::query_scalar(
                "SELECT id FROM orders WHERE shop_id = $1 AND created_at < $2 AND erased_at IS NULL ORDER BY created_at LIMIT $3")
                .bind(&shop_id).bind(cutoff).bind(RETENTION_BATCH).fetch_all(c).await)?;
            erase_orders(&mut tx, &shop_id, &ids, now).await?;
            tx.commit().await?;
            total.orders += ids.len() as u64;
            if (ids.len() as i64) < RETENTION_BATCH {
                break;
            }
        }
        // Missed calls and SMS by their own age (an SMS may belong to no order), data requests by
        // theirs. A missed call or SMS is recorded with a non-empty `call_from` / `body` and erased
        // to an empty one: the partial indexes `*_unerased` hold just the rows left to erase.
        let batched = [
            format!("UPDATE missed_calls SET {MISSED_CALL_ERASED} WHERE id IN (SELECT id FROM missed_calls \
                     WHERE shop_id = $1 AND at < $2 AND call_from <> '' LIMIT $3)"),
            format!("UPDATE sms_messages SET {SMS_ERASED} WHERE id IN (SELECT id FROM sms_messages \
                     WHERE shop_id = $1 AND created_at < $2 AND body <> '' LIMIT $3)"),
            "DELETE FROM data_requests WHERE id IN (SELECT id FROM data_requests WHERE shop_id = $1 AND received_at < $2 LIMIT $3)".to_string(),
        ];
        for (i, sql) in batched.iter().enumerate() {
            loop {
                let n = on_db!(&app.db, exec c => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&shop_id).bind(cutoff).bind(RETENTION_BATCH))?;
                match i {
                    0 => total.missed_calls += n,
                    1 => total.sms += n,
                    _ => total.data_requests += n,
                }
                if (n as i64) < RETENTION_BATCH {
                    break;
                }
            }
        }
    }
    if total != Erased::default() {
        tracing::info!(?total, "customer details past the retention period erased");
    }
    Ok(total)
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
        on_tx!(tx, exec c => sqlx::query("DELETE FROM timers WHERE shop_id = $1").bind(&id))?;
        on_tx!(tx, exec c => sqlx::query("DELETE FROM shops WHERE id = $1").bind(&id))?;
    }
    on_tx!(tx, exec c => sqlx::query("DELETE FROM webhooks WHERE shop_domain = $1").bind(shop_domain))?;
    Ok("shop data erased".into())
}

/// A data request as the merchant's list shows it (customer identifiers still to be masked).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DataRequest {
    pub id: String,
    pub shopify_request_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub orders_requested: String,
    pub received_at: i64,
    pub opened_at: Option<i64>,
}

const DATA_REQUEST_COLUMNS: &str =
    "id, shopify_request_id, customer_id, customer_email, customer_phone_enc AS customer_phone, orders_requested, received_at, opened_at";

/// The shop's data requests, newest first (at most 500: requests are rare, and older ones are
/// deleted with the retention period).
pub async fn data_requests(db: &crate::db::Db, cipher: &Cipher, shop_id: &str) -> Result<Vec<DataRequest>, sqlx::Error> {
    let sql = format!("SELECT {DATA_REQUEST_COLUMNS} FROM data_requests WHERE shop_id = $1 ORDER BY received_at DESC, id LIMIT 500");
    let rows: Vec<DataRequest> = on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).fetch_all(c).await)?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.customer_phone = cipher.open_opt(r.customer_phone.as_deref());
            r
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct WithReport {
    #[sqlx(flatten)]
    request: DataRequest,
    report_enc: String,
}

/// One of the shop's data requests with its report, opened for the merchant: the first opening is
/// recorded (`opened_at`), later ones leave it as it was.
pub async fn open_data_request(db: &crate::db::Db, cipher: &Cipher, shop_id: &str, id: &str, now: i64) -> anyhow::Result<Option<(DataRequest, Value)>> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, exec c => sqlx::query("UPDATE data_requests SET opened_at = $1 WHERE id = $2 AND shop_id = $3 AND opened_at IS NULL")
        .bind(now).bind(id).bind(shop_id))?;
    let sql = format!("SELECT {DATA_REQUEST_COLUMNS}, report_enc FROM data_requests WHERE id = $1 AND shop_id = $2");
    let found: Option<WithReport> = on_tx!(&mut tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(shop_id).fetch_optional(c).await)?;
    tx.commit().await?;
    let Some(WithReport { mut request, report_enc }) = found else { return Ok(None) };
    request.customer_phone = cipher.open_opt(request.customer_phone.as_deref());
    let report = cipher.open(&report_enc).ok_or_else(|| anyhow::anyhow!("a data request's report does not decrypt"))?;
    Ok(Some((request, serde_json::from_str(&report)?)))
}
