//! OTP verification (SPEC §3 "OTP by SMS"): at intake an OTP goes out by SMS; the shopper types it
//! on the post-purchase / thank-you page (the extensions), which call the API in `web/otp_api.rs`.
//!
//! The code is stored only as a keyed hash of (order, version, code) and compared in constant time.
//! Every change is one conditional UPDATE, so concurrent requests can neither both win nor spend
//! more attempts than allowed.

use rand::Rng;
use serde::Serialize;

use super::sms::{self, NewSms, OrderInfo, is_gsm7};
use crate::crypto::{ct_eq, hmac_sha256};
use crate::db::events::add_event;
use crate::db::{Tx, otps};
use crate::domain::{OrderStatus, SmsKind};
use crate::settings::{Encoding, Otp, Settings};
use crate::app::App;

/// How long an OTP stays valid (the page says so).
pub const TTL_MS: i64 = 15 * 60 * 1000;
pub const INCORRECT_TAG: &str = "incorrect_otp_limit_reached";
pub const RESEND_TAG: &str = "resend_otp_limit_reached";
const DIGITS: usize = 6;

pub use crate::db::otps::OtpRow;

fn code_hash(app: &App, order_id: &str, version: i64, code: &str) -> String {
    // A key of its own, derived from the app's encryption key.
    let key = hmac_sha256(app.config.key_bytes(), b"codverify otp hash");
    hex::encode(hmac_sha256(&key, format!("{order_id}:{version}:{code}").as_bytes()))
}

fn new_code() -> String {
    format!("{:0width$}", rand::rng().random_range(0..10u32.pow(DIGITS as u32)), width = DIGITS)
}

/// Sends the order's first OTP (`expected_version` None), or a new one replacing version
/// `expected_version` (a resend: the old code stops working). Returns false when nothing was sent
/// (already issued, or the resend lost a race or is not allowed).
pub async fn issue(app: &App, tx: &mut Tx, o: &OrderInfo, settings: &Settings, expected_version: Option<i64>, now: i64) -> anyhow::Result<bool> {
    let otp = &settings.otp;
    let code = new_code();
    let version = expected_version.map_or(1, |v| v + 1);
    let hash = code_hash(app, &o.id, version, &code);
    let n = match expected_version {
        None => otps::insert_first(tx, &o.id, &o.shop_id, &hash, now, now + TTL_MS).await?,
        Some(v) => {
            let issued_by = now - otp.resend_after_seconds * 1000;
            otps::replace_code(tx, &o.id, v, &hash, version, now, now + TTL_MS, otp.resends, issued_by).await?
        }
    };
    if n == 0 {
        return Ok(false);
    }
    let text = sms::render(&otp.template, o, None, None);
    let sms = NewSms {
        shop_id: &o.shop_id,
        order_id: Some(&o.id),
        kind: SmsKind::Otp.as_str(),
        seq: version,
        account: &settings.general.account_sid,
        to: o.phone.as_deref(),
        body: &text.replace("%otp%", &"*".repeat(DIGITS)),
        secret_body: Some(app.cipher.encrypt(&text.replace("%otp%", &code))),
        unicode: otp.encoding == Encoding::Unicode || !is_gsm7(&text),
        dlt_template_id: &otp.dlt_template_id,
    };
    sms::queue_sms(app, tx, sms, now).await?;
    let detail = if version == 1 { "OTP sent by SMS".to_string() } else { format!("OTP resent by SMS ({} of {})", version - 1, otp.resends) };
    add_event(tx, &o.shop_id, &o.id, "otp_sent", &detail, now).await?;
    Ok(true)
}

/// What the extension shows, and what the shopper can do next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    /// pending | verified | locked | expired | not_required
    pub state: &'static str,
    pub attempts_left: i64,
    pub resends_left: i64,
    pub resend_in_seconds: i64,
    pub expires_in_seconds: i64,
    /// Digits in a code, so the page can check the input exactly.
    pub otp_length: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
}

/// Wrong entries allowed before the lock (0 in the settings still means the first wrong one locks).
fn attempts_allowed(otp: &Otp) -> i64 {
    otp.incorrect_attempts.max(1)
}

/// The pure rule: where an order's OTP stands at `now`.
pub fn view(row: Option<&OtpRow>, order_status: &str, otp: &Otp, now: i64) -> View {
    let secs = |ms: i64| (ms.max(0) + 999) / 1000;
    let mut v = View {
        state: "not_required",
        attempts_left: 0,
        resends_left: 0,
        resend_in_seconds: 0,
        expires_in_seconds: 0,
        otp_length: DIGITS,
        message: "No OTP is needed for this order.".into(),
        result: None,
    };
    let Some(r) = row else { return v };
    v.attempts_left = (attempts_allowed(otp) - r.wrong_count).max(0);
    v.resends_left = (otp.resends - r.resends_used).max(0);
    if r.verified_at.is_some() {
        v.state = "verified";
        v.message = "Your order is confirmed. Thank you!".into();
    } else if r.locked_at.is_some() {
        v.state = "locked";
        v.attempts_left = 0;
        v.resends_left = 0;
        v.message = "Too many incorrect OTPs: this OTP can no longer be used. Your order is still placed; the shop may call you to confirm it.".into();
    } else if order_status != OrderStatus::Pending {
        v.message = "This order needs no OTP any more.".into();
    } else {
        v.resend_in_seconds = if v.resends_left > 0 { secs(r.issued_at + otp.resend_after_seconds * 1000 - now) } else { 0 };
        if now > r.expires_at {
            v.state = "expired";
            v.message = if v.resends_left > 0 {
                "Your OTP has expired. Tap Resend to get a new one.".into()
            } else {
                "Your OTP has expired.".into()
            };
        } else {
            v.state = "pending";
            v.expires_in_seconds = secs(r.expires_at - now);
            v.message = format!(
                "Enter the {DIGITS}-digit OTP we sent by SMS to confirm your order. It is valid for {} more minute(s).",
                (v.expires_in_seconds + 59) / 60
            );
        }
    }
    v
}

async fn load(app: &App, order_id: &str) -> anyhow::Result<Option<OtpRow>> {
    Ok(otps::of_order(&app.db, order_id).await?)
}

/// The OTP view of an order (already known to belong to the caller's shop).
pub async fn status(app: &App, o: &OrderInfo) -> anyhow::Result<View> {
    let settings = o.settings();
    Ok(view(load(app, &o.id).await?.as_ref(), &o.status, &settings.otp, app.clock.now_ms()))
}

fn with_result(mut v: View, result: &'static str) -> View {
    v.result = Some(result);
    v
}

/// Checks a typed code: right → the order is confirmed with the OTP tag; wrong → one attempt spent,
/// and the last one locks OTP entry (`incorrect_otp_limit_reached`; the order stays pending).
pub async fn verify(app: &App, o: &OrderInfo, typed: &str) -> anyhow::Result<View> {
    let settings = o.settings();
    let now = app.clock.now_ms();
    let row = load(app, &o.id).await?;
    let before = view(row.as_ref(), &o.status, &settings.otp, now);
    let Some(r) = row.filter(|_| before.state == "pending") else {
        let result = match before.state {
            "verified" => "verified",
            "locked" => "locked",
            "expired" => "expired",
            _ => "not_required",
        };
        return Ok(with_result(before, result));
    };
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let right = ct_eq(code_hash(app, &o.id, r.version, &typed).as_bytes(), r.code_hash.as_bytes());
    let mut tx = app.db.begin().await?;
    let outcome = if right {
        let n = otps::mark_verified(&mut tx, &o.id, r.version, now).await?;
        if n == 1 {
            super::resolve(&mut tx, &o.shop_id, &o.id, OrderStatus::Confirmed, "OTP verified", &[&settings.otp.tag], false, now).await?;
            Some("verified")
        } else {
            None
        }
    } else {
        let limit = attempts_allowed(&settings.otp);
        let n = otps::record_wrong_entry(&mut tx, &o.id, limit, now).await?;
        if n == 1 {
            let (wrong, locked) = otps::wrong_entries(&mut tx, &o.id).await?;
            add_event(&mut tx, &o.shop_id, &o.id, "otp_incorrect", &format!("incorrect OTP entered ({wrong} of {limit})"), now).await?;
            if locked.is_some() {
                // Any checkout token of the shop can name this order, so the lock ends OTP entry
                // only: the order stays pending for the shop to confirm another way.
                add_event(&mut tx, &o.shop_id, &o.id, INCORRECT_TAG, &format!("incorrect OTP entered {wrong} times; OTP entry locked"), now).await?;
                super::tag(&mut tx, &o.id, &[INCORRECT_TAG]).await?;
                Some("locked")
            } else {
                Some("incorrect")
            }
        } else {
            None
        }
    };
    tx.commit().await?;
    let after = status(app, &sms::load_order(app, &o.id).await?.unwrap_or_else(|| o.clone())).await?;
    // A lost race ends in whatever the winner made of it.
    let result = outcome.unwrap_or(match after.state {
        "verified" => "verified",
        "locked" => "locked",
        "expired" => "expired",
        _ => "incorrect",
    });
    Ok(with_result(after, result))
}

/// Sends a new OTP when a resend is left and the wait is over; the old code stops working. The last
/// allowed resend tags the order `resend_otp_limit_reached` (it stays pending: resends are capped
/// per order, whoever asks).
pub async fn resend(app: &App, o: &OrderInfo) -> anyhow::Result<View> {
    let settings = o.settings();
    let now = app.clock.now_ms();
    let row = load(app, &o.id).await?;
    let before = view(row.as_ref(), &o.status, &settings.otp, now);
    let refused = match before.state {
        "pending" | "expired" if before.resends_left == 0 => Some("no_resends_left"),
        "pending" | "expired" if before.resend_in_seconds > 0 => Some("too_soon"),
        "pending" | "expired" => None,
        "verified" => Some("verified"),
        "locked" => Some("locked"),
        _ => Some("not_required"),
    };
    let (Some(r), None) = (row, refused) else {
        return Ok(with_result(before, refused.unwrap_or("not_required")));
    };
    let mut tx = app.db.begin().await?;
    let sent = issue(app, &mut tx, o, &settings, Some(r.version), now).await?;
    if sent && r.resends_used + 1 == settings.otp.resends {
        add_event(&mut tx, &o.shop_id, &o.id, "resend_otp_limit_reached", "every OTP resend used", now).await?;
        super::tag(&mut tx, &o.id, &[RESEND_TAG]).await?;
    }
    tx.commit().await?;
    super::dialer::wake();
    let after = status(app, o).await?;
    Ok(with_result(after, if sent { "resent" } else { "too_soon" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(now: i64) -> OtpRow {
        OtpRow {
            order_id: "o".into(),
            shop_id: "s".into(),
            code_hash: String::new(),
            version: 1,
            issued_at: now,
            expires_at: now + TTL_MS,
            wrong_count: 0,
            resends_used: 0,
            verified_at: None,
            locked_at: None,
        }
    }

    #[test]
    fn the_view_says_what_is_left() {
        let otp = Otp::default();
        let now = 1_000_000;
        let r = row(now);
        let v = view(Some(&r), "pending", &otp, now);
        assert_eq!((v.state, v.attempts_left, v.resends_left, v.resend_in_seconds, v.expires_in_seconds), ("pending", 3, 3, 30, 900));
        assert!(v.message.contains("15 more minute"));
        let v = view(Some(&r), "pending", &otp, now + 30_000);
        assert_eq!(v.resend_in_seconds, 0);
        assert_eq!(view(Some(&r), "pending", &otp, now + TTL_MS).state, "pending", "valid through its last millisecond");
        assert_eq!(view(Some(&r), "pending", &otp, now + TTL_MS + 1).state, "expired");
        assert_eq!(view(None, "pending", &otp, now).state, "not_required");
        assert_eq!(view(Some(&r), "cancelled", &otp, now).state, "not_required");
        let locked = OtpRow { locked_at: Some(now), wrong_count: 3, ..r.clone() };
        let v = view(Some(&locked), "pending", &otp, now);
        assert_eq!((v.state, v.attempts_left, v.resends_left, v.resend_in_seconds), ("locked", 0, 0, 0));
        assert!(v.message.contains("still placed"));
        assert_eq!(view(Some(&locked), "no_response", &otp, now).state, "locked", "locked before the lock kept orders pending");
        let spent = OtpRow { resends_used: 3, ..r };
        let v = view(Some(&spent), "pending", &otp, now);
        assert_eq!((v.resends_left, v.resend_in_seconds), (0, 0));
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
    }
}
