//! Where time comes from: span start and end times, and the intervals of the exporters'
//! control loops. One trait for every layer, so one test clock drives them all.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// A source of time. The default is [`SystemClock`]; tests and the conformance runner inject
/// their own through the `testing` features (Live Metrics' `ManualClock` implements it).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Wall-clock time: span start and end, timestamps sent to a service.
    fn now(&self) -> SystemTime;

    /// Monotonic time since an arbitrary origin fixed for this clock, for schedules and
    /// intervals (never goes back when the wall clock is set). The default derives it from
    /// [`now`](Self::now), which suits a clock that tests move by hand.
    fn elapsed(&self) -> Duration {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// `SystemTime::now()` for wall time, `Instant` (from the first use in this process) for
/// [`elapsed`](Clock::elapsed).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn elapsed(&self) -> Duration {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed()
    }
}
