//! The Outcomes page's per-day cache (issue 18): one row per shop and day of order creation holding
//! that day's [`Facts`], so the page merges ≤ 92 small rows instead of reading every order and
//! contact of its range (1,000,000 orders: see the README's Reports figures).
//!
//! Freshness: triggers on `orders` and on each contact table mark the quarter hour an order was
//! created in (`outcome_marks`) whenever the order or one of its contacts is written — in the
//! writing statement itself, so no write path can forget, commit without its mark, or mark
//! without committing. A load uses a stored day only when it was computed for the shop's current
//! zone and COD setting and no mark falls in it; any other day is computed again:
//!
//! 1. claim (one transaction): the day's row gets `facts = NULL` and this load's token, and the
//!    day's marks are deleted;
//! 2. compute the day from the orders and contacts (`db::outcomes::facts`);
//! 3. store: only where the row still holds this load's token.
//!
//! A write that lands after the claim leaves a new mark, so the next load computes the day again;
//! one that landed before it is seen by the computation. A load interrupted between 1 and 3 leaves
//! the row without facts, which the next load computes. Two loads computing the same day: the
//! later claim wins the store, and each page shows what it computed.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate};
use futures::{StreamExt, TryStreamExt};
use chrono_tz::Tz;

use crate::db::{Db, new_id};
use crate::on_db;
use crate::on_tx;
use crate::outcomes::Facts;
use crate::reports::day_start;

const QUARTER_MS: i64 = 900_000;
/// Stale days computed side by side.
const COMPUTE_AT_ONCE: usize = 4;

/// The tables whose rows' writes change an order's day: the orders, and the contacts priced and
/// counted by the page, links used and OTPs entered included (each with `order_id`).
const CONTACT_TABLES: [&str; 5] = ["call_attempts", "sms_messages", "whatsapp_messages", "links", "otps"];

/// Installs the marking triggers (see the module doc); run by `Db::migrate` after the migrations.
/// Idempotent, and safe from several processes at once.
pub async fn install_marks(db: &Db) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    if tx.is_postgres() {
        // Serialises concurrent installs (DROP + CREATE below is not atomic across sessions).
        on_tx!(tx, exec c => sqlx::query("SELECT pg_advisory_xact_lock(7262010)"))?;
        on_tx!(tx, exec c => sqlx::query(
            "CREATE OR REPLACE FUNCTION codverify_outcome_mark() RETURNS trigger LANGUAGE plpgsql AS $$
             DECLARE r record;
             BEGIN
               IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
               IF TG_TABLE_NAME = 'orders' THEN
                 INSERT INTO outcome_marks (shop_id, quarter) VALUES (r.shop_id, r.created_at / 900000) ON CONFLICT DO NOTHING;
               ELSE
                 INSERT INTO outcome_marks (shop_id, quarter)
                   SELECT o.shop_id, o.created_at / 900000 FROM orders o WHERE o.id = r.order_id ON CONFLICT DO NOTHING;
               END IF;
               RETURN NULL;
             END $$"))?;
        for table in std::iter::once("orders").chain(CONTACT_TABLES) {
            on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER IF EXISTS {table}_outcome_mark ON {table}"))))?;
            on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TRIGGER {table}_outcome_mark AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION codverify_outcome_mark()"))))?;
        }
    } else {
        // SQLite: one trigger per event; `OR IGNORE`: a mark already there is enough.
        for (event, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
            let e = event.to_lowercase();
            on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TRIGGER IF NOT EXISTS orders_outcome_mark_{e} AFTER {event} ON orders BEGIN \
                   INSERT OR IGNORE INTO outcome_marks (shop_id, quarter) VALUES ({row}.shop_id, {row}.created_at / 900000); END"))))?;
            for table in CONTACT_TABLES {
                on_tx!(tx, exec c => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TRIGGER IF NOT EXISTS {table}_outcome_mark_{e} AFTER {event} ON {table} BEGIN \
                       INSERT OR IGNORE INTO outcome_marks (shop_id, quarter) \
                       SELECT o.shop_id, o.created_at / 900000 FROM orders o WHERE o.id = {row}.order_id; END"))))?;
            }
        }
    }
    tx.commit().await
}

/// The days (in `tz`) an order created in quarter hour `q` may belong to: the quarter's first and
/// last millisecond's (the same day wherever midnight falls on a quarter hour, as in every zone
/// today).
fn days_of_quarter(tz: Tz, q: i64) -> impl Iterator<Item = NaiveDate> {
    [q * QUARTER_MS, (q + 1) * QUARTER_MS - 1]
        .into_iter()
        .filter_map(move |ms| DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&tz).date_naive()))
}

/// The Outcomes page's facts for the shop's orders created from `from` to `to` (days in `tz`,
/// both included; COD orders only when `cod_only`): each day from the cache when it is fresh,
/// computed (and cached) otherwise.
pub async fn facts(db: &Db, shop_id: &str, tz: Tz, cod_only: bool, from: NaiveDate, to: NaiveDate) -> Result<Facts, sqlx::Error> {
    let zone = tz.name();
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let span = |d: NaiveDate| (day_start(tz, d), day_start(tz, d + Days::new(1)));
    let (start, end) = (span(from).0, span(to).1);

    type Row = (String, String, bool, Option<String>);
    let rows: Vec<Row> = on_db!(db, c => sqlx::query_as(
        "SELECT day, zone, cod_only, facts FROM outcome_days WHERE shop_id = $1 AND day >= $2 AND day <= $3")
        .bind(shop_id).bind(from.to_string()).bind(to.to_string()).fetch_all(c).await)?;
    let marks: Vec<i64> = on_db!(db, c => sqlx::query_scalar(
        "SELECT quarter FROM outcome_marks WHERE shop_id = $1 AND quarter >= $2 AND quarter < $3")
        .bind(shop_id).bind(start.div_euclid(QUARTER_MS)).bind(end.div_euclid(QUARTER_MS) + 1).fetch_all(c).await)?;
    let marked: BTreeSet<NaiveDate> = marks.iter().flat_map(|q| days_of_quarter(tz, *q)).collect();

    let mut fresh: HashMap<NaiveDate, Facts> = HashMap::new();
    for (day, row_zone, row_cod, stored) in rows {
        let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else { continue };
        if row_zone != zone || row_cod != cod_only || marked.contains(&day) {
            continue;
        }
        // A row that does not read (a format from another version) is computed again.
        if let Some(f) = stored.and_then(|s| serde_json::from_str::<Facts>(&s).ok()).filter(|f| f.v == Facts::VERSION) {
            fresh.insert(day, f);
        }
    }
    let stale: Vec<NaiveDate> = days.iter().copied().filter(|d| !fresh.contains_key(d)).collect();

    if !stale.is_empty() {
        let token = new_id();
        let mut tx = db.begin().await?;
        for d in &stale {
            let (ds, de) = span(*d);
            on_tx!(tx, exec c => sqlx::query(
                "INSERT INTO outcome_days (shop_id, day, zone, cod_only, facts, token) VALUES ($1, $2, $3, $4, NULL, $5) \
                 ON CONFLICT (shop_id, day) DO UPDATE SET zone = excluded.zone, cod_only = excluded.cod_only, facts = NULL, token = excluded.token")
                .bind(shop_id).bind(d.to_string()).bind(zone).bind(cod_only).bind(&token))?;
            // Only quarters wholly inside the day: a mark shared with a neighbour day stays for it.
            on_tx!(tx, exec c => sqlx::query("DELETE FROM outcome_marks WHERE shop_id = $1 AND quarter >= $2 AND quarter < $3")
                .bind(shop_id).bind((ds + QUARTER_MS - 1).div_euclid(QUARTER_MS)).bind(de.div_euclid(QUARTER_MS)))?;
        }
        tx.commit().await?;

        // A few days at a time: each is several queries, and the pool has the connections.
        let computed: Vec<(NaiveDate, Facts)> = futures::stream::iter(stale.iter().copied())
            .map(|d| async move {
                let (ds, de) = span(d);
                crate::db::outcomes::facts(db, shop_id, ds, de, cod_only).await.map(|f| (d, f))
            })
            .buffered(COMPUTE_AT_ONCE)
            .try_collect()
            .await?;

        let mut tx = db.begin().await?;
        for (d, f) in &computed {
            let json = serde_json::to_string(f).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            on_tx!(tx, exec c => sqlx::query("UPDATE outcome_days SET facts = $1, token = NULL WHERE shop_id = $2 AND day = $3 AND token = $4")
                .bind(json).bind(shop_id).bind(d.to_string()).bind(&token))?;
        }
        tx.commit().await?;
        fresh.extend(computed);
    }

    Ok(Facts::merge_all(days.iter().filter_map(|d| fresh.remove(d))))
}

/// Forgets the shop's cached days and marks (the shop's erasure).
pub async fn erase_shop(tx: &mut crate::db::Tx, shop_id: &str) -> Result<(), sqlx::Error> {
    on_tx!(tx, exec c => sqlx::query("DELETE FROM outcome_marks WHERE shop_id = $1").bind(shop_id))?;
    on_tx!(tx, exec c => sqlx::query("DELETE FROM outcome_days WHERE shop_id = $1").bind(shop_id))?;
    Ok(())
}
