//! Time for the control loop: injectable so tests drive the loop step by step.

// Items re-exported by the `testing` module are `pub`; without that feature only the
// crate reaches them, and the accessors only the tests call are unused.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// Where the control loop reads the time. [`SystemClock`] in production; tests inject
/// [`ManualClock`] and advance it by hand, so no test ever sleeps.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time since an arbitrary origin (schedules and intervals).
    fn elapsed(&self) -> Duration;
    /// Wall-clock time (the `Timestamp` and `x-ms-qps-transmission-time` sent to the service).
    fn wall(&self) -> SystemTime;
}

/// `Instant` for intervals, `SystemTime` for timestamps.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// It also implements the correlation layer's clock trait, so one `ManualClock` can time the
/// spans (through `tracing_insights_correlation::CorrelationLayer::with_clock`, feature
/// `testing` of that crate) and drive the Live Metrics control loop.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use std::time::{Duration, UNIX_EPOCH};
/// use tracing_insights_live_metrics::testing::{Clock, ManualClock};
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.elapsed(), Duration::from_millis(1500));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<(Duration, SystemTime)>>);

impl ManualClock {
    /// A clock standing at `wall`, with `elapsed() == 0`.
    pub fn new(wall: SystemTime) -> Self {
        Self(Arc::new(Mutex::new((Duration::ZERO, wall))))
    }

    /// Moves both the monotonic and the wall time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        g.0 += d;
        g.1 += d;
    }

    fn get(&self) -> (Duration, SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        self.get().0
    }
    fn wall(&self) -> SystemTime {
        self.get().1
    }
}

impl tracing_insights_correlation::Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.get().1
    }
}
