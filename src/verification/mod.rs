//! Verifying an order with the shopper. Intake lives here; the IVR, fallback and OTP steps build on
//! `start`.

pub mod intake;

use crate::{App, on_db};

/// The job enqueued with every `pending` order. It records that verification began; the Exotel
/// steps (IVR issue) hang off this point.
pub async fn start(app: &App, order_id: &str) -> anyhow::Result<()> {
    let row: Option<(String, String)> = on_db!(&app.db, c => sqlx::query_as(
        "SELECT o.shop_id, o.status FROM orders o JOIN shops s ON s.id = o.shop_id \
         WHERE o.id = $1 AND s.status = 'installed'").bind(order_id).fetch_optional(c).await)?;
    let Some((shop_id, status)) = row else { return Ok(()) };
    if status != "pending" {
        return Ok(());
    }
    // A fixed id makes a re-run of this job add nothing.
    let event_id = format!("{order_id}-verification-started");
    on_db!(&app.db, c => sqlx::query(
        "INSERT INTO order_events (id, shop_id, order_id, kind, detail, at) VALUES ($1, $2, $3, 'verification_started', \
         'waiting for the verification method to run', $4) ON CONFLICT (id) DO NOTHING")
        .bind(event_id).bind(&shop_id).bind(order_id).bind(app.clock.now_ms()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
