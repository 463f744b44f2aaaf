//! Time for the control loop: the correlation layer's one clock trait, injectable so tests
//! drive the loop step by step (`now` for the timestamps sent to the service, `elapsed` for
//! schedules and intervals). [`SystemClock`] in production; tests inject the correlation
//! crate's `testing::ManualClock` and advance it by hand, so no test ever sleeps.

// Re-exported by the `testing` module; without that feature only the crate reaches them.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

#[cfg(feature = "testing")]
pub use tracing_insights_correlation::testing::ManualClock;
pub use tracing_insights_correlation::{Clock, SystemClock};
