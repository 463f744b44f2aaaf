//! The guard: flush, shutdown (each signal's pipeline in parallel), statistics.

use crate::config::{signal_name, Signal};
use crate::pipeline::{Endpoint, LogItem, MetricItem, SpanItem};
use crate::processor::Processors;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_insights_export::{
    DropReason, ExportGuard, ExportStats, Loss, RequestAuth, ShutdownError, DROP_TIMEOUT,
};

/// One signal's pipeline guard, whatever its item type.
trait Pipe: Send + Sync {
    fn flush(&self, timeout: Duration) -> Result<(), ShutdownError>;
    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError>;
    fn stats(&self) -> ExportStats;
    fn is_running(&self) -> bool;
}

impl<T: Send + 'static> Pipe for ExportGuard<T> {
    fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        ExportGuard::flush(self, timeout)
    }
    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        ExportGuard::stop(self, timeout)
    }
    fn stats(&self) -> ExportStats {
        ExportGuard::stats(self)
    }
    fn is_running(&self) -> bool {
        ExportGuard::is_running(self)
    }
}

/// Keeps the OTLP export pipelines (one per enabled signal) alive;
/// [`shutdown`](Self::shutdown) flushes and stops them.
///
/// Dropping it without `shutdown` flushes as a best effort: the signals in parallel, for
/// at most 2 s in all (measured 2.0 s against an endpoint that never answers).
///
/// Keep it until the end of `main`: `let (layer, _guard) = …`, not `let (layer, _) = …`,
/// which drops it at once. Telemetry recorded after the guard is gone is not sent; the first
/// such item of each signal prints one line on stderr saying so, with this fix.
#[must_use = "dropping the guard stops the OTLP exporter; keep it until the end of main and call shutdown()"]
pub struct OtlpGuard {
    name: String,
    pub(crate) endpoints: Vec<Endpoint>,
    pipes: Vec<(Signal, Box<dyn Pipe>)>,
    panics: Arc<AtomicU64>,
    /// The builder's authorization hook, for the connectivity check.
    pub(crate) auth: Option<Arc<dyn RequestAuth>>,
    /// The telemetry processors' drop counters.
    pub(crate) processors: Arc<Processors>,
}

impl fmt::Debug for OtlpGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pipes.is_empty() {
            return f.write_str("OtlpGuard(disabled)");
        }
        f.debug_struct("OtlpGuard")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl OtlpGuard {
    pub(crate) fn new(
        name: String,
        endpoints: Vec<Endpoint>,
        traces: Option<ExportGuard<SpanItem>>,
        logs: Option<ExportGuard<LogItem>>,
        metrics: Option<ExportGuard<MetricItem>>,
        panics: Arc<AtomicU64>,
    ) -> Self {
        let mut pipes: Vec<(Signal, Box<dyn Pipe>)> = Vec::new();
        if let Some(g) = traces {
            pipes.push((Signal::Traces, Box::new(g)));
        }
        if let Some(g) = logs {
            pipes.push((Signal::Logs, Box::new(g)));
        }
        if let Some(g) = metrics {
            pipes.push((Signal::Metrics, Box::new(g)));
        }
        Self {
            name,
            endpoints,
            pipes,
            panics,
            auth: None,
            processors: Arc::default(),
        }
    }

    pub(crate) fn disabled() -> Self {
        Self {
            name: String::new(),
            endpoints: Vec::new(),
            pipes: Vec::new(),
            panics: Arc::default(),
            auth: None,
            processors: Arc::default(),
        }
    }

    /// Whether a pipeline is running (`false` when disabled or shut down).
    pub fn is_enabled(&self) -> bool {
        self.pipes.iter().any(|(_, p)| p.is_running())
    }

    /// Exports everything queued so far (and the metrics collected so far) and waits up to
    /// `timeout`, including retries that fall due within it.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .pipes
                .iter()
                .map(|(_, p)| s.spawn(move || p.flush(timeout)))
                .collect();
            handles.into_iter().map(join).collect()
        });
        combine(results)
    }

    /// Flushes, stops the pipelines and waits for them (in parallel), up to `timeout` in
    /// all. Whenever anything was dropped or spooled, or a signal did not finish in time,
    /// the error is [`ShutdownError::Lost`] with the counters ([`stats`](Self::stats): the
    /// sum, and each signal under `by_kind`) and the causes; each signal's line with the
    /// same numbers is on stderr. After it returns no worker sends anything (at most a
    /// request already in flight completes).
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .pipes
                .iter_mut()
                .map(|(_, p)| s.spawn(move || p.stop(timeout)))
                .collect();
            handles.into_iter().map(join).collect()
        });
        self.account(results)
    }

    /// One account for the signals' shutdowns: `Ok` when every signal delivered
    /// everything, else [`ShutdownError::Lost`] with the sum of the counters (each signal
    /// under `by_kind`), the longest timeout and every signal's cause. Each signal's own
    /// line is on stderr.
    fn account(&self, results: Vec<Result<(), ShutdownError>>) -> Result<(), ShutdownError> {
        if results.iter().all(Result::is_ok) {
            return Ok(());
        }
        if results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(ShutdownError::WorkerGone)))
        {
            return Err(ShutdownError::WorkerGone);
        }
        let mut timed_out = None;
        let mut causes = Vec::new();
        for r in &results {
            match r {
                Err(ShutdownError::Lost(l)) => {
                    timed_out = timed_out.max(l.timed_out);
                    causes.extend(l.cause.clone());
                }
                Err(ShutdownError::Timeout(t)) => timed_out = timed_out.max(Some(*t)),
                Err(ShutdownError::Export(e)) => causes.push(e.clone()),
                _ => {}
            }
        }
        causes.dedup();
        let cause = (!causes.is_empty()).then(|| causes.join("; "));
        let loss = Loss::new(
            format!("otlp {}", self.name),
            self.stats(),
            timed_out,
            cause,
        );
        Err(ShutdownError::Lost(Box::new(loss)))
    }

    /// All counters: the signals' sum, and each signal under
    /// [`ExportStats::by_kind`] (`traces`, `logs`, `metrics`); panics caught in the
    /// layer's callbacks in `contained_panics`.
    ///
    /// The `metrics` signal's queue takes one item per event with metric fields, however
    /// many it has: its `produced` and its queue drops count such events. A processor sees
    /// each measurement, so its drops ([`DropReason::Processor`]) count measurements, and
    /// `sent` counts the metrics of each collection.
    pub fn stats(&self) -> ExportStats {
        let mut all = ExportStats::default();
        for (signal, p) in &self.pipes {
            let mut s = p.stats();
            s.add_dropped(DropReason::Processor, self.processors.dropped(*signal));
            all.merge(&s);
            all.by_kind.push((signal_name(*signal).to_owned(), s));
        }
        all.contained_panics = self.panics.load(Ordering::Relaxed);
        all
    }

    /// Items lost on our side: queue full, oversized, retries exhausted, spool unavailable,
    /// shutdown, ... (every [`DropReason`] but [`DropReason::Rejected`], which
    /// [`rejected`](Self::rejected) counts; the two add up to [`ExportStats::dropped`]). In
    /// the units [`stats`](Self::stats) describes for metrics.
    pub fn dropped(&self) -> u64 {
        let s = self.stats();
        s.dropped() - s.dropped_by(DropReason::Rejected)
    }

    /// Items of `signal` delivered (spans, log records, or metrics per collection).
    pub fn exported(&self, signal: Signal) -> u64 {
        self.pipes
            .iter()
            .filter(|(s, _)| *s == signal)
            .map(|(_, p)| p.stats().sent)
            .sum()
    }

    /// Items the receiver refused: a partial-success answer's rejected count, or the items
    /// of a batch that got a final answer (400, 404, ...).
    pub fn rejected(&self) -> u64 {
        self.stats().dropped_by(DropReason::Rejected)
    }

    /// The URL each enabled signal is sent to.
    pub fn endpoints(&self) -> Vec<(Signal, String)> {
        self.endpoints
            .iter()
            .map(|e| (e.signal, e.url.clone()))
            .collect()
    }
}

fn join(
    h: std::thread::ScopedJoinHandle<'_, Result<(), ShutdownError>>,
) -> Result<(), ShutdownError> {
    h.join().unwrap_or(Err(ShutdownError::WorkerGone))
}

/// The first timeout, else every export failure joined, else `Ok`.
fn combine(results: Vec<Result<(), ShutdownError>>) -> Result<(), ShutdownError> {
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(()) => {}
            Err(ShutdownError::Export(e)) => errors.push(e),
            Err(other) => return Err(other),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ShutdownError::Export(errors.join("; ")))
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        if self.is_enabled() {
            // Each signal's pipeline writes its own account of anything lost to stderr.
            let _ = self.stop(DROP_TIMEOUT);
        }
    }
}
