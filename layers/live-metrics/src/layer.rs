//! The layer: counts closed spans and events, and hands documents to the collector while
//! somebody watches.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing_core::span::Id;
use tracing_core::{Event, Subscriber};
use tracing_insights_correlation::{CorrelationLayer, SpanData};
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
        if !self.collector.wants_detail() {
            let mut probe = telemetry::ExceptionProbe::default();
            event.record(&mut probe);
            let ty = if probe.0 {
                telemetry::ItemType::Exception
            } else {
                telemetry::ItemType::Trace
            };
            self.collector.count(ty, true, Duration::ZERO);
            return;
        }
        let mut fields = telemetry::EventFields::default();
        event.record(&mut fields);
        let item = telemetry::event_item(&fields.fields);
        self.collector.observe(&item);
    }

    fn on_close(&self, data: &SpanData) {
        if self.collector.wants_detail() {
            let item = telemetry::span_item(data);
            self.collector.observe(&item);
        } else {
            let (ty, success, duration) = telemetry::span_basics(data);
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
            let Some(span) = ctx.span(&id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                a.on_close(data);
            }
        });
    }
}
