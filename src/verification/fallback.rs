//! The plan's SMS steps (SPEC §3 "Fallback", §8): an SMS with a confirmation link (`sms_link`) or
//! one asking for a missed call (`sms_missed_call`), queued by the plan runner for each contact of
//! the step. The customer answers through the link (`link`) or a missed call (`missed_call`); the
//! SMS themselves go out through `sms`.

use crate::app::App;
use crate::crypto::{random_token, sha256_hex};
use crate::db::{Tx, links};
use crate::settings::{Encoding, Fallback, Step};
use super::sms::{NewSms, OrderInfo, is_gsm7, queue_sms, render};

/// Queues SMS `n` of an SMS step for the order, going now.
#[allow(clippy::too_many_arguments)]
pub async fn queue_plan_sms(app: &App, tx: &mut Tx, o: &OrderInfo, fb: &Fallback, step: Step, account: &str, n: i64, now: i64) -> anyhow::Result<()> {
    let ((kind, body), secret_body, dlt, sent_text) = if step == Step::SmsLink {
        let token = random_token(18);
        let expires = now + fb.link_expiry_hours.clamp(1, 72) * 3600 * 1000;
        links::insert(tx, &sha256_hex(token.as_bytes()), &o.shop_id, &o.id, expires, now).await?;
        let link = format!("{}/v/{token}", app.config.app_url);
        // The link works for whoever holds it: the reports show it masked, the SMS carries it.
        let shown = format!("{}/v/{}", app.config.app_url, "*".repeat(8));
        let secret = render(&fb.link_template, o, Some(&link), None);
        (("link", render(&fb.link_template, o, Some(&shown), None)), Some(app.cipher.encrypt(&secret)), &fb.dlt_template_id, secret)
    } else {
        let body = render(&fb.missed_call_template, o, None, Some(&fb.missed_call_exophone));
        (("missed_call", body.clone()), None, &fb.missed_call_dlt_template_id, body)
    };
    let unicode = fb.encoding == Encoding::Unicode || !is_gsm7(&sent_text);
    let sms = NewSms {
        shop_id: &o.shop_id,
        order_id: Some(&o.id),
        kind,
        seq: n,
        account,
        to: o.phone.as_deref(),
        body: &body,
        secret_body,
        unicode,
        dlt_template_id: dlt,
    };
    queue_sms(app, tx, sms, now).await
}

