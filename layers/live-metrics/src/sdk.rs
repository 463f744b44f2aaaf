//! Live Metrics without a `tracing` subscriber: finished spans and log records handed in
//! by another pipeline (the OpenTelemetry SDK exporter) feed the same counters, derived
//! metrics and documents as the layer's.

use std::fmt;
use std::sync::PoisonError;
use std::time::Duration;

use tracing_insights_correlation::{FieldValue, Resource, SpanKind, SpanStatus};

use crate::builder::{LiveMetricsBuilder, LiveMetricsError};
use crate::guard::LiveMetricsGuard;
use crate::layer::Active;
use crate::telemetry;

/// A finished span as Live Metrics reads it: the same parts the layer reads from the
/// correlation layer's span record.
#[derive(Debug, Clone, Copy)]
pub struct LiveSpan<'a> {
    /// The span's name (the request's or dependency's `Name`).
    pub name: &'a str,
    /// Server and consumer spans are requests, the others dependencies.
    pub kind: SpanKind,
    /// An `Error` status fails the request or dependency.
    pub status: &'a SpanStatus,
    /// The attributes (`http.response.status_code`, `url.full`, `db.system.name`, ...).
    pub fields: &'a [(&'static str, FieldValue)],
    /// From start to end.
    pub duration: Duration,
}

/// Feeds Live Metrics from spans and records that do not pass through a `tracing`
/// subscriber. Made by [`LiveMetricsBuilder::build_sink`]; clones share one stream.
///
/// Every call costs one relaxed atomic load while nobody watches the Live Metrics page;
/// while somebody does, spans and records are counted and kept as documents exactly as the
/// layer does. A panic inside is contained and counted, never unwinds into the caller.
#[derive(Clone)]
pub struct LiveMetricsSink {
    inner: Option<Active>,
}

impl fmt::Debug for LiveMetricsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsSink")
            .field("enabled", &self.is_enabled())
            .field("collecting", &self.is_collecting())
            .finish()
    }
}

impl LiveMetricsBuilder {
    /// Builds a [`LiveMetricsSink`] instead of a layer, and starts the worker thread: the
    /// same settings, environment switches and guard as [`build`](Self::build). With
    /// `OTEL_SDK_DISABLED=true` or `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false` the sink
    /// does nothing.
    pub fn build_sink(self) -> Result<(LiveMetricsSink, LiveMetricsGuard), LiveMetricsError> {
        let (layer, guard) = self.build()?;
        Ok((LiveMetricsSink { inner: layer.inner }, guard))
    }
}

impl LiveMetricsSink {
    /// Whether the sink does anything (`false` when the environment turned Live Metrics
    /// off).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether somebody watches (the service has subscribed) and the sink is collecting.
    pub fn is_collecting(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|a| a.collector.is_collecting())
    }

    /// The resource naming this process in every ping and post (`RoleName`, `Instance`),
    /// replacing the builder's: e.g. the OpenTelemetry SDK's resource.
    pub fn set_resource(&self, resource: &Resource) {
        if let Some(a) = &self.inner {
            a.ident
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .set_resource(resource);
        }
    }

    /// Counts a finished span as a request or dependency (and keeps it as a document while
    /// the per-second bound allows).
    pub fn record_span(&self, span: &LiveSpan<'_>) {
        let Some(a) = &self.inner else { return };
        if !a.collector.is_collecting() {
            return;
        }
        a.collector.contain(|| {
            let status_error = matches!(span.status, SpanStatus::Error { .. });
            if a.collector.wants_detail() {
                let item = telemetry::span_item_of(
                    span.name,
                    span.kind,
                    status_error,
                    span.fields,
                    span.duration,
                );
                a.collector.observe(&item);
            } else {
                let (ty, success, duration) =
                    telemetry::span_basics_of(span.kind, status_error, span.fields, span.duration);
                a.collector.count(ty, success, duration);
            }
        });
    }

    /// Counts a log record or span event: an exception when its fields say so
    /// ([`crate::is_exception`]: `exception.type`, `exception.message` or an error value),
    /// else a trace (its `message` field is the document's message).
    pub fn record_log(&self, fields: &[(&'static str, FieldValue)]) {
        let Some(a) = &self.inner else { return };
        if !a.collector.is_collecting() {
            return;
        }
        a.collector.contain(|| {
            let item = telemetry::event_item(fields);
            if a.collector.wants_detail() {
                a.collector.observe(&item);
            } else {
                a.collector.count(item.ty, true, Duration::ZERO);
            }
        });
    }
}
