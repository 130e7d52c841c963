//! The embedded admin's pages: App Info, Contact details, Settings, OTP SMS settings, IVR call
//! settings, IVR fallback settings, and (in `plan`) Verification plan and WhatsApp settings,
//! (in `rules`) Targeting rules and (in `costs`) Prices.
//! Each is a document load authenticated by `PageShop`, rendered server-side with the current
//! values (usable before any script runs); `static/app.js`
//! saves a page's form through `PUT /app/api/settings` and shows the 422 messages field by field.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::embedded::{PageShop, callback_urls, embedded_page};
use super::error::AppResult;
use crate::settings::{
    Contact, EXOTEL_SUBDOMAINS, Fallback, General, Ivr, Method, Otp, Settings, Step as PlanStep, Verify, mask_secret,
};
use crate::db::shops::Shop;
use crate::app::App;
use crate::AppState;

mod costs;
mod plan;
mod rules;

use plan::{PlanStepView, step_ready, step_view};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/app/contact", get(contact))
        .route("/app/settings", get(general))
        .route("/app/settings/plan", get(plan::plan))
        .route("/app/settings/whatsapp", get(plan::whatsapp))
        .route("/app/settings/rules", get(rules::rules))
        .route("/app/settings/costs", get(costs::costs))
        .route("/app/settings/otp", get(otp))
        .route("/app/settings/ivr", get(ivr))
        .route("/app/settings/fallback", get(fallback))
}

/// What `admin_base.html` takes from every page.
struct Base {
    api_key: String,
    shop: String,
    id_token: String,
}

fn base(p: &PageShop, id_token: String) -> Base {
    Base {
        api_key: p.api_key.clone(),
        shop: p.shop.domain.clone(),
        id_token,
    }
}

/// The `id_token` of the document load (already verified by `PageShop`), for links and scripts.
pub struct IdToken(pub String);

impl axum::extract::FromRequestParts<AppState> for IdToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(IdToken(super::embedded::session_token(parts).unwrap_or_default()))
    }
}

/// One item of App Info's setup checklist.
pub struct Step {
    pub done: bool,
    pub label: &'static str,
    pub detail: String,
    pub href: &'static str,
}

#[derive(Template)]
#[template(path = "page_info.html")]
struct InfoPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    install_status: &'static str,
    exotel_status: String,
    verify: Verify,
    /// How orders are verified, in words.
    how: String,
    /// The plan's steps, when orders go through them (IVR or WhatsApp first, or OTP escalation).
    plan: Vec<PlanStepView>,
    steps: Vec<Step>,
    remaining: usize,
    /// Holds are on but the shop has not granted the fulfillment-order scopes yet.
    holds_need_scopes: bool,
}

/// Whether orders go through the plan's steps: always unless OTP is the method, and then only
/// when an unverified code escalates.
pub(super) fn plan_in_use(s: &Settings) -> bool {
    s.general.method != Method::Otp || s.otp.escalate_after_minutes > 0
}

fn steps(shop: &Shop, s: &Settings) -> Vec<Step> {
    let exotel = shop.exotel_status.as_str();
    let mut steps = vec![Step {
        done: exotel == "connected",
        label: "Connect your Exotel account",
        detail: if exotel.is_empty() || exotel == "unchecked" {
            "Enter the Exotel subdomain, account SID, API key and API token under Settings.".into()
        } else {
            format!("Exotel connection: {exotel}")
        },
        href: "/app/settings",
    }];
    if s.general.method == Method::Otp {
        steps.push(Step {
            done: s.otp.is_ready(),
            label: "Set up the OTP SMS",
            detail: "A sender id (and the DLT ids in India) and a message with %otp%.".into(),
            href: "/app/settings/otp",
        });
    }
    if plan_in_use(s) {
        let plan = s.plan();
        for step in &plan {
            steps.push(match step {
                PlanStep::Ivr => Step {
                    done: s.ivr.is_ready(),
                    label: "Set up the IVR call",
                    detail: "The ExoPhone that calls and your Exotel flow's id, and paste this app's URLs into the flow.".into(),
                    href: "/app/settings/ivr",
                },
                PlanStep::Whatsapp => Step {
                    done: s.whatsapp.is_ready(),
                    label: "Set up the WhatsApp message",
                    detail: "Your WhatsApp Business number and the name of your approved utility template.".into(),
                    href: "/app/settings/whatsapp",
                },
                PlanStep::SmsLink | PlanStep::SmsMissedCall => Step {
                    done: step_ready(s, *step),
                    label: if *step == PlanStep::SmsLink { "Set up the SMS with a link" } else { "Set up the missed-call SMS" },
                    detail: "A sender id (and the DLT ids in India) and the message.".into(),
                    href: "/app/settings/fallback",
                },
            });
        }
        steps.push(Step {
            done: plan.len() > 1,
            label: "Review your verification plan (optional)",
            detail: "Which channels contact the shopper, in which order, and what happens when nobody answers.".into(),
            href: "/app/settings/plan",
        });
    }
    steps.push(Step {
        done: !s.contact.email.is_empty() || !s.contact.phone.is_empty(),
        label: "Add your contact details (optional)",
        detail: "So that we can reach you about your account.".into(),
        href: "/app/contact",
    });
    steps
}

/// `GET /app`: App Info — what the app does, the install and Exotel status, what is left to set up.
pub async fn info(State(_state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let s = Settings::from_stored(&p.shop.settings);
    let steps = steps(&p.shop, &s);
    let plan: Vec<PlanStepView> = if plan_in_use(&s) { s.plan().into_iter().map(|st| step_view(&s, st)).collect() } else { vec![] };
    let chain = plan.iter().map(|v| v.noun).collect::<Vec<_>>().join(", then ");
    let how = match s.general.method {
        Method::Otp if plan.is_empty() => "an OTP SMS at checkout".to_string(),
        Method::Otp => format!("an OTP SMS at checkout; when the code is not entered within {} minutes, {chain}", s.otp.escalate_after_minutes),
        _ => chain,
    };
    let b = base(&p, id_token);
    let page = InfoPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "info",
        install_status: p.shop.install_status(),
        exotel_status: p.shop.exotel_status.clone(),
        verify: s.general.verify,
        how,
        plan,
        remaining: steps.iter().filter(|s| !s.done && !s.label.ends_with("(optional)")).count(),
        steps,
        holds_need_scopes: s.fulfillment.hold && !crate::verification::hold::can_hold(p.shop.scopes.as_deref().unwrap_or("")),
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_contact.html")]
struct ContactPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Contact,
}

pub async fn contact(p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let b = base(&p, id_token);
    let page = ContactPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "contact",
        s: Settings::from_stored(&p.shop.settings).contact,
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_settings.html")]
struct GeneralPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: General,
    /// The stored API token, masked (`********1234`), or empty when none is stored.
    token_masked: String,
    gateways: String,
    subdomains: [&'static str; 2],
    exotel_status: String,
    /// The next setup step: the method's page.
    next_href: &'static str,
    next_label: &'static str,
}

fn masked_token(app: &App, shop: &Shop) -> String {
    shop.exotel_api_token_enc
        .as_deref()
        .and_then(|enc| app.cipher.decrypt(enc).ok())
        .map(|t| mask_secret(secrecy::ExposeSecret::expose_secret(&t)))
        .unwrap_or_default()
}

pub async fn general(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let s = Settings::from_stored(&p.shop.settings).general;
    let b = base(&p, id_token);
    let (next_href, next_label) = match s.method {
        Method::Otp => ("/app/settings/otp", "OTP SMS"),
        Method::Ivr => ("/app/settings/ivr", "IVR call"),
        Method::Whatsapp => ("/app/settings/whatsapp", "WhatsApp"),
    };
    let page = GeneralPage {
        next_href,
        next_label,
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "settings",
        token_masked: masked_token(&state, &p.shop),
        gateways: s.cod_gateways.join("\n"),
        s,
        subdomains: EXOTEL_SUBDOMAINS,
        exotel_status: p.shop.exotel_status.clone(),
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_otp.html")]
struct OtpPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Otp,
    in_use: bool,
    /// The plan's steps an unverified code escalates to, in words.
    escalates_to: String,
}

pub async fn otp(p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let all = Settings::from_stored(&p.shop.settings);
    let b = base(&p, id_token);
    let page = OtpPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "otp",
        in_use: all.general.method == Method::Otp,
        escalates_to: all.plan().into_iter().map(|st| step_view(&all, st).noun).collect::<Vec<_>>().join(", then "),
        s: all.otp,
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_ivr.html")]
struct IvrPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Ivr,
    in_use: bool,
    /// `callback_urls` of the settings document: (key, what it is for, URL).
    urls: Vec<(&'static str, &'static str, String)>,
}

/// The callback URLs in the order of the flow, with what each one is for.
fn url_rows(app: &App, shop: &Shop) -> Vec<(&'static str, &'static str, String)> {
    let urls = callback_urls(&app.config.app_url, &shop.exotel_key);
    [
        ("greeting", "Greeting (dynamic text): reads the order number, amount and shop"),
        ("ivr_confirm", "Passthru after key 1: confirm"),
        ("ivr_cancel", "Passthru after key 2: cancel"),
        ("ivr_callback", "Passthru after key 3: call back"),
        ("ivr_input", "Passthru after a Gather (reads digits), instead of the three above"),
        ("call_status", "Call status callback (set by the app on every call)"),
        ("missed_call", "Passthru of the missed-call ExoPhone's flow"),
        ("sms_status", "SMS status callback (set by the app on every SMS)"),
        ("whatsapp", "WhatsApp delivery reports and replies (set by the app on every message)"),
    ]
    .into_iter()
    .map(|(k, what)| (k, what, urls[k].as_str().unwrap_or_default().to_string()))
    .collect()
}

pub async fn ivr(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let all = Settings::from_stored(&p.shop.settings);
    let b = base(&p, id_token);
    let page = IvrPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "ivr",
        in_use: all.general.method == Method::Ivr,
        s: all.ivr,
        urls: url_rows(&state, &p.shop),
    };
    embedded_page(&p.domain, &page)
}

#[derive(Template)]
#[template(path = "page_fallback.html")]
struct FallbackPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Fallback,
    missed_call_url: String,
}

pub async fn fallback(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let urls = callback_urls(&state.config.app_url, &p.shop.exotel_key);
    let b = base(&p, id_token);
    let page = FallbackPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "fallback",
        s: Settings::from_stored(&p.shop.settings).fallback,
        missed_call_url: urls["missed_call"].as_str().unwrap_or_default().to_string(),
    };
    embedded_page(&p.domain, &page)
}
