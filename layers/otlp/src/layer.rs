//! The layer, its builder and its guard.

use crate::config::{
    self, exporter_enabled, merge_header, parse_bool, parse_compression, parse_headers,
    parse_millis, parse_positive, parse_protocol, parse_temporality, signal_url, validate_url,
    Compression, EnvSource, OtlpError, Protocol, Signal, Temporality,
};
use crate::convert::{self, EventVisitor, Measurement};
use crate::sender::{self, Endpoint, Handle, Msg, Queue, SCOPE};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_core::span::Id;
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_insights_correlation::{find_span_data, Clock, CorrelationLayer, Resource, SpanData};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Every variable the builder reads (besides `OTEL_SERVICE_NAME`/`OTEL_RESOURCE_ATTRIBUTES`,
/// which the correlation layer's resource reads).
const RESOURCE_VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "WEBSITE_SITE_NAME",
    "WEBSITE_INSTANCE_ID",
    "FUNCTIONS_WORKER_RUNTIME",
    "KUBERNETES_SERVICE_HOST",
    "HOSTNAME",
];

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
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: Queue,
    traces: bool,
    logs: bool,
    metrics: bool,
    /// Also attach events to their span as span events.
    span_events: bool,
    resource: Arc<OnceLock<ProtoResource>>,
    /// The correlation layer's clock, for log record times (else the system clock).
    clock: OnceLock<Arc<dyn Clock>>,
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
        let _ = self.resource.set(convert::resource(correlation.resource()));
        let _ = self.clock.set(correlation.clock());
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
                .field("traces", &i.traces)
                .field("logs", &i.logs)
                .field("metrics", &i.metrics)
                .field("dropped", &i.queue.stats.dropped.load(Ordering::Relaxed))
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
        if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
            inner.adopt(correlation);
        }
    }

    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let Some(inner) = &self.inner else { return };
        if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
            inner.adopt(correlation);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        if !inner.traces {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
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
        if inner.resource.get().is_none() {
            let _ = inner.resource.set(convert::resource(data.resource()));
        }
        if !data.is_sampled() {
            return;
        }
        let mut proto = convert::span(data);
        drop(ext);
        if let Some((_, mut events, dropped)) = pending {
            events.append(&mut proto.events);
            proto.events = events;
            proto.dropped_events_count = dropped;
        }
        inner.queue.try_send(Msg::Span(Box::new(proto)));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        if !inner.logs && !inner.metrics && !inner.span_events {
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
            want_metrics: inner.metrics,
            ..EventVisitor::default()
        };
        event.record(&mut visitor);
        if inner.metrics && !visitor.metrics.is_empty() {
            let attributes = visitor.metric_attributes();
            for (kind, name, value) in visitor.metrics.drain(..) {
                inner.queue.try_send(Msg::Metric(Box::new(Measurement {
                    kind,
                    name: name.to_owned(),
                    value,
                    attributes: attributes.clone(),
                })));
            }
        }
        if inner.span_events {
            // On the span this layer sees the event in (its own filter may hide the
            // innermost one).
            if let Some(span) = ctx.event_span(event) {
                let mut attributes = visitor.attributes.clone();
                attributes.push(convert::str_kv("level", event.metadata().level().as_str()));
                let ev = opentelemetry_proto::tonic::trace::v1::span::Event {
                    time_unix_nano: convert::unix_nanos(inner.now()),
                    name: visitor.message.clone().unwrap_or_else(|| "event".into()),
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
        if inner.logs {
            let meta = event.metadata();
            let record = visitor.into_log(meta.level(), inner.now(), span_ctx);
            inner
                .queue
                .try_send(Msg::Log(Box::new((meta.target(), record))));
        }
    }
}

/// Builds an [`OtlpLayer`] and its [`OtlpGuard`].
///
/// Configuration precedence, highest first: the builder's methods, the signal variables
/// (`OTEL_EXPORTER_OTLP_TRACES_*`, `_LOGS_*`, `_METRICS_*`), the generic variables
/// (`OTEL_EXPORTER_OTLP_*`), the defaults.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `OTEL_SDK_DISABLED` | `false` | `true`: the layer does nothing and starts no thread |
/// | `OTEL_EXPORTER_OTLP_ENDPOINT` | `http://localhost:4318` (gRPC: `:4317`) | base URL; `v1/traces`, `v1/logs`, `v1/metrics` are appended (gRPC: the server address, used as given) |
/// | `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT` | | the signal's URL, used exactly as given |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_HEADERS` | | `k1=v1,k2=v2`, values percent-decoded; signal headers override generic ones of the same name |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL` | `http/protobuf` | or `http/json`, or `grpc` (with the `grpc` feature; an error naming the feature without it) |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_TIMEOUT` | `10000` | request timeout in ms; `0` = none |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_COMPRESSION` | `gzip` | or `none` |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE` | Mozilla's roots | PEM file of the roots to trust instead |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_CLIENT_CERTIFICATE` / `_CLIENT_KEY` | | PEM files for mTLS (both or neither) |
/// | `OTEL_EXPORTER_OTLP[_SIGNAL]_INSECURE` | | not read: every endpoint names its scheme (`http://` or `https://`) |
/// | `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` | `cumulative` | or `delta`, `lowmemory` |
/// | `OTEL_{TRACES,LOGS,METRICS}_EXPORTER` | `otlp` | `none` turns the signal off |
/// | `OTEL_METRIC_EXPORT_INTERVAL` | `60000` | ms between metric exports |
/// | `OTEL_BSP_SCHEDULE_DELAY` / `OTEL_BLRP_SCHEDULE_DELAY` | `5000` / `1000` | ms a span / log record may wait for its batch |
/// | `OTEL_BSP_MAX_QUEUE_SIZE` | `2048` | queue capacity (all signals) |
/// | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `512` | items per request |
///
/// Every malformed value is an [`OtlpError`] naming the variable (header values are never
/// shown). `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are read by the correlation
/// layer's [`Resource`], which this layer exports.
#[derive(Clone)]
pub struct OtlpBuilder {
    name: String,
    env: EnvSource,
    endpoint: Option<String>,
    signal_endpoints: [Option<String>; 3],
    headers: Vec<(String, String)>,
    signal_headers: [Vec<(String, String)>; 3],
    protocol: Option<Protocol>,
    signal_protocols: [Option<Protocol>; 3],
    compression: Option<Compression>,
    timeout: Option<Duration>,
    enabled: [Option<bool>; 3],
    temporality: Option<Temporality>,
    metric_interval: Option<Duration>,
    queue_capacity: Option<usize>,
    max_batch: Option<usize>,
    batch_delay: Option<Duration>,
    retries: (u32, Duration),
    bounds: HashMap<String, Vec<f64>>,
    resource: Option<Resource>,
    span_events: bool,
}

impl fmt::Debug for OtlpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpBuilder")
            .field("name", &self.name)
            .field("env", &self.env)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(config::mask_userinfo),
            )
            .field(
                "signal_endpoints",
                &self
                    .signal_endpoints
                    .iter()
                    .map(|e| e.as_deref().map(config::mask_userinfo))
                    .collect::<Vec<_>>(),
            )
            // Header values are secrets: names only.
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("enabled", &self.enabled)
            .field("temporality", &self.temporality)
            .finish_non_exhaustive()
    }
}

impl Default for OtlpBuilder {
    fn default() -> Self {
        Self {
            name: "otlp".into(),
            env: EnvSource::process(),
            endpoint: None,
            signal_endpoints: [None, None, None],
            headers: Vec::new(),
            signal_headers: [Vec::new(), Vec::new(), Vec::new()],
            protocol: None,
            signal_protocols: [None, None, None],
            compression: None,
            timeout: None,
            enabled: [None, None, None],
            temporality: None,
            metric_interval: None,
            queue_capacity: None,
            max_batch: None,
            batch_delay: None,
            retries: (5, Duration::from_millis(500)),
            bounds: HashMap::new(),
            resource: None,
            span_events: false,
        }
    }
}

impl OtlpBuilder {
    /// Names this destination (its worker thread is `tracing-insights-otlp-<name>`); use
    /// distinct names when several OTLP layers run at once. Default `otlp`.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Reads `OTEL_*` variables from `env` instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// The base URL for all signals (`/v1/traces` etc. are appended), like
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, over which it wins.
    #[must_use]
    pub fn with_endpoint(mut self, base: impl Into<String>) -> Self {
        self.endpoint = Some(base.into());
        self
    }

    /// The exact URL for one signal (used as given), like
    /// `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`.
    #[must_use]
    pub fn with_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.signal_endpoints[signal.index()] = Some(url.into());
        self
    }

    /// Adds a header to every request (overriding an environment header of the same name).
    /// The value never appears in `Debug` output or errors.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        merge_header(&mut self.headers, name.into(), value.into());
        self
    }

    /// Adds a header to one signal's requests only (over [`with_header`](Self::with_header)
    /// and the environment's of the same name), as a backend preset may need (a metrics
    /// dataset header, say). The value never appears in `Debug` output or errors.
    #[must_use]
    pub fn with_signal_header(
        mut self,
        signal: Signal,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        merge_header(
            &mut self.signal_headers[signal.index()],
            name.into(),
            value.into(),
        );
        self
    }

    /// The protocol for every signal.
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The protocol for one signal (over [`with_protocol`](Self::with_protocol)).
    #[must_use]
    pub fn with_signal_protocol(mut self, signal: Signal, protocol: Protocol) -> Self {
        self.signal_protocols[signal.index()] = Some(protocol);
        self
    }

    /// Request compression for every signal (default gzip).
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The timeout of one request (`Duration::ZERO` = none). Default 10 s.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Turns spans on or off (default on, unless `OTEL_TRACES_EXPORTER=none`).
    #[must_use]
    pub fn with_traces(mut self, on: bool) -> Self {
        self.enabled[0] = Some(on);
        self
    }

    /// Turns log records on or off (default on, unless `OTEL_LOGS_EXPORTER=none`).
    #[must_use]
    pub fn with_logs(mut self, on: bool) -> Self {
        self.enabled[1] = Some(on);
        self
    }

    /// Also attaches each event to its span as an OTLP span event (name = message,
    /// attributes = fields and `level`; at most 128 per span, the rest counted as dropped).
    /// Default off: events are log records. Turn it on for backends that take traces only
    /// (Phoenix, Jaeger, Langfuse, LangSmith). Events of sampled-out traces are not kept.
    #[must_use]
    pub fn with_span_events(mut self, on: bool) -> Self {
        self.span_events = on;
        self
    }

    /// Turns metrics on or off (default on, unless `OTEL_METRICS_EXPORTER=none`).
    #[must_use]
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.enabled[2] = Some(on);
        self
    }

    /// Metric temporality (default cumulative).
    #[must_use]
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }

    /// Time between metric exports (default 60 s).
    #[must_use]
    pub fn with_metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// The explicit bucket boundaries of one histogram (default: the GenAI conventions'
    /// advisory buckets for `gen_ai.*` durations and token usage, else OpenTelemetry's
    /// defaults). Unsorted or non-finite bounds are cleaned up.
    #[must_use]
    pub fn with_histogram_buckets(
        mut self,
        metric: impl Into<String>,
        mut bounds: Vec<f64>,
    ) -> Self {
        bounds.retain(|b| b.is_finite());
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        self.bounds.insert(metric.into(), bounds);
        self
    }

    /// Queue capacity shared by all signals (default 2048); beyond it items are dropped and
    /// counted.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity.max(1));
        self
    }

    /// Items per request (default 512).
    #[must_use]
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = Some(max.max(1));
        self
    }

    /// The longest a span or log record waits for its batch (default 5 s for spans, 1 s
    /// for logs); sets both.
    #[must_use]
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = Some(delay);
        self
    }

    /// Attempts per request (at least 1) and the first back-off, which doubles (with up to
    /// 25 % jitter); a `Retry-After` answer is honoured instead (capped at 30 s). Only
    /// OTLP's retryable answers (429, 502, 503, 504) and transport errors are retried.
    /// Default 5 attempts from 500 ms.
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.retries = (attempts.max(1), first_backoff);
        self
    }

    /// The resource to export when the subscriber has no correlation layer (normally the
    /// correlation layer's resource is used). Default: [`Resource::from_env`].
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    fn signal_setting<T>(
        &self,
        signal: Signal,
        suffix: &str,
        parse: impl Fn(&str, &str) -> Result<T, OtlpError>,
    ) -> Result<Option<T>, OtlpError> {
        let specific = format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.env_infix());
        if let Some(v) = self.env.value(&specific) {
            return parse(&specific, &v).map(Some);
        }
        let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
        match self.env.value(&generic) {
            Some(v) => parse(&generic, &v).map(Some),
            None => Ok(None),
        }
    }

    fn endpoint_for(&self, signal: Signal) -> Result<Endpoint, OtlpError> {
        let protocol = match self.signal_protocols[signal.index()].or(self.protocol) {
            Some(p) => p,
            None => self
                .signal_setting(signal, "PROTOCOL", parse_protocol)?
                .unwrap_or_default(),
        };
        #[cfg(not(feature = "http-json"))]
        if protocol == Protocol::HttpJson {
            return Err(OtlpError::InvalidValue {
                name: "with_protocol".into(),
                value: "http/json".into(),
                reason: "http/json needs the `http-json` cargo feature of tracing-insights-otlp"
                    .into(),
            });
        }
        #[cfg(not(feature = "grpc"))]
        if protocol == Protocol::Grpc {
            return Err(OtlpError::InvalidValue {
                name: "with_protocol".into(),
                value: "grpc".into(),
                reason: "grpc needs the `grpc` cargo feature of tracing-insights-otlp".into(),
            });
        }
        // gRPC: the URL is the server address, used as given (no `/v1/<signal>`).
        let join = |base: &str| -> String {
            if protocol == Protocol::Grpc {
                base.to_owned()
            } else {
                signal_url(base, signal)
            }
        };
        let (source, url) = if let Some(url) = &self.signal_endpoints[signal.index()] {
            (
                format!("with_signal_endpoint({signal})"),
                url.trim().to_owned(),
            )
        } else if let Some(base) = &self.endpoint {
            validate_url("with_endpoint", base.trim())?;
            ("with_endpoint".to_owned(), join(base.trim()))
        } else {
            let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env_infix());
            if let Some(url) = self.env.value(&specific) {
                (specific, url)
            } else if let Some(base) = self.env.value("OTEL_EXPORTER_OTLP_ENDPOINT") {
                validate_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?;
                ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), join(&base))
            } else if protocol == Protocol::Grpc {
                (
                    "the default endpoint".to_owned(),
                    config::DEFAULT_GRPC_ENDPOINT.to_owned(),
                )
            } else {
                (
                    "the default endpoint".to_owned(),
                    signal_url(config::DEFAULT_ENDPOINT, signal),
                )
            }
        };
        validate_url(&source, &url)?;
        // A signal URL with no path posts to `/` (the specification's example 2): that is
        // what the URL parser gives, so nothing to do.

        let mut headers = Vec::new();
        if let Some(v) = self.env.value("OTEL_EXPORTER_OTLP_HEADERS") {
            for (k, v) in parse_headers("OTEL_EXPORTER_OTLP_HEADERS", &v)? {
                merge_header(&mut headers, k, v);
            }
        }
        let specific = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.env_infix());
        if let Some(v) = self.env.value(&specific) {
            for (k, v) in parse_headers(&specific, &v)? {
                merge_header(&mut headers, k, v);
            }
        }
        for (k, v) in self
            .headers
            .iter()
            .chain(&self.signal_headers[signal.index()])
        {
            if ureq::http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(OtlpError::InvalidHeaders {
                    source_name: "with_header".into(),
                    reason: format!("`{}` is not a valid header name", k.escape_default()),
                });
            }
            if ureq::http::HeaderValue::from_str(v).is_err() {
                return Err(OtlpError::InvalidHeaders {
                    source_name: "with_header".into(),
                    reason: format!(
                        "the value of `{k}` has characters a header cannot carry (control characters or line breaks)"
                    ),
                });
            }
            merge_header(&mut headers, k.clone(), v.clone());
        }

        let compression = match self.compression {
            Some(c) => c,
            None => self
                .signal_setting(signal, "COMPRESSION", parse_compression)?
                .unwrap_or_default(),
        };
        let timeout = match self.timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => self
                .signal_setting(signal, "TIMEOUT", parse_millis)?
                .unwrap_or(Some(Duration::from_secs(10))),
        };
        let tls = self.tls_for(signal)?;
        #[cfg(feature = "grpc")]
        let grpc = if protocol == Protocol::Grpc {
            let client = crate::grpc::GrpcClient::new(&url, &tls).map_err(|reason| {
                OtlpError::InvalidEndpoint {
                    source_name: source.clone(),
                    value: config::mask_userinfo(&url),
                    reason,
                }
            })?;
            Some(Arc::new(std::sync::Mutex::new(client)))
        } else {
            None
        };
        Ok(Endpoint {
            signal,
            url,
            headers,
            protocol,
            compression,
            timeout,
            agent: Endpoint::agent_for(timeout, tls.ureq_config()),
            #[cfg(feature = "grpc")]
            grpc,
        })
    }

    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE` (PEM roots that replace the built-in ones),
    /// `_CLIENT_CERTIFICATE` and `_CLIENT_KEY` (PEM, for mTLS; both or neither).
    fn tls_for(&self, signal: Signal) -> Result<crate::tls::TlsFiles, OtlpError> {
        let var = |suffix: &str| -> Option<(String, String)> {
            let specific = format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.env_infix());
            if let Some(v) = self.env.value(&specific) {
                return Some((specific, v));
            }
            let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
            self.env.value(&generic).map(|v| (generic, v))
        };
        let mut files = crate::tls::TlsFiles::default();
        if let Some((name, path)) = var("CERTIFICATE") {
            files.roots = Some(crate::tls::read_certs(&name, &path)?);
        }
        match (var("CLIENT_CERTIFICATE"), var("CLIENT_KEY")) {
            (Some((cname, cpath)), Some((kname, kpath))) => {
                let chain = crate::tls::read_certs(&cname, &cpath)?;
                let (key, pem) = crate::tls::read_key(&kname, &kpath)?;
                files.client = Some((chain, key));
                files.client_key_pem = pem;
            }
            (Some((name, path)), None) | (None, Some((name, path))) => {
                return Err(OtlpError::InvalidValue {
                    name,
                    value: path,
                    reason: "mTLS needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY (or their signal variants)".into(),
                });
            }
            (None, None) => {}
        }
        Ok(files)
    }

    fn millis_var(&self, name: &str, default: Duration) -> Result<Duration, OtlpError> {
        match self.env.value(name) {
            None => Ok(default),
            Some(v) => Ok(parse_millis(name, &v)?.unwrap_or(default)),
        }
    }

    fn count_var(&self, name: &str, default: usize) -> Result<usize, OtlpError> {
        match self.env.value(name) {
            None => Ok(default),
            Some(v) => parse_positive(name, &v),
        }
    }

    /// Validates the configuration, starts the worker thread and returns the layer and its
    /// guard. With `OTEL_SDK_DISABLED=true` (or every signal off) the layer is a no-op and
    /// no thread starts.
    pub fn build(self) -> Result<(OtlpLayer, OtlpGuard), OtlpError> {
        if parse_bool(&self.env, "OTEL_SDK_DISABLED")? {
            return Ok(disabled());
        }
        let mut endpoints: [Option<Endpoint>; 3] = [None, None, None];
        for signal in Signal::ALL {
            let on = match self.enabled[signal.index()] {
                Some(on) => on,
                None => exporter_enabled(&self.env, signal)?,
            };
            if on {
                endpoints[signal.index()] = Some(self.endpoint_for(signal)?);
            }
        }
        if endpoints.iter().all(Option::is_none) {
            return Ok(disabled());
        }
        let temporality = match self.temporality {
            Some(t) => t,
            None => match self
                .env
                .value("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            {
                Some(v) => {
                    parse_temporality("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", &v)?
                }
                None => Temporality::Cumulative,
            },
        };
        let metric_interval = match self.metric_interval {
            Some(i) => i,
            None => self.millis_var("OTEL_METRIC_EXPORT_INTERVAL", Duration::from_secs(60))?,
        };
        let delays = match self.batch_delay {
            Some(d) => [d, d],
            None => [
                self.millis_var("OTEL_BSP_SCHEDULE_DELAY", Duration::from_secs(5))?,
                self.millis_var("OTEL_BLRP_SCHEDULE_DELAY", Duration::from_secs(1))?,
            ],
        };
        let queue_capacity = match self.queue_capacity {
            Some(c) => c,
            None => self.count_var("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?,
        };
        let max_batch = match self.max_batch {
            Some(b) => b,
            None => self.count_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?,
        };
        let fallback = match &self.resource {
            Some(r) => r.clone(),
            // A test's variable list: the resource comes from it too.
            None if !self.env.is_process() => Resource::builder()
                .with_env_vars(self.env.pairs(RESOURCE_VARS))
                .build(),
            None => Resource::from_env(),
        };
        let signals = [
            endpoints[0].is_some(),
            endpoints[1].is_some(),
            endpoints[2].is_some(),
        ];
        let resource = Arc::new(OnceLock::new());
        let config = sender::WorkerConfig {
            name: self.name.clone(),
            endpoints,
            queue_capacity,
            max_batch,
            delays,
            metric_interval,
            max_attempts: self.retries.0,
            retry_base: self.retries.1,
            temporality,
            bounds: self.bounds,
            fallback_resource: convert::resource(&fallback),
        };
        let (queue, handle) =
            sender::spawn(config, resource.clone()).map_err(|e| OtlpError::Spawn(e.to_string()))?;
        let layer = OtlpLayer {
            inner: Some(Arc::new(Inner {
                queue,
                traces: signals[0],
                logs: signals[1],
                metrics: signals[2],
                span_events: self.span_events && signals[0],
                resource,
                clock: OnceLock::new(),
            })),
        };
        Ok((
            layer,
            OtlpGuard {
                handle: Some(handle),
            },
        ))
    }
}

fn disabled() -> (OtlpLayer, OtlpGuard) {
    (OtlpLayer { inner: None }, OtlpGuard { handle: None })
}

/// Keeps the OTLP worker alive; [`shutdown`](Self::shutdown) flushes and stops it.
///
/// Dropping it without `shutdown` flushes as a best effort for at most 2 s.
#[must_use = "dropping the guard stops the OTLP exporter; keep it until the end of main and call shutdown()"]
pub struct OtlpGuard {
    handle: Option<Handle>,
}

impl fmt::Debug for OtlpGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.handle {
            None => f.write_str("OtlpGuard(disabled)"),
            Some(h) => f
                .debug_struct("OtlpGuard")
                .field("name", &h.name)
                .field("endpoints", &h.endpoints)
                .field("dropped", &self.dropped())
                .finish_non_exhaustive(),
        }
    }
}

/// Why a flush or shutdown did not complete cleanly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The worker did not answer in time (a slow or unreachable endpoint).
    #[error("OTLP export did not finish within {0:?}")]
    Timeout(Duration),
    /// The worker thread has already stopped.
    #[error("the OTLP export worker has stopped")]
    WorkerGone,
    /// A batch could not be delivered (the HTTP status in words, or the transport error).
    #[error("OTLP export failed: {0}")]
    Export(String),
}

impl OtlpGuard {
    /// Whether a worker is running (`false` when disabled).
    pub fn is_enabled(&self) -> bool {
        self.handle.as_ref().is_some_and(Handle::is_running)
    }

    /// Exports everything queued so far (and the metrics collected so far) and waits up to
    /// `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        match &self.handle {
            Some(h) => h.flush(timeout),
            None => Ok(()),
        }
    }

    /// Flushes, stops the worker and waits for it, up to `timeout` in all. Reports an export
    /// failure, a timeout, and (on stderr) how many items were dropped.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        match &mut self.handle {
            Some(h) => h.stop(timeout),
            None => Ok(()),
        }
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.handle
            .as_ref()
            .map_or(0, |h| h.stats.dropped.load(Ordering::Relaxed))
    }

    /// Items of `signal` delivered (spans, log records, or metrics per collection).
    pub fn exported(&self, signal: Signal) -> u64 {
        self.handle.as_ref().map_or(0, |h| {
            h.stats.exported[signal.index()].load(Ordering::Relaxed)
        })
    }

    /// Items the receiver reported as rejected in a partial-success answer.
    pub fn rejected(&self) -> u64 {
        self.handle
            .as_ref()
            .map_or(0, |h| h.stats.rejected.load(Ordering::Relaxed))
    }

    /// The URL each enabled signal is sent to.
    pub fn endpoints(&self) -> Vec<(Signal, String)> {
        self.handle.as_ref().map_or_else(Vec::new, |h| {
            h.endpoints
                .iter()
                .flatten()
                .map(|e| (e.signal, e.url.clone()))
                .collect()
        })
    }

    /// Sends one empty export request per enabled signal, now, from this thread, and
    /// reports each HTTP status in words: the way to see a wrong path (404), a missing key
    /// (401) or a receiver that does not take a signal (405), which exports otherwise only
    /// report at shutdown.
    pub fn check(&self) -> CheckReport {
        let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        let mut results = Vec::new();
        let Some(h) = &self.handle else {
            return CheckReport { results };
        };
        for ep in h.endpoints.iter().flatten() {
            // A request with no resource at all: the smallest valid export of each signal.
            let body = match ep.signal {
                Signal::Traces => sender::encode(
                    ep,
                    &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::default(),
                ),
                Signal::Logs => sender::encode(
                    ep,
                    &opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::default(),
                ),
                Signal::Metrics => sender::encode(
                    ep,
                    &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::default(),
                ),
            };
            let outcome = match body.and_then(|b| check_once(ep, &b)) {
                Ok(a) if a.ok => CheckOutcome::Accepted { status: a.status },
                Ok(a) => CheckOutcome::Rejected {
                    status: a.status,
                    words: a.words,
                },
                Err(e) => CheckOutcome::Unreachable(e),
            };
            results.push(CheckResult {
                signal: ep.signal,
                url: config::mask_userinfo(&ep.url),
                outcome,
            });
        }
        CheckReport { results }
    }
}

/// One check request. gRPC runs on a thread of its own: the caller may be inside a tokio
/// runtime, where our private runtime must not block.
fn check_once(ep: &Endpoint, body: &[u8]) -> Result<sender::Answer, String> {
    if ep.protocol != Protocol::Grpc {
        return sender::send_once(ep, body);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            sender::send_once(ep, body)
        })
        .join()
        .unwrap_or_else(|_| Err("the check thread failed".into()))
    })
}

/// The answer to [`OtlpGuard::check`]: one line per enabled signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// One result per enabled signal.
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    /// Whether every signal's empty export was accepted (2xx).
    pub fn is_ok(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.outcome, CheckOutcome::Accepted { .. }))
    }

    /// The result for one signal.
    pub fn get(&self, signal: Signal) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.signal == signal)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.results.is_empty() {
            return f.write_str("OTLP export is disabled");
        }
        for (i, r) in self.results.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One signal's connectivity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The signal.
    pub signal: Signal,
    /// Where it was sent (credentials in the URL masked).
    pub url: String,
    /// What came back.
    pub outcome: CheckOutcome,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}: ", self.signal, self.url)?;
        match &self.outcome {
            CheckOutcome::Accepted { status } => {
                write!(f, "{} (accepted)", sender::status_words(*status))
            }
            CheckOutcome::Rejected { words, .. } => f.write_str(words),
            CheckOutcome::Unreachable(e) => write!(f, "unreachable: {e}"),
        }
    }
}

/// What an empty export got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// A 2xx answer.
    Accepted {
        /// The status.
        status: u16,
    },
    /// Any other answer.
    Rejected {
        /// The status.
        status: u16,
        /// The status in words, with a hint.
        words: String,
    },
    /// No HTTP answer (connection refused, DNS, timeout).
    Unreachable(String),
}

/// The instrumentation scope name spans and metrics are exported under.
pub const INSTRUMENTATION_SCOPE: &str = SCOPE;
