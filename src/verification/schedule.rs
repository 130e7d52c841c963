//! The IVR rules as pure functions over (settings, state, now): when a call may be placed, when the
//! next one is due, and what an ended call means. No IO here; `ivr.rs` acts on the decisions.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use crate::domain::Choice;
use crate::settings::{Ivr, parse_hhmm};

/// The hours calls are allowed in, in the shop's time zone. Both ends are inclusive: a call due at
/// exactly `end` is still placed; one a moment later waits for the next day's `start`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub tz: Tz,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Window {
    /// The window of stored (validated) settings; the TRAI default 09:00–21:00 IST if they are unusable.
    pub fn of(ivr: &Ivr) -> Window {
        let tz = ivr.timezone.parse().unwrap_or(chrono_tz::Asia::Kolkata);
        let time = |s: &str, default: u32| {
            let m = parse_hhmm(s).unwrap_or(default);
            NaiveTime::from_hms_opt(m / 60, m % 60, 0).expect("valid time")
        };
        Window {
            tz,
            start: time(&ivr.window_start, 9 * 60),
            end: time(&ivr.window_end, 21 * 60),
        }
    }

    /// The instant a given local date's window opens. On a day when a DST change skips `start`,
    /// the window opens when the clocks land again.
    fn opens_on(&self, date: NaiveDate) -> DateTime<Utc> {
        let mut local = date.and_time(self.start);
        loop {
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(t) => return t.with_timezone(&Utc),
                LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
                LocalResult::None => local += Duration::minutes(15),
            }
        }
    }

    /// `t` when it is inside the window; otherwise the next opening: today's start when `t` is
    /// before it, tomorrow's when `t` is after the end.
    pub fn place(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.tz);
        let time = local.time();
        let date = local.date_naive();
        if time < self.start {
            self.opens_on(date)
        } else if time <= self.end {
            t
        } else {
            self.opens_on(date.succ_opt().expect("date in range"))
        }
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.place(t) == t
    }
}

/// A call still unreported this long after it was dialled (an SMS after it was sent) is looked up
/// with Exotel, again every `RECHECK_AFTER_MS` while Exotel says it is live, and settled as unknown
/// after `GIVE_UP_AFTER_MS`.
pub(crate) const RECONCILE_AFTER_MS: i64 = 30 * 60 * 1000;
pub(crate) const RECHECK_AFTER_MS: i64 = 10 * 60 * 1000;
pub(crate) const GIVE_UP_AFTER_MS: i64 = 2 * 3600 * 1000;

/// A time for the timeline, in the shop's zone.
pub fn local_time(ivr: &Ivr, ms: i64) -> String {
    let tz = Window::of(ivr).tz;
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

/// What the caller's keys mean: `digits` as Exotel sends them (`"1"`, quotes included).
/// `Err` carries the cleaned input for the report when it is no offered choice.
pub fn read_digits(ivr: &Ivr, digits: &str) -> Result<Choice, String> {
    let d = digits.trim().trim_matches('"').trim();
    let choice = match d {
        "1" => Some(Choice::Confirm),
        "2" => Some(Choice::Cancel),
        "3" => Some(Choice::Callback),
        _ => None,
    };
    match choice {
        Some(c) if ivr.tag(c).is_some() => Ok(c),
        _ => Err(d.to_string()),
    }
}

/// Why an ended call did not resolve the order, or `None` when the caller made a choice.
pub fn retry_cause(status: &str, choice: Option<Choice>, invalid_input: bool, answered_by_machine: bool) -> Option<&'static str> {
    if choice.is_some() {
        return None;
    }
    Some(match status {
        "busy" => "busy",
        "no-answer" => "no-answer",
        "failed" | "canceled" => "failed",
        _ if answered_by_machine => "machine",
        _ if invalid_input => "invalid-input",
        _ => "no-input",
    })
}

/// Exotel's terminal call states.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "busy" | "no-answer" | "canceled")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivr(tz: &str) -> Ivr {
        Ivr {
            timezone: tz.into(),
            exophone: "08047112345".into(),
            flow_id: "123".into(),
            ..Ivr::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn window_edges_in_kolkata() {
        let w = Window::of(&ivr("Asia/Kolkata"));
        // 09:00 IST = 03:30 UTC; 21:00 IST = 15:30 UTC.
        assert_eq!(w.place(at("2026-11-23T03:30:00Z")), at("2026-11-23T03:30:00Z"), "exactly at start");
        assert_eq!(w.place(at("2026-11-23T15:30:00Z")), at("2026-11-23T15:30:00Z"), "exactly at end");
        assert_eq!(w.place(at("2026-11-23T15:30:01Z")), at("2026-11-24T03:30:00Z"), "after end → next day");
        assert_eq!(w.place(at("2026-11-23T03:29:59Z")), at("2026-11-23T03:30:00Z"), "before start → today");
        assert_eq!(w.place(at("2026-11-22T20:00:00Z")), at("2026-11-23T03:30:00Z"), "01:30 IST → 09:00 that day");
    }

    #[test]
    fn window_follows_new_york_across_dst() {
        let w = Window::of(&ivr("America/New_York"));
        // 2026-11-01 02:00 EDT → 01:00 EST. A call after Saturday's end opens at 09:00 EST Sunday.
        assert_eq!(w.place(at("2026-11-01T01:30:00Z")), at("2026-11-01T14:00:00Z"));
        // The day before, 09:00 EDT is 13:00 UTC.
        assert_eq!(w.place(at("2026-10-31T05:00:00Z")), at("2026-10-31T13:00:00Z"));
        // Spring forward 2026-03-08: a 02:30 start does not exist that day; it opens at 03:00 EDT.
        let mut early = ivr("America/New_York");
        early.window_start = "02:30".into();
        let w = Window::of(&early);
        assert_eq!(w.place(at("2026-03-08T06:00:00Z")), at("2026-03-08T07:00:00Z"));
    }

    #[test]
    fn digits_and_causes() {
        let mut s = ivr("Asia/Kolkata");
        assert_eq!(read_digits(&s, "\"1\""), Ok(Choice::Confirm));
        assert_eq!(read_digits(&s, "2"), Ok(Choice::Cancel));
        assert_eq!(read_digits(&s, "\"9\""), Err("9".into()));
        s.callback_tag.clear();
        assert_eq!(read_digits(&s, "\"3\""), Err("3".into()), "an option without a tag is not offered");
        assert_eq!(retry_cause("completed", Some(Choice::Confirm), false, false), None);
        assert_eq!(retry_cause("completed", None, false, false), Some("no-input"));
        assert_eq!(retry_cause("completed", None, true, false), Some("invalid-input"));
        assert_eq!(retry_cause("completed", None, false, true), Some("machine"));
        assert_eq!(retry_cause("busy", None, false, false), Some("busy"));
        assert_eq!(retry_cause("no-answer", None, false, false), Some("no-answer"));
        assert_eq!(retry_cause("failed", None, false, false), Some("failed"));
    }
}
