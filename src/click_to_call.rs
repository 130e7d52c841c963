//! Click-to-call (issue 7): for an order whose customer asked for a callback, Exotel rings the
//! merchant's agent, then connects the customer, showing the ExoPhone. The call takes one request of
//! the account's calls budget, shared with the dialer. The HTTP side is `web::reports`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::app::App;
use crate::db::events::add_event;
use crate::db::agent_calls::{self, NewAgentCall};
use crate::db::new_id;
use crate::domain::{OrderStatus, Phone, mask};
use crate::exotel::{self, Account, ConnectCall, ExotelError};
use crate::db::reports::OrderDetail;
use crate::reports as r;
use crate::settings::Settings;
use crate::db::shops::Shop;
use crate::verification::dialer::{emission_interval_ms, take_budget};

/// How long a click-to-call waits for the account's calls budget before it is turned away.
const BUDGET_WAIT: Duration = Duration::from_secs(3);
const AGENT_CALL_TIME_LIMIT_SECS: u32 = 3600;
const AGENT_RING_SECS: u32 = 45;

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Why a call was not placed, before anything went to Exotel.
pub enum Refused {
    /// The order is not waiting for a callback (its status label, lower case).
    NotACallback(String),
    /// Field → what to fix (`agent`, `customer`).
    Invalid(BTreeMap<String, String>),
    /// No Exotel credentials or no ExoPhone.
    NotSetUp,
    /// The account's calls budget has no room for this long: try again in `secs`.
    Busy { secs: u64 },
}

/// What Exotel made of a call that was asked for.
pub enum Outcome {
    Placed { id: String, call_sid: String, status: String, agent: String, customer: String },
    Failed { error: ExotelError, why: String },
}

fn account(app: &App, shop: &Shop, settings: &Settings) -> Option<Account> {
    let g = &settings.general;
    let account = Account::for_shop(g, &app.cipher, shop.exotel_api_token_enc.as_deref(), app.config.exotel_api_origin.as_deref())?;
    if g.account_sid.trim().is_empty() || g.api_key.trim().is_empty() {
        return None;
    }
    Some(account)
}

/// Places a click-to-call to order `o` from `agent` (default: the Contact details phone).
pub async fn place(app: &App, shop: &Shop, o: &OrderDetail, agent: Option<&str>) -> anyhow::Result<Result<Outcome, Refused>> {
    if o.status != OrderStatus::CallbackRequested {
        return Ok(Err(Refused::NotACallback(r::status_label(&o.status).to_lowercase())));
    }
    let settings = Settings::from_stored(&shop.settings);
    let country = if settings.general.default_country.is_empty() { "IN" } else { settings.general.default_country.as_str() };
    let agent_raw = agent.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(settings.contact.phone.trim());
    let mut errors = BTreeMap::new();
    let agent = if agent_raw.is_empty() {
        errors.insert("agent".to_string(), "Enter the agent's phone number, or save one in Contact details.".to_string());
        None
    } else {
        match Phone::parse(agent_raw, country) {
            Ok(p) => Some(p),
            Err(_) => {
                errors.insert("agent".to_string(), "Enter the agent's phone number with its country code (e.g. +919812345678).".to_string());
                None
            }
        }
    };
    let customer = o.phone.clone().filter(|p| !p.is_empty());
    if customer.is_none() {
        errors.insert("customer".to_string(), "The order has no customer phone number.".to_string());
    }
    if !errors.is_empty() {
        return Ok(Err(Refused::Invalid(errors)));
    }
    let (agent, customer) = (agent.expect("checked"), customer.expect("checked"));
    let exophone = settings.ivr.exophone.trim().to_string();
    let Some(acct) = account(app, shop, &settings).filter(|_| !exophone.is_empty()) else {
        return Ok(Err(Refused::NotSetUp));
    };

    // The call takes one request of the account's calls budget, shared with the dialer.
    let call_id = new_id();
    let interval = emission_interval_ms(app.config.exotel_calls_per_minute);
    let budget = format!("{}/calls", acct.sid);
    let waited_since = std::time::Instant::now();
    loop {
        let now = app.clock.now_ms();
        let mut tx = app.db.begin().await?;
        match take_budget(&mut tx, &budget, interval, wall_ms()).await? {
            Ok(()) => {
                let call = NewAgentCall {
                    id: &call_id,
                    shop_id: &shop.id,
                    order_id: &o.id,
                    agent_phone_enc: app.cipher.encrypt(agent.e164()),
                    agent_phone_hash: app.cipher.phone_index(agent.e164()),
                    customer_phone_enc: app.cipher.encrypt(&customer),
                    customer_phone_hash: app.cipher.phone_index(&customer),
                    caller_id: &exophone,
                    account_sid: &acct.sid,
                };
                agent_calls::insert(&mut tx, call, now).await?;
                tx.commit().await?;
                break;
            }
            Err(wait_ms) => {
                drop(tx);
                let wait = Duration::from_millis(wait_ms.max(1) as u64);
                if waited_since.elapsed() + wait > BUDGET_WAIT {
                    return Ok(Err(Refused::Busy { secs: wait.as_secs().max(1) }));
                }
                tokio::time::sleep(wait).await;
            }
        }
    }

    let status_callback = format!("{}/exotel/{}/agent-call-status", app.config.app_url, shop.exotel_key);
    let req = ConnectCall {
        from: agent.e164(),
        to: Some(&customer),
        caller_id: &exophone,
        url: "",
        status_callback: &status_callback,
        custom_field: &call_id,
        time_limit_secs: Some(AGENT_CALL_TIME_LIMIT_SECS),
        time_out_secs: Some(AGENT_RING_SECS),
    };
    let result = exotel::connect_call(&app.http, &acct, &req, app.config.exotel_timeout).await;
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    let outcome = match result {
        Ok(placed) => {
            agent_calls::placed(&mut tx, &call_id, &placed.sid, &placed.status, now).await?;
            let detail = format!("agent {} called the customer {} (CallSid {})", agent.e164(), mask(&customer), placed.sid);
            add_event(&mut tx, &shop.id, &o.id, "agent_call", &detail, now).await?;
            Outcome::Placed { id: call_id, call_sid: placed.sid, status: placed.status, agent: agent.e164().to_string(), customer }
        }
        Err(e) => {
            let why = exotel::describe_error(&e);
            // Unknown whether it rang: a timeout may have placed it. Shown as such, never redialled.
            let (state, dialed) = if matches!(e, ExotelError::Timeout) { ("placed", Some(now)) } else { ("failed", None) };
            agent_calls::not_placed(&mut tx, &call_id, state, &why, dialed, now).await?;
            let detail = format!("agent {} could not be connected to the customer: {why}", agent.e164());
            add_event(&mut tx, &shop.id, &o.id, "agent_call_failed", &detail, now).await?;
            Outcome::Failed { error: e, why }
        }
    };
    tx.commit().await?;
    Ok(Ok(outcome))
}

/// Exotel's terminal report of a click-to-call of shop `shop_id` (by our id in `CustomField`, or
/// its CallSid): recorded once, with a timeline event. `false` when it is no click-to-call of the
/// shop (nothing changes).
pub async fn ended(app: &App, shop_id: &str, fields: &HashMap<String, String>) -> anyhow::Result<bool> {
    let id = fields.get("CustomField").cloned().unwrap_or_default();
    let sid = fields.get("CallSid").cloned().unwrap_or_default();
    let Some((id, order_id)) = agent_calls::find(&app.db, shop_id, &id, &sid).await? else { return Ok(false) };
    let status = fields.get("Status").cloned().unwrap_or_default();
    let duration: Option<i64> = fields.get("ConversationDuration").or_else(|| fields.get("Duration")).and_then(|d| d.parse().ok());
    let now = app.clock.now_ms();
    let mut tx = app.db.begin().await?;
    if agent_calls::ended(&mut tx, &id, &status, duration, (!sid.is_empty()).then_some(sid.clone()), now).await? {
        let detail = match duration {
            Some(d) => format!("click-to-call {status} ({d} s)"),
            None => format!("click-to-call {status}"),
        };
        add_event(&mut tx, shop_id, &order_id, "agent_call_ended", &detail, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}
