//! Fresh PostgreSQL databases for tests, shared by the black-box suite and the crash tests.

pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database for one test, or `None` (with a note) when PostgreSQL is not
/// reachable and `REQUIRE_POSTGRES` is not set. CI sets it, so there a skip is a failure.
pub async fn fresh_pg_database() -> Option<String> {
    use sqlx::Connection;
    let admin = pg_admin_url();
    let conn = sqlx::PgConnection::connect(&admin).await;
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_POSTGRES=1 but PostgreSQL at {admin} is unreachable: {e}");
            }
            println!("SKIPPED: PostgreSQL unreachable at {admin} ({e}); set TEST_DATABASE_URL to run this test on PostgreSQL");
            return None;
        }
    };
    let now = chrono::Utc::now().timestamp();
    // Databases of earlier runs that are over an hour old are dropped; a running test's are not.
    let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'cv_test_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    for name in old {
        let ts: i64 = name.split('_').nth(2).and_then(|t| t.parse().ok()).unwrap_or(now);
        if now - ts > 3600 {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await;
        }
    }
    let name = format!("cv_test_{now}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create test database");
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

#[allow(dead_code)] // the crash tests drop theirs; the black-box suite's are dropped after an hour
pub async fn drop_pg_database(url: &str) {
    use sqlx::Connection;
    let name = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_string();
    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut conn).await;
    }
}
