//! Rate budgets (`exotel_rate`): one GCRA row per Exotel account and API, shared by every process.

use crate::db::Tx;
use crate::on_tx;

/// Burst tolerance of the rate limiter: it absorbs the dialer's wake-up jitter.
pub const BURST_MS: i64 = 500;

/// Takes one request from a budget (an account's API), or says how long until it has one.
pub async fn take_budget(tx: &mut Tx, budget: &str, interval_ms: i64, wall: i64) -> anyhow::Result<Result<(), i64>> {
    on_tx!(tx, exec c => sqlx::query("INSERT INTO exotel_rate (account_sid, tat) VALUES ($1, 0) ON CONFLICT (account_sid) DO NOTHING")
        .bind(budget))?;
    let taken = on_tx!(tx, exec c => sqlx::query(
        "UPDATE exotel_rate SET tat = (CASE WHEN tat > $2 THEN tat ELSE $2 END) + $3 WHERE account_sid = $1 AND tat - $2 <= $4")
        .bind(budget).bind(wall).bind(interval_ms).bind(BURST_MS))?;
    if taken == 1 {
        return Ok(Ok(()));
    }
    let tat: i64 = on_tx!(tx, c => sqlx::query_scalar("SELECT tat FROM exotel_rate WHERE account_sid = $1").bind(budget).fetch_one(c).await)?;
    Ok(Err((tat - wall - BURST_MS).max(1)))
}
