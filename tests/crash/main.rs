//! Resilience suite, part 1: crash tests and scale-out, against the real binary.
//!
//! ```text
//! cargo nextest run --test crash                                  # short: 6 kills per database, one scale-out round
//! CRASH_KILLS=50 cargo nextest run --test crash --success-output immediate   # the full run, with its figures
//! ```
//!
//! - `kill9::{sqlite,postgres}` — one process (`RUN_MODE=all`, `TEST_CLOCK=1`) on a fresh database,
//!   a stream of signed `orders/create` webhooks for three shops (two verifying by IVR, one by
//!   the plan [whatsapp, ivr]), a fake Exotel whose calls the test answers as shoppers would (key
//!   1 or 2 through the passthru, or no answer / busy so that retries happen) and whose WhatsApp
//!   messages it answers (a delivery report, and for some a confirm / cancel button) and a
//!   stateful fake Shopify; the process is killed with SIGKILL `CRASH_KILLS` times (default 6) at
//!   random moments aimed at each phase in turn — webhook intake, a Calls/connect in flight (the
//!   fake answers slowly), a WhatsApp send in flight (the same), a tagsAdd/orderCancel in flight
//!   (slow GraphQL), a settings save in flight (slow Exotel account check), anywhere —
//!   and started again on the same database. At the end everything settles and the invariants
//!   are checked (see `world::check_invariants`).
//! - `scale_out::postgres` — web, worker and all on one PostgreSQL database (see `scale.rs`).
//!
//! PostgreSQL: `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); a
//! fresh database per test. Unreachable: the PostgreSQL tests print SKIPPED and pass, unless
//! `REQUIRE_POSTGRES=1`. `CRASH_SEED` replays a run's random kill moments (printed at its start);
//! the app's logs stay in `target/tmp/crash-*`.

#[path = "../it/common/fake_exotel.rs"]
mod fake_exotel;
#[path = "../it/common/fake_whatsapp.rs"]
mod fake_whatsapp;
#[path = "../it/common/pg.rs"]
mod pg;

mod crash;
mod fake_shop;
mod harness;
mod proxy;
mod scale;
mod world;

pub const API_KEY: &str = "crash-api-key";
pub const API_SECRET: &str = "crash-api-secret";

mod kill9 {
    use crate::harness::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        crate::crash::run(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::crash::run(Backend::Postgres).await
    }
}

mod scale_out {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::scale::run().await
    }
}
