//! What the Outcomes page is computed from (issue 18), in a form that adds up over days — the
//! per-day summaries `db::outcome_days` keeps, merged for a range.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::costs::{Channel, Usage};

/// What the Outcomes page is computed from for a range of orders, in a form that adds up: the
/// facts of two ranges, merged, are the facts of their union. Kept per day as the page's cache
/// (`db::outcome_days`); counts only, no customer data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// (status, stored outcome, orders, of them shipped): [`tally`]'s rows.
    pub counts: Vec<(String, Option<String>, i64, i64)>,
    /// Confirmed orders per [`shown_duration`] of taken → confirmed: (ms, orders).
    pub confirm: Vec<(i64, i64)>,
    /// (quarter hour since the epoch, orders, of them confirmed): [`by_hour`]'s rows.
    pub quarters: Vec<(i64, i64, i64)>,
    /// Per channel: what its contacts used and the orders it confirmed (`CostReport::new`'s rows).
    pub usage: Vec<(Channel, Usage, i64)>,
    /// Every confirmed order, whichever way (the cost report's overall line).
    pub confirmed: i64,
    /// (channel, orders sent, delivered, answered, confirmed): `costs::funnel`'s rows.
    pub funnel: Vec<(String, i64, i64, i64, i64)>,
    /// (shipping state, orders, confirmed, known outcomes, returned): [`by_state`]'s rows.
    pub states: Vec<(Option<String>, i64, i64, i64, i64)>,
    /// [`Facts::VERSION`] when computed; stored facts of another version are computed again.
    pub v: u32,
}

impl Facts {
    /// Raised whenever what a field holds changes meaning, so days summarised before are not used.
    pub const VERSION: u32 = 1;

    /// Adds `other` in, folding rows with the same key so merged facts stay as small as one day's.
    pub fn merge(&mut self, other: Facts) {
        let mine = std::mem::take(self);
        *self = Facts::merge_all([mine, other]);
    }

    /// All of them together: their rows appended, then folded once (one fold for a whole range,
    /// not one per day).
    pub fn merge_all(all: impl IntoIterator<Item = Facts>) -> Facts {
        /// Rows summed per key, in key order.
        fn fold<K: Ord, V>(rows: impl Iterator<Item = (K, V)>, add: impl Fn(&mut V, V)) -> Vec<(K, V)> {
            let mut by: BTreeMap<K, V> = BTreeMap::new();
            for (k, v) in rows {
                match by.entry(k) {
                    std::collections::btree_map::Entry::Occupied(mut e) => add(e.get_mut(), v),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(v);
                    }
                }
            }
            by.into_iter().collect()
        }
        let mut all_v = None;
        let mut raw = Facts::default();
        for f in all {
            // The version of all of them when they agree, else none (0).
            all_v = match all_v {
                None => Some(f.v),
                Some(v) if v == f.v => Some(v),
                Some(_) => Some(0),
            };
            raw.counts.extend(f.counts);
            raw.confirm.extend(f.confirm);
            raw.quarters.extend(f.quarters);
            raw.usage.extend(f.usage);
            raw.confirmed += f.confirmed;
            raw.funnel.extend(f.funnel);
            raw.states.extend(f.states);
        }
        let pair = |a: &mut (i64, i64), b: (i64, i64)| *a = (a.0 + b.0, a.1 + b.1);
        let add4 = |x: &mut [i64; 4], y: [i64; 4]| x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
        let add_usage = |a: &mut (Usage, i64), b: (Usage, i64)| *a = (a.0 + b.0, a.1 + b.1);
        Facts {
            counts: fold(raw.counts.into_iter().map(|(s, o, n, sh)| ((s, o), (n, sh))), pair).into_iter().map(|((s, o), (n, sh))| (s, o, n, sh)).collect(),
            confirm: fold(raw.confirm.into_iter(), |a, b| *a += b),
            quarters: fold(raw.quarters.into_iter().map(|(q, n, c)| (q, (n, c))), pair).into_iter().map(|(q, (n, c))| (q, n, c)).collect(),
            usage: fold(raw.usage.into_iter().map(|(ch, u, c)| (ch.as_str(), (u, c))), add_usage)
                .into_iter()
                .filter_map(|(k, (u, c))| Some((Channel::parse(k)?, u, c)))
                .collect(),
            confirmed: raw.confirmed,
            funnel: fold(raw.funnel.into_iter().map(|(k, a, b, c, d)| (k, [a, b, c, d])), add4).into_iter().map(|(k, [a, b, c, d])| (k, a, b, c, d)).collect(),
            states: fold(raw.states.into_iter().map(|(k, a, b, c, d)| (k, [a, b, c, d])), add4).into_iter().map(|(k, [a, b, c, d])| (k, a, b, c, d)).collect(),
            v: all_v.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcomes::{duration_counts, tally};
    use proptest::prelude::*;

    proptest! {
        /// Facts add up: any split of a range's rows, each part folded and merged in either order,
        /// gives the facts of the whole.
        #[test]
        fn facts_add_up(rows in prop::collection::vec((0usize..3, 0usize..3, 0i64..5, 0i64..200_000_000, 0i64..4, 0usize..5, 0i64..300), 0..60),
                        cut in 0usize..60) {
            let statuses = ["confirmed", "cancelled", "no_response"];
            let outcomes = [None, Some("delivered".to_string()), Some("returned".to_string())];
            let facts_of = |rows: &[(usize, usize, i64, i64, i64, usize, i64)]| {
                let raw = Facts {
                    counts: rows.iter().map(|r| (statuses[r.0].to_string(), outcomes[r.1].clone(), r.2, r.2 / 2)).collect(),
                    confirm: duration_counts(&rows.iter().map(|r| r.3).collect::<Vec<_>>()),
                    quarters: rows.iter().map(|r| (r.4, r.2, r.2 / 2)).collect(),
                    usage: rows.iter().map(|r| (Channel::ALL[r.5], Usage { contacts: 1, reported_paise: r.6, ..Usage::default() }, r.2 % 2)).collect(),
                    confirmed: rows.iter().map(|r| r.2 % 2).sum(),
                    funnel: rows.iter().map(|r| (Channel::ALL[r.5].as_str().to_string(), r.2 + 2, r.2 + 1, r.2, r.2 % 2)).collect(),
                    states: rows.iter().map(|r| ((r.0 > 0).then(|| ["MH", "KA"][r.0 - 1].to_string()), r.2 + 1, r.2, r.2 / 2, r.2 % 2)).collect(),
                    v: 0,
                };
                let mut f = Facts::default();
                f.merge(raw);
                f
            };
            let cut = cut.min(rows.len());
            let whole = facts_of(&rows);
            let (a, b) = (facts_of(&rows[..cut]), facts_of(&rows[cut..]));
            let mut ab = a.clone();
            ab.merge(b.clone());
            let mut ba = b;
            ba.merge(a);
            prop_assert_eq!(&ab, &whole);
            prop_assert_eq!(&ba, &whole);
            prop_assert_eq!(tally(&ab.counts), tally(&whole.counts));
        }
    }
}
