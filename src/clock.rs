//! The one clock every time decision goes through. In production it is the system clock; with
//! `TEST_CLOCK=1` it stands still at the instant the process started and moves only when told to;
//! in demo mode it runs with the system clock but can be skipped ahead (to see retries and windows).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

#[derive(Clone)]
pub struct Clock(Arc<Inner>);

struct Inner {
    /// `Some(ms)` for a test clock: the frozen instant in unix milliseconds.
    frozen_ms: Option<AtomicI64>,
    /// A demo clock's skips so far; `None` for the plain system clock, which never moves.
    offset_ms: Option<AtomicI64>,
    /// Ticks whenever a test clock is advanced, so timers re-check at once.
    advanced: watch::Sender<i64>,
}

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Inner {
            frozen_ms: None,
            offset_ms: None,
            advanced: watch::channel(0).0,
        }))
    }

    /// The system clock, plus whatever the demo console skipped.
    pub fn demo() -> Self {
        Clock(Arc::new(Inner {
            frozen_ms: None,
            offset_ms: Some(AtomicI64::new(0)),
            advanced: watch::channel(0).0,
        }))
    }

    pub fn test() -> Self {
        // On a whole second, so that whole-second advances land exactly on a given time.
        let now = Utc::now().timestamp_millis().div_euclid(1000) * 1000;
        Clock(Arc::new(Inner {
            frozen_ms: Some(AtomicI64::new(now)),
            offset_ms: None,
            advanced: watch::channel(now).0,
        }))
    }

    pub fn is_test(&self) -> bool {
        self.0.frozen_ms.is_some()
    }

    /// Unix milliseconds, UTC: the form times are stored in.
    pub fn now_ms(&self) -> i64 {
        match (&self.0.frozen_ms, &self.0.offset_ms) {
            (Some(ms), _) => ms.load(Ordering::SeqCst),
            (None, Some(off)) => Utc::now().timestamp_millis() + off.load(Ordering::SeqCst),
            (None, None) => Utc::now().timestamp_millis(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).expect("clock within chrono's range")
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves a test or demo clock forward; returns the new time, or `None` for the system clock.
    pub fn advance(&self, seconds: i64) -> Option<i64> {
        let step = seconds.saturating_mul(1000);
        let now = match (&self.0.frozen_ms, &self.0.offset_ms) {
            (Some(ms), _) => ms.fetch_add(step, Ordering::SeqCst) + step,
            (None, Some(off)) => {
                off.fetch_add(step, Ordering::SeqCst);
                self.now_ms()
            }
            (None, None) => return None,
        };
        self.0.advanced.send_replace(now);
        Some(now)
    }

    /// A receiver that changes whenever the test clock moves (never for the system clock).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.0.advanced.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_stands_still_until_advanced() {
        let c = Clock::test();
        let t0 = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.now_ms(), t0);
        assert_eq!(c.advance(90), Some(t0 + 90_000));
        assert_eq!(c.now_ms(), t0 + 90_000);
    }

    #[test]
    fn system_clock_cannot_be_advanced() {
        assert_eq!(Clock::system().advance(10), None);
    }
}
