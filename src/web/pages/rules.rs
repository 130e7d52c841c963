//! The Targeting rules page (SPEC §9): amount bounds, trusted repeat buyers and the blocklists,
//! saved through the settings API like every settings page. The blocklisted numbers are opened
//! for the authenticated merchant only (they are kept sealed).

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{IdToken, base, embedded_page};
use crate::AppState;
use crate::settings::{AMOUNT_MAX_UNITS, BLOCKLIST_MAX, Rules, TRUSTED_AFTER};
use crate::web::embedded::{PageShop, shop_settings};
use crate::web::error::AppResult;

#[derive(Template)]
#[template(path = "page_rules.html")]
struct RulesPage {
    api_key: String,
    shop: String,
    id_token: String,
    nav: &'static str,
    s: Rules,
    /// The bounds as the inputs show them: blank for no bound.
    min_amount: String,
    max_amount: String,
    /// One entry a line.
    phones: String,
    pincodes: String,
    /// The shop's default country, for numbers typed without a country code.
    country: String,
    amount_help: String,
    trusted_attrs: String,
    list_help: String,
}

/// `GET /app/settings/rules`.
pub async fn rules(State(state): State<AppState>, p: PageShop, IdToken(id_token): IdToken) -> AppResult<Response> {
    let all = shop_settings(&state, &p.shop)?;
    let b = base(&p, id_token);
    let s = all.rules;
    let page = RulesPage {
        api_key: b.api_key,
        shop: b.shop,
        id_token: b.id_token,
        nav: "rules",
        min_amount: s.min_amount.map(|a| a.to_string()).unwrap_or_default(),
        max_amount: s.max_amount.map(|a| a.to_string()).unwrap_or_default(),
        phones: s.blocklist_phones.join("\n"),
        pincodes: s.blocklist_pincodes.join("\n"),
        country: all.general.default_country,
        amount_help: format!("In your store's currency, 0–{AMOUNT_MAX_UNITS}, at most 2 decimals. Blank: no limit."),
        trusted_attrs: format!(
            "data-type=\"int\" min=\"{}\" max=\"{}\" inputmode=\"numeric\"",
            TRUSTED_AFTER.start(),
            TRUSTED_AFTER.end()
        ),
        list_help: format!("One a line, at most {BLOCKLIST_MAX}."),
        s,
    };
    embedded_page(&p.domain, &page)
}
