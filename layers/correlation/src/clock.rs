//! Where span start and end times come from.

use std::fmt;
use std::time::SystemTime;

/// A source of wall-clock time for span start and end. The default is [`SystemClock`];
/// tests and the conformance runner inject their own through the `testing` feature.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// `SystemTime::now()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
