//! The App Insights mapping and export pipeline for telemetry that does not come through
//! `tracing`: a bridge to another tracing API (the `tracing-insights-opentelemetry` crate's
//! OpenTelemetry SDK exporters) hands spans, log records and metric points over as the
//! same records the layer maps, and they ride the same export pipeline (queue, batching,
//! retries, `Retry-After`, offline spool, Entra ID), configured by the same builder.
//!
//! No OpenTelemetry type appears here: the bridge converts its data to correlation types.
//! The mapping runs on the caller's thread (an SDK exporter is called on the SDK's own
//! batch thread, never on the application's).

use crate::builder::{AppInsightsBuilder, AppInsightsError};
use crate::guard::{AppInsightsGuard, Pipeline};
use crate::mapping::{self, EventSpan, MetricPoint, SpanInput};
use std::fmt;
use std::time::SystemTime;
use tracing_core::Level;
use tracing_insights_correlation::{
    FieldValue, Resource, SpanId, SpanKind, SpanLink, SpanStatus, TraceId,
};

/// A closed span from another tracing API, as the App Insights mapping reads a span record.
#[derive(Debug, Clone)]
pub struct ForeignSpan<'a> {
    /// The span's name.
    pub name: &'a str,
    /// Its kind.
    pub kind: SpanKind,
    /// Its status.
    pub status: SpanStatus,
    /// Its attributes, typed as the correlation layer records `tracing` fields (same
    /// conventions: `otel.link_attributes`, `microsoft.*`, semantic-convention names).
    pub fields: &'a [(&'static str, FieldValue)],
    /// The trace (`operation_Id`).
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The parent span, local or remote.
    pub parent_span_id: Option<SpanId>,
    /// Links to other spans.
    pub links: &'a [SpanLink],
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// The percentage of traces the sampler keeps (100 when everything is kept).
    pub sample_rate: f64,
}

/// A log record (or a span event) from another tracing API, as the mapping reads an event.
#[derive(Debug, Clone)]
pub struct ForeignLog<'a> {
    /// When it happened.
    pub time: SystemTime,
    /// The level (the `otel.severity_number` field, when given, wins for the severity).
    pub level: Level,
    /// The logger (instrumentation scope) name: `logger_name`.
    pub logger: &'a str,
    /// Its fields: `message` holds the body; the other attributes as for a `tracing` event.
    pub fields: &'a [(&'static str, FieldValue)],
    /// The span it happened in (trace id, span id), if any.
    pub span: Option<(TraceId, SpanId)>,
    /// The sampler's percentage for that span's trace.
    pub sample_rate: f64,
}

/// One aggregated metric point: a sum (counters, histograms) or value (up-down counters,
/// gauges), the number of measurements, and a histogram's min and max.
#[derive(Debug, Clone)]
pub struct ForeignMetric<'a> {
    /// The instrument's name.
    pub name: &'a str,
    /// The point's attributes.
    pub attributes: &'a [(&'static str, FieldValue)],
    /// The sum (counters, histograms) or the value (up-down counters, gauges).
    pub value: f64,
    /// How many measurements (1 for counters and gauges).
    pub count: u64,
    /// A histogram's min and max.
    pub min_max: Option<(f64, f64)>,
    /// When the point was collected.
    pub time: SystemTime,
}

/// A handle on a running App Insights pipeline that maps and sends telemetry made outside
/// `tracing`. Cheap to clone. Made with [`AppInsightsBuilder::build_sink`]; the guard
/// returned with it flushes and shuts the pipeline down as the layer's does.
#[derive(Clone)]
pub struct AppInsightsSink {
    inner: Option<SinkInner>,
}

#[derive(Clone)]
struct SinkInner {
    pipeline: Pipeline,
    traces: bool,
    logs: bool,
    metrics: bool,
}

impl fmt::Debug for AppInsightsSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The instrumentation key is a secret: not shown.
        f.debug_struct("AppInsightsSink")
            .field("enabled", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl AppInsightsBuilder {
    /// Builds the pipeline as [`build`](Self::build) does, and returns a sink for telemetry
    /// made outside `tracing` instead of a layer. Every builder setting applies (connection
    /// string, spool, retries, token provider, signals, `OTEL_SDK_DISABLED`).
    pub fn build_sink(self) -> Result<(AppInsightsSink, AppInsightsGuard), AppInsightsError> {
        let (layer, guard) = self.build()?;
        let inner = layer.inner.map(|a| SinkInner {
            pipeline: a.pipeline,
            traces: a.traces,
            logs: a.logs,
            metrics: a.metrics,
        });
        Ok((AppInsightsSink { inner }, guard))
    }
}

impl AppInsightsSink {
    /// Whether the sink sends anything (`false` with `OTEL_SDK_DISABLED=true`).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Sets part A (cloud role, instance, SDK version) from `resource`, unless a resource
    /// was already taken (the first one wins, as with the layer).
    pub fn set_resource(&self, resource: &Resource) {
        if let Some(s) = &self.inner {
            s.pipeline.shared.set_resource(resource);
        }
    }

    /// Maps `span` to a Request or RemoteDependency envelope and queues it. With logs on,
    /// an `&dyn Error` field also becomes an exception, as for a `tracing` span.
    pub fn export_span(&self, span: &ForeignSpan<'_>) {
        let Some(s) = &self.inner else { return };
        if !s.traces {
            return;
        }
        let shared = &s.pipeline.shared;
        shared.contain(|| {
            let input = SpanInput {
                name: span.name,
                kind: span.kind,
                status: span.status.clone(),
                fields: span.fields,
                trace_id: span.trace_id.to_string(),
                span_id: span.span_id.to_string(),
                parent_id: span.parent_span_id.map(|p| p.to_string()),
                links: span.links,
                start: span.start,
                end: span.end,
                sampler_rate: span.sample_rate,
            };
            let mut env = mapping::span_envelope(shared.part_a(), &shared.ikey, &input);
            shared.count_standard(&mut env, true);
            send(&s.pipeline, &env);
        });
    }

    /// Maps `log` to a Message, Exception, Event or Availability envelope and queues it.
    pub fn export_log(&self, log: &ForeignLog<'_>) {
        let Some(s) = &self.inner else { return };
        if !s.logs {
            return;
        }
        let shared = &s.pipeline.shared;
        shared.contain(|| {
            let span = log.span.map(|(t, sp)| EventSpan {
                trace_id: t.to_string(),
                span_id: sp.to_string(),
                fields: &[],
                sampler_rate: log.sample_rate,
            });
            let env = mapping::event_envelope(
                shared.part_a(),
                &shared.ikey,
                log.time,
                &log.level,
                log.logger,
                log.fields,
                span.as_ref(),
                None,
            );
            send(&s.pipeline, &env);
        });
    }

    /// Maps `point` to a MetricData envelope (standard metrics as the layer maps them) and
    /// queues it.
    pub fn export_metric(&self, point: &ForeignMetric<'_>) {
        let Some(s) = &self.inner else { return };
        if !s.metrics {
            return;
        }
        let shared = &s.pipeline.shared;
        shared.contain(|| {
            let p = MetricPoint {
                value: point.value,
                count: point.count,
                min_max: point.min_max,
            };
            if let Some(env) = mapping::metric_envelope(
                shared.part_a(),
                &shared.ikey,
                point.time,
                point.name,
                point.attributes,
                &p,
            ) {
                send(&s.pipeline, &env);
            }
        });
    }
}

fn send(pipeline: &Pipeline, env: &mapping::Envelope<'_>) {
    if let Some(bytes) = pipeline.shared.finish(env) {
        pipeline.exporter.try_send(bytes);
    }
}
