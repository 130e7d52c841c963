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
use crate::verification::address::{self, Edit, Field, Problem};
use crate::verification::link::{self, LinkState, Refused};
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
    /// The shipping address, line by line (shown while the order takes an answer, and with its outcome).
    address: Vec<String>,
    /// The address form's fields; empty when the shopper may not correct the address.
    fields: Vec<AddressField>,
    /// The address form starts open (it was sent back with problems).
    edit_open: bool,
}

/// One input of the address form.
struct AddressField {
    name: &'static str,
    label: &'static str,
    value: String,
    autocomplete: &'static str,
    max_chars: usize,
    required: bool,
    pin: bool,
    /// What is wrong with the value sent, or empty.
    error: &'static str,
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
        address: Vec::new(),
        fields: Vec::new(),
        edit_open: false,
    }
}

/// The address form: the stored address, or what was sent with its problems.
fn address_fields(t: &'static Texts, old: &address::Address, edit: &Edit, problems: &[(Field, Problem)]) -> Vec<AddressField> {
    Field::ALL
        .into_iter()
        .map(|f| {
            let (label, autocomplete, max_chars) = match f {
                Field::Address1 => (t.address1_label, "address-line1", address::LINE_MAX_CHARS),
                Field::Address2 => (t.address2_label, "address-line2", address::LINE_MAX_CHARS),
                Field::City => (t.city_label, "address-level2", address::CITY_MAX_CHARS),
                Field::Zip => (t.zip_label, "postal-code", 6),
            };
            let error = problems.iter().find(|(pf, _)| *pf == f).map_or("", |(_, p)| t.address_problem(*p));
            AddressField {
                name: f.name(),
                label,
                value: edit.shown(old, f),
                autocomplete,
                max_chars,
                required: f != Field::Address2,
                pin: f == Field::Zip,
                error,
            }
        })
        .collect()
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
        LinkState::Open { order, choices, correctable } => page(StatusCode::OK, open_page(t, &order, choices, correctable, token, &Edit::default(), &[])),
        LinkState::Expired { order } => page(StatusCode::GONE, order_page(&order, t, t.expired, t.expired_note)),
        LinkState::Used { order, .. } => {
            let mut p = order_page(&order, t, t.outcome(&order.status), "");
            p.address = order.address().map(|a| address::lines(&a)).unwrap_or_default();
            page(StatusCode::OK, p)
        }
        LinkState::Resolved { order } if order.status == OrderStatus::Cancelled => page(
            StatusCode::GONE,
            order_page(&order, t, t.cancelled_elsewhere, t.cancelled_elsewhere_note),
        ),
        LinkState::Resolved { order } => page(StatusCode::OK, order_page(&order, t, t.outcome(&order.status), t.nothing_more)),
    }
}

/// The page of a link that takes an answer: its buttons, and the address form when offered (with
/// what was sent and its problems, after a refused correction).
fn open_page(
    t: &'static Texts,
    order: &OrderInfo,
    choices: Vec<&'static str>,
    correctable: bool,
    token: &str,
    edit: &Edit,
    problems: &[(Field, Problem)],
) -> LinkPage {
    let (heading, message) = if problems.is_empty() { (t.please_confirm, "") } else { (t.check_address, t.check_address_note) };
    let mut p = order_page(order, t, heading, message);
    p.choices = choices
        .into_iter()
        .filter_map(|c| Choice::parse(c).map(|choice| (c, t.button(choice))))
        .collect();
    p.token = token.to_string();
    if let Some(a) = order.address() {
        p.address = address::lines(&a);
        if correctable {
            p.fields = address_fields(t, &a, edit, problems);
            p.edit_open = !problems.is_empty();
        }
    }
    p
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
    /// The address fields (confirmation only; other buttons ignore them).
    #[serde(default)]
    address1: Option<String>,
    #[serde(default)]
    address2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    zip: Option<String>,
}

pub async fn act(State(state): State<AppState>, Path(token): Path<String>, Form(form): Form<ActionForm>) -> Response {
    let edit = Edit { address1: form.address1, address2: form.address2, city: form.city, zip: form.zip };
    match link::link_action(&state, &token, &form.action, &edit).await {
        Ok(Ok(s)) => render_state(s, &token),
        // Nothing changed: the page again with what was sent and what is wrong with it.
        Ok(Err(Refused::Invalid { order, choices, problems })) => {
            let t = Texts::for_locale(order.customer_locale.as_deref());
            page(StatusCode::UNPROCESSABLE_ENTITY, open_page(t, &order, choices, true, &token, &edit, &problems))
        }
        Ok(Err(Refused::NotOffered(_))) => {
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
