//! The one sampler: decides once per trace, at its root, whether the trace is kept.

use crate::ids::TraceId;
use crate::rate_limit::RateLimiter;
use std::fmt;
use std::sync::Arc;

/// Decides, once per trace at its root, whether every exporter keeps the trace.
///
/// The default keeps everything. [`Sampler::ratio`] keeps a fraction of traces, chosen by
/// Application Insights' score (DJB2 over the trace id's hex form, see [`score`]), so a Rust
/// service and a Python or .NET service using Microsoft's `ApplicationInsightsSampler` with the
/// same ratio keep or drop the very same traces. [`Sampler::rate_limited`] is Microsoft's
/// `RateLimitedSampler`: an adaptive percentage that keeps about a given number of traces per
/// second.
///
/// **The caller's `sampled` flag, plainly:** by default it does not decide. A request whose
/// incoming `traceparent` ends in `-00` (the caller did not sample it) is still exported
/// when this sampler keeps the trace (the default sampler keeps every trace), and one ending
/// in `-01` can still be dropped by a ratio; Microsoft's exporters behave the same, relying
/// on the shared score for consistency across services. To follow the caller instead
/// (`-00` dropped, `-01` kept, whatever the ratio), use
/// [`respect_remote_parent(true)`](Sampler::respect_remote_parent) or
/// `OTEL_TRACES_SAMPLER=parentbased_always_on` / `parentbased_traceidratio`. Either way the
/// trace id and parent span id of the incoming `traceparent` are kept.
///
/// Clones share a rate-limited sampler's state. [`sampler_from_env`](crate::sampler_from_env)
/// reads `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.
#[derive(Clone, PartialEq)]
pub struct Sampler {
    mode: Mode,
    respect_remote_parent: bool,
}

#[derive(Clone)]
enum Mode {
    Ratio(f64),
    RateLimited(Arc<RateLimiter>),
}

impl PartialEq for Mode {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Mode::Ratio(a), Mode::Ratio(b)) => a == b,
            (Mode::RateLimited(a), Mode::RateLimited(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A sampling ratio outside `[0, 1]` (or NaN). `Debug` shows the message too.
#[derive(Clone, Copy, PartialEq)]
pub struct InvalidRatio(pub f64);

impl fmt::Debug for InvalidRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvalidRatio({self})")
    }
}

/// A rate limit (traces per second) that is negative or not finite. `Debug` shows the
/// message too.
#[derive(Clone, Copy, PartialEq)]
pub struct InvalidRate(pub f64);

impl fmt::Display for InvalidRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limit {} is not a number of traces per second (0 or more)",
            self.0
        )
    }
}

impl fmt::Debug for InvalidRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvalidRate({self})")
    }
}

impl std::error::Error for InvalidRate {}

impl fmt::Display for InvalidRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sampling ratio {} is outside [0, 1]; use 1.0 to keep every trace",
            self.0
        )
    }
}

impl std::error::Error for InvalidRatio {}

impl Default for Sampler {
    fn default() -> Self {
        Self::always_on()
    }
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Ratio(r) => write!(f, "Sampler{{ratio: {r}")?,
            Mode::RateLimited(l) => write!(f, "Sampler{{traces_per_second: {}", l.limit())?,
        }
        if self.respect_remote_parent {
            f.write_str(", respect_remote_parent")?;
        }
        f.write_str("}")
    }
}

impl Sampler {
    /// Keeps every trace (the default). `sampleRate` is 100.
    pub const fn always_on() -> Self {
        Self {
            mode: Mode::Ratio(1.0),
            respect_remote_parent: false,
        }
    }

    /// Drops every trace.
    pub const fn always_off() -> Self {
        Self {
            mode: Mode::Ratio(0.0),
            respect_remote_parent: false,
        }
    }

    /// Keeps the fraction `ratio` (0 to 1) of traces, by Application Insights' trace-id score.
    ///
    /// ```
    /// use tracing_insights_correlation::Sampler;
    /// let s = Sampler::ratio(0.25).unwrap();
    /// assert_eq!(s.sample_rate(), 25.0);
    /// assert!(Sampler::ratio(1.5).is_err());
    /// ```
    pub fn ratio(ratio: f64) -> Result<Self, InvalidRatio> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(InvalidRatio(ratio));
        }
        Ok(Self {
            mode: Mode::Ratio(ratio),
            respect_remote_parent: false,
        })
    }

    /// Microsoft's `RateLimitedSampler`: keeps about `traces_per_second` traces per second
    /// with an adaptive percentage (decayed over 0.1 s, rounded down to `100 / n`) applied
    /// to Application Insights' trace-id score; `sampleRate` is that percentage. As
    /// Microsoft's, it starts measuring when it is made, so a trace started within
    /// milliseconds of that gets a low percentage. A negative or non-finite rate is refused.
    ///
    /// ```
    /// use tracing_insights_correlation::Sampler;
    /// let s = Sampler::rate_limited(5.0).unwrap();
    /// assert_eq!(s.traces_per_second(), Some(5.0));
    /// ```
    pub fn rate_limited(traces_per_second: f64) -> Result<Self, InvalidRate> {
        if !traces_per_second.is_finite() || traces_per_second < 0.0 {
            return Err(InvalidRate(traces_per_second));
        }
        Ok(Self {
            mode: Mode::RateLimited(Arc::new(RateLimiter::new(traces_per_second))),
            respect_remote_parent: false,
        })
    }

    /// When `true`, a trace continued from a remote `traceparent` follows the caller's
    /// `sampled` flag instead of the score. Default `false`, as in Microsoft's exporters,
    /// where consistency across services comes from the shared score alone.
    #[must_use]
    pub fn respect_remote_parent(mut self, respect: bool) -> Self {
        self.respect_remote_parent = respect;
        self
    }

    /// Whether a remote parent's `sampled` flag decides (see [`Self::respect_remote_parent`]).
    pub fn respects_remote_parent(&self) -> bool {
        self.respect_remote_parent
    }

    /// The kept fraction, 0 to 1 (a rate-limited sampler: its latest percentage / 100).
    pub fn fraction(&self) -> f64 {
        self.sample_rate() / 100.0
    }

    /// The limit of a [`Self::rate_limited`] sampler.
    pub fn traces_per_second(&self) -> Option<f64> {
        match &self.mode {
            Mode::RateLimited(l) => Some(l.limit()),
            Mode::Ratio(_) => None,
        }
    }

    /// The kept percentage written as Application Insights' `sampleRate` (`ratio × 100`; a
    /// rate-limited sampler: the percentage of its latest decision, 100 before the first).
    pub fn sample_rate(&self) -> f64 {
        match &self.mode {
            Mode::Ratio(r) => r * 100.0,
            Mode::RateLimited(l) => l.latest(),
        }
    }

    /// The decision for a new trace. `remote_sampled` is the caller's flag when the trace
    /// continues a remote parent.
    pub fn should_sample(&self, trace_id: TraceId, remote_sampled: Option<bool>) -> bool {
        self.decide(trace_id, remote_sampled).0
    }

    /// The decision for a new trace and the `sampleRate` (percentage) to write with it.
    pub(crate) fn decide(&self, trace_id: TraceId, remote_sampled: Option<bool>) -> (bool, f64) {
        let percentage = match &self.mode {
            Mode::Ratio(r) => r * 100.0,
            Mode::RateLimited(l) => l.percentage_now(),
        };
        (self.keep(trace_id, remote_sampled, percentage), percentage)
    }

    /// The decision for a root whose trace id changed (a remote parent arrived after the
    /// span was made), at the percentage already decided: a rate-limited sampler must not
    /// count the trace twice.
    pub(crate) fn redecide(
        &self,
        trace_id: TraceId,
        remote_sampled: Option<bool>,
        percentage: f64,
    ) -> bool {
        self.keep(trace_id, remote_sampled, percentage)
    }

    fn keep(&self, trace_id: TraceId, remote_sampled: Option<bool>, percentage: f64) -> bool {
        if let (true, Some(flag)) = (self.respect_remote_parent, remote_sampled) {
            return flag;
        }
        if percentage >= 100.0 {
            true
        } else if percentage <= 0.0 {
            false
        } else {
            score(trace_id) * 100.0 < percentage
        }
    }
}

/// Application Insights' sampling score of a trace id, in `[0, 1]`.
///
/// DJB2 over the 32 lower-case hex characters: start at 5381, `h = h × 33 + byte` wrapped to
/// a signed 32-bit integer after each step, then `|h|` (with `i32::MIN` mapped to
/// `i32::MAX`) divided by `i32::MAX`. Equal to Microsoft's `_get_DJB2_sample_score`.
///
/// ```
/// use tracing_insights_correlation::{sampler::score, TraceId};
/// let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
/// assert_eq!(score(id), 0.5278892803601405);
/// ```
pub fn score(trace_id: TraceId) -> f64 {
    let mut buf = [0u8; 32];
    let hex = trace_id.encode_hex(&mut buf);
    let mut h: i32 = 5381;
    for b in hex.bytes() {
        h = h.wrapping_mul(33).wrapping_add(i32::from(b));
    }
    let h = if h == i32::MIN { i32::MAX } else { h.abs() };
    f64::from(h) / f64::from(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_test_vectors() {
        for (id, want) in [
            ("00000000000000000000000000000000", 0.02339351411135565),
            ("0af7651916cd43dd8448eb211c80319c", 0.5278892803601405),
            ("4bf92f3577b34da6a3ce929d0e0e4736", 0.33461353850300124),
            ("ffffffffffffffffffffffffffffffff", 0.9996135514227736),
            ("7dec6802ae51b8a80ee6b2adb21e3932", 0.49219601112054473),
        ] {
            assert_eq!(score(TraceId::from_hex(id).unwrap()), want, "{id}");
        }
    }

    #[test]
    fn ratio_decisions_follow_the_score() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert!(Sampler::ratio(0.53).unwrap().should_sample(id, None));
        assert!(!Sampler::ratio(0.52).unwrap().should_sample(id, None));
        assert!(!Sampler::always_off().should_sample(id, Some(true)));
        assert!(Sampler::always_on().should_sample(id, Some(false)));
        let respect = Sampler::always_on().respect_remote_parent(true);
        assert!(!respect.should_sample(id, Some(false)));
        assert!(respect.should_sample(id, None));
    }

    #[test]
    fn rate_limited_keeps_by_score_below_its_percentage() {
        let s = Sampler::rate_limited(5.0).unwrap();
        assert_eq!(s.traces_per_second(), Some(5.0));
        assert_eq!(s.sample_rate(), 100.0);
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        // Score 0.5279: kept at 100 %, dropped at 50 %.
        assert!(s.redecide(id, None, 100.0));
        assert!(!s.redecide(id, None, 50.0));
        assert!(Sampler::rate_limited(-1.0).is_err());
        assert!(Sampler::rate_limited(f64::INFINITY).is_err());
        assert_eq!(s.clone(), s);
        assert_ne!(Sampler::rate_limited(5.0).unwrap(), s);
    }

    #[test]
    fn bad_ratios_are_errors() {
        let e = Sampler::ratio(2.0).unwrap_err();
        assert!(format!("{e:?}").contains(&e.to_string()));
        let e = Sampler::rate_limited(-1.0).unwrap_err();
        assert!(format!("{e:?}").contains("traces per second"));
        assert!(Sampler::ratio(-0.1).is_err());
        assert!(Sampler::ratio(f64::NAN).is_err());
        assert!(Sampler::ratio(0.0).is_ok());
    }
}
