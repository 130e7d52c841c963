//! The confirmation link page (`/v/{token}`): mobile first, no JavaScript. `GET` shows the order and
//! its buttons; `POST` with `action=confirm|cancel|callback` applies the choice once and says what
//! happened. Expired, used, unknown and resolved-elsewhere links get a plain page with the fitting
//! status code.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::AppState;
use crate::domain::{Choice, OrderStatus};
use crate::verification::link::{self, LinkState};
use crate::verification::sms::OrderInfo;
use super::texts::Texts;

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    t: &'static Texts,
    shop: String,
    heading: &'static str,
    message: &'static str,
    show_order: bool,
    order_name: String,
    amount: String,
    items: Vec<(String, i64)>,
    /// (value, button text).
    choices: Vec<(&'static str, &'static str)>,
    token: String,
    /// Only a cash-on-delivery order is paid on arrival; a prepaid one (a shop verifying every
    /// order) must not be told so.
    cod: bool,
}

fn page(status: StatusCode, p: LinkPage) -> Response {
    match p.render() {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            // A link page is personal: never cached by a shared proxy, never framed.
            let headers = resp.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "link page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong. Please try again.").into_response()
        }
    }
}

fn plain_page(t: &'static Texts, heading: &'static str, message: &'static str) -> LinkPage {
    LinkPage {
        t,
        shop: String::new(),
        heading,
        message,
        show_order: false,
        order_name: String::new(),
        amount: String::new(),
        items: Vec::new(),
        choices: Vec::new(),
        token: String::new(),
        cod: false,
    }
}

fn order_page(o: &OrderInfo, t: &'static Texts, heading: &'static str, message: &'static str) -> LinkPage {
    LinkPage {
        shop: o.shop_name(),
        show_order: true,
        order_name: o.name.clone(),
        amount: o.amount(),
        items: o.line_items(),
        cod: o.is_cod,
        ..plain_page(t, heading, message)
    }
}

/// The texts in the order's language; English when the link names no order.
fn texts_of(state: &LinkState) -> &'static Texts {
    let order = match state {
        LinkState::Unknown => None,
        LinkState::Open { order, .. } | LinkState::Expired { order } | LinkState::Used { order, .. } | LinkState::Resolved { order } => Some(order),
    };
    Texts::for_locale(order.and_then(|o| o.customer_locale.as_deref()))
}

fn render_state(state: LinkState, token: &str) -> Response {
    let t = texts_of(&state);
    match state {
        LinkState::Unknown => page(StatusCode::NOT_FOUND, plain_page(t, t.unknown_link, t.unknown_link_note)),
        LinkState::Open { order, choices } => {
            let mut p = order_page(&order, t, t.please_confirm, "");
            p.choices = choices
                .into_iter()
                .filter_map(|c| Choice::parse(c).map(|choice| (c, t.button(choice))))
                .collect();
            p.token = token.to_string();
            page(StatusCode::OK, p)
        }
        LinkState::Expired { order } => page(StatusCode::GONE, order_page(&order, t, t.expired, t.expired_note)),
        LinkState::Used { order, .. } => page(StatusCode::OK, order_page(&order, t, t.outcome(&order.status), "")),
        LinkState::Resolved { order } if order.status == OrderStatus::Cancelled => page(
            StatusCode::GONE,
            order_page(&order, t, t.cancelled_elsewhere, t.cancelled_elsewhere_note),
        ),
        LinkState::Resolved { order } => page(StatusCode::OK, order_page(&order, t, t.outcome(&order.status), t.nothing_more)),
    }
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match link::link_state(&state, &token).await {
        Ok(s) => render_state(s, &token),
        Err(e) => {
            tracing::error!(error = %e, "link lookup failed");
            (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    action: String,
}

pub async fn act(State(state): State<AppState>, Path(token): Path<String>, Form(form): Form<ActionForm>) -> Response {
    match link::link_action(&state, &token, &form.action).await {
        Ok(Ok(s)) => render_state(s, &token),
        Ok(Err(_)) => {
            // Said in the order's language: the link is valid, only the button is not offered.
            let t = link::link_state(&state, &token).await.map_or(Texts::for_locale(None), |s| texts_of(&s));
            page(StatusCode::BAD_REQUEST, plain_page(t, t.wrong_button, t.wrong_button_note))
        }
        Err(e) => {
            tracing::error!(error = %e, "link action failed");
            (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response()
        }
    }
}
