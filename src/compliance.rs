//! Shopify's mandatory privacy webhooks: `customers/data_request`, `customers/redact`, `shop/redact`.
//! Each runs inside the webhook job's transaction.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::crypto::Cipher;
use crate::db::data_requests::{self, NewDataRequest};
use crate::db::orders::{self, CustomerOrder};
use crate::db::{Db, Tx, erasure, shops};
use crate::domain::{Phone, ShopStatus};
use crate::settings::Settings;

pub use crate::db::data_requests::DataRequest;

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

/// The orders of `shop_id` that belong to the customer: by customer id, by the order ids Shopify
/// lists, or by the customer's phone number.
async fn customer_orders(tx: &mut Tx, cipher: &Cipher, shop_id: &str, customer: &Customer, order_ids: &[i64]) -> anyhow::Result<Vec<CustomerOrder>> {
    let phone = customer
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p, "IN").ok())
        .map(|p| cipher.phone_index(p.e164()));
    let mut found = orders::of_customer(tx, shop_id, customer.id, phone.as_deref(), customer.email.as_deref()).await?;
    for oid in order_ids {
        if found.iter().any(|o| o.shopify_order_id == *oid) {
            continue;
        }
        found.extend(orders::customer_order_by_shopify_id(tx, shop_id, *oid).await?);
    }
    for o in &mut found {
        o.phone = cipher.open_opt(o.phone.as_deref());
        o.shipping_address = cipher.open_opt(o.shipping_address.as_deref());
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
    let Some(shop_id) = shops::id_by_domain(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let orders = customer_orders(tx, cipher, &shop_id, &p.customer, &p.orders_requested).await?;
    let mut listed = Vec::new();
    for o in &orders {
        // The calls and SMS made to the customer about the order, as the merchant's reports show them.
        let calls = orders::calls_of(tx, &shop_id, &o.id).await?;
        let sms = orders::sms_of(tx, &shop_id, &o.id).await?;
        listed.push(json!({
            "shopify_order_id": o.shopify_order_id, "name": o.name, "phone": o.phone,
            "customer_name": o.customer_name, "customer_email": o.customer_email,
            "shipping_address": o.shipping_address.as_deref().and_then(|a| serde_json::from_str::<Value>(a).ok()),
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
    let request = NewDataRequest {
        shop_id: &shop_id,
        shopify_request_id: request_id,
        customer_id: p.customer.id,
        customer_email: p.customer.email.as_deref(),
        customer_phone_enc: p.customer.phone.as_deref().map(|phone| cipher.encrypt(phone)),
        report_enc: cipher.encrypt(&report.to_string()),
        orders_requested: requested,
    };
    data_requests::insert(tx, request, now).await?;
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
    let Some(shop_id) = shops::id_by_domain(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    let orders = customer_orders(tx, cipher, &shop_id, &p.customer, &p.orders_to_redact).await?;
    let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
    // Chunks keep each statement's parameters well under the databases' limits.
    for chunk in ids.chunks(RETENTION_BATCH as usize) {
        erasure::erase_orders(tx, &shop_id, chunk, now).await?;
    }
    let mut phones: Vec<String> = orders.iter().filter_map(|o| o.phone.clone()).collect();
    phones.extend(customer_phone(&p.customer));
    phones.sort();
    phones.dedup();
    for phone in &phones {
        erasure::erase_missed_calls_of_phone(tx, &shop_id, &cipher.phone_index(phone)).await?;
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
    let rows = data_requests::all_of_shop(tx, shop_id).await?;
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
            data_requests::delete(tx, shop_id, &id).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
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
    let mut total = Erased::default();
    for (shop_id, settings) in shops::all_settings(&app.db).await? {
        let cutoff = Settings::from_stored(&settings).privacy.cutoff_ms(now);
        loop {
            let mut tx = app.db.begin().await?;
            let ids = orders::unerased_older_than(&mut tx, &shop_id, cutoff, RETENTION_BATCH).await?;
            erasure::erase_orders(&mut tx, &shop_id, &ids, now).await?;
            tx.commit().await?;
            total.orders += ids.len() as u64;
            if (ids.len() as i64) < RETENTION_BATCH {
                break;
            }
        }
        // Missed calls and SMS by their own age (an SMS may belong to no order), data requests by
        // theirs.
        total.missed_calls += in_batches(&app.db, &shop_id, cutoff, erasure::erase_missed_calls_older_than).await?;
        total.sms += in_batches(&app.db, &shop_id, cutoff, erasure::erase_sms_older_than).await?;
        total.data_requests += in_batches(&app.db, &shop_id, cutoff, data_requests::delete_older_than).await?;
    }
    if total != Erased::default() {
        tracing::info!(?total, "customer details past the retention period erased");
    }
    Ok(total)
}

/// Runs one batched erase of the shop's rows older than `cutoff` until a batch comes back short;
/// the rows it erased.
async fn in_batches<F, E>(db: &Db, shop_id: &str, cutoff: i64, erase: F) -> anyhow::Result<u64>
where
    F: AsyncFn(&Db, &str, i64, i64) -> Result<u64, E>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut total = 0;
    loop {
        let n = erase(db, shop_id, cutoff, RETENTION_BATCH).await?;
        total += n;
        if (n as i64) < RETENTION_BATCH {
            return Ok(total);
        }
    }
}

/// Erases everything held about a shop (sent 48 hours after uninstall). A shop that has installed
/// the app again since is left alone.
pub async fn shop_redact(tx: &mut Tx, shop_domain: &str) -> anyhow::Result<String> {
    if let Some((id, status)) = shops::id_and_status(tx, shop_domain).await? {
        if status == ShopStatus::Installed {
            return Ok("ignored: the shop is installed again".into());
        }
        erasure::erase_shop(tx, &id).await?;
    }
    erasure::erase_deliveries(tx, shop_domain).await?;
    Ok("shop data erased".into())
}

/// The shop's data requests, newest first (at most 500: requests are rare, and older ones are
/// deleted with the retention period), their phones opened.
pub async fn data_requests(db: &Db, cipher: &Cipher, shop_id: &str) -> anyhow::Result<Vec<DataRequest>> {
    let rows = data_requests::list(db, shop_id, 500).await?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.customer_phone = cipher.open_opt(r.customer_phone.as_deref());
            r
        })
        .collect())
}

/// One of the shop's data requests with its report, opened for the merchant: the first opening is
/// recorded (`opened_at`), later ones leave it as it was.
pub async fn open_data_request(db: &Db, cipher: &Cipher, shop_id: &str, id: &str, now: i64) -> anyhow::Result<Option<(DataRequest, Value)>> {
    let Some((mut request, report_enc)) = data_requests::open(db, shop_id, id, now).await? else { return Ok(None) };
    request.customer_phone = cipher.open_opt(request.customer_phone.as_deref());
    let report = cipher.open(&report_enc).ok_or_else(|| anyhow::anyhow!("a data request's report does not decrypt"))?;
    Ok(Some((request, serde_json::from_str(&report)?)))
}
