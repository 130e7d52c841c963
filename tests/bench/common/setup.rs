//! How a bench starts: its arguments, which databases it runs on, and its settings from the
//! environment.

use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The bench's arguments without the flags, or `None` when it must not run: `cargo nextest run
/// --all-targets` lists every target's tests (`--list`: a bench has none), and `cargo test
/// --all-targets` runs benches without the `--bench` that `cargo bench` passes.
pub(crate) fn bench_args(bench: &str, usage: &str) -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return None;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("{bench} bench: skipped (run `{usage}`)");
        return None;
    }
    Some(args.into_iter().filter(|a| !a.starts_with('-')).collect())
}

/// The databases named in `args`, both when none is. Every other argument goes to `other`, which
/// says whether it is one of the bench's own; at the first that is not, it says so (`expected`
/// lists what is) and returns `None`.
pub(crate) fn backends(bench: &str, args: &[String], expected: &str, mut other: impl FnMut(&str) -> bool) -> Option<Vec<Backend>> {
    let mut backends = Vec::new();
    for a in args {
        match a.as_str() {
            "sqlite" => backends.push(Backend::Sqlite),
            "postgres" | "postgresql" => backends.push(Backend::Postgres),
            own if other(own) => {}
            unknown => {
                eprintln!("{bench} bench: unknown argument {unknown:?}; expected {expected}");
                return None;
            }
        }
    }
    if backends.is_empty() {
        backends = vec![Backend::Sqlite, Backend::Postgres];
    }
    Some(backends)
}

/// The app binary under test: `$BENCH_BIN`, else `target/release/codverify` (benches build nothing).
pub(crate) fn release_bin() -> PathBuf {
    std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/codverify"))
}

/// Says so (and returns false) when the binary under test is not there.
pub(crate) fn bin_present(bench: &str, bin: &Path) -> bool {
    let present = bin.is_file();
    if !present {
        eprintln!("{bench} bench: {} not found; build it first: cargo build --release", bin.display());
    }
    present
}

/// The PostgreSQL server a run creates its fresh database on: `$BENCH_DATABASE_URL`, else the local
/// one.
pub(crate) fn pg_admin_url() -> String {
    std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub(crate) fn env_num<T: std::str::FromStr>(var: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| anyhow::anyhow!("{var} must be a number, not {v:?}")),
        _ => Ok(default),
    }
}

pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
