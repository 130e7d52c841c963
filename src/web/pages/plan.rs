//! The pages of verification plans (SPEC §8): the plan's steps, and the WhatsApp step's settings;
//! also what App Info and the OTP page show of each step.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{IdToken, base, callback_urls, embedded_page, plan_in_use};
use crate::AppState;
use crate::settings::{CANCEL_AFTER_HOURS, Method, NoResponseAction, Settings, Step as PlanStep, Whatsapp};
use crate::web::embedded::PageShop;
use crate::web::error::AppResult;

/// A step of the plan as the pages show it: what it is, a summary of its section, and where that
/// section is set.
pub struct PlanStepView {
    /// `plan.steps` value.
    pub key: &'static str,
    pub label: &'static str,
    /// The step in a sentence ("an IVR call").
    pub noun: &'static str,
    pub summary: String,
    pub ready: bool,
    pub href: &'static str,
    pub section: &'static str,
}

/// Whether a step's section has what it needs to contact anyone.
pub(super) fn step_ready(s: &Settings, step: PlanStep) -> bool {
    let f = &s.fallback;
    match step {
        PlanStep::Whatsapp => s.whatsapp.is_ready(),
        PlanStep::Ivr => s.ivr.is_ready(),
        PlanStep::SmsLink => !f.sender_id.is_empty() && f.link_template.contains("%link%"),
        PlanStep::SmsMissedCall => !f.sender_id.is_empty() && !f.missed_call_exophone.is_empty(),
    }
}

/// "1 message", "3 calls … 30 minutes apart".
fn attempts(n: i64, one: &str, many: &str, interval: i64) -> String {
    let n = 1 + n.max(0);
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}, {interval} minutes apart") }
}

pub(super) fn step_view(s: &Settings, step: PlanStep) -> PlanStepView {
    let ready = step_ready(s, step);
    let (label, noun, href, section) = match step {
        PlanStep::Whatsapp => ("WhatsApp message", "a WhatsApp message", "/app/settings/whatsapp", "WhatsApp settings"),
        PlanStep::Ivr => ("IVR call", "an IVR call", "/app/settings/ivr", "IVR call settings"),
        PlanStep::SmsLink => ("SMS with a link", "an SMS with a link", "/app/settings/fallback", "SMS settings"),
        PlanStep::SmsMissedCall => ("SMS asking for a missed call", "an SMS asking for a missed call", "/app/settings/fallback", "SMS settings"),
    };
    let summary = if !ready {
        match step {
            PlanStep::Whatsapp => "Not set up yet: needs your WhatsApp Business number and an approved template.".to_string(),
            PlanStep::Ivr => "Not set up yet: needs the ExoPhone and your Exotel flow id.".to_string(),
            PlanStep::SmsLink => "Not set up yet: needs a sender id and a message with %link%.".to_string(),
            PlanStep::SmsMissedCall => "Not set up yet: needs a sender id and the missed-call ExoPhone.".to_string(),
        }
    } else {
        match step {
            PlanStep::Whatsapp => {
                let w = &s.whatsapp;
                format!(
                    "Template {} ({}) from {}: {}; then waits {} minutes for a reply.",
                    w.template_name,
                    w.template_language,
                    w.sender,
                    attempts(w.retries, "message", "messages", w.retry_interval_minutes),
                    w.wait_minutes
                )
            }
            PlanStep::Ivr => {
                let i = &s.ivr;
                format!(
                    "From {}: {}, between {} and {}.",
                    i.exophone,
                    attempts(i.retries, "call", "calls", i.retry_interval_minutes),
                    i.window_start,
                    i.window_end
                )
            }
            PlanStep::SmsLink => {
                let f = &s.fallback;
                format!(
                    "From {}: {}; the link works for {} hours.",
                    f.sender_id,
                    attempts(f.retries, "SMS", "SMS", f.retry_interval_minutes),
                    f.link_expiry_hours
                )
            }
            PlanStep::SmsMissedCall => {
                let f = &s.fallback;
                format!(
                    "Asks for a missed call to {}. From {}: {}.",
                    f.missed_call_exophone,
                    f.sender_id,
                    attempts(f.retries, "SMS", "SMS", f.retry_interval_minutes)
                )
            }
        }
    };
    PlanStepView { key: step.as_str(), label, noun, summary, ready, href, section }
}

#[derive(Template)]
#[template(path = "page_plan.html")]
struct PlanPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    /// The plan's steps in order, then the others (offered to add).
    steps: Vec<PlanStepView>,
    unused: Vec<PlanStepView>,
    /// `plan.steps` as the form sends it: one step a line.
    steps_value: String,
    no_response_action: NoResponseAction,
    cancel_after_hours: i64,
    hours_help: String,
    hours_attrs: String,
    escalate_after_minutes: i64,
    /// The step the method makes first, if any.
    first: Option<&'static str>,
}

/// `GET /app/settings/plan`: the ordered steps, and what happens when none gets an answer.
pub async fn plan(p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let s = Settings::from_stored(&p.shop.settings);
    let shown = s.shown_plan();
    let b = base(&p, id_token);
    let page = PlanPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "plan",
        steps: shown.steps.iter().map(|st| step_view(&s, *st)).collect(),
        unused: PlanStep::ALL.iter().filter(|st| !shown.steps.contains(st)).map(|st| step_view(&s, *st)).collect(),
        steps_value: shown.steps.iter().map(|st| st.as_str()).collect::<Vec<_>>().join("\n"),
        no_response_action: shown.no_response_action,
        cancel_after_hours: shown.cancel_after_hours,
        hours_help: format!("{}–{} hours after “No response”; used when cancelling.", CANCEL_AFTER_HOURS.start(), CANCEL_AFTER_HOURS.end()),
        hours_attrs: format!("data-type=\"int\" min=\"{}\" max=\"{}\" inputmode=\"numeric\"", CANCEL_AFTER_HOURS.start(), CANCEL_AFTER_HOURS.end()),
        escalate_after_minutes: s.otp.escalate_after_minutes,
        first: match s.general.method {
            Method::Ivr => Some("IVR call"),
            Method::Whatsapp => Some("WhatsApp message"),
            Method::Otp => None,
        },
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_whatsapp.html")]
struct WhatsappPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Whatsapp,
    in_use: bool,
    /// `callback_urls.whatsapp`.
    callback_url: String,
}

/// `GET /app/settings/whatsapp`: the WhatsApp step's template, timing and tags.
pub async fn whatsapp(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let all = Settings::from_stored(&p.shop.settings);
    let urls = callback_urls(&state.config.app_url, &p.shop.exotel_key);
    let b = base(&p, id_token);
    let page = WhatsappPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "whatsapp",
        in_use: plan_in_use(&all) && all.plan_has(PlanStep::Whatsapp),
        s: all.whatsapp,
        callback_url: urls["whatsapp"].as_str().unwrap_or_default().to_string(),
    };
    embedded_page(&p.domain, &page)
}
