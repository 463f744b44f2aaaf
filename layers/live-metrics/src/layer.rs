//! The layer: counts closed spans and events, and hands documents to the collector while
//! somebody watches.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing_core::span::Id;
use tracing_core::{Event, Subscriber};
use tracing_insights_correlation::{
    finished_event, finished_span, CorrelationLayer, FieldValue, FinishedSpan, SpanData, SpanKind,
    SpanStatus,
};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::builder::LiveMetricsBuilder;
use crate::collector::Collector;
use crate::controller::Identity;
use crate::telemetry;

/// The Live Metrics layer. Stack it after the correlation layer, whose span record it reads.
///
/// A layer built with `OTEL_SDK_DISABLED=true` or
/// `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false` does nothing:
/// [`is_enabled`](Self::is_enabled) says so.
#[derive(Clone)]
pub struct LiveMetricsLayer {
    pub(crate) inner: Option<Active>,
}

/// A running layer: what it writes and the identity the worker sends.
#[derive(Clone)]
pub(crate) struct Active {
    pub(crate) collector: Arc<Collector>,
    /// The correlation layer's resource replaces the builder's (or the environment's) in
    /// the identity every ping and post carries, as soon as the layer is stacked.
    pub(crate) ident: Arc<Mutex<Identity>>,
    /// Held by every clone of the layer: the worker keeps running after the guard is
    /// dropped for as long as one of them lives.
    pub(crate) alive: Arc<()>,
}

impl fmt::Debug for LiveMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsLayer")
            .field("enabled", &self.is_enabled())
            .field("collecting", &self.is_collecting())
            .finish()
    }
}

impl LiveMetricsLayer {
    /// A builder with the defaults.
    pub fn builder() -> LiveMetricsBuilder {
        LiveMetricsBuilder::default()
    }

    /// Whether this layer does anything (`false` when `OTEL_SDK_DISABLED=true` or
    /// `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false`).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether somebody watches (the service has subscribed) and the layer is collecting.
    pub fn is_collecting(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|a| a.collector.is_collecting())
    }

    /// Panics contained in the layer's callbacks (each lost at most one count or document;
    /// the application never saw them).
    pub fn contained_panics(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |a| a.collector.contained_panics())
    }
}

impl Active {
    fn adopt(&self, correlation: &CorrelationLayer) {
        self.ident
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_resource(correlation.resource());
    }

    fn on_event(&self, event: &Event<'_>) {
        // The correlation layer's record of this event, when another exporter asked for one:
        // read, not recorded a second time. This layer does not ask for records itself:
        // counting needs far less than a record costs.
        let shared = finished_event(event);
        if !self.collector.wants_detail() {
            let is_exception = match &shared {
                Some(record) => telemetry::is_exception(record.fields()),
                None => {
                    let mut probe = telemetry::ExceptionProbe::default();
                    event.record(&mut probe);
                    probe.0
                }
            };
            let ty = if is_exception {
                telemetry::ItemType::Exception
            } else {
                telemetry::ItemType::Trace
            };
            self.collector.count(ty, true, Duration::ZERO);
            return;
        }
        if let Some(record) = shared {
            self.collector
                .observe(&telemetry::event_item(record.fields()));
            return;
        }
        let mut fields = telemetry::EventFields::default();
        event.record(&mut fields);
        let item = telemetry::event_item(&fields.fields);
        self.collector.observe(&item);
    }

    /// A span closed: counted, and a document while somebody watches.
    fn on_close(&self, data: &SpanData) {
        let fields = data.record().fields();
        self.span_closed(
            data.name(),
            data.kind(),
            &data.status(),
            fields,
            data.duration(),
        );
    }

    /// [`Self::on_close`] from the record the correlation layer has just finished.
    fn on_close_finished(&self, span: &FinishedSpan) {
        let fields = span.record().fields();
        self.span_closed(
            span.name(),
            span.kind(),
            &span.status(),
            fields,
            span.duration(),
        );
    }

    fn span_closed(
        &self,
        name: &str,
        kind: SpanKind,
        status: &SpanStatus,
        fields: &[(&'static str, FieldValue)],
        duration: Duration,
    ) {
        let status_error = matches!(status, SpanStatus::Error { .. });
        if self.collector.wants_detail() {
            let item = telemetry::span_item_of(name, kind, status_error, fields, duration);
            self.collector.observe(&item);
        } else {
            let (ty, success, duration) =
                telemetry::span_basics_of(kind, status_error, fields, duration);
            self.collector.count(ty, success, duration);
        }
    }
}

impl<S> Layer<S> for LiveMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // As the other exporters: `on_layer` (forwarded by `Option<L>`) and
    // `on_register_dispatch` (which sees the whole stack).
    fn on_layer(&mut self, subscriber: &mut S) {
        let Some(a) = &self.inner else { return };
        let subscriber: &dyn Subscriber = subscriber;
        if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
            a.adopt(correlation);
        }
    }

    fn on_register_dispatch(&self, dispatch: &tracing_core::Dispatch) {
        let Some(a) = &self.inner else { return };
        if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
            a.adopt(correlation);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(a) = &self.inner else { return };
        if !a.collector.is_collecting() {
            return;
        }
        // A bug here (or a panicking `Debug` of a field) must never reach the application.
        a.collector.contain(|| a.on_event(event));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(a) = &self.inner else { return };
        if !a.collector.is_collecting() {
            return;
        }
        a.collector.contain(|| {
            // Shared by the correlation layer when another exporter asked: no second lookup.
            if let Some(finished) = finished_span(&id) {
                a.on_close_finished(&finished);
                return;
            }
            let Some(span) = ctx.span(&id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                a.on_close(data);
            }
        });
    }
}
