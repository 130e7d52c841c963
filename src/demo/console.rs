//! The demo console (`/demo`): create a test order, choose the verification plan, answer the
//! simulated phone and its WhatsApp, read the SMS inbox, give a missed call, type an OTP, skip the clock ahead — and watch the order, its tags and the
//! reports fill in. Plain forms, no JavaScript; the page refreshes itself every few seconds.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::sim::{self, Answer, WaAnswer};
use super::{API_KEY, API_SECRET, SHOP};
use crate::settings::{Method, Settings, Step};
use crate::web::error::{AppError, AppResult};
use crate::app::App;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo", get(console))
        .route("/demo/orders", post(create_order))
        .route("/demo/calls/{sid}", post(answer_call))
        .route("/demo/whatsapp/{sid}", post(whatsapp_reply))
        .route("/demo/plan", post(plan))
        .route("/demo/missed-call", post(missed_call))
        .route("/demo/otp", post(otp))
        .route("/demo/method", post(method))
        .route("/demo/clock", post(skip_clock))
        .route("/demo/fulfil", post(fulfil))
}

/// The demo shop's domain (a constant that parses).
fn demo_shop() -> AppResult<crate::domain::ShopDomain> {
    crate::domain::ShopDomain::parse(SHOP).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))
}

fn demo_only(app: &AppState) -> AppResult<&super::Sim> {
    app.demo.as_deref().ok_or(AppError::NotFound)
}

/// A session token as Shopify would sign it for the demo shop, so the console can open the admin
/// pages and call the OTP API like the real admin and extensions do.
pub fn session_token(app: &App) -> String {
    let now = app.clock.now_secs();
    let claims = json!({"iss": format!("https://{SHOP}/admin"), "dest": format!("https://{SHOP}"), "aud": API_KEY, "sub": "1",
        "exp": now + 600, "nbf": now - 5, "iat": now - 5, "jti": crate::db::new_id(), "sid": "demo"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(API_SECRET.as_bytes()),
    )
    .unwrap_or_default()
}

fn base(app: &AppState) -> String {
    format!("http://127.0.0.1:{}", app.demo.as_ref().map_or(8080, |s| s.port))
}

struct OrderRow {
    name: String,
    shopify_id: i64,
    phone: String,
    status: String,
    reason: String,
    tags: String,
    cancelled: bool,
    /// The shipping address the simulated Shopify was sent, when the shopper corrected it.
    shipping_address: String,
    method: Method,
    gid: String,
    /// The simulated Shopify's fulfilment: on hold, open, fulfilled.
    fulfilment: &'static str,
}

struct CallRow {
    sid: String,
    to: String,
    ringing: bool,
    greeting: String,
    outcome: String,
}

struct WaRow {
    sid: String,
    to: String,
    status: String,
    body: String,
    /// (label, payload)
    buttons: Vec<(String, String)>,
    replies: Vec<String>,
}

/// The plans the console offers: (form value, steps, label).
const PLANS: [(&str, &[Step], &str); 3] = [
    ("whatsapp_ivr_sms_link", &[Step::Whatsapp, Step::Ivr, Step::SmsLink], "WhatsApp → IVR call → SMS link"),
    ("ivr_sms_link", &[Step::Ivr, Step::SmsLink], "IVR call → SMS link"),
    ("ivr", &[Step::Ivr], "IVR call only"),
];

struct PlanOption {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

struct SmsRow {
    to: String,
    /// The text in words, each with whether it is a link.
    words: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "demo.html")]
struct ConsolePage {
    now: String,
    method: Method,
    orders: Vec<OrderRow>,
    plans: Vec<PlanOption>,
    calls: Vec<CallRow>,
    whatsapp: Vec<WaRow>,
    sms: Vec<SmsRow>,
    note: String,
    admin_query: String,
    refresh: bool,
}

#[derive(Deserialize, Default)]
struct Note {
    #[serde(default)]
    note: String,
    /// `refresh=0` turns the page's self-refresh off (browser tests, reading at leisure).
    #[serde(default)]
    refresh: Option<String>,
}

async fn console(State(state): State<AppState>, Query(q): Query<Note>) -> AppResult<Response> {
    let sim = demo_only(&state)?;
    let shop = crate::db::shops::find_by_domain(&state.db, &demo_shop()?).await?;
    let settings = Settings::from_stored(&shop.map(|s| s.settings).unwrap_or_default());
    let tz = crate::verification::schedule::Window::of(&settings.ivr).tz;
    let rows = crate::db::orders::recent_by_domain(&state.db, SHOP, 20).await?;
    let steps = settings.plan();
    let plans = PLANS.iter().map(|(value, plan, label)| PlanOption { value, label, checked: steps == *plan }).collect();
    let (calls, whatsapp, sms, orders) = {
        let s = sim.state.lock().expect("sim lock");
        let calls = s.calls.iter().rev().take(10).map(|c| CallRow {
            sid: c.sid.clone(),
            to: c.to.clone(),
            ringing: c.status == "ringing",
            greeting: c.greeting.clone().unwrap_or_default(),
            outcome: c.outcome.clone().unwrap_or_default(),
        }).collect::<Vec<_>>();
        let whatsapp = s.whatsapp.iter().rev().take(10).map(|m| WaRow {
            sid: m.sid.clone(),
            to: m.to.clone(),
            status: m.status.clone(),
            body: m.body(),
            buttons: m.buttons.clone(),
            replies: m.replies.clone(),
        }).collect::<Vec<_>>();
        let sms = s.sms.iter().rev().take(10).map(|m| SmsRow {
            to: m.to.clone(),
            words: m.body.split_whitespace().map(|w| (w.to_string(), w.starts_with("http://") || w.starts_with("https://"))).collect(),
        }).collect::<Vec<_>>();
        let orders = rows.into_iter().map(|(name, shopify_id, phone, status, reason, gid)| {
            let o = s.orders.get(&gid).cloned().unwrap_or_default();
            OrderRow {
                name,
                shopify_id,
                phone: state.cipher.open_opt(phone.as_deref()).unwrap_or_default(),
                status,
                reason: reason.unwrap_or_default(),
                tags: o.tags.join(", "),
                cancelled: o.cancelled,
                shipping_address: o.shipping_address.clone().unwrap_or_default(),
                method: settings.general.method,
                fulfilment: o.fulfilment(),
                gid,
            }
        }).collect::<Vec<_>>();
        (calls, whatsapp, sms, orders)
    };
    let page = ConsolePage {
        now: state.clock.now().with_timezone(&tz).format("%a %d %b %Y, %H:%M:%S %Z").to_string(),
        method: settings.general.method,
        orders,
        plans,
        calls,
        whatsapp,
        sms,
        refresh: q.refresh.as_deref() != Some("0"),
        note: q.note,
        admin_query: format!("shop={SHOP}&id_token={}", session_token(&state)),
    };
    Ok(Html(page.render().map_err(|e| anyhow::anyhow!(e))?).into_response())
}

fn back(note: &str) -> Response {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("note", note).finish();
    Redirect::to(&format!("/demo?{q}")).into_response()
}

#[derive(Deserialize)]
struct NewOrder {
    phone: String,
    amount: String,
    payment: String,
}

/// Shopify's `orders/create` for a new test order, signed with the demo secret and delivered to
/// this app's webhook endpoint over HTTP, as Shopify would.
async fn create_order(State(state): State<AppState>, Form(f): Form<NewOrder>) -> AppResult<Response> {
    let sim = demo_only(&state)?;
    let amount: f64 = f.amount.trim().parse().map_err(|_| AppError::bad_request("the amount must be a number, e.g. 499"))?;
    let id = state.clock.now_ms() % 1_000_000_000 + 1_000_000;
    let number = 1000 + id % 9000;
    let gateway = if f.payment == "prepaid" { "shopify_payments" } else { "Cash on Delivery (COD)" };
    let body = json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"), "name": format!("#{number}"), "order_number": number,
        "total_price": format!("{amount:.2}"), "currency": "INR", "payment_gateway_names": [gateway],
        "email": "shopper@example.com", "phone": null, "created_at": state.clock.now().to_rfc3339(), "cancelled_at": null,
        "shipping_address": {"first_name": "Demo", "last_name": "Shopper", "phone": f.phone.trim(), "address1": "12, 4th Cross Road, Indiranagar",
            "address2": "Near the metro station", "city": "Bengaluru", "province": "Karnataka", "province_code": "KA", "zip": "560038", "country_code": "IN"},
        "customer": {"id": 1, "email": "shopper@example.com", "first_name": "Demo", "last_name": "Shopper"},
        "line_items": [{"title": "Handloom kurta", "quantity": 1, "price": format!("{amount:.2}")}],
    });
    // Shopify creates the order's fulfillment order with it (before the webhook goes out).
    sim.state.lock().expect("sim lock").add_order(&format!("gid://shopify/Order/{id}"));
    let raw = serde_json::to_vec(&body).map_err(anyhow::Error::from)?;
    let mac = crate::crypto::hmac_sha256(API_SECRET.as_bytes(), &raw);
    let signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac);
    let resp = state
        .http
        .post(format!("{}/webhooks/shopify", base(&state)))
        .header("X-Shopify-Topic", "orders/create")
        .header("X-Shopify-Shop-Domain", SHOP)
        .header("X-Shopify-Webhook-Id", crate::db::new_id())
        .header("X-Shopify-API-Version", crate::shopify::API_VERSION)
        .header("X-Shopify-Hmac-Sha256", signature)
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(back(&format!("Order #{number} sent to codverify by webhook (HTTP {}).", resp.status().as_u16())))
}

#[derive(Deserialize)]
struct FulfilForm {
    gid: String,
}

/// The merchant's "Fulfil" in the simulated Shopify: refused while codverify holds the order.
async fn fulfil(State(state): State<AppState>, Form(f): Form<FulfilForm>) -> AppResult<Response> {
    let sim = demo_only(&state)?;
    let result = sim.state.lock().expect("sim lock").fulfil(&f.gid);
    Ok(match result {
        Ok(()) => back("Shopify fulfilled the order."),
        Err(why) => back(&format!("Shopify refused to fulfil: {why}.")),
    })
}

#[derive(Deserialize)]
struct AnswerForm {
    action: String,
}

async fn answer_call(State(state): State<AppState>, Path(sid): Path<String>, Form(f): Form<AnswerForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let answer = Answer::parse(&f.action).ok_or_else(|| AppError::bad_request("unknown answer"))?;
    sim::answer(&state, &sid, answer).await?;
    Ok(back("The simulated phone answered."))
}

#[derive(Deserialize)]
struct WaReplyForm {
    /// A tapped button's payload.
    #[serde(default)]
    payload: Option<String>,
    /// A typed reply.
    #[serde(default)]
    text: Option<String>,
}

/// A tap on a WhatsApp message's button, or a typed reply: the simulated Exotel posts it to the app.
async fn whatsapp_reply(State(state): State<AppState>, Path(sid): Path<String>, Form(f): Form<WaReplyForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let answer = match (f.payload.filter(|p| !p.is_empty()), f.text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())) {
        (Some(payload), _) => WaAnswer::Button(payload),
        (None, Some(text)) => WaAnswer::Text(text),
        (None, None) => return Ok(back("Type a reply or tap a button.")),
    };
    let status = sim::whatsapp_reply(&state, &sid, answer).await.map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok(back(&format!("The shopper replied on WhatsApp; Exotel passed it on to codverify (HTTP {status}).")))
}

#[derive(Deserialize)]
struct MissedCall {
    phone: String,
}

/// A missed call as Exotel reports it: a passthru GET with the caller 0-prefixed.
async fn missed_call(State(state): State<AppState>, Form(f): Form<MissedCall>) -> AppResult<Response> {
    demo_only(&state)?;
    let key = crate::db::shops::find_by_domain(&state.db, &demo_shop()?).await?.ok_or(sqlx::Error::RowNotFound)?.exotel_key;
    let digits: String = f.phone.chars().filter(char::is_ascii_digit).collect();
    let from = format!("0{}", &digits[digits.len().saturating_sub(10)..]);
    let r = state
        .http
        .get(format!("{}/exotel/{key}/missed-call", base(&state)))
        .query(&[("CallSid", crate::db::new_id().as_str()), ("CallFrom", from.as_str()), ("CallTo", "08047110000"),
            ("Direction", "incoming"), ("CallType", "call-attempt")])
        .send()
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(back(&format!("Missed call from {from}: {}", r.text().await.unwrap_or_default())))
}

#[derive(Deserialize)]
struct OtpForm {
    order_id: i64,
    #[serde(default)]
    otp: String,
    action: String,
}

/// What the OTP block on the Thank you page does: verify or resend through the OTP API.
async fn otp(State(state): State<AppState>, Form(f): Form<OtpForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let url = format!("{}/api/otp/{}", base(&state), if f.action == "resend" { "resend" } else { "verify" });
    let r = state
        .http
        .post(url)
        .bearer_auth(session_token(&state))
        .json(&json!({"order_id": f.order_id.to_string(), "otp": f.otp}))
        .send()
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    Ok(back(&format!("OTP {}: {}", v["result"].as_str().unwrap_or("?"), v["message"].as_str().unwrap_or(""))))
}

#[derive(Deserialize)]
struct MethodForm {
    method: String,
}

/// `plan`: the plan's first step (WhatsApp or a call) is the method; `otp`: an OTP at checkout,
/// escalating to the plan.
async fn method(State(state): State<AppState>, Form(f): Form<MethodForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let current = demo_settings(&state).await?;
    let method = if f.method == "plan" { first_step_method(&current.plan()) } else { f.method.clone() };
    change_settings(&state, &current, json!({"general": {"method": method}})).await?;
    Ok(back("Verification method changed for new orders."))
}

/// The method that goes with a plan: its first step when that is WhatsApp or a call.
fn first_step_method(steps: &[Step]) -> String {
    match steps.first() {
        Some(Step::Whatsapp) => "whatsapp",
        _ => "ivr",
    }
    .to_string()
}

async fn demo_settings(state: &AppState) -> AppResult<Settings> {
    let stored = crate::db::shops::find_by_domain(&state.db, &demo_shop()?).await?.ok_or(sqlx::Error::RowNotFound)?.settings;
    Ok(Settings::from_stored(&stored))
}

/// Changes the demo shop's settings as the settings page does: through `settings::apply`.
async fn change_settings(state: &AppState, current: &Settings, doc: serde_json::Value) -> AppResult<()> {
    let applied = crate::settings::apply(current, true, &doc).map_err(AppError::Invalid)?;
    let stored = serde_json::to_string(&applied.settings).map_err(anyhow::Error::from)?;
    crate::db::shops::replace_settings(&state.db, SHOP, &stored).await?;
    Ok(())
}

#[derive(Deserialize)]
struct PlanForm {
    plan: String,
}

/// Switches the demo shop's plan; with WhatsApp or a call the method, the method follows the
/// plan's first step (OTP stays OTP, escalating to the new plan).
async fn plan(State(state): State<AppState>, Form(f): Form<PlanForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let (_, steps, label) = PLANS.iter().find(|(v, ..)| *v == f.plan).ok_or_else(|| AppError::bad_request("unknown plan"))?;
    let current = demo_settings(&state).await?;
    let method = match current.general.method {
        Method::Otp => "otp".to_string(),
        _ => first_step_method(steps),
    };
    let names: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
    change_settings(&state, &current, json!({"general": {"method": method}, "plan": {"steps": names}})).await?;
    Ok(back(&format!("New orders follow the plan {label}.")))
}

#[derive(Deserialize)]
struct ClockForm {
    to: String,
}

/// Skips the clock to the next scheduled call, SMS or timer, or to tomorrow 09:00 India time.
async fn skip_clock(State(state): State<AppState>, Form(f): Form<ClockForm>) -> AppResult<Response> {
    demo_only(&state)?;
    let now = state.clock.now_ms();
    let target = if f.to == "morning" {
        let ist = now.div_euclid(1000) + 19_800;
        let until = (9 * 3600 - ist.rem_euclid(86_400)).rem_euclid(86_400);
        Some(now + if until == 0 { 86_400_000 } else { until * 1000 })
    } else {
        crate::db::queue::next_due_after(&state.db, now).await?
    };
    let Some(target) = target else { return Ok(back("Nothing is scheduled.")) };
    state.clock.advance((target - now + 999) / 1000);
    crate::verification::dialer::wake();
    Ok(back("Clock skipped ahead."))
}
