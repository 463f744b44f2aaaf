//! The layer: span records, events and metric fields handed to the signals' pipelines.

use crate::convert;
use crate::pipeline::{LogItem, MetricItem, ResourceCell, SpanItem};
use crate::OtlpBuilder;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tracing_core::span::Id;
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_insights_correlation::{
    find_span_data, finished_span, Clock, CorrelationLayer, FinishedEvent, SharedRecord, SpanData,
};
use tracing_insights_export::Exporter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Exports our span records, events and metric fields to one OTLP destination, with the
/// correlation layer's ids and resource.
///
/// Made by [`OtlpLayer::builder`]; not generic over the subscriber. Stack it after
/// [`tracing_insights_correlation::layer()`]:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
/// use tracing_insights_otlp::OtlpLayer;
///
/// let (otlp, guard) = OtlpLayer::builder()
///     .with_endpoint("http://127.0.0.1:4318")
///     .build()
///     .expect("valid OTLP configuration");
/// tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(otlp)
///     .init();
/// tracing::info_span!("work").in_scope(|| tracing::info!(monotonic_counter.jobs = 1, "done"));
/// guard.shutdown(std::time::Duration::from_secs(5)).expect("delivered");
/// ```
#[derive(Clone)]
pub struct OtlpLayer {
    pub(crate) inner: Option<Arc<Inner>>,
}

pub(crate) struct Inner {
    pub(crate) traces: Option<Exporter<SpanItem>>,
    pub(crate) logs: Option<Exporter<LogItem>>,
    pub(crate) metrics: Option<Exporter<MetricItem>>,
    /// Also attach events to their span as span events.
    pub(crate) span_events: bool,
    pub(crate) resource: Arc<ResourceCell>,
    /// The correlation layer's clock, for log record times (else the system clock).
    pub(crate) clock: OnceLock<Arc<dyn Clock>>,
    /// Panics caught in this layer's callbacks.
    pub(crate) panics: Arc<AtomicU64>,
}

/// OpenTelemetry's default limit of events per span.
const MAX_SPAN_EVENTS: usize = 128;

impl Inner {
    fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    fn adopt(&self, correlation: &CorrelationLayer) {
        // Closed spans reach this layer as the correlation layer's one shared record.
        if self.traces.is_some() {
            correlation.share_finished_spans();
        }
        // Events too: this layer hands their one record on instead of recording them again.
        if self.traces.is_some() && self.span_events
            || self.logs.is_some()
            || self.metrics.is_some()
        {
            correlation.share_finished_events();
        }
        self.resource
            .adopt(|| convert::resource(correlation.resource()));
        let _ = self.clock.set(correlation.clock());
    }

    /// Runs a callback's body; a panic in it (ours, or a value's `Debug`/`Display`) is
    /// caught and counted ([`ExportStats::contained_panics`](tracing_insights_export::ExportStats::contained_panics)),
    /// never unwound into the application. The callback's item is lost.
    fn contain(&self, f: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.get().map_or_else(SystemTime::now, |c| c.now())
    }
}

impl fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("OtlpLayer(disabled)"),
            Some(i) => f
                .debug_struct("OtlpLayer")
                .field("traces", &i.traces.is_some())
                .field("logs", &i.logs.is_some())
                .field("metrics", &i.metrics.is_some())
                .field("contained_panics", &i.panics.load(Ordering::Relaxed))
                .finish_non_exhaustive(),
        }
    }
}

impl OtlpLayer {
    /// A builder reading the process environment.
    pub fn builder() -> OtlpBuilder {
        OtlpBuilder::default()
    }

    /// Whether this layer exports anything (`false` when `OTEL_SDK_DISABLED=true` or every
    /// signal is off).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a> + 'static,
{
    // The correlation layer's resource is found three ways, because wrappers differ in what
    // they forward: `on_layer` (when the correlation layer is beneath this one; forwarded by
    // `Option`, `Filtered`, `Box`), `on_register_dispatch` (the whole stack; not forwarded
    // by `Option` in tracing-subscriber 0.3.23), and any span's `SpanData`.
    fn on_layer(&mut self, subscriber: &mut S) {
        let Some(inner) = &self.inner else { return };
        let subscriber: &dyn Subscriber = subscriber;
        inner.contain(|| {
            if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
                inner.adopt(correlation);
            }
        });
    }

    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let Some(inner) = &self.inner else { return };
        inner.contain(|| {
            if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
                inner.adopt(correlation);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        inner.contain(|| close(inner, &id, &ctx));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        inner.contain(|| record_event(inner, event, &ctx));
    }
}

fn close<S>(inner: &Arc<Inner>, id: &Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(traces) = &inner.traces else { return };
    // The record the correlation layer has just made (its span events kept on it), else,
    // when the correlation layer did not finish it here, the span's own: a span hidden from
    // the correlation layer has none and is not exported.
    let span = match finished_span(id) {
        Some(span) => span,
        None => {
            let Some(span) = ctx.span(id) else { return };
            let ext = span.extensions();
            let Some(data) = ext.get::<SpanData>() else {
                return;
            };
            if !data.is_sampled() {
                inner.resource.adopt(|| convert::resource(data.resource()));
                return;
            }
            data.finished()
        }
    };
    inner.resource.adopt(|| convert::resource(span.resource()));
    if span.is_sampled() {
        // The worker converts it.
        traces.try_send(SpanItem {
            span,
            key: inner.key(),
        });
    }
}

fn record_event<S>(inner: &Arc<Inner>, event: &Event<'_>, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    {
        if inner.logs.is_none() && inner.metrics.is_none() && !inner.span_events {
            return;
        }
        // The correlation layer's one record of this event, when it made one.
        let shared = tracing_insights_correlation::finished_event(event);
        // The ids of the span the event happened in, as the correlation layer saw it (exact
        // even when this layer's own filter hides that span: the record's, else the
        // context it handed over); else a walk over what this layer can see.
        let span_ctx = match &shared {
            Some(record) => record.context(),
            None => match tracing_insights_correlation::event_context(event) {
                Some(c) => c,
                None => ctx
                    .event_span(event)
                    .and_then(|span| find_span_data(&span, SpanData::context)),
            },
        };
        if span_ctx.is_some_and(|c| !c.sampled) {
            // Nothing from a sampled-out trace is exported: logs nor metric fields.
            return;
        }
        // Else recorded here, once.
        let record = shared.unwrap_or_else(|| {
            SharedRecord::new(FinishedEvent::new(event, inner.now(), span_ctx, 100.0))
        });
        if let Some(metrics) = &inner.metrics {
            // Only a look at the field names here: the measurements and their attributes
            // are taken from the shared record on the metrics worker.
            if convert::has_metric_field(record.fields()) {
                metrics.try_send(record.clone());
            }
        }
        if inner.span_events {
            // On the span this layer sees the event in (its own filter may hide the
            // innermost one): kept on its `SpanData` until it closes, handed over with the
            // finished span and converted to a span event on the worker.
            if let Some(span) = ctx.event_span(event) {
                // A span the correlation layer does not see has no record and is not
                // exported (see `close`): nothing to keep the event for.
                if let Some(data) = span.extensions_mut().get_mut::<SpanData>() {
                    data.keep_event(inner.key(), &record, MAX_SPAN_EVENTS);
                }
            }
        }
        if let Some(logs) = &inner.logs {
            // A `log`-crate record's scope is its own target, not the bridge's `log`.
            let target = match tracing_insights_correlation::normalized_metadata(event) {
                Some(normalized) => std::borrow::Cow::Owned(normalized.target().to_owned()),
                None => std::borrow::Cow::Borrowed(event.metadata().target()),
            };
            // Converted to a log record on the worker.
            logs.try_send(LogItem {
                event: record,
                span_ctx,
                target,
            });
        }
    }
}
