//! The guard that flushes the layer (metrics, then the export queue), its cloneable flush
//! handle, and the optional panic hook.

use crate::encoder::Encoder;
use crate::layer::Shared;
use crate::mapping;
use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing_insights_correlation::FieldValue;
use tracing_insights_export::{ExportGuard, Exporter, ShutdownError};

/// A cheap, cloneable handle that ends the current metric interval and flushes the export
/// queue; what [`install_panic_hook`] uses. Get it from [`Guard::flush_handle`].
#[derive(Clone)]
pub struct FlushHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) exporter: Exporter,
    pub(crate) encoder: Encoder,
}

impl fmt::Debug for FlushHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushHandle")
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

impl FlushHandle {
    /// Ends the metric interval now: every series with a point is queued as MetricData.
    pub fn collect_metrics(&self) {
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
                if let Some(bytes) = mapping::encode(env) {
                    self.exporter.try_send(bytes);
                }
            }
        }
    }

    /// Ends the metric interval, then sends everything queued and waits up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + timeout;
        self.collect_metrics();
        // Spans and events handed over so far must reach the export queue first.
        if !self.encoder.drain(timeout) {
            return Err(ShutdownError::Timeout(timeout));
        }
        self.exporter
            .flush(deadline.saturating_duration_since(Instant::now()))
    }

    /// Measurements that went to a metric's overflow series (attribute `otel.metric.overflow`)
    /// because the metric already had the most attribute sets allowed.
    pub fn metric_overflows(&self) -> u64 {
        self.shared.metrics.overflows()
    }
}

/// Keeps the export worker and the metric timer alive; [`shutdown`](Self::shutdown) ends the
/// metric interval, flushes and stops. Dropping it does the same as a bounded best effort
/// (at most 2 s).
#[must_use = "dropping the guard stops the exporter; keep it until the end of main and call shutdown()"]
pub struct Guard {
    handle: FlushHandle,
    export: Option<ExportGuard>,
    encoder: Option<JoinHandle<()>>,
    timer: Option<(Sender<()>, JoinHandle<()>)>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("export", &self.export)
            .field("metric_overflows", &self.metric_overflows())
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub(crate) fn new(
        handle: FlushHandle,
        export: ExportGuard,
        encoder: JoinHandle<()>,
        interval: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let timer_handle = handle.clone();
        let timer = std::thread::Builder::new()
            .name("tracing-insights-appinsights-metrics".into())
            .spawn(move || {
                // Our own work is never telemetry.
                let _quiet =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
                loop {
                    match rx.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => timer_handle.collect_metrics(),
                        _ => return,
                    }
                }
            })
            .ok()
            .map(|t| (tx, t));
        Self {
            handle,
            export: Some(export),
            encoder: Some(encoder),
            timer,
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
        if !self.stop_encoder(timeout) {
            return Err(ShutdownError::Timeout(timeout));
        }
        match self.export.take() {
            Some(export) => export.shutdown(deadline.saturating_duration_since(Instant::now())),
            None => Ok(()),
        }
    }

    /// Lets the encoder finish what it was handed, then stops it (later items are dropped
    /// and counted). `false` if it did not finish within `timeout`.
    fn stop_encoder(&mut self, timeout: Duration) -> bool {
        let Some(thread) = self.encoder.take() else {
            return true;
        };
        let drained = self.handle.encoder.drain(timeout);
        self.handle.encoder.stop();
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
        self.handle.exporter.dropped() + self.handle.encoder.dropped()
    }

    /// Envelopes delivered.
    pub fn sent(&self) -> u64 {
        self.handle.exporter.sent()
    }

    /// See [`FlushHandle::metric_overflows`].
    pub fn metric_overflows(&self) -> u64 {
        self.handle.metric_overflows()
    }
}

impl Drop for Guard {
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
        ("message", FieldValue::Str(payload)),
        ("exception.type", FieldValue::Str("panic".into())),
        ("exception.stacktrace", FieldValue::Str(stack)),
        ("otel.severity_number", FieldValue::I64(21)),
    ];
    if let Some(loc) = info.location() {
        fields.push(("code.file.path", FieldValue::Str(loc.file().to_owned())));
        fields.push(("code.line.number", FieldValue::I64(i64::from(loc.line()))));
    }
    if let Some(name) = std::thread::current().name() {
        fields.push(("thread.name", FieldValue::Str(name.to_owned())));
    }
    let shared = &handle.shared;
    let time = shared.clock().now();
    let span = crate::layer::current_span_context();
    let env = match &span {
        Some((ctx, rate)) if ctx.sampled => {
            let es = mapping::EventSpan {
                trace_id: ctx.trace_id.to_string(),
                span_id: ctx.span_id.to_string(),
                fields: &[],
                sampler_rate: *rate,
            };
            mapping::event_envelope(
                shared.part_a(),
                &shared.ikey,
                time,
                &tracing_core::Level::ERROR,
                "panic",
                &fields,
                Some(&es),
                None,
            )
        }
        _ => mapping::event_envelope(
            shared.part_a(),
            &shared.ikey,
            time,
            &tracing_core::Level::ERROR,
            "panic",
            &fields,
            None,
            None,
        ),
    };
    if let Some(bytes) = mapping::encode(env) {
        handle.exporter.try_send(bytes);
    }
    let _ = handle.flush(timeout);
}
