//! Demo mode (no Shopify credentials): a built-in demo shop, a simulated Shopify Admin API and a
//! simulated Exotel served by this same process under `/demo/…`, and a console page at `/demo`.
//! The app's real HTTP clients, jobs, callbacks and pages run unchanged against the simulators;
//! nothing leaves the machine.

pub mod console;
pub mod sim;

use std::sync::Mutex;

use secrecy::SecretString;
use serde_json::json;

use crate::app::App;
use crate::domain::ShopDomain;
use crate::db::shops::TokenSet;

/// The demo app's own "Shopify credentials": they sign the demo's tokens and webhooks and nothing else.
pub const API_KEY: &str = "codverify-demo";
pub const API_SECRET: &str = "codverify-demo-secret-not-for-real-shops";
pub const SHOP: &str = "codverify-demo.myshopify.com";
pub const ACCOUNT_SID: &str = "demo-account";

/// What the simulators hold: the calls ringing on the simulated phone, its WhatsApp, the SMS inbox, and the
/// simulated Shopify orders' tags. In memory: a restarted demo starts with an empty phone.
#[derive(Default)]
pub struct Sim {
    pub state: Mutex<sim::SimState>,
    /// The port this process listens on, where the simulators send Exotel's callbacks.
    pub port: u16,
}

impl Sim {
    pub fn new(port: u16) -> Sim {
        Sim { state: Mutex::default(), port }
    }
}

/// Creates the demo shop (installed, settings filled in) if it is not there yet.
pub async fn seed(app: &App) -> anyhow::Result<()> {
    let domain = ShopDomain::parse(SHOP).map_err(anyhow::Error::msg)?;
    if crate::db::shops::find_by_domain(&app.db, &domain).await?.is_some_and(|s| s.settings_saved) {
        return Ok(());
    }
    let tokens = TokenSet {
        access_token: SecretString::from("demo-access-token"),
        expires_at: None,
        refresh_token: None,
        refresh_expires_at: None,
        scope: Some(crate::config::DEFAULT_SCOPES.into()),
    };
    let shop = crate::db::shops::install(&app.db, &app.cipher, &domain, &tokens, app.clock.now_ms()).await?;
    let doc = json!({
        "general": {"verify": "cod", "method": "whatsapp", "exotel_subdomain": "api.in.exotel.com", "account_sid": ACCOUNT_SID,
            "api_key": "demo-key", "api_token": "demo-token", "default_country": "IN"},
        "ivr": {"first_call": "immediate", "exophone": "08047112345", "flow_id": "100200", "retries": 2, "retry_interval_minutes": 10,
            "timezone": "Asia/Kolkata", "window_start": "00:00", "window_end": "23:59", "confirm_tag": "cod_confirmed",
            "cancel_tag": "cod_cancelled", "callback_tag": "cod_callback_requested", "cancel_order": true, "dnd_calling_enabled": false},
        "fallback": {"mode": "sms_link", "sender_id": "CODVFY", "dlt_entity_id": "1101000000000001", "encoding": "plain",
            "retries": 1, "retry_interval_minutes": 10, "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled",
            "callback_tag": "cod_callback_requested", "link_template": "Codverify Demo: confirm your order %ordernumber% of %orderamount% here %link%",
            "dlt_template_id": "1107000000000001", "link_expiry_hours": 48, "cancel_order": true},
        "otp": {"sender_id": "CODVFY", "dlt_entity_id": "1101000000000001", "dlt_template_id": "1107000000000002",
            "template": "%otp% is your OTP to confirm order %ordernumber% at Codverify Demo", "resends": 3,
            "resend_after_seconds": 30, "incorrect_attempts": 3, "tag": "otp_verified"},
        // WhatsApp first (the simulated phone shows the message), then a call, then the SMS link.
        "plan": {"steps": ["whatsapp", "ivr", "sms_link"]},
        "whatsapp": {"sender": "+919800012345", "template_name": sim::DEMO_TEMPLATE, "template_language": "en", "retries": 0,
            "retry_interval_minutes": 0, "wait_minutes": 10, "confirm_tag": "cod_confirmed", "cancel_tag": "cod_cancelled",
            "callback_tag": "cod_callback_requested", "cancel_order": true},
        "contact": {"name": "Demo support", "email": "support@example.com", "phone": "+919800000001"},
    });
    let applied = crate::settings::apply(&crate::settings::Settings::default(), false, &doc)
        .map_err(|e| anyhow::anyhow!("demo settings do not validate: {e:?}"))?;
    let token_enc = applied.new_api_token.as_deref().map(|t| app.cipher.encrypt(t));
    let stored = serde_json::to_string(&applied.settings)?;
    // The demo document carries its API token, so this stores it (and "connected") as it is.
    crate::db::shops::save_settings(&app.db, &shop.id, &stored, true, token_enc, Some("connected"), app.clock.now_ms()).await?;
    tracing::info!(shop = SHOP, "demo shop ready");
    Ok(())
}
