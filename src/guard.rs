//! One guard for every exporter: flushes and shuts them down in parallel, within one
//! deadline, so a dead endpoint cannot starve a healthy one.

use std::error::Error;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

type BoxError = Box<dyn Error + Send + Sync>;

/// How long dropping a [`TelemetryGuard`] lets its exporters deliver what is queued.
pub const DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// An exporter's guard that [`TelemetryGuard`] can hold.
pub trait ExporterGuard: Send + 'static {
    /// Sends what is queued and waits up to `timeout` for it to be delivered.
    fn flush_within(&self, timeout: Duration) -> Result<(), BoxError>;

    /// Flushes and stops the exporter within `timeout`, reporting what was not delivered.
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError>;

    /// The exporter's counters so far.
    fn stats(&self) -> ExporterStats;
}

/// What an exporter has done so far, as [`TelemetryGuard::stats`] reports it: the main
/// counters of the exporters' shared statistics type (`tracing_insights_export::ExportStats`,
/// which each exporter's own guard reports in full).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterStats {
    /// Items delivered (spans, log records, envelopes, metric points; Live Metrics: posts).
    pub sent: u64,
    /// Items lost for any reason: a full queue, an oversized item, a rejected or failed batch.
    pub dropped: u64,
    /// The part of `dropped` given up after an export failure.
    pub failed: u64,
    /// Requests sent again.
    pub retried: u64,
    /// Items written to the offline spool.
    pub spooled: u64,
    /// HTTP (or gRPC) requests made.
    pub requests: u64,
    /// The last export error, if any (no secrets).
    pub last_error: Option<String>,
}

impl ExporterStats {
    /// Counters for an exporter that keeps its own.
    pub fn new(sent: u64, dropped: u64) -> Self {
        Self {
            sent,
            dropped,
            ..Self::default()
        }
    }
}

#[cfg(any(feature = "appinsights", feature = "live-metrics", feature = "otlp"))]
impl From<tracing_insights_export::ExportStats> for ExporterStats {
    fn from(s: tracing_insights_export::ExportStats) -> Self {
        Self {
            sent: s.sent,
            dropped: s.dropped(),
            failed: s.failed(),
            retried: s.retried,
            spooled: s.spooled,
            requests: s.requests,
            last_error: s.last_error,
        }
    }
}

/// The object-safe form of [`ExporterGuard`] that the parts are stored as.
trait Part: Send {
    fn flush(&self, timeout: Duration) -> Result<(), BoxError>;
    fn shutdown(self: Box<Self>, timeout: Duration) -> Result<(), BoxError>;
    fn stats(&self) -> ExporterStats;
}

impl<G: ExporterGuard> Part for G {
    fn flush(&self, timeout: Duration) -> Result<(), BoxError> {
        self.flush_within(timeout)
    }
    fn shutdown(self: Box<Self>, timeout: Duration) -> Result<(), BoxError> {
        (*self).shutdown_within(timeout)
    }
    fn stats(&self) -> ExporterStats {
        ExporterGuard::stats(self)
    }
}

/// A guard shared with the thread that flushes or stops it; `None` once stopped.
type Slot = Arc<Mutex<Option<Box<dyn Part>>>>;

/// Holds every exporter's guard. [`shutdown`](Self::shutdown) and [`flush`](Self::flush)
/// run on every exporter **at once**, each on its own thread, within one deadline: an
/// exporter that cannot reach its endpoint uses up its own time, not the others'.
/// [`stats`](Self::stats) reports each exporter's counters.
///
/// Dropping it shuts the exporters down the same way within [`DROP_TIMEOUT`] (5 s; each
/// exporter may use all of it, so a silent endpoint makes the drop take about that long:
/// measured 4.8 s with App Insights and OTLP both unanswered) and prints what was not
/// delivered on stderr (as `tracing-appender`'s `WorkerGuard` flushes on drop).
/// Keep it until the end of `main`.
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
    parts: Vec<(&'static str, Slot)>,
    pub(crate) log_filter: Option<crate::filter::LogFilterHandle>,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporters", &self.names())
            .finish()
    }
}

impl TelemetryGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exporter's guard under a name used in errors and statistics.
    pub fn with(mut self, name: &'static str, guard: impl ExporterGuard) -> Self {
        let part: Box<dyn Part> = Box::new(guard);
        self.parts.push((name, Arc::new(Mutex::new(Some(part)))));
        self
    }

    /// The exporters it holds, by name, in the order added.
    pub fn names(&self) -> Vec<&'static str> {
        self.parts.iter().map(|(n, _)| *n).collect()
    }

    /// How many exporters it holds.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The handle that changes the log filter at run time, when the guard came from
    /// [`init`](crate::init) or [`Telemetry`](crate::Telemetry).
    pub fn log_filter(&self) -> Option<crate::filter::LogFilterHandle> {
        self.log_filter.clone()
    }

    /// Every exporter's counters, by name. An exporter busy in a flush or shutdown on
    /// another thread is reported with empty counters rather than waited for.
    pub fn stats(&self) -> Vec<(&'static str, ExporterStats)> {
        self.parts
            .iter()
            .map(|(name, slot)| {
                let stats = slot
                    .try_lock()
                    .ok()
                    .and_then(|g| g.as_ref().map(|p| p.stats()))
                    .unwrap_or_default();
                (*name, stats)
            })
            .collect()
    }

    /// Sends what every exporter has queued and waits, all at once, up to `timeout` in all.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownErrors> {
        run_all(&self.parts, timeout, |slot, t| {
            let guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_ref() {
                Some(part) => part.flush(t),
                None => Ok(()),
            }
        })
    }

    /// Flushes and stops every exporter, all at once, within `timeout` in all. Every
    /// exporter gets the whole deadline; all failures are returned, by exporter.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownErrors> {
        let parts = std::mem::take(&mut self.parts);
        run_all(&parts, timeout, stop)
    }
}

fn stop(slot: &Slot, timeout: Duration) -> Result<(), BoxError> {
    let part = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    match part {
        Some(part) => part.shutdown(timeout),
        None => Ok(()),
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.parts.is_empty() {
            return;
        }
        let parts = std::mem::take(&mut self.parts);
        if let Err(e) = run_all(&parts, DROP_TIMEOUT, stop) {
            eprintln!("tracing-insights: telemetry not fully delivered at exit: {e}");
        }
    }
}

/// Runs `job` for every part on its own thread and waits for them until the deadline. A
/// job still running then is reported as not finished and left to end on its own thread.
fn run_all(
    parts: &[(&'static str, Slot)],
    timeout: Duration,
    job: fn(&Slot, Duration) -> Result<(), BoxError>,
) -> Result<(), ShutdownErrors> {
    let deadline = Instant::now() + timeout;
    let (tx, rx) = mpsc::channel();
    let mut pending: Vec<Option<&'static str>> = Vec::with_capacity(parts.len());
    let mut errors = Vec::new();
    for (i, (name, slot)) in parts.iter().enumerate() {
        let (tx, slot) = (tx.clone(), slot.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("tracing-insights-stop-{name}"))
            .spawn(move || {
                // Our own exporters' shutdown must not feed telemetry back into them.
                let result = tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
                    job(&slot, deadline.saturating_duration_since(Instant::now()))
                });
                let _ = tx.send((i, result));
            });
        match spawned {
            Ok(_) => pending.push(Some(name)),
            Err(e) => {
                pending.push(None);
                errors.push((*name, format!("could not start a thread: {e}").into()));
            }
        }
    }
    drop(tx);
    while pending.iter().any(Option::is_some) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, result)) => {
                if let (Some(name), Err(e)) = (pending[i].take(), result) {
                    errors.push((name, e));
                }
            }
            Err(_) => break,
        }
    }
    for name in pending.into_iter().flatten() {
        errors.push((
            name,
            format!("did not finish within {timeout:?} (endpoint slow or unreachable)").into(),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        // Report in the order the exporters were added, whatever order they finished in.
        let order = |n: &str| parts.iter().position(|(p, _)| *p == n);
        errors.sort_by_key(|(n, _)| order(n));
        Err(ShutdownErrors(errors))
    }
}

/// What went wrong while flushing or shutting exporters down, by exporter.
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

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints it as it is.
impl fmt::Debug for ShutdownErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShutdownErrors({self})")
    }
}

impl Error for ShutdownErrors {}

#[cfg(feature = "appinsights")]
use tracing_insights_appinsights::AppInsightsGuard;

#[cfg(feature = "appinsights")]
impl ExporterGuard for AppInsightsGuard {
    fn flush_within(&self, timeout: Duration) -> Result<(), BoxError> {
        self.flush(timeout).map_err(Into::into)
    }
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
    fn stats(&self) -> ExporterStats {
        AppInsightsGuard::stats(self).into()
    }
}

#[cfg(feature = "live-metrics")]
impl ExporterGuard for tracing_insights_live_metrics::LiveMetricsGuard {
    // Live Metrics is live: nothing is queued to flush.
    fn flush_within(&self, _: Duration) -> Result<(), BoxError> {
        Ok(())
    }
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
    fn stats(&self) -> ExporterStats {
        tracing_insights_live_metrics::LiveMetricsGuard::stats(self).into()
    }
}

#[cfg(feature = "otlp")]
impl ExporterGuard for tracing_insights_otlp::OtlpGuard {
    fn flush_within(&self, timeout: Duration) -> Result<(), BoxError> {
        self.flush(timeout).map_err(Into::into)
    }
    fn shutdown_within(self, timeout: Duration) -> Result<(), BoxError> {
        self.shutdown(timeout).map_err(Into::into)
    }
    fn stats(&self) -> ExporterStats {
        tracing_insights_otlp::OtlpGuard::stats(self).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        log: Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
        ok: bool,
        takes: Duration,
    }

    impl ExporterGuard for Fake {
        fn flush_within(&self, _: Duration) -> Result<(), BoxError> {
            Ok(())
        }
        fn shutdown_within(self, _: Duration) -> Result<(), BoxError> {
            std::thread::sleep(self.takes);
            self.log.lock().unwrap().push(self.name);
            if self.ok {
                Ok(())
            } else {
                Err(format!("{} lost 3 items", self.name).into())
            }
        }
        fn stats(&self) -> ExporterStats {
            ExporterStats::new(7, 1)
        }
    }

    fn fake(log: &Arc<Mutex<Vec<&'static str>>>, name: &'static str, ok: bool, ms: u64) -> Fake {
        Fake {
            log: log.clone(),
            name,
            ok,
            takes: Duration::from_millis(ms),
        }
    }

    #[test]
    fn shuts_every_exporter_down_and_reports_errors_in_the_order_added() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let guard = TelemetryGuard::new()
            .with("a", fake(&log, "a", false, 300))
            .with("b", fake(&log, "b", true, 0))
            .with("c", fake(&log, "c", false, 0));
        assert_eq!(guard.len(), 3);
        assert_eq!(guard.stats()[1], ("b", ExporterStats::new(7, 1)));
        let err = guard.shutdown(Duration::from_secs(30)).unwrap_err();
        assert_eq!(log.lock().unwrap().len(), 3);
        assert_eq!(err.to_string(), "a: a lost 3 items; c: c lost 3 items");
        assert!(format!("{err:?}").contains("a lost 3 items"));
    }

    #[test]
    fn dropping_the_guard_shuts_every_exporter_down() {
        let log = Arc::new(Mutex::new(Vec::new()));
        drop(
            TelemetryGuard::new()
                .with("a", fake(&log, "a", true, 0))
                .with("b", fake(&log, "b", false, 0)),
        );
        let mut stopped = log.lock().unwrap().clone();
        stopped.sort();
        assert_eq!(stopped, ["a", "b"]);
    }

    #[test]
    fn a_stuck_exporter_does_not_hold_up_the_others() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let guard = TelemetryGuard::new()
            .with("stuck", fake(&log, "stuck", true, 60_000))
            .with("fine", fake(&log, "fine", true, 0));
        let err = guard.shutdown(Duration::from_secs(2)).unwrap_err();
        assert_eq!(*log.lock().unwrap(), ["fine"]);
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].0, "stuck");
        assert!(
            err.to_string().contains("did not finish within 2s"),
            "{err}"
        );
    }
}
