//! Missed calls (SPEC §3 "Fallback", missed-call mode): a call from the order's number to the
//! fallback ExoPhone confirms the shopper's latest pending orders.

use super::dialer;
use crate::db::missed_calls::{self, NewMissedCall};
use crate::db::orders;
use crate::domain::{OrderStatus, Phone, SmsKind, mask};
use crate::settings::{Encoding, FallbackMode, MissedCallScope, Settings};
use crate::app::App;
use super::sms::{NewSms, is_gsm7, load_order_tx, queue_sms, render};

/// Repeated missed calls from one number within this window count once.
const MISSED_CALL_REPEAT_MS: i64 = 5 * 60 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// What a missed call did.
#[derive(Debug, PartialEq)]
pub enum Missed {
    Confirmed(Vec<String>),
    Repeat,
    NothingPending,
    NotInUse,
    InvalidNumber,
}

/// A missed call to the shop's ExoPhone: confirms the caller's latest order that takes an answer
/// (pending, or ended `no_response`: a late answer) — or the latest three of the last 30 days —,
/// sends the confirmation SMS, and counts repeats within 5 minutes once.
pub async fn missed_call(app: &App, shop_id: &str, call_from: &str, call_sid: Option<&str>) -> anyhow::Result<Missed> {
    let shop = crate::db::shops::find(&app.db, shop_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let settings = Settings::from_stored(&shop.settings);
    let fb = &settings.fallback;
    let now = app.clock.now_ms();
    let phone = Phone::parse(call_from, &settings.general.default_country).ok();
    let mut tx = app.db.begin().await?;
    let outcome = match &phone {
        None => Missed::InvalidNumber,
        Some(_) if fb.mode != FallbackMode::SmsMissedCall => Missed::NotInUse,
        Some(p) => {
            let recent = missed_calls::counted_since(&mut tx, shop_id, &app.cipher.phone_index(p.e164()), now - MISSED_CALL_REPEAT_MS).await?;
            if recent > 0 {
                Missed::Repeat
            } else {
                let latest_3 = fb.missed_call_scope == MissedCallScope::Latest3In30Days;
                let (limit, since) = if latest_3 { (3i64, now - 30 * DAY_MS) } else { (1, i64::MIN) };
                let pending = orders::answerable_by_phone(&mut tx, shop_id, &app.cipher.phone_index(p.e164()), since, limit).await?;
                let reason = format!("confirmed by a missed call from {}", p.masked());
                let mut names = Vec::new();
                for (order_id, name) in &pending {
                    if super::answer(&mut tx, shop_id, order_id, OrderStatus::Confirmed, &reason, &[&fb.confirm_tag], false, now).await? {
                        names.push(name.clone());
                    }
                }
                if let Some((latest, _)) = pending.first().filter(|_| !names.is_empty()) {
                    let o = load_order_tx(app, &mut tx, latest).await?.expect("the order was just read");
                    let body = render(&fb.confirmation_template, &o, None, Some(&fb.missed_call_exophone));
                    let sms = NewSms {
                        shop_id,
                        order_id: Some(latest),
                        kind: SmsKind::Confirmation.as_str(),
                        seq: 1,
                        account: &settings.general.account_sid,
                        to: Some(p.e164()),
                        body: &body,
                        secret_body: None,
                        unicode: fb.encoding == Encoding::Unicode || !is_gsm7(&body),
                        dlt_template_id: &fb.confirmation_dlt_template_id,
                    };
                    queue_sms(app, &mut tx, sms, now).await?;
                }
                if names.is_empty() { Missed::NothingPending } else { Missed::Confirmed(names) }
            }
        }
    };
    let (label, orders) = match &outcome {
        Missed::Confirmed(names) => ("counted", names.join(", ")),
        Missed::Repeat => ("repeat", String::new()),
        Missed::NothingPending => ("nothing_pending", String::new()),
        Missed::NotInUse => ("not_in_use", String::new()),
        Missed::InvalidNumber => ("invalid_number", String::new()),
    };
    let call = NewMissedCall {
        shop_id,
        call_sid,
        call_from_masked: mask(call_from),
        phone_enc: phone.as_ref().map(|p| app.cipher.encrypt(p.e164())),
        phone_hash: phone.as_ref().map(|p| app.cipher.phone_index(p.e164())),
        outcome: label,
        orders,
    };
    missed_calls::insert(&mut tx, call, now).await?;
    tx.commit().await?;
    dialer::wake();
    Ok(outcome)
}
