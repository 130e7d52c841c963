//! Customer phone numbers (and data-request reports) written before encryption at rest (migration
//! 20261123000020) are encrypted at start-up, so an upgraded database keeps none in the clear.

use crate::crypto::Cipher;
use crate::db::Db;
use crate::on_db;

/// (table, encrypted column, its lookup-hash column). Every table is keyed by `id`.
const SEALED: [(&str, &str, Option<&str>); 7] = [
    ("orders", "phone_enc", Some("phone_hash")),
    ("sms_messages", "to_phone_enc", Some("to_phone_hash")),
    ("missed_calls", "phone_enc", Some("phone_hash")),
    ("agent_calls", "agent_phone_enc", Some("agent_phone_hash")),
    ("agent_calls", "customer_phone_enc", Some("customer_phone_hash")),
    ("data_requests", "customer_phone_enc", None),
    ("data_requests", "report_enc", None),
];

/// Encrypts every value still in the clear; returns how many. Safe with several processes
/// starting at once: each row is rewritten only if it still holds the value that was read.
pub async fn seal_legacy(db: &Db, cipher: &Cipher) -> anyhow::Result<u64> {
    let mut sealed = 0;
    for (table, column, hash) in SEALED {
        let select = format!(
            "SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> '' AND {column} NOT LIKE 'v1:%' LIMIT 500"
        );
        // Only stored E.164 numbers were ever looked up; the others get no hash.
        let update = match hash {
            Some(h) => format!("UPDATE {table} SET {column} = $1, {h} = CASE WHEN $2 LIKE '+%' THEN $3 END WHERE id = $4 AND {column} = $2"),
            None => format!("UPDATE {table} SET {column} = $1 WHERE id = $3 AND {column} = $2"),
        };
        loop {
            let rows: Vec<(String, String)> =
                on_db!(db, c => sqlx::query_as(sqlx::AssertSqlSafe(select.clone())).fetch_all(c).await)?;
            if rows.is_empty() {
                break;
            }
            for (id, clear) in rows {
                let n = on_db!(db, c => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(update.clone())).bind(cipher.encrypt(&clear)).bind(clear.clone());
                    if hash.is_some() {
                        q = q.bind(cipher.phone_index(&clear));
                    }
                    q.bind(&id).execute(c).await.map(|r| r.rows_affected())
                })?;
                sealed += n;
            }
        }
    }
    if sealed > 0 {
        tracing::info!(values = sealed, "customer data stored before encryption at rest is now encrypted");
    }
    Ok(sealed)
}
