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
use crate::domain::OrderStatus;
use crate::verification::link::{self, LinkState};
use crate::verification::sms::OrderInfo;

#[derive(Template)]
#[template(path = "link.html")]
struct LinkPage {
    shop: String,
    heading: String,
    message: String,
    show_order: bool,
    order_name: String,
    amount: String,
    items: Vec<(String, i64)>,
    choices: Vec<(&'static str, &'static str)>,
    token: String,
    /// Only a cash-on-delivery order is paid on arrival; a prepaid one (a shop verifying every
    /// order) must not be told so.
    cod: bool,
}

fn label(choice: &str) -> &'static str {
    match choice {
        "confirm" => "Confirm my order",
        "cancel" => "Cancel my order",
        _ => "Call me back",
    }
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

fn plain_page(heading: &str, message: &str) -> LinkPage {
    LinkPage {
        shop: String::new(),
        heading: heading.into(),
        message: message.into(),
        show_order: false,
        order_name: String::new(),
        amount: String::new(),
        items: Vec::new(),
        choices: Vec::new(),
        token: String::new(),
        cod: false,
    }
}

fn order_page(o: &OrderInfo, heading: &str, message: String, show_order: bool) -> LinkPage {
    LinkPage {
        shop: o.shop_name(),
        heading: heading.into(),
        message,
        show_order,
        order_name: o.name.clone(),
        amount: o.amount(),
        items: o.line_items(),
        choices: Vec::new(),
        token: String::new(),
        cod: o.is_cod,
    }
}

fn outcome_words(status: &str) -> &'static str {
    match OrderStatus::parse(status) {
        Some(OrderStatus::Confirmed) => "Your order is confirmed. Thank you!",
        Some(OrderStatus::Cancelled) => "Your order is cancelled.",
        Some(OrderStatus::CallbackRequested) => "We will call you back about your order.",
        _ => "This order needs no answer any more.",
    }
}

fn render_state(state: LinkState, token: &str) -> Response {
    match state {
        LinkState::Unknown => page(
            StatusCode::NOT_FOUND,
            plain_page("This link does not work", "Please check that you opened the whole link from the SMS."),
        ),
        LinkState::Open { order, choices } => {
            let mut p = order_page(&order, "Please confirm your order", String::new(), true);
            p.choices = choices.into_iter().map(|c| (c, label(c))).collect();
            p.token = token.to_string();
            page(StatusCode::OK, p)
        }
        LinkState::Expired { order } => page(
            StatusCode::GONE,
            order_page(&order, "This link has expired", "If you still want the order, please contact the shop.".into(), true),
        ),
        LinkState::Used { order, .. } => {
            let heading = outcome_words(&order.status);
            page(StatusCode::OK, order_page(&order, heading, String::new(), true))
        }
        LinkState::Resolved { order } if order.status == OrderStatus::Cancelled => page(
            StatusCode::GONE,
            order_page(&order, "This order was cancelled", "It cannot be confirmed any more. Please contact the shop if this is a mistake.".into(), true),
        ),
        LinkState::Resolved { order } => {
            let heading = outcome_words(&order.status);
            page(StatusCode::OK, order_page(&order, heading, "Nothing more to do.".into(), true))
        }
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
        Ok(Err(_)) => page(
            StatusCode::BAD_REQUEST,
            plain_page("That button is not on this page", "Please open the link from the SMS again and tap one of its buttons."),
        ),
        Err(e) => {
            tracing::error!(error = %e, "link action failed");
            (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a moment.").into_response()
        }
    }
}
