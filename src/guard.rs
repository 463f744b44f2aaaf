//! One guard for every exporter: shuts them down in order, within one deadline.

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;
type ShutdownFn = Box<dyn FnOnce(Duration) -> Result<(), BoxError> + Send>;

/// An exporter's guard that [`TelemetryGuard`] can hold.
pub trait ExporterGuard: Send + 'static {
    /// Flushes and stops the exporter within `timeout`, reporting what was not delivered.
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError>;
}

/// Holds the guards of every exporter in a stack and shuts them down in the order they were
/// added, within one overall deadline ([`TelemetryGuard::shutdown`]). Dropping it instead
/// drops each guard, which is each exporter's own bounded best effort.
///
/// Blocking shutdown must not run on a current-thread tokio runtime's only thread if an
/// exporter needs that runtime; ours do not (each exporter owns its worker thread).
///
/// ```
/// use std::time::Duration;
/// let guard = tracing_insights::TelemetryGuard::new();
/// // guard = guard.with("appinsights", appinsights_guard);
/// guard.shutdown(Duration::from_secs(5)).unwrap();
/// ```
#[must_use = "dropping the guard shuts the exporters down at once; keep it until exit"]
#[derive(Default)]
pub struct TelemetryGuard {
    parts: Vec<(&'static str, ShutdownFn)>,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field(
                "exporters",
                &self.parts.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TelemetryGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exporter's guard under a name used in errors.
    pub fn with(mut self, name: &'static str, guard: impl ExporterGuard) -> Self {
        self.parts
            .push((name, Box::new(move |t| guard.shutdown_within(t))));
        self
    }

    /// How many exporters it holds.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Shuts every exporter down in the order added; each gets what is left of `timeout`.
    /// Every exporter is shut down even when an earlier one fails; all failures are returned.
    pub fn shutdown(self, timeout: Duration) -> Result<(), ShutdownErrors> {
        let deadline = Instant::now() + timeout;
        let mut errors = Vec::new();
        for (name, shutdown) in self.parts {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = shutdown(left) {
                errors.push((name, e));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ShutdownErrors(errors))
        }
    }
}

/// What went wrong while shutting exporters down, by exporter.
#[derive(Debug)]
pub struct ShutdownErrors(pub Vec<(&'static str, BoxError)>);

impl fmt::Display for ShutdownErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{name}: {e}")?;
        }
        Ok(())
    }
}

impl Error for ShutdownErrors {}

#[cfg(feature = "appinsights")]
impl ExporterGuard for tracing_insights_appinsights::Guard {
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
}

#[cfg(feature = "live-metrics")]
impl ExporterGuard for tracing_insights_live_metrics::LiveMetricsGuard {
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
}

#[cfg(feature = "otlp")]
impl ExporterGuard for tracing_insights_otlp::OtlpGuard {
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Fake(Arc<Mutex<Vec<&'static str>>>, &'static str, bool);

    impl ExporterGuard for Fake {
        fn shutdown_within(self, _: Duration) -> Result<(), BoxError> {
            self.0.lock().unwrap().push(self.1);
            if self.2 {
                Ok(())
            } else {
                Err(format!("{} lost 3 items", self.1).into())
            }
        }
    }

    #[test]
    fn shuts_down_in_order_and_collects_every_error() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let guard = TelemetryGuard::new()
            .with("a", Fake(log.clone(), "a", false))
            .with("b", Fake(log.clone(), "b", true))
            .with("c", Fake(log.clone(), "c", false));
        assert_eq!(guard.len(), 3);
        let err = guard.shutdown(Duration::from_millis(10)).unwrap_err();
        assert_eq!(*log.lock().unwrap(), ["a", "b", "c"]);
        assert_eq!(err.to_string(), "a: a lost 3 items; c: c lost 3 items");
    }
}
