//! Customers' data requests as recorded (`data_requests`): the sealed report for the merchant.

use crate::db::{Db, Tx, new_id};
use crate::{on_db, on_tx};

/// A data request as the merchant's list shows it (customer identifiers still to be masked; the
/// phone as stored, sealed, until the caller opens it).
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

const COLUMNS: &str =
    "id, shopify_request_id, customer_id, customer_email, customer_phone_enc AS customer_phone, orders_requested, received_at, opened_at";

/// A data request to record; the phone and the report already sealed.
pub struct NewDataRequest<'a> {
    pub shop_id: &'a str,
    pub shopify_request_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub customer_email: Option<&'a str>,
    pub customer_phone_enc: Option<String>,
    pub report_enc: String,
    pub orders_requested: String,
}

pub async fn insert(tx: &mut Tx, r: NewDataRequest<'_>, now: i64) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query(
        "INSERT INTO data_requests (id, shop_id, shopify_request_id, customer_id, customer_email, customer_phone_enc, report_enc, received_at, \
           orders_requested) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(new_id()).bind(r.shop_id).bind(r.shopify_request_id).bind(r.customer_id).bind(r.customer_email)
        .bind(r.customer_phone_enc).bind(r.report_enc).bind(now)
        .bind(r.orders_requested)).map(|_| ())
}

/// The shop's data requests, newest first, at most `limit`.
pub async fn list(db: &Db, shop_id: &str, limit: i64) -> Result<Vec<DataRequest>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM data_requests WHERE shop_id = $1 ORDER BY received_at DESC, id LIMIT $2");
    on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).bind(limit).fetch_all(c).await)
}

/// All of the shop's data requests, inside a transaction (to pick the ones about one customer).
pub async fn all_of_shop(tx: &mut Tx, shop_id: &str) -> Result<Vec<DataRequest>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM data_requests WHERE shop_id = $1");
    on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(shop_id).fetch_all(c).await)
}

#[derive(sqlx::FromRow)]
struct WithReport {
    #[sqlx(flatten)]
    request: DataRequest,
    report_enc: String,
}

/// One of the shop's data requests with its sealed report, marked opened at `now` if it was not
/// yet (later openings leave `opened_at` as it was).
pub async fn open(db: &Db, shop_id: &str, id: &str, now: i64) -> Result<Option<(DataRequest, String)>, sqlx::Error> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, exec c => sqlx::query("UPDATE data_requests SET opened_at = $1 WHERE id = $2 AND shop_id = $3 AND opened_at IS NULL")
        .bind(now).bind(id).bind(shop_id))?;
    let sql = format!("SELECT {COLUMNS}, report_enc FROM data_requests WHERE id = $1 AND shop_id = $2");
    let found: Option<WithReport> = on_tx!(&mut tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(shop_id).fetch_optional(c).await)?;
    tx.commit().await?;
    Ok(found.map(|WithReport { request, report_enc }| (request, report_enc)))
}

pub async fn delete(tx: &mut Tx, shop_id: &str, id: &str) -> Result<u64, sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("DELETE FROM data_requests WHERE id = $1 AND shop_id = $2").bind(id).bind(shop_id))
}

/// Deletes at most `limit` of the shop's data requests received before `cutoff`; how many.
pub async fn delete_older_than(db: &Db, shop_id: &str, cutoff: i64, limit: i64) -> Result<u64, sqlx::Error> {
    on_db!(db, exec c => sqlx::query(
        "DELETE FROM data_requests WHERE id IN (SELECT id FROM data_requests WHERE shop_id = $1 AND received_at < $2 LIMIT $3)")
        .bind(shop_id).bind(cutoff).bind(limit))
}
