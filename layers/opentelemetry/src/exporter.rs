//! App Insights as an OpenTelemetry SDK exporter: one type that is a `SpanExporter`, a
//! `LogExporter` and a `PushMetricExporter`, mapping through the App Insights layer's own
//! mapping onto its export pipeline.

use crate::convert::{self, fields, json_string, push_attributes};
use opentelemetry::logs::{AnyValue, Severity};
use opentelemetry::Value;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource as OtelResource;
use std::future::{ready, Future};
use std::time::{Duration, SystemTime};
use tracing_core::Level;
use tracing_insights_appinsights::{
    AppInsightsBuilder, AppInsightsError, AppInsightsGuard, AppInsightsSink, FlushHandle,
    ForeignLog, ForeignMetric, ForeignSpan,
};
use tracing_insights_correlation::{FieldValue, Resource, SpanLink};

/// How long `force_flush` waits for the export queue.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The App Insights exporter for the OpenTelemetry SDK (`opentelemetry_sdk` 0.33): give a
/// clone to each provider (`with_batch_exporter`, `with_simple_exporter`, a
/// `PeriodicReader`). Spans, span events, log records and metric points are mapped by the
/// App Insights layer's mapping and ride its export pipeline (queue, batching, retries,
/// `Retry-After`, offline spool, Entra ID), all set on the [`AppInsightsBuilder`].
///
/// A provider's `shutdown` flushes; the pipeline stops with the [`AppInsightsGuard`]
/// returned by [`build`](Self::build) (shut the providers down first, then the guard).
#[derive(Clone, Debug)]
pub struct AppInsightsExporter {
    sink: AppInsightsSink,
    flush: FlushHandle,
    #[cfg(feature = "live-metrics")]
    live: Option<tracing_insights_live_metrics::LiveMetricsSink>,
}

impl AppInsightsExporter {
    /// The App Insights builder (connection string, spool, retries, token provider, ...);
    /// pass it to [`build`](Self::build).
    pub fn builder() -> AppInsightsBuilder {
        tracing_insights_appinsights::AppInsightsLayer::builder()
    }

    /// Starts the export pipeline configured by `builder`. Errors are the layer's (a bad
    /// connection string names the variable). With `OTEL_SDK_DISABLED=true` the exporter
    /// sends nothing.
    pub fn build(
        builder: AppInsightsBuilder,
    ) -> Result<(Self, AppInsightsGuard), AppInsightsError> {
        let (sink, guard) = builder.build_sink()?;
        let flush = guard.flush_handle();
        Ok((
            Self {
                sink,
                flush,
                #[cfg(feature = "live-metrics")]
                live: None,
            },
            guard,
        ))
    }

    /// Feeds `live` too: every span, span event and log record this exporter is given also
    /// counts in that Live Metrics stream (requests, dependencies, exceptions, documents),
    /// while somebody watches it. Only what the SDK exports arrives here, so spans its
    /// sampler dropped are not counted (the `tracing` layer counts every span).
    ///
    /// ```no_run
    /// use tracing_insights_live_metrics::LiveMetricsBuilder;
    /// use tracing_insights_opentelemetry::AppInsightsExporter;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (live, live_guard) = LiveMetricsBuilder::default().build_sink()?;
    /// let (exporter, guard) = AppInsightsExporter::build(AppInsightsExporter::builder())?;
    /// let exporter = exporter.with_live_metrics(live);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "live-metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "live-metrics")))]
    #[must_use]
    pub fn with_live_metrics(
        mut self,
        live: tracing_insights_live_metrics::LiveMetricsSink,
    ) -> Self {
        self.live = Some(live);
        self
    }

    /// Hands a log record or span event to Live Metrics, if asked for.
    fn live_log(&self, _fields: &[(&'static str, FieldValue)]) {
        #[cfg(feature = "live-metrics")]
        if let Some(live) = &self.live {
            live.record_log(_fields);
        }
    }

    fn adopt_resource(&self, resource: &OtelResource) {
        let ours = resource_of(resource);
        #[cfg(feature = "live-metrics")]
        if let Some(live) = &self.live {
            live.set_resource(&ours);
        }
        if self.sink.is_enabled() {
            self.sink.set_resource(&ours);
        }
    }

    fn export_span(&self, span: &SpanData) {
        let trace_id = convert::trace_id(span.span_context.trace_id());
        let Some(span_id) = convert::span_id(span.span_context.span_id()) else {
            return;
        };
        let mut attrs = fields(&span.attributes);
        let links: Vec<SpanLink> = span
            .links
            .iter()
            .filter_map(|l| {
                Some(SpanLink {
                    trace_id: convert::trace_id(l.span_context.trace_id()),
                    span_id: convert::span_id(l.span_context.span_id())?,
                })
            })
            .collect();
        // Link attributes as the `tracing` path carries them: one JSON object per link.
        if span.links.iter().any(|l| !l.attributes.is_empty()) {
            let items: Vec<String> = span
                .links
                .iter()
                .map(|l| attributes_json(l.attributes.iter().map(|kv| (&kv.key, &kv.value))))
                .collect();
            attrs.push((
                "otel.link_attributes",
                FieldValue::Str(format!("[{}]", items.join(",")).into()),
            ));
        }
        let status = convert::status(&span.status);
        #[cfg(feature = "live-metrics")]
        if let Some(live) = &self.live {
            live.record_span(&tracing_insights_live_metrics::LiveSpan {
                name: &span.name,
                kind: convert::kind(&span.span_kind),
                status: &status,
                fields: &attrs,
                duration: span
                    .end_time
                    .duration_since(span.start_time)
                    .unwrap_or_default(),
            });
        }
        self.sink.export_span(&ForeignSpan {
            name: &span.name,
            kind: convert::kind(&span.span_kind),
            status,
            fields: &attrs,
            trace_id,
            span_id,
            parent_span_id: convert::span_id(span.parent_span_id),
            links: &links,
            start: span.start_time,
            end: span.end_time,
            sample_rate: 100.0,
        });
        // Span events: log records inside the span (an `exception` event with
        // `exception.*` attributes becomes an Exception).
        let logger = span.instrumentation_scope.name();
        for event in span.events.iter() {
            let mut f = vec![("message", FieldValue::Str(event.name.as_ref().into()))];
            push_attributes(
                &mut f,
                event.attributes.iter().map(|kv| (&kv.key, &kv.value)),
            );
            self.sink.export_log(&ForeignLog {
                time: event.timestamp,
                level: Level::INFO,
                logger,
                fields: &f,
                span: Some((trace_id, span_id)),
                sample_rate: 100.0,
            });
            self.live_log(&f);
        }
    }
}

/// Attributes as a JSON object (the `otel.link_attributes` convention).
fn attributes_json<'a>(
    attributes: impl Iterator<Item = (&'a opentelemetry::Key, &'a Value)>,
) -> String {
    let items: Vec<String> = attributes
        .map(|(k, v)| {
            let value = match v {
                Value::Bool(b) => b.to_string(),
                Value::I64(i) => i.to_string(),
                Value::F64(f) => f.to_string(),
                Value::String(s) => json_string(s.as_str()),
                other => json_string(&other.to_string()),
            };
            format!("{}:{value}", json_string(k.as_str()))
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// The SDK's resource as ours (the App Insights part A reads service name, namespace,
/// instance and the rest).
fn resource_of(resource: &OtelResource) -> Resource {
    Resource::from_attributes(
        resource
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_string())),
    )
}

impl SpanExporter for AppInsightsExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        for span in &batch {
            // Sampled-out spans are not recorded by the SDK, so none arrive here.
            self.export_span(span);
        }
        ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        flush(&self.flush, timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        flush(&self.flush, FLUSH_TIMEOUT)
    }

    fn set_resource(&mut self, resource: &OtelResource) {
        self.adopt_resource(resource);
    }
}

fn flush(handle: &FlushHandle, timeout: Duration) -> OTelSdkResult {
    handle
        .flush(timeout)
        .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))
}

/// A `tracing` level for an OpenTelemetry severity (the mapping reads the exact number from
/// `otel.severity_number`).
fn level(n: i64) -> Level {
    match n {
        ..=4 => Level::TRACE,
        5..=8 => Level::DEBUG,
        9..=12 => Level::INFO,
        13..=16 => Level::WARN,
        _ => Level::ERROR,
    }
}

/// A log body as the `message` field: a string as is, anything else as text.
fn body_text(body: &AnyValue) -> String {
    match body {
        AnyValue::String(s) => s.as_str().to_owned(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        other => any_json(other),
    }
}

fn any_json(v: &AnyValue) -> String {
    match v {
        AnyValue::String(s) => json_string(s.as_str()),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::ListAny(items) => format!(
            "[{}]",
            items.iter().map(any_json).collect::<Vec<_>>().join(", ")
        ),
        AnyValue::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", json_string(k.as_str()), any_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => json_string(&format!("{other:?}")),
    }
}

fn any_field(v: &AnyValue) -> FieldValue {
    match v {
        AnyValue::String(s) => FieldValue::Str(s.as_str().into()),
        AnyValue::Int(i) => FieldValue::I64(*i),
        AnyValue::Double(d) => FieldValue::F64(*d),
        AnyValue::Boolean(b) => FieldValue::Bool(*b),
        other => FieldValue::Str(any_json(other).into()),
    }
}

impl LogExporter for AppInsightsExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        for (record, scope) in batch.iter() {
            let n = record.severity_number().map_or(0, |s: Severity| s as i64);
            let mut f: Vec<(&'static str, FieldValue)> = Vec::new();
            if let Some(body) = record.body() {
                f.push(("message", FieldValue::Str(body_text(body).into())));
            }
            if n > 0 {
                f.push(("otel.severity_number", FieldValue::I64(n)));
            }
            for (k, v) in record.attributes_iter() {
                if let Some(key) = convert::intern(k.as_str()) {
                    if !f.iter().any(|(n, _)| *n == key) {
                        f.push((key, any_field(v)));
                    }
                }
            }
            // `event_name` is not a custom event: bridges set it to any event's name (the
            // `tracing` appender to the callsite's). A custom event is the attribute
            // `microsoft.custom_event.name`, as with Microsoft's exporter.
            let span = record
                .trace_context()
                .and_then(|c| Some((convert::trace_id(c.trace_id), convert::span_id(c.span_id)?)));
            let logger = record
                .target()
                .map(|t| t.as_ref())
                .unwrap_or_else(|| scope.name());
            self.sink.export_log(&ForeignLog {
                time: record
                    .timestamp()
                    .or_else(|| record.observed_timestamp())
                    .unwrap_or_else(SystemTime::now),
                level: level(n),
                logger,
                fields: &f,
                span,
                sample_rate: 100.0,
            });
            self.live_log(&f);
        }
        ready(Ok(()))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        flush(&self.flush, timeout)
    }

    fn set_resource(&mut self, resource: &OtelResource) {
        self.adopt_resource(resource);
    }
}

impl AppInsightsExporter {
    fn export_metrics(&self, metrics: &ResourceMetrics) {
        self.adopt_resource(metrics.resource());
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                match metric.data() {
                    AggregatedMetrics::F64(d) => self.export_points(metric.name(), d, |v| *v),
                    AggregatedMetrics::U64(d) => {
                        self.export_points(metric.name(), d, |v| *v as f64)
                    }
                    AggregatedMetrics::I64(d) => {
                        self.export_points(metric.name(), d, |v| *v as f64)
                    }
                }
            }
        }
    }

    fn export_points<T: Copy>(&self, name: &str, data: &MetricData<T>, f64_of: impl Fn(&T) -> f64) {
        let send = |attrs: Vec<(&'static str, FieldValue)>,
                    value: f64,
                    count: u64,
                    min_max: Option<(f64, f64)>,
                    time: SystemTime| {
            self.sink.export_metric(&ForeignMetric {
                name,
                attributes: &attrs,
                value,
                count,
                min_max,
                time,
            });
        };
        let attrs_of = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
            let mut out = Vec::new();
            push_attributes(&mut out, it.map(|kv| (&kv.key, &kv.value)));
            out
        };
        match data {
            MetricData::Gauge(g) => {
                for p in g.data_points() {
                    let attrs = attrs_of(&mut p.attributes());
                    send(attrs, f64_of(&p.value()), 1, None, g.time());
                }
            }
            MetricData::Sum(s) => {
                for p in s.data_points() {
                    let attrs = attrs_of(&mut p.attributes());
                    send(attrs, f64_of(&p.value()), 1, None, s.time());
                }
            }
            MetricData::Histogram(h) => {
                for p in h.data_points() {
                    let attrs = attrs_of(&mut p.attributes());
                    let min_max = match (p.min(), p.max()) {
                        (Some(a), Some(b)) => Some((f64_of(&a), f64_of(&b))),
                        _ => Some((0.0, 0.0)),
                    };
                    send(attrs, f64_of(&p.sum()), p.count(), min_max, h.time());
                }
            }
            MetricData::ExponentialHistogram(h) => {
                for p in h.data_points() {
                    let attrs = attrs_of(&mut p.attributes());
                    let min_max = match (p.min(), p.max()) {
                        (Some(a), Some(b)) => Some((f64_of(&a), f64_of(&b))),
                        _ => Some((0.0, 0.0)),
                    };
                    send(attrs, f64_of(&p.sum()), p.count() as u64, min_max, h.time());
                }
            }
        }
    }
}

impl PushMetricExporter for AppInsightsExporter {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.export_metrics(metrics);
        ready(Ok(()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        flush(&self.flush, FLUSH_TIMEOUT)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        flush(&self.flush, timeout)
    }

    /// Delta for counters and histograms, cumulative for up-down counters: what Microsoft's
    /// exporter asks for.
    fn temporality(&self) -> Temporality {
        Temporality::LowMemory
    }
}
