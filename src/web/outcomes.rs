//! `GET /app/api/outcomes?from=YYYY-MM-DD&to=YYYY-MM-DD` (SPEC §10): per verification status, how
//! many orders were delivered and returned, and the return-to-origin rate. Dates are the orders'
//! creation days in the shop's zone, as on the history pages; the rules are `crate::outcomes`.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use chrono::NaiveDate;

use crate::AppState;
use crate::costs::{Channel, CostReport, Funnel, funnel, funnel_json};
use crate::db::shops::Shop;
use crate::db::outcome_days;
use crate::domain::{OrderStatus, ShopDomain};
use crate::outcomes::{Facts, RangeError, StateTally, Tally, by_state, parse_range, tally};
use crate::pincode::State as ShipState;
use crate::reports::{day_start, shop_tz};
use crate::settings::{Settings, Verify};
use crate::web::embedded::{ShopSession, with_csp};
use crate::web::error::{ApiResult, AppError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/app/api/outcomes", get(outcomes_api)).route("/app/outcomes", get(super::outcomes_page::page))
}

/// What the outcomes API and the Outcomes page show for a range: one computation for both.
pub struct Outcomes {
    pub tz: chrono_tz::Tz,
    /// Counted as Order history counts: a shop that verifies COD orders only leaves prepaid ones out.
    pub cod_only: bool,
    /// The range as unix ms: [start, end).
    pub start: i64,
    pub end: i64,
    pub by_status: Vec<(OrderStatus, Tally)>,
    pub costs: CostReport,
    /// What the numbers above come from, and the rest of the page's.
    pub facts: Facts,
    /// Orders sent, delivered, answered and confirmed per channel (`db::outcomes::funnel`).
    pub funnel: Vec<(Channel, Funnel)>,
    /// Per shipping state, the most orders first, the unknown (`None`) last.
    pub by_state: Vec<(Option<ShipState>, StateTally)>,
}

impl Outcomes {
    /// The shop's orders created from `from` to `to` (both included, days in the shop's zone).
    pub async fn load(state: &AppState, shop: &Shop, from: NaiveDate, to: NaiveDate) -> Result<Outcomes, sqlx::Error> {
        let settings = Settings::from_stored(&shop.settings);
        let tz = shop_tz(&settings);
        let cod_only = settings.general.verify == Verify::Cod;
        let (start, end) = (day_start(tz, from), day_start(tz, to + chrono::Days::new(1)));
        let facts = outcome_days::facts(&state.db, &shop.id, tz, cod_only, from, to).await?;
        let costs = CostReport::new(&facts.usage, facts.confirmed, &settings.costs);
        let funnel = funnel(&facts.funnel);
        let by_state = by_state(&facts.states);
        Ok(Outcomes { tz, cod_only, start, end, by_status: tally(&facts.counts), costs, funnel, by_state, facts })
    }
}

async fn outcomes_api(State(state): State<AppState>, ShopSession(shop): ShopSession, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let (from, to) = parse_range(q.get("from").map(String::as_str), q.get("to").map(String::as_str)).map_err(|e| match e {
        RangeError::Malformed(m) => AppError::bad_request(m),
        RangeError::Invalid(errors) => AppError::Invalid(errors),
    })?;
    let o = Outcomes::load(&state, &shop, from, to).await?;
    let by_status: Map<String, Value> = o
        .by_status
        .iter()
        .map(|(status, t)| {
            let v = json!({
                "orders": t.orders,
                "shipped": t.shipped,
                "delivered": t.delivered,
                "returned": t.returned,
                "cancelled_after_shipping": t.cancelled_after_shipping,
                "rto_rate": t.rto_rate(),
            });
            (status.as_str().to_string(), v)
        })
        .collect();
    let by_state: Map<String, Value> = o
        .by_state
        .iter()
        .map(|(s, t)| {
            let v = json!({
                "orders": t.orders,
                "confirmed": t.confirmed,
                "confirmation_rate": t.confirmation_rate(),
                "returned": t.returned,
                "known_outcomes": t.known,
                "rto_rate": t.rto_rate(),
            });
            (s.map_or("unknown", ShipState::code).to_string(), v)
        })
        .collect();
    let body = json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "timezone": o.tz.name(),
        "orders_counted": if o.cod_only { "cod" } else { "all" },
        "by_status": by_status,
        // Keyed by the state's code ("MH"); "unknown": no address, not in India, or no PIN code.
        "by_state": by_state,
        "by_channel": o.costs.by_channel_json(),
        // Every channel's contacts and cost over every confirmed order of the range.
        "cost": o.costs.overall.to_json(),
        // Orders per channel at each stage, sent → delivered → answered → confirmed.
        "funnel": funnel_json(&o.funnel),
    });
    let domain = ShopDomain::parse(&shop.domain).ok();
    Ok(with_csp(domain.as_ref(), Json(body).into_response()))
}
