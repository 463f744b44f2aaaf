//! The guard that flushes the layer (metrics, then the export queue), its cloneable flush
//! handle, and the optional panic hook.

use crate::backlog::Kind;
use crate::encoder::Encoder;
use crate::mapping;
use crate::shared::Shared;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing_insights_correlation::FieldValue;
use tracing_insights_export::{ExportGuard, ExportStats, Exporter, ShutdownError};

/// The running pipeline: shared state, the encoder's queue and the export queue.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub(crate) shared: Arc<Shared>,
    pub(crate) exporter: Exporter,
    pub(crate) encoder: Encoder,
}

impl Pipeline {
    /// Ends the metric interval now: every series with a point is queued as MetricData,
    /// then the standard metrics of the spans encoded so far.
    fn collect_metrics(&self) {
        let time = self.shared.clock().now();
        let part_a = self.shared.part_a();
        for (series, point) in self.shared.metrics.collect() {
            if let Some(env) = mapping::metric_envelope(
                part_a,
                &self.shared.ikey,
                time,
                series.name(),
                series.attrs(),
                &point,
            ) {
                self.send(&env);
            }
        }
        self.collect_standard();
    }

    /// Queues the standard metrics aggregated so far as MetricData.
    fn collect_standard(&self) {
        let Some(standard) = &self.shared.standard else {
            return;
        };
        let time = self.shared.clock().now();
        for (name, props, point) in standard.collect() {
            let env = mapping::standard_metric_envelope(
                self.shared.part_a(),
                &self.shared.ikey,
                time,
                name,
                props,
                &point,
            );
            self.send(&env);
        }
    }

    /// A tick of the metric interval: the metrics, then the performance counters.
    fn tick(&self) {
        self.collect_metrics();
        let Some(perf) = &self.shared.perf else {
            return;
        };
        let time = self.shared.clock().now();
        for (name, point) in perf.collect() {
            if let Some(env) = mapping::metric_envelope(
                self.shared.part_a(),
                &self.shared.ikey,
                time,
                name,
                &[],
                &point,
            ) {
                self.send(&env);
            }
        }
    }

    fn send(&self, env: &mapping::Envelope<'_>) {
        if let Some(bytes) = self.shared.finish(env) {
            // Only metrics come this way.
            self.encoder.send_metric(bytes);
        }
    }

    fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        self.collect_metrics();
        // Spans and events handed over so far must reach the export queue first.
        if !self.encoder.drain(timeout) {
            return Err(ShutdownError::Timeout(timeout));
        }
        // The spans just encoded end this interval's standard metrics too.
        self.collect_standard();
        self.exporter
            .flush(deadline.saturating_duration_since(Instant::now()))
    }

    fn dropped(&self) -> u64 {
        // The encoder queue's drops are counted in the export pipeline's account.
        self.exporter.dropped()
    }

    /// The export pipeline's counters (the encoder queue's drops included, as a full queue)
    /// and the panics contained in the layer and on the encoder thread.
    pub(crate) fn stats(&self) -> ExportStats {
        let mut stats = self.exporter.stats();
        stats.contained_panics += self.shared.contained_panics();
        stats.by_kind = self.encoder.by_kind_with(&stats.by_kind);
        (stats.pending, stats.pending_bytes) = self.encoder.pending();
        stats
    }
}

/// A cheap, cloneable handle that ends the current metric interval and flushes the export
/// queue; what [`install_panic_hook`] uses. Get it from [`AppInsightsGuard::flush_handle`].
/// The handle of a disabled layer does nothing.
#[derive(Clone)]
pub struct FlushHandle {
    pipeline: Option<Pipeline>,
}

impl fmt::Debug for FlushHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushHandle")
            .field("exporter", &self.pipeline.as_ref().map(|p| &p.exporter))
            .finish_non_exhaustive()
    }
}

impl FlushHandle {
    /// Ends the metric interval now: every series with a point is queued as MetricData.
    pub fn collect_metrics(&self) {
        if let Some(p) = &self.pipeline {
            p.collect_metrics();
        }
    }

    /// Ends the metric interval, then sends everything queued and waits up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        match &self.pipeline {
            Some(p) => p.flush(timeout),
            None => Ok(()),
        }
    }

    /// Measurements that went to a metric's overflow series (attribute `otel.metric.overflow`)
    /// because the metric already had the most attribute sets allowed.
    pub fn metric_overflows(&self) -> u64 {
        self.pipeline
            .as_ref()
            .map_or(0, |p| p.shared.metrics.overflows())
    }
}

/// Keeps the export worker and the metric timer alive; [`shutdown`](Self::shutdown) ends the
/// metric interval, flushes and stops. Dropping it does the same as a bounded best effort:
/// about 3 s (1 s for the encoder to drain, then the export worker's 2 s flush; up to 1 s
/// more when the encoder queue is full); measured 1.8 s against an endpoint that accepts
/// connections and never answers.
///
/// Keep it until the end of `main`: `let (layer, _guard) = …`, not `let (layer, _) = …`,
/// which drops it at once. Telemetry recorded after the guard is gone is not sent; the first
/// such item prints one line on stderr saying so, with this fix.
#[must_use = "dropping the guard stops the exporter; keep it until the end of main and call shutdown()"]
pub struct AppInsightsGuard {
    handle: FlushHandle,
    export: Option<ExportGuard>,
    encoder: Option<JoinHandle<()>>,
    timer: Option<(Sender<()>, JoinHandle<()>)>,
}

impl fmt::Debug for AppInsightsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppInsightsGuard")
            .field("export", &self.export)
            .field("metric_overflows", &self.metric_overflows())
            .finish_non_exhaustive()
    }
}

impl AppInsightsGuard {
    /// The guard of a running pipeline; `interval` is the metric timer's (none: metrics off).
    pub(crate) fn new(
        pipeline: Pipeline,
        export: ExportGuard,
        encoder: JoinHandle<()>,
        interval: Option<Duration>,
    ) -> Self {
        let timer = interval.and_then(|interval| {
            let (tx, rx) = mpsc::channel::<()>();
            let timer_pipeline = pipeline.clone();
            std::thread::Builder::new()
                .name("tracing-insights-appinsights-metrics".into())
                .spawn(move || {
                    // Our own work is never telemetry.
                    let _quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
                    loop {
                        match rx.recv_timeout(interval) {
                            Err(RecvTimeoutError::Timeout) => timer_pipeline.tick(),
                            _ => return,
                        }
                    }
                })
                .ok()
                .map(|t| (tx, t))
        });
        Self {
            handle: FlushHandle {
                pipeline: Some(pipeline),
            },
            export: Some(export),
            encoder: Some(encoder),
            timer,
        }
    }

    /// The guard of a disabled layer: no thread, nothing to flush.
    pub(crate) fn disabled() -> Self {
        Self {
            handle: FlushHandle { pipeline: None },
            export: None,
            encoder: None,
            timer: None,
        }
    }

    /// A handle that flushes from anywhere (a panic hook, a signal handler).
    pub fn flush_handle(&self) -> FlushHandle {
        self.handle.clone()
    }

    /// Ends the metric interval, sends everything queued so far and waits up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.handle.flush(timeout)
    }

    /// Ends the metric interval, flushes, stops the worker and waits for it, up to `timeout`
    /// in all. Reports an export failure, a timeout, or drops.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        self.stop_metrics();
        let drained = self.stop_encoder(timeout);
        // The export pipeline is stopped either way (it sends nothing after this returns)
        // and its account is the error.
        let result = match self.export.take() {
            Some(export) => export.shutdown(deadline.saturating_duration_since(Instant::now())),
            None => Ok(()),
        };
        match result {
            Ok(()) if !drained => Err(ShutdownError::Timeout(timeout)),
            other => other,
        }
    }

    /// Lets the encoder finish what it was handed, then stops it (later items are dropped
    /// and counted). `false` if it did not finish within `timeout`.
    fn stop_encoder(&mut self, timeout: Duration) -> bool {
        let (Some(thread), Some(p)) = (self.encoder.take(), &self.handle.pipeline) else {
            return true;
        };
        let drained = p.encoder.drain(timeout);
        // Shutdown sends the last partial interval, with the spans just encoded.
        p.collect_standard();
        p.encoder.stop();
        if drained {
            let _ = thread.join();
        }
        drained
    }

    fn stop_metrics(&mut self) {
        if let Some((tx, thread)) = self.timer.take() {
            let _ = tx.send(());
            let _ = thread.join();
        }
        self.handle.collect_metrics();
    }

    /// Items dropped: the encoder's or the export queue was full, or the export pipeline
    /// gave them up.
    pub fn dropped(&self) -> u64 {
        self.handle.pipeline.as_ref().map_or(0, Pipeline::dropped)
    }

    /// Envelopes delivered.
    pub fn sent(&self) -> u64 {
        self.handle
            .pipeline
            .as_ref()
            .map_or(0, |p| p.exporter.sent())
    }

    /// Panics contained in the layer's callbacks and on the encoder thread (each lost at
    /// most one item; the application never saw them).
    pub fn contained_panics(&self) -> u64 {
        self.handle
            .pipeline
            .as_ref()
            .map_or(0, |p| p.shared.contained_panics())
    }

    /// Items the telemetry processors dropped: those a processor returned `false` for and
    /// those a processor panicked on (the panics are also in
    /// [`contained_panics`](Self::contained_panics)).
    pub fn processor_dropped(&self) -> u64 {
        self.handle
            .pipeline
            .as_ref()
            .map_or(0, |p| p.shared.processor_dropped())
    }

    /// All counters, in the statistics type every exporter reports: envelopes produced, sent,
    /// retried, spooled, dropped by reason (the encoder's full queue as
    /// [`DropReason::QueueFull`](tracing_insights_export::DropReason::QueueFull)), requests,
    /// bytes, contained panics, the envelopes (and their bytes) waiting in the export
    /// queue, and, as `pending`, the closed spans and events (and the bytes of their
    /// values) waiting on the encoder thread to become envelopes (`pending + queued` is
    /// the whole backlog; a pending item is not yet `produced`; an unsampled span, kept for
    /// the standard metrics only, is pending in the total and in no kind). All zero for a
    /// disabled layer.
    ///
    /// The same counters per kind of envelope are under
    /// [`by_kind`](ExportStats::by_kind), read with [`ExportStats::kind`]:
    ///
    /// | kind | envelopes |
    /// |---|---|
    /// | `spans` | requests and dependencies |
    /// | `logs` | messages, exceptions, custom events, availability results |
    /// | `metrics` | custom and standard metrics, performance counters |
    ///
    /// Each envelope keeps its kind through the queues, batching, retries and a partial
    /// success (the service's answer for each index is counted under that envelope's kind),
    /// so for each kind `produced = sent + sampled_out + dropped() + queued` whenever nothing
    /// is in flight, and after a clean shutdown `queued` is 0 (with the offline spool, items
    /// written to it count as `spooled` and, once read back, as `replayed` and `sent`). The
    /// kinds add up to the totals. The `_OTELRESOURCE_` metric put first in every request
    /// is made per request, not queued, and counts nowhere. When something must go, log
    /// lines go before spans (see
    /// [`AppInsightsBuilder::with_queue_capacity`](crate::AppInsightsBuilder::with_queue_capacity)),
    /// which the per-kind drops show.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tracing_insights_appinsights::{AppInsightsLayer, DropReason};
    /// let (layer, guard) = AppInsightsLayer::builder().build()?;
    /// // ... the application runs ...
    /// let stats = guard.stats();
    /// for kind in ["spans", "logs", "metrics"] {
    ///     if let Some(k) = stats.kind(kind) {
    ///         println!(
    ///             "{kind}: {} produced, {} sent, {} refused, {} lost to a full queue, {} queued ({} bytes), {} to encode",
    ///             k.produced,
    ///             k.sent,
    ///             k.dropped_by(DropReason::Rejected),
    ///             k.dropped_by(DropReason::QueueFull),
    ///             k.queued,
    ///             k.queued_bytes,
    ///             k.pending,
    ///         );
    ///     }
    /// }
    /// # drop(layer);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> ExportStats {
        self.handle
            .pipeline
            .as_ref()
            .map_or_else(ExportStats::default, Pipeline::stats)
    }

    /// See [`FlushHandle::metric_overflows`].
    pub fn metric_overflows(&self) -> u64 {
        self.handle.metric_overflows()
    }
}

impl Drop for AppInsightsGuard {
    fn drop(&mut self) {
        if self.export.is_some() {
            self.stop_metrics();
            self.stop_encoder(Duration::from_secs(1));
        }
        // The export guard's own `Drop` flushes for at most 2 s.
    }
}

/// Reports a panic as an Exception (severity 4, Critical: type `panic`, the panic message,
/// a backtrace as its stack, the location as `code.file.path` / `code.line.number`),
/// correlated to the span current on the panicking thread, then flushes (waiting at most
/// `timeout`) before the previous hook runs and the process goes on to unwind or abort.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let (layer, guard) = tracing_insights_appinsights::AppInsightsLayer::builder().build()?;
/// tracing_insights_appinsights::install_panic_hook(guard.flush_handle(), Duration::from_secs(2));
/// # Ok(()) }
/// ```
pub fn install_panic_hook(handle: FlushHandle, timeout: Duration) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic inside the hook would abort: contain it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            report_panic(&handle, info, timeout);
        }));
        previous(info);
    }));
}

#[allow(deprecated)] // `PanicInfo` is `PanicHookInfo` from 1.81; the MSRV is older.
fn report_panic(handle: &FlushHandle, info: &std::panic::PanicInfo<'_>, timeout: Duration) {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    let stack = std::backtrace::Backtrace::force_capture().to_string();
    let mut fields: Vec<(&'static str, FieldValue)> = vec![
        ("message", FieldValue::Str(payload.into())),
        ("exception.type", FieldValue::Str("panic".into())),
        ("exception.stacktrace", FieldValue::Str(stack.into())),
        ("otel.severity_number", FieldValue::I64(21)),
    ];
    if let Some(loc) = info.location() {
        fields.push(("code.file.path", FieldValue::Str(loc.file().into())));
        fields.push(("code.line.number", FieldValue::I64(i64::from(loc.line()))));
    }
    if let Some(name) = std::thread::current().name() {
        fields.push(("thread.name", FieldValue::Str(name.into())));
    }
    let Some(pipeline) = &handle.pipeline else {
        return;
    };
    let shared = &pipeline.shared;
    let time = shared.clock().now();
    let span = crate::shared::current_span_context();
    let es = match &span {
        Some((ctx, rate)) if ctx.sampled => Some(mapping::EventSpan {
            trace_id: ctx.trace_id.to_string(),
            span_id: ctx.span_id.to_string(),
            fields: &[],
            sampler_rate: *rate,
        }),
        _ => None,
    };
    let env = mapping::event_envelope(
        shared.part_a(),
        &shared.ikey,
        time,
        &tracing_core::Level::ERROR,
        "panic",
        &fields,
        es.as_ref(),
        None,
    );
    if let Some(bytes) = mapping::encode_envelope(&env) {
        pipeline.exporter.try_send_kind(bytes, Kind::Log as usize);
    }
    let _ = pipeline.flush(timeout);
}
