//! The builder: every setting, and `build()`.

use crate::config::{
    merge_header, parse_bool, signal_index, Compression, Env, EnvSource, OtlpError, Protocol,
    Signal, Temporality,
};
use crate::convert;
use crate::environment::OTEL_SDK_DISABLED;
use crate::guard::OtlpGuard;
use crate::layer::{Inner, OtlpLayer};
use crate::pipeline::{self, ResourceCell};
use crate::processor::{Processors, TelemetryProcessor};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing_insights_correlation::Resource;
use tracing_insights_export::transport::HeaderNames;
use tracing_insights_export::{OfflineStorage, RequestAuth};

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
/// | `OTEL_BSP_MAX_QUEUE_SIZE` | `2048` | queue capacity (of each signal) |
/// | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | `512` | items per request |
/// | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, `OTEL_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_*_LIMIT`, `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LOGRECORD_*_LIMIT` | `262144` bytes, `128` | string values cut (a log record's body too), attributes, events and links beyond the count removed and counted in `dropped_*_count`; applied on the worker thread |
///
/// The names are public constants in [`environment`](crate::environment).
///
/// Every malformed value is an [`OtlpError`] naming the variable (header values are never
/// shown). `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are read by the correlation
/// layer's [`Resource`], which this layer exports.
#[derive(Clone)]
pub struct OtlpBuilder {
    pub(crate) name: String,
    pub(crate) env: Env,
    pub(crate) endpoint: Option<String>,
    pub(crate) signal_endpoints: [Option<String>; 3],
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) signal_headers: [Vec<(String, String)>; 3],
    pub(crate) protocol: Option<Protocol>,
    pub(crate) signal_protocols: [Option<Protocol>; 3],
    pub(crate) compression: Option<Compression>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) enabled: [Option<bool>; 3],
    pub(crate) temporality: Option<Temporality>,
    pub(crate) metric_interval: Option<Duration>,
    pub(crate) queue_capacity: Option<usize>,
    pub(crate) max_batch: Option<usize>,
    pub(crate) max_request_bytes: Option<usize>,
    pub(crate) batch_delay: Option<Duration>,
    pub(crate) retries: (u32, Duration),
    pub(crate) bounds: HashMap<String, Vec<f64>>,
    pub(crate) resource: Option<Resource>,
    pub(crate) span_events: bool,
    pub(crate) storage: OfflineStorage,
    pub(crate) retry_interval: Option<Duration>,
    pub(crate) auth: Option<Arc<dyn RequestAuth>>,
    pub(crate) processors: Vec<Arc<dyn TelemetryProcessor>>,
}

impl fmt::Debug for OtlpBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpBuilder")
            .field("name", &self.name)
            .field("env", &self.env)
            .field(
                "endpoint",
                &self
                    .endpoint
                    .as_deref()
                    .map(tracing_insights_export::redirect::mask_url),
            )
            .field(
                "signal_endpoints",
                &self
                    .signal_endpoints
                    .iter()
                    .map(|e| {
                        e.as_deref()
                            .map(tracing_insights_export::redirect::mask_url)
                    })
                    .collect::<Vec<_>>(),
            )
            .field("headers", &HeaderNames(&self.headers))
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("enabled", &self.enabled)
            .field("temporality", &self.temporality)
            .field("storage", &self.storage)
            .field("auth", &self.auth.is_some())
            .field("processors", &self.processors.len())
            .finish_non_exhaustive()
    }
}

impl Default for OtlpBuilder {
    fn default() -> Self {
        Self {
            name: "otlp".into(),
            env: Env::process(),
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
            max_request_bytes: None,
            batch_delay: None,
            retries: (5, Duration::from_millis(500)),
            bounds: HashMap::new(),
            resource: None,
            span_events: false,
            storage: OfflineStorage::Disabled,
            retry_interval: None,
            auth: None,
            processors: Vec::new(),
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

    /// Reads `OTEL_*` variables from `env` (any [`EnvSource`]: [`EnvVars`](crate::EnvVars), an
    /// array of pairs) instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: impl EnvSource + Send + Sync + 'static) -> Self {
        self.env = Env::given(env);
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
        self.signal_endpoints[signal_index(signal)] = Some(url.into());
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
            &mut self.signal_headers[signal_index(signal)],
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
        self.signal_protocols[signal_index(signal)] = Some(protocol);
        self
    }

    /// Request compression for every signal (default gzip).
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The timeout of one request (`Duration::ZERO` = none), like
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`. Default 10 s.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same as [`with_request_timeout`](Self::with_request_timeout) (the name the
    /// other exporters use).
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with_request_timeout(timeout)
    }

    /// Keeps batches that exhausted their attempts on disk and sends them when the receiver
    /// answers again, also after a restart ([`OfflineStorage::At`] a directory; each signal
    /// uses a subdirectory of it), or [`OfflineStorage::Auto`] (a directory under the OS
    /// temp dir, none for loopback endpoints). Default [`OfflineStorage::Disabled`]: OTLP
    /// SDKs keep nothing on disk, so this is opt-in.
    #[must_use]
    pub fn with_offline_storage(mut self, storage: impl Into<OfflineStorage>) -> Self {
        self.storage = storage.into();
        self
    }

    /// How long a batch kept in the offline spool waits before it is tried again (its
    /// lease: another process on the same directory leaves it alone meanwhile). Default
    /// 30 s; at least 100 ms.
    #[must_use]
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = Some(interval);
        self
    }

    /// Authorization for every request (e.g. a bearer token), asked on the worker thread;
    /// a 401 (gRPC: UNAUTHENTICATED) makes it refresh and the request is sent again once.
    #[must_use]
    pub fn with_auth(mut self, auth: Arc<dyn RequestAuth>) -> Self {
        self.auth = Some(auth);
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

    /// Queue capacity of each signal (default 2048); beyond it items are dropped and
    /// counted.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity.max(1));
        self
    }

    /// The bound on one request body before compression (default 4 MiB, what a
    /// collector's gRPC server accepts by default): batches are split to stay below it, and
    /// a span or log record larger than 1 MiB (or than the
    /// request's room for items) has its values cut until it fits.
    #[must_use]
    pub fn with_max_request_bytes(mut self, max: usize) -> Self {
        self.max_request_bytes = Some(max.max(128 * 1024));
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

    /// Attempts per batch (at least 1) and the first back-off, which doubles (at most
    /// 30 s, jittered between 50 % and 100 %); a `Retry-After` answer is honoured instead
    /// (up to an hour). Only OTLP's retryable answers (429, 502, 503, 504; the retryable
    /// gRPC codes) and transport errors are retried. A batch waiting for its retry never
    /// holds up the worker: new items keep being batched and sent meanwhile. After the last
    /// attempt the batch goes to the offline spool if there is one
    /// ([`with_offline_storage`](Self::with_offline_storage)), else it is dropped and
    /// counted. Default 5 attempts from 500 ms.
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.retries = (attempts.max(1), first_backoff);
        self
    }

    /// The resource to export when the subscriber has no correlation layer (a fallback:
    /// the correlation layer's resource wins when one is stacked). Default: [`Resource::from_env`].
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Adds a telemetry processor: it sees every span, log record and metric measurement
    /// on the signal's worker thread before it is encoded, may add, change or remove
    /// attributes (and a log record's body), and drops the item by returning `false`. A
    /// panic in it drops that item and is counted. Processors run in the order added. See
    /// [`Telemetry`](crate::Telemetry) and the ready-made
    /// [`processors`](crate::processors).
    #[must_use]
    pub fn with_processor(mut self, processor: impl TelemetryProcessor) -> Self {
        self.processors.push(Arc::new(processor));
        self
    }

    /// Validates the configuration, starts one export pipeline per enabled signal and
    /// returns the layer and its guard. With `OTEL_SDK_DISABLED=true` (or every signal off)
    /// the layer is a no-op and no thread starts.
    pub fn build(self) -> Result<(OtlpLayer, OtlpGuard), OtlpError> {
        if parse_bool(&self.env, OTEL_SDK_DISABLED)? {
            return Ok(disabled());
        }
        let endpoints = self.endpoints()?;
        if endpoints.is_empty() {
            return Ok(disabled());
        }
        let panics = Arc::new(AtomicU64::new(0));
        let processors = Arc::new(Processors::new(self.processors.clone(), panics.clone()));
        let mut settings = self.settings()?;
        settings.processors = processors.clone();
        let resource = Arc::new(ResourceCell::new(convert::resource(
            &self.fallback_resource(),
        )));
        let p = pipeline::spawn(&settings, &endpoints, &resource)
            .map_err(|e| OtlpError::Spawn(e.to_string()))?;
        let (traces, traces_guard) = p.traces.unzip();
        let (logs, logs_guard) = p.logs.unzip();
        let (metrics, metrics_guard) = p.metrics.unzip();
        let layer = OtlpLayer {
            inner: Some(Arc::new(Inner {
                span_events: self.span_events && traces.is_some(),
                traces,
                logs,
                metrics,
                resource,
                clock: OnceLock::new(),
                panics: panics.clone(),
            })),
        };
        let mut guard = OtlpGuard::new(
            self.name,
            endpoints,
            traces_guard,
            logs_guard,
            metrics_guard,
            panics,
        );
        guard.auth = self.auth;
        guard.processors = processors;
        Ok((layer, guard))
    }
}

fn disabled() -> (OtlpLayer, OtlpGuard) {
    (OtlpLayer { inner: None }, OtlpGuard::disabled())
}
