//! Delivery outcomes (SPEC §10), the pure rules: what Shopify's shipping webhooks say about an
//! order, how those reports combine whatever order they arrive in, the outcome they give, and the
//! arithmetic and date range of `GET /app/api/outcomes`. The storage is `db::outcomes`; the webhook
//! side `inbox::shipping`; the API `web::outcomes`.
//!
//! The rule: reports are merged into one state (`Observed::merge`: the earliest time a shipment, a
//! delivery or a return was reported, the latest cancellation), so duplicates change nothing and any
//! order of arrival gives the same state; the outcome is then read off that state with a fixed
//! precedence — delivered, then returned, then cancelled after shipping, else unknown — and only
//! ever moves up that list as reports come in.

mod facts;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

pub use facts::Facts;
use crate::domain::{OrderStatus, ShippingOutcome};
use crate::pincode::State;

/// What is known about an order's shipping (unix ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// A fulfillment (Shopify's "fulfilled") or any tracking event.
    pub shipped_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Failure to deliver, or returning to the sender.
    pub returned_at: Option<i64>,
    /// When Shopify says the order was cancelled (`cancelled_at`), shipped or not; the latest
    /// reported, so "shipped before the cancellation" never turns false as reports come in.
    pub cancelled_at: Option<i64>,
}

/// One report about an order, at its time (unix ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Shipped(i64),
    Delivered(i64),
    Returned(i64),
    Cancelled(i64),
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn latest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

impl Observed {
    pub fn of(signal: Signal) -> Observed {
        match signal {
            // Delivered or returned: it had shipped by then.
            Signal::Shipped(t) => Observed { shipped_at: Some(t), ..Observed::default() },
            Signal::Delivered(t) => Observed { shipped_at: Some(t), delivered_at: Some(t), ..Observed::default() },
            Signal::Returned(t) => Observed { shipped_at: Some(t), returned_at: Some(t), ..Observed::default() },
            Signal::Cancelled(t) => Observed { cancelled_at: Some(t), ..Observed::default() },
        }
    }

    /// Both together. Commutative, associative and idempotent, so
    /// duplicates and the order of arrival change nothing.
    pub fn merge(self, o: Observed) -> Observed {
        Observed {
            shipped_at: earliest(self.shipped_at, o.shipped_at),
            delivered_at: earliest(self.delivered_at, o.delivered_at),
            returned_at: earliest(self.returned_at, o.returned_at),
            cancelled_at: latest(self.cancelled_at, o.cancelled_at),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Observed::default()
    }

    /// The outcome and its time. Delivered wins over everything: a failed attempt followed by a
    /// delivery is a delivery, and a parcel that reached the shopper stays delivered whatever comes
    /// after (a later "failure" is a carrier's mistake, a later cancellation bookkeeping). Returned
    /// wins over a cancellation: merchants cancel returned COD orders to restock them. Cancelled
    /// counts only when the order had shipped no later than the cancellation.
    pub fn outcome(&self) -> (ShippingOutcome, Option<i64>) {
        if let Some(t) = self.delivered_at {
            (ShippingOutcome::Delivered, Some(t))
        } else if let Some(t) = self.returned_at {
            (ShippingOutcome::Returned, Some(t))
        } else if let (Some(c), Some(s)) = (self.cancelled_at, self.shipped_at)
            && s <= c
        {
            (ShippingOutcome::Cancelled, Some(c))
        } else {
            (ShippingOutcome::Unknown, None)
        }
    }
}

/// A tracking status (a fulfillment event's `status`, a fulfillment's `shipment_status`), as
/// Shopify writes it: what it says about the parcel. Any status says at least that it shipped.
pub fn tracking_signal(status: &str, at: i64) -> Signal {
    match status.trim().to_ascii_lowercase().as_str() {
        // `picked_up`: collected by the shopper at a pickup point.
        "delivered" | "picked_up" => Signal::Delivered(at),
        // `failure`: failure to deliver; `returning_to_sender` is newer Shopify's explicit RTO.
        "failure" | "returning_to_sender" | "returned_to_sender" | "returned" => Signal::Returned(at),
        _ => Signal::Shipped(at),
    }
}

/// Unix ms of an RFC 3339 time as Shopify writes it.
pub fn parse_time(s: Option<&str>) -> Option<i64> {
    s.and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok()).map(|t| t.timestamp_millis())
}

/// The `fulfillment_events/create` body (a fulfillment's tracking event).
#[derive(Debug, Deserialize)]
pub struct FulfillmentEventPayload {
    pub order_id: i64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub happened_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl FulfillmentEventPayload {
    /// What it reports, at when it happened (else when Shopify recorded it, else `fallback`).
    /// None when it carries no status.
    pub fn observed(&self, fallback: i64) -> Option<Observed> {
        let status = self.status.as_deref().filter(|s| !s.trim().is_empty())?;
        let at = parse_time(self.happened_at.as_deref()).or_else(|| parse_time(self.created_at.as_deref())).unwrap_or(fallback);
        Some(Observed::of(tracking_signal(status, at)))
    }
}

/// A fulfillment: the `fulfillments/update` body, and each of an order's `fulfillments`.
#[derive(Debug, Deserialize)]
pub struct FulfillmentPayload {
    #[serde(default)]
    pub order_id: Option<i64>,
    /// pending · open · success · cancelled · error · failure
    #[serde(default)]
    pub status: Option<String>,
    /// The carrier's latest tracking status, when a tracking integration reports one.
    #[serde(default)]
    pub shipment_status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl FulfillmentPayload {
    /// What it reports: shipped when it succeeded (Shopify's "fulfilled"), at its creation; its
    /// shipment status at its last update. A cancelled or failed fulfillment reports nothing.
    pub fn observed(&self, fallback: i64) -> Observed {
        let status = self.status.as_deref().unwrap_or("").trim().to_ascii_lowercase();
        if matches!(status.as_str(), "cancelled" | "error" | "failure") {
            return Observed::default();
        }
        let created = parse_time(self.created_at.as_deref()).unwrap_or(fallback);
        let updated = parse_time(self.updated_at.as_deref()).unwrap_or(fallback);
        let mut seen = Observed::default();
        if status == "success" {
            seen = seen.merge(Observed::of(Signal::Shipped(created)));
        }
        if let Some(s) = self.shipment_status.as_deref().filter(|s| !s.trim().is_empty()) {
            seen = seen.merge(Observed::of(tracking_signal(s, updated.max(created))));
        }
        seen
    }
}

/// The parts of the `orders/cancelled` body that say whether the order had shipped.
#[derive(Debug, Deserialize)]
pub struct CancelledOrderPayload {
    pub id: i64,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    /// fulfilled · partial · null
    #[serde(default)]
    pub fulfillment_status: Option<String>,
    #[serde(default)]
    pub fulfillments: Vec<FulfillmentPayload>,
}

impl CancelledOrderPayload {
    /// The cancellation at Shopify's `cancelled_at` (else `fallback`), with what its fulfillments
    /// report. An order Shopify calls fulfilled without listing its fulfillments had shipped no
    /// later than its cancellation.
    pub fn observed(&self, fallback: i64) -> Observed {
        let at = parse_time(self.cancelled_at.as_deref()).unwrap_or(fallback);
        let mut seen = Observed::of(Signal::Cancelled(at));
        for f in &self.fulfillments {
            seen = seen.merge(f.observed(at));
        }
        let fulfilled = matches!(self.fulfillment_status.as_deref().map(str::trim), Some("fulfilled" | "partial"));
        if fulfilled && seen.shipped_at.is_none() {
            seen = seen.merge(Observed::of(Signal::Shipped(at)));
        }
        seen
    }
}

/// The widest range `GET /app/api/outcomes` takes: a quarter, both dates included.
pub const MAX_RANGE_DAYS: i64 = 92;

/// Why a range was refused: a date missing or not a date (the request is malformed, 400), or two
/// dates that make no range the API takes (field → message, 422).
#[derive(Debug, PartialEq, Eq)]
pub enum RangeError {
    Malformed(String),
    Invalid(BTreeMap<String, String>),
}

/// `from` and `to` as `YYYY-MM-DD`, both included, at most [`MAX_RANGE_DAYS`] days.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), RangeError> {
    let date = |name: &str, v: Option<&str>| -> Result<NaiveDate, String> {
        let v = v.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| format!("{name} is required (YYYY-MM-DD)"))?;
        // Exactly YYYY-MM-DD: chrono alone would take "2026-1-5".
        let shaped = v.len() == 10 && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        shaped
            .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| format!("{name} must be a date as YYYY-MM-DD, not {v:?}"))
    };
    let (f, t) = (date("from", from), date("to", to));
    let (f, t) = match (f, t) {
        (Ok(f), Ok(t)) => (f, t),
        (f, t) => {
            let msg: Vec<String> = [f.err(), t.err()].into_iter().flatten().collect();
            return Err(RangeError::Malformed(msg.join("; ")));
        }
    };
    let mut errors = BTreeMap::new();
    if t < f {
        errors.insert("to".to_string(), "must not be before from".to_string());
    } else if (t - f).num_days() + 1 > MAX_RANGE_DAYS {
        let last = f + chrono::Days::new((MAX_RANGE_DAYS - 1) as u64);
        errors.insert("to".to_string(), format!("the range is at most {MAX_RANGE_DAYS} days, both dates included: pick a to no later than {last}"));
    }
    if errors.is_empty() { Ok((f, t)) } else { Err(RangeError::Invalid(errors)) }
}

/// The counts of one verification status's orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub orders: i64,
    pub shipped: i64,
    pub delivered: i64,
    pub returned: i64,
    pub cancelled_after_shipping: i64,
}

impl Tally {
    /// Return-to-origin rate: returned / (delivered + returned), to 4 decimals; None without
    /// either (no known outcome: no rate rather than a zero that looks like a result).
    pub fn rto_rate(&self) -> Option<f64> {
        rto_rate(self.delivered, self.returned)
    }
}

pub fn rto_rate(delivered: i64, returned: i64) -> Option<f64> {
    let known = delivered + returned;
    (known > 0).then(|| (returned as f64 / known as f64 * 10_000.0).round() / 10_000.0)
}

/// Counts per verification status, every status present in declaration order, from rows of
/// (status, stored outcome, orders, of them shipped). Rows with a status the app does not know are
/// left out.
pub fn tally(rows: &[(String, Option<String>, i64, i64)]) -> Vec<(OrderStatus, Tally)> {
    let mut by: Vec<(OrderStatus, Tally)> = OrderStatus::ALL.iter().map(|s| (*s, Tally::default())).collect();
    for (status, outcome, n, shipped) in rows {
        let Some((_, t)) = by.iter_mut().find(|(s, _)| status == s) else { continue };
        t.orders += n;
        t.shipped += shipped;
        match ShippingOutcome::from_stored(outcome.as_deref()) {
            ShippingOutcome::Delivered => t.delivered += n,
            ShippingOutcome::Returned => t.returned += n,
            ShippingOutcome::Cancelled => t.cancelled_after_shipping += n,
            ShippingOutcome::Unknown => {}
        }
    }
    by
}

/// Fewer shipped orders than this and a rate is shown as a small sample.
pub const SMALL_SAMPLE: i64 = 30;

/// The `p`-th percentile (0–100) of ascending values, nearest rank: the smallest value with at
/// least p% of the values at or below it. None without values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    // ceil(p/100 · n), at least the first rank.
    let rank = (u64::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// Time to confirm over a range: how many confirmed orders, and the median and 90th percentile of
/// order taken → confirmed, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeToConfirm {
    pub orders: i64,
    pub p50_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// From each confirmed order's duration (ms, any order; negative ones, a clock step, count as 0).
pub fn time_to_confirm(mut durations: Vec<i64>) -> TimeToConfirm {
    for d in durations.iter_mut() {
        *d = (*d).max(0);
    }
    durations.sort_unstable();
    TimeToConfirm { orders: durations.len() as i64, p50_ms: percentile(&durations, 50), p90_ms: percentile(&durations, 90) }
}

/// A duration cut down to what [`duration_text`] shows of it (whole seconds under a minute, whole
/// minutes under a day, whole hours beyond; negative as 0). Cutting is monotone and keeps the text,
/// so a percentile of cut durations reads exactly as the percentile of the durations: the
/// Outcomes page keeps a day's durations as counts per cut value, a few hundred numbers at most.
pub fn shown_duration(ms: i64) -> i64 {
    let ms = ms.max(0);
    let unit = match ms / 1000 {
        0..60 => 1000,
        60..86_400 => 60_000,
        _ => 3_600_000,
    };
    ms - ms % unit
}

/// Counts of durations by [`shown_duration`]: (cut ms, orders), ascending.
pub fn duration_counts(durations: &[i64]) -> Vec<(i64, i64)> {
    let mut by: BTreeMap<i64, i64> = BTreeMap::new();
    for d in durations {
        *by.entry(shown_duration(*d)).or_default() += 1;
    }
    by.into_iter().collect()
}

/// [`time_to_confirm`] from counts per duration ((ms, orders), any order, keys may repeat).
pub fn time_to_confirm_counts(counts: &[(i64, i64)]) -> TimeToConfirm {
    let mut sorted: Vec<(i64, i64)> = counts.iter().filter(|(_, n)| *n > 0).map(|(d, n)| ((*d).max(0), *n)).collect();
    sorted.sort_unstable();
    let orders: i64 = sorted.iter().map(|(_, n)| n).sum();
    // Nearest rank as `percentile`: the smallest value with at least p% of the orders at or below it.
    let at = |p: i64| -> Option<i64> {
        let rank = ((p * orders + 99) / 100).max(1);
        let mut seen = 0;
        sorted.iter().find(|(_, n)| {
            seen += n;
            seen >= rank
        }).map(|(d, _)| *d)
    };
    if orders == 0 {
        return TimeToConfirm { orders: 0, p50_ms: None, p90_ms: None };
    }
    TimeToConfirm { orders, p50_ms: at(50), p90_ms: at(90) }
}

/// A duration for people: "45 s", "12 min", "3 h 05 min", "2 d 4 h".
pub fn duration_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Orders created in one hour of the day (shop's zone), and how many of them were confirmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HourTally {
    pub orders: i64,
    pub confirmed: i64,
}

impl HourTally {
    /// confirmed / orders, None without orders.
    pub fn rate(&self) -> Option<f64> {
        (self.orders > 0).then(|| self.confirmed as f64 / self.orders as f64)
    }
}

/// Orders per local hour of the day (0–23 in `tz`) from counts per quarter hour since the epoch
/// (quarter, orders, confirmed).
pub fn by_hour(tz: chrono_tz::Tz, quarters: &[(i64, i64, i64)]) -> [HourTally; 24] {
    use chrono::Timelike;
    let mut hours = [HourTally::default(); 24];
    for &(q, orders, confirmed) in quarters {
        let Some(t) = chrono::DateTime::from_timestamp_millis(q.saturating_mul(900_000)) else { continue };
        let h = &mut hours[t.with_timezone(&tz).hour() as usize];
        h.orders += orders;
        h.confirmed += confirmed;
    }
    hours
}

/// Orders shipping to one state: how many were confirmed, how many have a known outcome
/// (delivered or returned) and how many of those came back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateTally {
    pub orders: i64,
    pub confirmed: i64,
    pub known: i64,
    pub returned: i64,
}

impl StateTally {
    /// confirmed / orders, to 4 decimals; None without orders.
    pub fn confirmation_rate(&self) -> Option<f64> {
        (self.orders > 0).then(|| (self.confirmed as f64 / self.orders as f64 * 10_000.0).round() / 10_000.0)
    }

    /// returned / (delivered + returned), as [`rto_rate`].
    pub fn rto_rate(&self) -> Option<f64> {
        rto_rate(self.known - self.returned, self.returned)
    }
}

/// Orders per shipping state from rows of (stored state code, orders, confirmed, known outcome,
/// returned), in any order and with any key repeated (the rows of several ranges together): summed
/// per state, the most orders first (ties in the states' order), orders of no known state
/// (NULL, or a code the app does not know) last as `None`.
pub fn by_state(rows: &[(Option<String>, i64, i64, i64, i64)]) -> Vec<(Option<State>, StateTally)> {
    let mut by: BTreeMap<Option<State>, StateTally> = BTreeMap::new();
    for (code, orders, confirmed, known, returned) in rows {
        let t = by.entry(code.as_deref().and_then(State::from_code)).or_default();
        t.orders += orders;
        t.confirmed += confirmed;
        t.known += known;
        t.returned += returned;
    }
    let mut list: Vec<(Option<State>, StateTally)> = by.into_iter().collect();
    list.sort_by_key(|(s, t)| (s.is_none(), std::cmp::Reverse(t.orders), *s));
    list
}

/// The range the Outcomes page shows without one: the last 30 days, today included.
pub fn default_range(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    (today - chrono::Days::new(29), today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fold(signals: &[Signal]) -> Observed {
        signals.iter().fold(Observed::default(), |o, s| o.merge(Observed::of(*s)))
    }

    #[test]
    fn precedence() {
        use Signal::*;
        let o = |s: &[Signal]| fold(s).outcome();
        assert_eq!(o(&[]), (ShippingOutcome::Unknown, None));
        assert_eq!(o(&[Shipped(1)]), (ShippingOutcome::Unknown, None));
        assert_eq!(o(&[Shipped(1), Delivered(5)]), (ShippingOutcome::Delivered, Some(5)));
        assert_eq!(o(&[Shipped(1), Returned(5)]), (ShippingOutcome::Returned, Some(5)));
        // A failed attempt, then delivered: delivered; and a "failure" after delivery changes nothing.
        assert_eq!(o(&[Returned(3), Delivered(5)]), (ShippingOutcome::Delivered, Some(5)));
        assert_eq!(o(&[Delivered(3), Returned(5)]), (ShippingOutcome::Delivered, Some(3)));
        // Cancelled after shipping; not when it never shipped or shipped only later.
        assert_eq!(o(&[Shipped(1), Cancelled(4)]), (ShippingOutcome::Cancelled, Some(4)));
        assert_eq!(o(&[Cancelled(4)]), (ShippingOutcome::Unknown, None));
        assert_eq!(o(&[Cancelled(4), Shipped(6)]), (ShippingOutcome::Unknown, None));
        // Returned, then cancelled to restock: returned. Delivered, then cancelled: delivered.
        assert_eq!(o(&[Returned(3), Cancelled(9)]), (ShippingOutcome::Returned, Some(3)));
        assert_eq!(o(&[Delivered(3), Cancelled(9)]), (ShippingOutcome::Delivered, Some(3)));
        // Duplicates keep the earliest time.
        assert_eq!(o(&[Delivered(7), Delivered(5), Delivered(7)]), (ShippingOutcome::Delivered, Some(5)));
        // Of two cancellation reports the later counts: it was cancelled after the shipment at 5.
        assert_eq!(o(&[Shipped(5), Cancelled(3), Cancelled(10)]), (ShippingOutcome::Cancelled, Some(10)));
    }

    #[test]
    fn tracking_statuses() {
        for s in ["delivered", "DELIVERED", " picked_up "] {
            assert_eq!(tracking_signal(s, 1), Signal::Delivered(1), "{s}");
        }
        for s in ["failure", "returning_to_sender", "returned"] {
            assert_eq!(tracking_signal(s, 1), Signal::Returned(1), "{s}");
        }
        for s in ["in_transit", "out_for_delivery", "attempted_delivery", "label_printed", "confirmed", "delayed", "something_new"] {
            assert_eq!(tracking_signal(s, 1), Signal::Shipped(1), "{s}");
        }
    }

    #[test]
    fn payloads() {
        let t = |s: &str| parse_time(Some(s)).unwrap();
        let ev: FulfillmentEventPayload = serde_json::from_value(json!({"id": 9, "fulfillment_id": 3, "order_id": 77,
            "status": "delivered", "happened_at": "2026-11-20T10:00:00+05:30", "created_at": "2026-11-20T11:00:00+05:30"})).unwrap();
        assert_eq!(ev.observed(0).unwrap().outcome(), (ShippingOutcome::Delivered, Some(t("2026-11-20T04:30:00Z"))));
        let no_time: FulfillmentEventPayload = serde_json::from_value(json!({"order_id": 77, "status": "failure"})).unwrap();
        assert_eq!(no_time.observed(42).unwrap().returned_at, Some(42));
        let no_status: FulfillmentEventPayload = serde_json::from_value(json!({"order_id": 77, "status": null})).unwrap();
        assert_eq!(no_status.observed(42), None);

        let f: FulfillmentPayload = serde_json::from_value(json!({"order_id": 77, "status": "success", "shipment_status": "failure",
            "created_at": "2026-11-18T10:00:00Z", "updated_at": "2026-11-21T10:00:00Z"})).unwrap();
        let seen = f.observed(0);
        assert_eq!((seen.shipped_at, seen.returned_at), (Some(t("2026-11-18T10:00:00Z")), Some(t("2026-11-21T10:00:00Z"))));
        let cancelled: FulfillmentPayload = serde_json::from_value(json!({"status": "cancelled", "shipment_status": "delivered"})).unwrap();
        assert!(cancelled.observed(5).is_empty());
        let open: FulfillmentPayload = serde_json::from_value(json!({"status": "open", "created_at": "2026-11-18T10:00:00Z"})).unwrap();
        assert!(open.observed(5).is_empty(), "not fulfilled yet");

        let order: CancelledOrderPayload = serde_json::from_value(json!({"id": 77, "cancelled_at": "2026-11-22T10:00:00Z",
            "fulfillments": [{"status": "success", "created_at": "2026-11-19T10:00:00Z"}]})).unwrap();
        assert_eq!(order.observed(0).outcome(), (ShippingOutcome::Cancelled, Some(t("2026-11-22T10:00:00Z"))));
        let unshipped: CancelledOrderPayload = serde_json::from_value(json!({"id": 77, "cancelled_at": "2026-11-22T10:00:00Z",
            "fulfillment_status": null, "fulfillments": []})).unwrap();
        assert_eq!(unshipped.observed(0).outcome().0, ShippingOutcome::Unknown);
        let bare: CancelledOrderPayload = serde_json::from_value(json!({"id": 77, "fulfillment_status": "fulfilled"})).unwrap();
        assert_eq!(bare.observed(99).outcome(), (ShippingOutcome::Cancelled, Some(99)));
    }

    #[test]
    fn ranges() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(parse_range(Some("2026-07-01"), Some("2026-09-30")), Ok((d("2026-07-01"), d("2026-09-30"))));
        assert_eq!(parse_range(Some("2026-11-05"), Some("2026-11-05")), Ok((d("2026-11-05"), d("2026-11-05"))));
        match parse_range(Some("2026-07-01"), Some("2026-10-01")) {
            Err(RangeError::Invalid(e)) => assert!(e["to"].contains("at most 92 days") && e["to"].contains("2026-09-30"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_range(Some("2026-11-05"), Some("2026-11-04")), Err(RangeError::Invalid(e)) if e.contains_key("to")));
        for (f, t) in [(None, Some("2026-11-04")), (Some("2026-11-04"), None), (Some("2026-1-5"), Some("2026-01-06")),
            (Some("2026-02-30"), Some("2026-03-01")), (Some("yesterday"), Some("2026-03-01")), (Some("2026-03-01T00:00"), Some("2026-03-02"))]
        {
            assert!(matches!(parse_range(f, t), Err(RangeError::Malformed(_))), "{f:?} {t:?}");
        }
        match parse_range(None, Some("x")) {
            Err(RangeError::Malformed(m)) => assert!(m.contains("from is required") && m.contains("to must be a date"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rates_and_tallies() {
        assert_eq!(rto_rate(0, 0), None);
        assert_eq!(rto_rate(3, 1), Some(0.25));
        assert_eq!(rto_rate(2, 1), Some(0.3333));
        assert_eq!(rto_rate(0, 4), Some(1.0));
        let rows = vec![
            ("confirmed".to_string(), Some("delivered".to_string()), 3, 3),
            ("confirmed".to_string(), Some("returned".to_string()), 1, 1),
            ("confirmed".to_string(), None, 2, 1),
            ("no_response".to_string(), Some("cancelled".to_string()), 2, 2),
            ("mystery".to_string(), None, 5, 0),
        ];
        let list = tally(&rows);
        assert_eq!(list.iter().map(|(s, _)| *s).collect::<Vec<_>>(), OrderStatus::ALL);
        let by: std::collections::HashMap<OrderStatus, Tally> = list.into_iter().collect();
        assert_eq!(by[&OrderStatus::Confirmed], Tally { orders: 6, shipped: 5, delivered: 3, returned: 1, cancelled_after_shipping: 0 });
        assert_eq!(by[&OrderStatus::Confirmed].rto_rate(), Some(0.25));
        assert_eq!(by[&OrderStatus::NoResponse].cancelled_after_shipping, 2);
        assert_eq!(by[&OrderStatus::NoResponse].rto_rate(), None);
        assert_eq!(by[&OrderStatus::Skipped], Tally::default());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&v, 100), Some(10));
        assert_eq!(percentile(&v, 0), Some(1));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 90), Some(4));
        let t = time_to_confirm(vec![600_000, 60_000, -5, 3_600_000]);
        assert_eq!(t, TimeToConfirm { orders: 4, p50_ms: Some(60_000), p90_ms: Some(3_600_000) });
        assert_eq!(time_to_confirm(vec![]), TimeToConfirm { orders: 0, p50_ms: None, p90_ms: None });
    }

    #[test]
    fn hours_are_the_shops() {
        let q = |rfc: &str| chrono::DateTime::parse_from_rfc3339(rfc).unwrap().timestamp_millis() / 900_000;
        // 03:45 UTC is 09:15 IST; 04:15 UTC is 09:45 IST; 04:30 UTC is 10:00 IST; 18:30 UTC is midnight.
        let rows = [(q("2026-12-01T03:45:00Z"), 4, 1), (q("2026-12-02T04:15:00Z"), 1, 1), (q("2026-12-01T04:30:00Z"), 2, 0),
            (q("2026-12-01T18:30:00Z"), 3, 3)];
        let h = by_hour(chrono_tz::Asia::Kolkata, &rows);
        assert_eq!(h[9], HourTally { orders: 5, confirmed: 2 });
        assert_eq!(h[9].rate(), Some(0.4));
        assert_eq!(h[10], HourTally { orders: 2, confirmed: 0 });
        assert_eq!(h[0], HourTally { orders: 3, confirmed: 3 });
        assert_eq!(h[3].rate(), None);
        assert_eq!(h.iter().map(|t| t.orders).sum::<i64>(), 10);
        // Kathmandu is +05:45: 03:15 UTC is 09:00 there.
        assert_eq!(by_hour(chrono_tz::Asia::Kathmandu, &[(q("2026-12-01T03:15:00Z"), 1, 0)])[9].orders, 1);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(45_999), "45 s");
        assert_eq!(duration_text(-1), "0 s");
        assert_eq!(duration_text(12 * 60_000 + 59_000), "12 min");
        assert_eq!(duration_text(3 * 3_600_000 + 5 * 60_000), "3 h 05 min");
        assert_eq!(duration_text(2 * 86_400_000 + 4 * 3_600_000 + 1), "2 d 4 h");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(default_range(d("2026-12-06")), (d("2026-11-07"), d("2026-12-06")));
    }

    #[test]
    fn states_are_summed_and_sorted() {
        let row = |s: Option<&str>, o, c, k, r| (s.map(String::from), o, c, k, r);
        let rows = [row(Some("KA"), 2, 1, 1, 0), row(None, 9, 1, 0, 0), row(Some("MH"), 3, 2, 2, 1), row(Some("KA"), 2, 2, 1, 1),
            row(Some("XX"), 1, 0, 1, 1), row(Some("DL"), 4, 0, 0, 0)];
        let list = by_state(&rows);
        let t = |orders, confirmed, known, returned| StateTally { orders, confirmed, known, returned };
        // Delhi and Karnataka tie at 4 orders: the states' order. The unknown last, though it has the most.
        assert_eq!(list, [(Some(State::Delhi), t(4, 0, 0, 0)), (Some(State::Karnataka), t(4, 3, 2, 1)), (Some(State::Maharashtra), t(3, 2, 2, 1)),
            (None, t(10, 1, 1, 1))]);
        assert_eq!((list[1].1.confirmation_rate(), list[1].1.rto_rate()), (Some(0.75), Some(0.5)));
        assert_eq!((list[0].1.confirmation_rate(), list[0].1.rto_rate()), (Some(0.0), None));
        assert_eq!(t(3, 2, 3, 1).confirmation_rate(), Some(0.6667));
        assert_eq!(StateTally::default().confirmation_rate(), None);
        assert_eq!(by_state(&[]), []);
    }

    fn state_rows() -> impl Strategy<Value = Vec<(Option<String>, i64, i64, i64, i64)>> {
        let code = prop::sample::select(vec![None, Some("MH"), Some("KA"), Some("DL"), Some("TN"), Some("??")]);
        let row = (code, 1i64..50).prop_flat_map(|(c, orders)| {
            (Just(c.map(String::from)), Just(orders), 0..=orders, 0..=orders).prop_flat_map(|(c, o, conf, known)| (Just(c), Just(o), Just(conf), Just(known), 0..=known))
        });
        prop::collection::vec(row, 0..12)
    }

    proptest! {
        /// Additive: the rows of two ranges together, or of each range already summed, give the
        /// whole range's result (a per-day cache concatenates days' rows).
        #[test]
        fn state_rows_are_additive(a in state_rows(), b in state_rows()) {
            let whole = by_state(&[a.clone(), b.clone()].concat());
            prop_assert_eq!(&by_state(&[b.clone(), a.clone()].concat()), &whole);
            let summed = |rows: &[(Option<String>, i64, i64, i64, i64)]| -> Vec<(Option<String>, i64, i64, i64, i64)> {
                by_state(rows).into_iter().map(|(s, t)| (s.map(|s| s.code().to_string()), t.orders, t.confirmed, t.known, t.returned)).collect()
            };
            prop_assert_eq!(&by_state(&[summed(&a), summed(&b)].concat()), &whole);
            // Nothing lost, one line per state, the most orders first and the unknown last.
            prop_assert_eq!(whole.iter().map(|(_, t)| t.orders).sum::<i64>(), a.iter().chain(&b).map(|r| r.1).sum::<i64>());
            let known: Vec<&StateTally> = whole.iter().filter(|(s, _)| s.is_some()).map(|(_, t)| t).collect();
            prop_assert!(known.windows(2).all(|w| w[0].orders >= w[1].orders));
            prop_assert!(whole.iter().position(|(s, _)| s.is_none()).is_none_or(|i| i == whole.len() - 1));
            for (_, t) in &whole {
                prop_assert!(t.confirmed <= t.orders && t.returned <= t.known && t.known <= t.orders);
            }
        }
    }

    proptest! {
        /// The percentile is a value of the list with at least p% of the list at or below it and
        /// fewer than p% strictly below it.
        #[test]
        fn percentile_is_a_rank(mut v in prop::collection::vec(-1000i64..1000, 1..60), p in 1u32..=100) {
            v.sort_unstable();
            let x = percentile(&v, p).unwrap();
            prop_assert!(v.contains(&x));
            let n = v.len() as f64;
            let at_or_below = v.iter().filter(|&&y| y <= x).count() as f64;
            let below = v.iter().filter(|&&y| y < x).count() as f64;
            prop_assert!(at_or_below / n * 100.0 >= f64::from(p) - 1e-9);
            prop_assert!(below / n * 100.0 < f64::from(p));
        }

        /// Time to confirm from counts of shown durations reads exactly as from the durations.
        #[test]
        fn counted_durations_read_the_same(v in prop::collection::vec(-10_000i64..400_000_000, 0..80)) {
            let exact = time_to_confirm(v.clone());
            let counted = time_to_confirm_counts(&duration_counts(&v));
            prop_assert_eq!(exact.orders, counted.orders);
            prop_assert_eq!(exact.p50_ms.map(duration_text), counted.p50_ms.map(duration_text));
            prop_assert_eq!(exact.p90_ms.map(duration_text), counted.p90_ms.map(duration_text));
            prop_assert_eq!(exact.p50_ms.map(shown_duration), counted.p50_ms);
        }
    }

    fn signal() -> impl Strategy<Value = Signal> {
        (0u8..4, 0i64..50).prop_map(|(k, t)| match k {
            0 => Signal::Shipped(t),
            1 => Signal::Delivered(t),
            2 => Signal::Returned(t),
            _ => Signal::Cancelled(t),
        })
    }

    proptest! {
        /// Any permutation of the same reports, with any of them repeated, gives the same outcome.
        #[test]
        fn order_and_duplicates_do_not_matter(
            signals in prop::collection::vec(signal(), 0..12),
            shuffled in any::<prop::sample::Index>(),
            seed in any::<u64>(),
            dup in any::<prop::sample::Index>(),
        ) {
            let base = fold(&signals);
            let mut other = signals.clone();
            // A deterministic shuffle from the seed (Fisher–Yates with a small LCG).
            let mut x = seed;
            for i in (1..other.len()).rev() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                other.swap(i, (x >> 33) as usize % (i + 1));
            }
            if !signals.is_empty() {
                other.push(signals[dup.index(signals.len())]);
                let by = shuffled.index(other.len());
                other.rotate_left(by);
            }
            prop_assert_eq!(fold(&other), base);
            prop_assert_eq!(fold(&other).outcome(), base.outcome());
        }

        /// Merging is a semilattice join: commutative, associative, idempotent.
        #[test]
        fn merge_is_a_join(a in prop::collection::vec(signal(), 0..4), b in prop::collection::vec(signal(), 0..4), c in prop::collection::vec(signal(), 0..4)) {
            let (a, b, c) = (fold(&a), fold(&b), fold(&c));
            prop_assert_eq!(a.merge(b), b.merge(a));
            prop_assert_eq!(a.merge(b).merge(c), a.merge(b.merge(c)));
            prop_assert_eq!(a.merge(a), a);
        }

        /// More reports never move an outcome down: delivered > returned > cancelled > unknown.
        #[test]
        fn outcomes_never_regress(a in prop::collection::vec(signal(), 0..8), b in prop::collection::vec(signal(), 0..8)) {
            let rank = |o: ShippingOutcome| match o {
                ShippingOutcome::Unknown => 0,
                ShippingOutcome::Cancelled => 1,
                ShippingOutcome::Returned => 2,
                ShippingOutcome::Delivered => 3,
            };
            let before = fold(&a).outcome().0;
            let after = fold(&a).merge(fold(&b)).outcome().0;
            prop_assert!(rank(after) >= rank(before), "{:?} -> {:?}", before, after);
        }
    }
}
