//! A snapshot of everything the app stores, to show that a rejected request changed nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use codverify::on_db;
use sqlx::Row;

use super::TestApp;

/// The app's tables, then apalis' job table (counted as `jobs`).
const TABLES: &[&str] = &[
    "shops", "oauth_states", "webhooks", "orders", "order_events", "timers", "data_requests", "call_attempts",
    "exotel_rate", "sms_messages", "links", "missed_calls", "otps", "agent_calls", "address_corrections",
];

/// Every row of every table as text, sorted per table.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, Vec<String>>);

impl Snapshot {
    /// What differs from `other`, table by table (rows only in one of them); empty when equal.
    pub fn diff(&self, other: &Snapshot) -> String {
        let mut out = String::new();
        for (table, rows) in &self.0 {
            let theirs = other.0.get(table).cloned().unwrap_or_default();
            let gone: Vec<&String> = rows.iter().filter(|r| !theirs.contains(r)).collect();
            let new: Vec<&String> = theirs.iter().filter(|r| !rows.contains(r)).collect();
            if !gone.is_empty() || !new.is_empty() {
                let _ = writeln!(out, "{table}: {} → {} rows; before only: {gone:?}; after only: {new:?}", rows.len(), theirs.len());
            }
        }
        out
    }

    /// The same snapshot without some tables.
    pub fn without(&self, tables: &[&str]) -> Snapshot {
        Snapshot(self.0.iter().filter(|(t, _)| !tables.contains(&t.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// One column as text, by the first type that decodes it (the same for the same value).
macro_rules! cell_text {
    ($row:expr, $i:expr) => {{
        let (row, i) = ($row, $i);
        if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            format!("{v:?}")
        } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            format!("{v:?}")
        } else if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
            format!("{v:?}")
        } else if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
            format!("{v:?}")
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            format!("{v:?}")
        } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
            format!("{:?}", v.map(hex::encode))
        } else {
            "?".to_string()
        }
    }};
}

impl TestApp {
    /// Every stored row, and the number of jobs apalis holds.
    pub async fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        for table in TABLES {
            let sql = format!("SELECT * FROM {table}");
            let mut rows: Vec<String> = on_db!(&self.state.db, c => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(c).await.unwrap();
                rows.iter()
                    .map(|row| (0..row.len()).map(|i| cell_text!(row, i)).collect::<Vec<_>>().join("|"))
                    .collect()
            });
            rows.sort();
            out.insert(table.to_string(), rows);
        }
        let jobs = match &self.state.db {
            codverify::db::Db::Sqlite(_) => "SELECT COUNT(*) FROM Jobs",
            codverify::db::Db::Postgres(_) => "SELECT COUNT(*) FROM apalis.jobs",
        };
        out.insert("jobs".into(), vec![self.count(jobs).await.to_string()]);
        Snapshot(out)
    }

    /// Waits for the background work to settle, then snapshots.
    pub async fn settled_snapshot(&self) -> Snapshot {
        self.settle().await;
        self.snapshot().await
    }
}
