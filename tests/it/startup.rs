//! Start-up refusals (SPEC §11), through the built binary: demo mode never serves a real shop, the
//! test clock stays on loopback, and real shops get an https `APP_URL`. Each refusal exits 2 with
//! a message naming its cause; each has a positive control that starts.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use tokio::process::Command;

const KEY_B64: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn command(vars: &[(&str, &str)], log: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codverify"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("RUST_LOG", "info,sqlx=warn").env("NO_COLOR", "1");
    cmd.envs(vars.iter().copied()).stdin(Stdio::null()).kill_on_drop(true);
    match log {
        Some(path) => {
            let out = std::fs::File::create(path).unwrap();
            cmd.stderr(out.try_clone().unwrap()).stdout(out);
        }
        None => {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
    }
    cmd
}

/// Runs the binary and expects exit code 2; returns what it wrote on stderr.
async fn refused(vars: &[(&str, &str)]) -> String {
    let out = tokio::time::timeout(Duration::from_secs(60), command(vars, None).output()).await.expect("exits in time").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{vars:?}: stderr {stderr}\nstdout {}", String::from_utf8_lossy(&out.stdout));
    stderr
}

/// Starts the binary, waits until it logs its port and answers `/healthz`, then stops it.
async fn starts(vars: &[(&str, &str)], dir: &Path) {
    let log = dir.join(format!("start-{}.log", uuid::Uuid::new_v4()));
    let mut child = command(vars, Some(&log)).spawn().unwrap();
    // reqwest is built without a crypto provider of its own (as in the app).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{vars:?}: exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let port = text
            .lines()
            .find(|l| l.contains("codverify started"))
            .and_then(|l| l.split("port=").nth(1))
            .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u16>().ok());
        if let Some(port) = port {
            let r = http.get(format!("http://127.0.0.1:{port}/healthz")).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                child.kill().await.unwrap();
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{vars:?}: not ready after 60 s: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}/{name}", dir.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_starts_only_where_it_cannot_serve_a_real_shop() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path(), "demo.db");
    let demo = [("DATABASE_URL", db.as_str()), ("BIND_ADDR", "127.0.0.1:0")];

    // Positive controls: a fresh SQLite file on loopback, and again once it holds the demo shop.
    starts(&demo, dir.path()).await;
    starts(&demo, dir.path()).await;

    let e = refused(&[("DATABASE_URL", db.as_str()), ("BIND_ADDR", "0.0.0.0:0")]).await;
    assert!(e.contains("BIND_ADDR") && e.contains("loopback") && e.contains("SHOPIFY_API_KEY"), "{e}");
    let e = refused(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"), ("BIND_ADDR", "127.0.0.1:0")]).await;
    assert!(e.contains("DATABASE_URL") && e.contains("SQLite"), "{e}");
    let e = refused(&[demo[0], demo[1], ("APP_ENCRYPTION_KEY", KEY_B64)]).await;
    assert!(e.contains("APP_ENCRYPTION_KEY") && e.contains("SHOPIFY_API_KEY"), "{e}");

    // The database holds a real shop (a deployment that lost its credentials): refused.
    {
        let pool = codverify::db::Db::connect(&db).await.unwrap();
        pool.migrate().await.unwrap();
        codverify::on_db!(&pool, c => sqlx::query(
            "INSERT INTO shops (id, domain, status, exotel_key, created_at, updated_at) VALUES ('r', 'real-shop.myshopify.com', 'installed', 'k', 0, 0)")
            .execute(c).await.map(|_| ())).unwrap();
        pool.close().await;
    }
    let e = refused(&demo).await;
    assert!(e.contains("DATABASE_URL") && e.contains("real-shop.myshopify.com") && e.contains("demo"), "{e}");

    // The same database with the Shopify credentials serves its shops.
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let real: HashMap<&str, &str> = [("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", "s"), ("APP_ENCRYPTION_KEY", key.as_str())].into_iter().collect();
    let with_real = |extra: &[(&'static str, &str)]| -> Vec<(&str, String)> {
        real.iter().map(|(k, v)| (*k, v.to_string())).chain(extra.iter().map(|(k, v)| (*k, v.to_string()))).collect()
    };
    let vars = with_real(&[demo[0], demo[1]]);
    starts(&vars.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_clock_on_loopback_and_https_app_url_for_real_shops() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path(), "real.db");
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    let base = [("DATABASE_URL", db.as_str()), ("SHOPIFY_API_KEY", "k"), ("SHOPIFY_API_SECRET", "s"), ("APP_ENCRYPTION_KEY", key.as_str())];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> { base.iter().copied().chain(extra.iter().copied()).collect() };

    let e = refused(&with(&[("TEST_CLOCK", "1"), ("BIND_ADDR", "0.0.0.0:0"), ("APP_URL", "https://codverify.test")])).await;
    assert!(e.contains("TEST_CLOCK") && e.contains("loopback"), "{e}");
    starts(&with(&[("TEST_CLOCK", "1"), ("BIND_ADDR", "127.0.0.1:0"), ("APP_URL", "http://codverify.test")]), dir.path()).await;

    let e = refused(&with(&[("BIND_ADDR", "127.0.0.1:0"), ("APP_URL", "http://codverify.example.com")])).await;
    assert!(e.contains("APP_URL") && e.contains("https"), "{e}");
    starts(&with(&[("BIND_ADDR", "127.0.0.1:0"), ("APP_URL", "https://codverify.example.com")]), dir.path()).await;
    starts(&with(&[("BIND_ADDR", "127.0.0.1:0"), ("APP_URL", "http://localhost:8080")]), dir.path()).await;
}
