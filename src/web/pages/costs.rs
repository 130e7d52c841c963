//! The Prices page (SPEC §10): the merchant's per-unit prices (`settings.costs`) that cost reports
//! use where Exotel reports none, saved through the settings API like every settings page.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{IdToken, base, embedded_page};
use crate::AppState;
use crate::settings::{Costs, PRICE_PAISE};
use crate::web::embedded::{PageShop, shop_settings};
use crate::web::error::AppResult;

/// One price of the form: its field, label, current value and what it is for (with its default).
struct PriceRow {
    field: &'static str,
    label: &'static str,
    value: i64,
    help: String,
}

#[derive(Template)]
#[template(path = "page_costs.html")]
struct CostsPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    rows: Vec<PriceRow>,
    attrs: String,
}

/// Paise as the merchant reads them: ₹0.25.
fn rupees(paise: i64) -> String {
    format!("₹{}.{:02}", paise / 100, paise % 100)
}

/// `GET /app/settings/costs`.
pub async fn costs(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let s = shop_settings(&state, &p.shop)?.costs;
    let d = Costs::default();
    let row = |field, label, value: i64, default: i64, used: &str| PriceRow {
        field,
        label,
        value,
        help: format!("{used} Now {}; default {default} ({}).", rupees(value.clamp(*PRICE_PAISE.start(), *PRICE_PAISE.end())), rupees(default)),
    };
    let rows = vec![
        row("sms_unit_paise", "One SMS unit (paise)", s.sms_unit_paise, d.sms_unit_paise,
            "Each unit of every SMS sent (160 GSM or 70 Unicode characters a unit; one when Exotel reports no units)."),
        row("whatsapp_message_paise", "One WhatsApp message (paise)", s.whatsapp_message_paise, d.whatsapp_message_paise,
            "Each utility template message, unless Exotel reported it failed (Meta's rate, rounded up to whole paise)."),
        row("call_minute_paise", "One minute of an IVR call (paise)", s.call_minute_paise, d.call_minute_paise,
            "Each started minute of an answered call that Exotel has not priced; Exotel's own call prices are used as reported."),
    ];
    let b = base(&p, id_token);
    let page = CostsPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "costs",
        rows,
        attrs: format!("data-type=\"int\" min=\"{}\" max=\"{}\" step=\"1\" inputmode=\"numeric\"", PRICE_PAISE.start(), PRICE_PAISE.end()),
    };
    embedded_page(&p.domain, &page)
}
