//! The adaptive percentage of Microsoft's `RateLimitedSampler`.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Seconds over which the observed rate decays (Microsoft's adaptation time, 0.1 s).
const ADAPTATION_NS: f64 = 0.1e9;

/// Measures how many traces start per second and turns the target rate into the
/// percentage of traces to keep.
///
/// The state is Microsoft's: a decayed count of traces and a decayed window length. At each
/// new trace `Δ` (ns since the previous one) decays both by `exp(−Δ / 0.1 s)`, the count
/// gains 1 and the window `Δ`; the percentage is `100 × min(1, window × limit / count)`
/// (window in seconds), rounded down to the form `100 / n` ([`round`]).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: f64,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    count: f64,
    window_ns: f64,
    last_ns: u64,
    latest: f64,
}

impl RateLimiter {
    pub(crate) fn new(limit: f64) -> Self {
        Self {
            limit,
            start: Instant::now(),
            state: Mutex::new(State {
                count: 0.0,
                window_ns: 0.0,
                last_ns: 0,
                latest: 100.0,
            }),
        }
    }

    pub(crate) fn limit(&self) -> f64 {
        self.limit
    }

    /// The percentage of the latest decision (100 before the first).
    pub(crate) fn latest(&self) -> f64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .latest
    }

    /// Counts a new trace now and returns the percentage to keep.
    pub(crate) fn percentage_now(&self) -> f64 {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.percentage_at(now)
    }

    /// Counts a new trace at `now_ns` (since the limiter was made) and returns the
    /// percentage to keep.
    pub(crate) fn percentage_at(&self, now_ns: u64) -> f64 {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now_ns <= s.last_ns {
            s.count += 1.0;
        } else {
            let delta = (now_ns - s.last_ns) as f64;
            let decay = (-delta / ADAPTATION_NS).exp();
            s.count = s.count * decay + 1.0;
            s.window_ns = s.window_ns * decay + delta;
            s.last_ns = now_ns;
        }
        let raw = if s.count == 0.0 {
            100.0
        } else {
            100.0 * (s.window_ns * self.limit * 1e-9 / s.count).min(1.0)
        };
        s.latest = round(raw);
        s.latest
    }
}

/// Microsoft's rounding of the adaptive percentage: `p ↦ 100 / ceil(100 / p)`, so that
/// `sampleRate` is a whole fraction (1 in n); 0 (and a `p` so small that `100 / p` is
/// infinite) gives 0.
pub(crate) fn round(p: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    let n = (100.0 / p).ceil();
    if n.is_finite() {
        100.0 / n
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_gives_one_in_n() {
        assert_eq!(round(33.3), 25.0);
        assert!((round(7.0) - 100.0 / 15.0).abs() < 1e-12);
        assert_eq!(round(50.0), 50.0);
        assert_eq!(round(100.0), 100.0);
        assert_eq!(round(0.0), 0.0);
        assert_eq!(round(f64::MIN_POSITIVE), 0.0);
    }

    #[test]
    fn the_first_trace_soon_after_start_gets_five_percent() {
        // Microsoft's quirk: 10 ms after creation, limit 5/s → 5 %.
        let l = RateLimiter::new(5.0);
        assert_eq!(l.percentage_at(10_000_000), 5.0);
        assert_eq!(l.latest(), 5.0);
    }

    #[test]
    fn after_a_second_idle_everything_is_kept() {
        let l = RateLimiter::new(5.0);
        assert_eq!(l.percentage_at(1_000_000_000), 100.0);
    }

    #[test]
    fn a_steady_hundred_per_second_at_limit_five_keeps_five_percent() {
        let l = RateLimiter::new(5.0);
        let mut p = 0.0;
        for i in 1..=1000u64 {
            p = l.percentage_at(1_000_000_000 + i * 10_000_000);
        }
        assert_eq!(p, 5.0);
    }

    #[test]
    fn traces_at_the_same_instant_all_count() {
        let l = RateLimiter::new(1.0);
        let first = l.percentage_at(1_000_000_000);
        assert_eq!(first, 100.0);
        // Two more at the very same nanosecond: the window stays, the count grows.
        l.percentage_at(1_000_000_000);
        let third = l.percentage_at(1_000_000_000);
        assert!(third < first, "{third}");
    }
}
