//! The layer: span records, events and metric fields handed to the signals' pipelines.

use crate::convert::{self, EventVisitor, Measurement};
use crate::pipeline::{LogItem, ResourceCell, SpanItem};
use crate::OtlpBuilder;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;
use tracing_core::span::Id;
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_insights_correlation::{find_span_data, Clock, CorrelationLayer, SpanData};
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
    pub(crate) metrics: Option<Exporter<Box<Measurement>>>,
    /// Also attach events to their span as span events.
    pub(crate) span_events: bool,
    pub(crate) resource: Arc<ResourceCell>,
    /// The correlation layer's clock, for log record times (else the system clock).
    pub(crate) clock: OnceLock<Arc<dyn Clock>>,
    /// Panics caught in this layer's callbacks.
    pub(crate) panics: Arc<AtomicU64>,
}

/// Span events waiting for their span to close, per OTLP layer (several OTLP layers may
/// share a span: each keeps its own list under its own key).
#[derive(Default)]
struct PendingEvents(
    Vec<(
        usize,
        Vec<opentelemetry_proto::tonic::trace::v1::span::Event>,
        u32,
    )>,
);

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
    {
        let Some(traces) = &inner.traces else { return };
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let pending = if inner.span_events {
            ext.get_mut::<PendingEvents>().and_then(|p| {
                let i = p.0.iter().position(|(k, _, _)| *k == inner.key())?;
                Some(p.0.swap_remove(i))
            })
        } else {
            None
        };
        // Only the span's own record: a span hidden from the correlation layer has none and
        // is not exported.
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        let data: &SpanData = data;
        inner.resource.adopt(|| convert::resource(data.resource()));
        if !data.is_sampled() {
            return;
        }
        // The correlation layer's one record for every exporter; the worker converts it.
        let span = data.finished();
        drop(ext);
        let (events, dropped_events) = pending.map_or((Vec::new(), 0), |(_, e, d)| (e, d));
        traces.try_send(SpanItem {
            span,
            events,
            dropped_events,
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
        // The ids of the span the event happened in, as the correlation layer saw it (exact
        // even when this layer's own filter hides that span); else a walk over what this
        // layer can see.
        let span_ctx = match tracing_insights_correlation::event_context(event) {
            Some(c) => c,
            None => ctx
                .event_span(event)
                .and_then(|span| find_span_data(&span, SpanData::context)),
        };
        if span_ctx.is_some_and(|c| !c.sampled) {
            // Nothing from a sampled-out trace is exported: logs nor metric fields.
            return;
        }
        let mut visitor = EventVisitor {
            want_metrics: inner.metrics.is_some(),
            ..EventVisitor::default()
        };
        event.record(&mut visitor);
        if let Some(metrics) = inner
            .metrics
            .as_ref()
            .filter(|_| !visitor.metrics.is_empty())
        {
            let attributes = visitor.metric_attributes();
            for (kind, name, value) in visitor.metrics.drain(..) {
                metrics.try_send(Box::new(Measurement {
                    kind,
                    name: name.to_owned(),
                    value,
                    attributes: attributes.clone(),
                }));
            }
        }
        if inner.span_events {
            // On the span this layer sees the event in (its own filter may hide the
            // innermost one).
            if let Some(span) = ctx.event_span(event) {
                // The log record below needs the fields too; without logs they move here.
                let (mut attributes, message) = if inner.logs.is_some() {
                    (visitor.attributes.clone(), visitor.message.clone())
                } else {
                    (
                        std::mem::take(&mut visitor.attributes),
                        visitor.message.take(),
                    )
                };
                attributes.push(convert::str_kv("level", event.metadata().level().as_str()));
                let ev = opentelemetry_proto::tonic::trace::v1::span::Event {
                    time_unix_nano: convert::unix_nanos(inner.now()),
                    name: message.unwrap_or_else(|| "event".into()),
                    attributes,
                    ..Default::default()
                };
                let mut ext = span.extensions_mut();
                if ext.get_mut::<PendingEvents>().is_none() {
                    ext.insert(PendingEvents::default());
                }
                if let Some(p) = ext.get_mut::<PendingEvents>() {
                    let key = inner.key();
                    let slot = match p.0.iter().position(|(k, _, _)| *k == key) {
                        Some(i) => i,
                        None => {
                            p.0.push((key, Vec::new(), 0));
                            p.0.len() - 1
                        }
                    };
                    let (_, events, dropped) = &mut p.0[slot];
                    if events.len() < MAX_SPAN_EVENTS {
                        events.push(ev);
                    } else {
                        *dropped = dropped.saturating_add(1);
                    }
                }
            }
        }
        if let Some(logs) = &inner.logs {
            let meta = event.metadata();
            // A `log`-crate record's scope is its own target, not the bridge's `log`.
            let target = match tracing_insights_correlation::normalized_metadata(event) {
                Some(normalized) => std::borrow::Cow::Owned(normalized.target().to_owned()),
                None => std::borrow::Cow::Borrowed(meta.target()),
            };
            let record = visitor.into_log(meta.level(), inner.now(), span_ctx);
            logs.try_send(Box::new((target, record)));
        }
    }
}
