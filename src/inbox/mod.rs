//! The webhook job: what each stored Shopify delivery does (intake, cancellation, uninstall, the
//! privacy topics, shipping outcomes in [`shipping`]), and the deliveries that act before their
//! 200 ([`ActNow`]).

pub mod shipping;

use futures::future::BoxFuture;

use crate::app::App;
use crate::crypto::Cipher;
use crate::db::{Tx, shops};
use crate::db::inbox::{self, Immediate, ImmediateEffects, NewWebhook};
use crate::{compliance, verification};

/// What `app/uninstalled` and `orders/cancelled` do in the writer's transaction, before their 200
/// (SPEC §11): once Shopify says the app is gone or the order is cancelled, nothing due meanwhile
/// may still go out.
pub struct ActNow {
    pub cipher: Cipher,
}

impl ImmediateEffects for ActNow {
    fn act<'a>(&'a self, tx: &'a mut Tx, hook: &'a NewWebhook, what: &'a Immediate, now: i64) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            match what {
                Immediate::Uninstall => uninstalled(tx, &hook.shop_domain, delivered_at(hook.triggered_at.as_deref(), hook.received_at), now).await,
                Immediate::CancelOrder(body) => {
                    let at = delivered_at(hook.triggered_at.as_deref(), hook.received_at);
                    cancelled(&self.cipher, tx, &hook.shop_domain, body, at, now).await
                }
            }
        })
    }
}

/// The job: acts on each stored delivery of a batch, in order. Every delivery is done (or skipped
/// as already done) on its own, so a re-run after a failure repeats nothing.
pub async fn process_all(app: &App, ids: &[String]) -> anyhow::Result<()> {
    let mut first_error = None;
    for id in ids {
        if let Err(e) = process(app, id).await {
            tracing::warn!(webhook = %id, error = %e, "webhook processing failed");
            first_error.get_or_insert(e);
        }
    }
    // New orders may have queued calls that are due now.
    verification::dialer::wake();
    first_error.map_or(Ok(()), Err)
}

/// Acts on one stored delivery, once. The effect and the "processed" mark commit together.
async fn process(app: &App, id: &str) -> anyhow::Result<()> {
    let Some(hook) = inbox::load(&app.db, id).await? else { return Ok(()) };
    if hook.processed_at.is_some() {
        return Ok(());
    }
    // Deliveries stored before encryption at rest kept their body in the clear.
    let text = match &hook.body_enc {
        Some(sealed) => inbox::open_body(&app.cipher, sealed)?,
        None => hook.body.clone(),
    };
    let mut body: serde_json::Value = serde_json::from_str(&text)?;
    // PostgreSQL text cannot hold NUL; a `\u0000` in a customer's note or name is dropped.
    inbox::strip_nul(&mut body);
    let mut tx = app.db.begin().await?;
    let now = app.clock.now_ms();
    let delivered = delivered_at(hook.triggered_at.as_deref(), hook.received_at);
    let outcome = match hook.topic.as_str() {
        "orders/create" => verification::intake::take_order(app, &mut tx, &hook.shop_domain, &body).await?,
        "orders/cancelled" => cancelled(&app.cipher, &mut tx, &hook.shop_domain, &body, delivered, now).await?,
        "fulfillment_events/create" => shipping::fulfillment_event(&mut tx, &hook.shop_domain, &body, delivered).await?,
        "fulfillments/update" => shipping::fulfillment_update(&mut tx, &hook.shop_domain, &body, delivered).await?,
        "app/uninstalled" => uninstalled(&mut tx, &hook.shop_domain, delivered, now).await?,
        "customers/data_request" => compliance::data_request(&mut tx, &app.cipher, &hook.shop_domain, &body, now).await?,
        "customers/redact" => compliance::customer_redact(&mut tx, &app.cipher, &hook.shop_domain, &body, now).await?,
        "shop/redact" => compliance::shop_redact(&mut tx, &hook.shop_domain).await?,
        other => format!("ignored: topic {other}"),
    };
    inbox::mark_processed(&mut tx, id, &outcome, now).await?;
    tx.commit().await?;
    tracing::info!(topic = %hook.topic, shop = %hook.shop_domain, %outcome, "webhook processed");
    Ok(())
}

/// `orders/cancelled`: verification stops, and a cancellation after shipping is the order's outcome.
/// `at`: when the delivery happened, for a body without `cancelled_at`.
async fn cancelled(cipher: &Cipher, tx: &mut Tx, shop_domain: &str, body: &serde_json::Value, at: i64, now: i64) -> anyhow::Result<String> {
    let verification = verification::intake::order_cancelled(cipher, tx, shop_domain, body, now).await?;
    // Not an order, or an unknown shop: nothing for the outcome either.
    if verification.starts_with("ignored") {
        return Ok(verification);
    }
    let shipping = shipping::order_cancelled(tx, shop_domain, body, at).await?;
    Ok(format!("{verification}; {shipping}"))
}

/// When a delivery happened: when Shopify says it was triggered (a retry arrives hours later), or
/// when it arrived, whichever is earlier.
fn delivered_at(triggered_at: Option<&str>, received_at: i64) -> i64 {
    triggered_at
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(received_at, |t| t.timestamp_millis().min(received_at))
}

/// Stops the shop's pending work at once and forgets its token. Idempotent, and harmless when the
/// delivery is older than a re-install that followed it.
async fn uninstalled(tx: &mut Tx, shop_domain: &str, delivered_at: i64, now: i64) -> anyhow::Result<String> {
    let Some((shop_id, installed_at)) = shops::id_and_installed_at(tx, shop_domain).await? else {
        return Ok("ignored: unknown shop".into());
    };
    if installed_at.is_some_and(|at| at > delivered_at) {
        return Ok("ignored: the shop re-installed after this delivery".into());
    }
    shops::mark_uninstalled(tx, &shop_id, now).await?;
    let stopped = crate::verification::stop_pending(tx, &shop_id, None, now).await?;
    Ok(format!("uninstalled; {stopped} scheduled calls and jobs stopped"))
}

#[cfg(test)]
mod tests {
    use super::delivered_at;

    #[test]
    fn a_delivery_dates_from_its_trigger_when_earlier() {
        let received = 1_764_950_400_000; // 2025-12-05T16:00:00Z
        assert_eq!(delivered_at(Some("2025-12-05T15:59:00.877041743Z"), received), received - 59_123);
        assert_eq!(delivered_at(Some("2025-12-05T16:00:30Z"), received), received, "a clock ahead of ours changes nothing");
        assert_eq!(delivered_at(Some("yesterday"), received), received);
        assert_eq!(delivered_at(None, received), received);
    }
}
