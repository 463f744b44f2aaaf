//! The builder, its error, and the environment variables it reads.

use crate::encoder::Encoder;
use crate::guard::{AppInsightsGuard, Pipeline};
use crate::layer::{Active, AppInsightsLayer};
use crate::mapping;
use crate::metrics::Metrics;
use crate::processor::TelemetryProcessor;
use crate::shared::{Derived, Shared};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing_insights_azure::auth::{self, AuthenticationString, AUTHENTICATION_STRING_ENV};
use tracing_insights_azure::env::{
    Env, EnvError, EnvSource, LOGS_EXPORTER_ENV, METRICS_EXPORTER_ENV, TRACES_EXPORTER_ENV,
};
use tracing_insights_azure::{
    Authorization, BearerAuth, ConnectionString, ConnectionStringError, ManagedIdentity,
    TokenProvider,
};
use tracing_insights_correlation::{Clock, Resource};
use tracing_insights_export::{ExportBuilder, ExportError, OfflineStorage};

/// The metric export interval in milliseconds (OpenTelemetry's variable; default 60000).
/// A value that is not a positive whole number is an error naming it.
pub const METRIC_INTERVAL_ENV: &str = "OTEL_METRIC_EXPORT_INTERVAL";

/// Disables the `_OTELRESOURCE_` metric when `true` (as in Microsoft's exporters).
pub const RESOURCE_METRIC_DISABLED_ENV: &str =
    "APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED";

/// Why the layer could not be built.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum AppInsightsError {
    /// The connection string is missing or wrong.
    #[error(transparent)]
    ConnectionString(#[from] ConnectionStringError),
    /// Kept for compatibility; no longer returned: `Authorization=AAD` (or
    /// `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`) without a token provider uses the
    /// environment's managed identity ([`ManagedIdentity`](tracing_insights_azure::ManagedIdentity)).
    #[error("Microsoft Entra ID is required (Authorization=AAD in the connection string, or APPLICATIONINSIGHTS_AUTHENTICATION_STRING) but no token provider was given: call with_token_provider(..) with a credential (managed identity, workload identity, client secret), or allow local authentication on the resource")]
    EntraIdNotSupported,
    /// An environment variable or a builder setting is malformed.
    #[error("Application Insights: {name}: {reason}")]
    InvalidConfig {
        /// The variable or setting.
        name: &'static str,
        /// What it accepts.
        reason: String,
    },
    /// The export worker could not start.
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl From<EnvError> for AppInsightsError {
    fn from(e: EnvError) -> Self {
        AppInsightsError::InvalidConfig {
            name: e.name,
            reason: e.expected.to_owned(),
        }
    }
}

/// Builds an [`AppInsightsLayer`] and the [`AppInsightsGuard`] that flushes it.
///
/// | setting | default | environment |
/// |---|---|---|
/// | [`with_connection_string`](Self::with_connection_string) | | `APPLICATIONINSIGHTS_CONNECTION_STRING` |
/// | [`with_token_provider`](Self::with_token_provider) | none; with `Authorization=AAD` the environment's managed identity | `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`Authorization=AAD;ClientId=…`), `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, `MSI_ENDPOINT`/`MSI_SECRET` |
/// | [`with_traces`](Self::with_traces) / [`with_logs`](Self::with_logs) / [`with_metrics`](Self::with_metrics) | on | `OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none` turns one off |
/// | (everything) | on | `OTEL_SDK_DISABLED=true` turns the layer off |
/// | [`with_batch_delay`](Self::with_batch_delay) | 5 s | |
/// | [`with_max_batch`](Self::with_max_batch) | 512 | |
/// | [`with_queue_capacity`](Self::with_queue_capacity) | 2048 | |
/// | [`with_request_timeout`](Self::with_request_timeout) | 10 s | |
/// | [`with_retries`](Self::with_retries) | 4 attempts, from 0.8 s | |
/// | [`with_offline_storage`](Self::with_offline_storage) / [`with_offline_storage_dir`](Self::with_offline_storage_dir) | on, under the temp dir | |
/// | [`with_metric_interval`](Self::with_metric_interval) | 60 s | `OTEL_METRIC_EXPORT_INTERVAL` (ms) |
/// | [`with_standard_metrics`](Self::with_standard_metrics) | on (with traces and metrics) | |
/// | [`with_performance_counters`](Self::with_performance_counters) | on (with metrics) | |
/// | [`with_processor`](Self::with_processor) | none | |
/// | [`with_trace_based_sampling_for_logs`](Self::with_trace_based_sampling_for_logs) | off: logs of dropped traces are sent | |
/// | [`with_resource_metric`](Self::with_resource_metric) | on | `APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED` |
/// | [`with_resource`](Self::with_resource) | the correlation layer's | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` |
/// | [`with_env`](Self::with_env) | the process environment | |
#[derive(Clone)]
pub struct AppInsightsBuilder {
    connection_string: Option<String>,
    queue_capacity: usize,
    max_batch: usize,
    batch_delay: Duration,
    request_timeout: Option<Duration>,
    retries: Option<(u32, Duration)>,
    offline_storage: Option<OfflineStorage>,
    resource_metric: Option<bool>,
    traces: bool,
    logs: bool,
    metrics: bool,
    resource: Option<Resource>,
    clock: Option<Arc<dyn Clock>>,
    token_provider: Option<Arc<dyn TokenProvider>>,
    metric_interval: Option<Duration>,
    metric_cardinality_limit: usize,
    standard_metrics: bool,
    performance_counters: bool,
    trace_based_log_sampling: bool,
    processors: Vec<Arc<dyn TelemetryProcessor>>,
    env: Env,
}

impl fmt::Debug for AppInsightsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string holds the instrumentation key: never shown.
        f.debug_struct("AppInsightsBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("batch_delay", &self.batch_delay)
            .field("request_timeout", &self.request_timeout)
            .field("offline_storage", &self.offline_storage)
            .field("resource_metric", &self.resource_metric)
            .field("traces", &self.traces)
            .field("logs", &self.logs)
            .field("metrics", &self.metrics)
            .field("token_provider", &self.token_provider.is_some())
            .field("metric_interval", &self.metric_interval)
            .field("metric_cardinality_limit", &self.metric_cardinality_limit)
            .field("standard_metrics", &self.standard_metrics)
            .field("performance_counters", &self.performance_counters)
            .field("trace_based_log_sampling", &self.trace_based_log_sampling)
            .field("processors", &self.processors.len())
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Default for AppInsightsBuilder {
    fn default() -> Self {
        Self {
            connection_string: None,
            queue_capacity: 2048,
            max_batch: 512,
            batch_delay: Duration::from_secs(5),
            request_timeout: None,
            retries: None,
            offline_storage: None,
            resource_metric: None,
            traces: true,
            logs: true,
            metrics: true,
            resource: None,
            clock: None,
            token_provider: None,
            metric_interval: None,
            metric_cardinality_limit: 2000,
            standard_metrics: true,
            performance_counters: true,
            trace_based_log_sampling: false,
            processors: Vec::new(),
            env: Env::process(),
        }
    }
}

impl AppInsightsBuilder {
    /// The connection string. Default: `APPLICATIONINSIGHTS_CONNECTION_STRING`.
    #[must_use]
    pub fn with_connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(connection_string.into());
        self
    }

    /// Reads environment variables from `env` instead of the process environment (tests,
    /// or settings kept elsewhere): any [`EnvSource`], the same trait the OTLP layer takes,
    /// e.g. an array of pairs or an [`Env`].
    #[must_use]
    pub fn with_env(mut self, env: impl EnvSource + Send + Sync + 'static) -> Self {
        self.env = Env::from_source(env);
        self
    }

    /// How many items may wait (default 2048), in each of the two queues: closed spans and
    /// events for the encoder thread, encoded envelopes for the worker. When telemetry comes
    /// faster than it can be sent, log lines go before spans: an event enters the encoder
    /// queue only while it is less than half full, a log envelope is dropped when the
    /// worker's queue is three quarters full, and a span envelope waits up to 200 ms for
    /// room there (once per stall) before it is dropped. A metric envelope (one per series
    /// and metric interval) waits for room as a span does. Every drop
    /// is counted ([`DropReason::QueueFull`](crate::DropReason::QueueFull)), and per kind
    /// (`spans`, `logs`, `metrics`) in [`ExportStats::by_kind`](crate::ExportStats::by_kind),
    /// which also says how many envelopes of each kind, and how many bytes, wait in the
    /// worker's queue (see [`AppInsightsGuard::stats`](crate::AppInsightsGuard::stats)).
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most envelopes per request (default 512).
    #[must_use]
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max;
        self
    }

    /// The longest an envelope waits before its batch is sent (default 5 s).
    #[must_use]
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = delay;
        self
    }

    /// The timeout of one ingestion request (default: the export crate's, 10 s).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Attempts per batch before it goes to the offline storage (at least 1), backing off
    /// from `first_backoff` (doubling, jittered), or as long as a `Retry-After` says.
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.retries = Some((attempts, first_backoff));
        self
    }

    /// Whether batches that exhaust their attempts are kept on disk and sent again later
    /// (default on, as Microsoft's exporters: a directory under the OS temp dir keyed by the
    /// endpoint; off for loopback endpoints). Off: they are dropped and counted.
    #[must_use]
    pub fn with_offline_storage(mut self, enabled: bool) -> Self {
        self.offline_storage = Some(if enabled {
            OfflineStorage::Auto
        } else {
            OfflineStorage::Disabled
        });
        self
    }

    /// Keeps undeliverable batches in `dir` (created if missing, mode 0700) instead of the
    /// default directory; turns the offline storage on.
    #[must_use]
    pub fn with_offline_storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offline_storage = Some(OfflineStorage::At(dir.into()));
        self
    }

    /// Whether every request starts with the `_OTELRESOURCE_` metric (default on, unless
    /// `APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED=true`).
    #[must_use]
    pub fn with_resource_metric(mut self, enabled: bool) -> Self {
        self.resource_metric = Some(enabled);
        self
    }

    /// Whether closed spans become requests and dependencies (default on, unless
    /// `OTEL_TRACES_EXPORTER=none`).
    #[must_use]
    pub fn with_traces(mut self, enabled: bool) -> Self {
        self.traces = enabled;
        self
    }

    /// Whether events become traces/exceptions (default on, unless `OTEL_LOGS_EXPORTER=none`).
    /// Off: spans and metrics only.
    #[must_use]
    pub fn with_logs(mut self, enabled: bool) -> Self {
        self.logs = enabled;
        self
    }

    /// Whether metric fields (`monotonic_counter.*`, `counter.*`, `gauge.*`, `histogram.*`)
    /// are aggregated and sent (default on, unless `OTEL_METRICS_EXPORTER=none`). Off: events
    /// with metric fields are ignored, not sent as logs.
    #[must_use]
    pub fn with_metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// How often metrics are aggregated and sent. Default: `OTEL_METRIC_EXPORT_INTERVAL`
    /// (milliseconds), else 60 s. [`AppInsightsGuard::flush`] and
    /// [`AppInsightsGuard::shutdown`] also end the interval.
    #[must_use]
    pub fn with_metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = Some(interval);
        self
    }

    /// Whether `requests/duration` and `dependencies/duration` standard metrics are derived
    /// from every request and dependency span, sampled or not, and sent each metric interval
    /// (default on; needs traces and metrics on). Their envelopes then carry
    /// `_MS.ProcessedByMetricExtractors = "True"`, so the service does not count them again.
    #[must_use]
    pub fn with_standard_metrics(mut self, enabled: bool) -> Self {
        self.standard_metrics = enabled;
        self
    }

    /// Whether the nine performance counters (CPU, memory, I/O, request and exception
    /// rates, request execution time, under the Windows counter names the portal reads) are
    /// sent each metric interval (default on, as Microsoft's `enable_performance_counters`;
    /// needs metrics on). Linux reads the machine and process counters from `/proc`; other
    /// platforms send only the request and exception counters.
    #[must_use]
    pub fn with_performance_counters(mut self, enabled: bool) -> Self {
        self.performance_counters = enabled;
        self
    }

    /// Whether logs and exceptions inside a trace the sampler dropped are dropped with it
    /// (Microsoft's `enable_trace_based_sampling_for_logs`). Default off, as Microsoft's: they
    /// are sent, with the trace's ids and no `sampleRate`. Metric fields never follow trace
    /// sampling.
    #[must_use]
    pub fn with_trace_based_sampling_for_logs(mut self, enabled: bool) -> Self {
        self.trace_based_log_sampling = enabled;
        self
    }

    /// Adds a telemetry processor: it sees every item (spans, logs, metrics) on the
    /// exporter's threads before it is encoded, may change its properties, tags and fields,
    /// and drops it by returning `false`. A panic in it drops that item and is counted.
    /// Processors run in the order they were added. See [`Telemetry`](crate::Telemetry) and the ready-made
    /// [`processors`](crate::processors).
    #[must_use]
    pub fn with_processor(mut self, processor: impl TelemetryProcessor) -> Self {
        self.processors.push(Arc::new(processor));
        self
    }

    /// The most attribute sets per metric (default 2000, as OpenTelemetry's SDK). Beyond it,
    /// measurements go to one series with the attribute `otel.metric.overflow = True`, and are
    /// counted ([`AppInsightsGuard::metric_overflows`]).
    #[must_use]
    pub fn with_metric_cardinality_limit(mut self, limit: usize) -> Self {
        self.metric_cardinality_limit = limit;
        self
    }

    /// The resource (cloud role, instance, `_OTELRESOURCE_` attributes) used **only when no
    /// correlation layer is stacked**; with one, its resource wins, so every exporter names
    /// the service alike. Default: [`Resource::from_env`].
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The clock for event and metric times, instead of the correlation layer's (which is
    /// the default, so `correlation::layer().with_clock(..)` is enough).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Microsoft Entra ID: every ingestion request carries `Authorization: Bearer <token>`
    /// from `provider`, for the scope `https://monitor.azure.com//.default` (or the connection
    /// string's `AADAudience` + `/.default`). Tokens are cached and refreshed on the export
    /// worker thread; a 401 fetches a new one once.
    #[must_use]
    pub fn with_token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.token_provider = Some(Arc::new(provider));
        self
    }

    /// Parses the connection string and starts the export worker.
    ///
    /// With `OTEL_SDK_DISABLED=true`, or every signal off, nothing is parsed or started:
    /// the layer does nothing, [`AppInsightsLayer::is_enabled`] is `false` and the guard's
    /// `shutdown` is `Ok`. A malformed variable is an error naming it.
    pub fn build(self) -> Result<(AppInsightsLayer, AppInsightsGuard), AppInsightsError> {
        let env = &self.env;
        let traces = self.traces && !env.exporter_off(TRACES_EXPORTER_ENV);
        let logs = self.logs && !env.exporter_off(LOGS_EXPORTER_ENV);
        let metrics = self.metrics && !env.exporter_off(METRICS_EXPORTER_ENV);
        if env.sdk_disabled()? || !(traces || logs || metrics) {
            return Ok((
                AppInsightsLayer { inner: None },
                AppInsightsGuard::disabled(),
            ));
        }
        let cs = ConnectionString::resolve_in(self.connection_string.as_deref(), env)?;
        // Entra ID: a token provider turns bearer auth on. Without one, AAD asked for by the
        // connection string or `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` uses the managed
        // identity the environment points to (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, else the
        // instance metadata service), with the string's `ClientId` if it names one.
        let provider: Option<Arc<dyn TokenProvider>> = match &self.token_provider {
            Some(p) => Some(p.clone()),
            None => {
                let auth_string = AuthenticationString::from_env_in(env).map_err(|e| {
                    AppInsightsError::InvalidConfig {
                        name: AUTHENTICATION_STRING_ENV,
                        reason: e.to_string(),
                    }
                })?;
                if auth_string.is_some() || cs.authorization() == Authorization::EntraId {
                    let client_id = auth_string.and_then(|a| a.client_id);
                    Some(Arc::new(ManagedIdentity::from_env_in(env, client_id)))
                } else {
                    None
                }
            }
        };
        let bearer = provider.map(|p| Arc::new(BearerAuth::new(p, auth::scope(&cs))));
        let resource_metric = match self.resource_metric {
            Some(on) => on,
            None => !env.flag(RESOURCE_METRIC_DISABLED_ENV)?.unwrap_or(false),
        } && metrics;
        let interval = match self.metric_interval {
            Some(i) => i,
            None => metric_interval_from(env)?,
        };
        let shared = Arc::new(Shared::new(
            cs.instrumentation_key().to_owned(),
            cs.application_id().map(str::to_owned),
            self.clock.clone(),
            self.resource.clone(),
            Metrics::new(self.metric_cardinality_limit),
            Derived {
                standard: self.standard_metrics && traces && metrics,
                perf: self.performance_counters && metrics,
                processors: self.processors.clone(),
            },
        ));
        let mut export = ExportBuilder::new("appinsights", cs.track_url())
            .with_queue_capacity(self.queue_capacity)
            .with_max_batch(self.max_batch)
            .with_max_delay(self.batch_delay)
            .with_kinds(&crate::backlog::NAMES, crate::backlog::kind_of);
        if let Some(timeout) = self.request_timeout {
            export = export.with_request_timeout(timeout);
        }
        if let Some((attempts, base)) = self.retries {
            export = export.with_retries(attempts, base);
        }
        if let Some(storage) = self.offline_storage.clone() {
            export = export.with_offline_storage(storage);
        }
        if let Some(bearer) = bearer {
            export = export.with_auth(bearer);
        }
        if resource_metric {
            let shared = shared.clone();
            export = export.with_batch_prefix(move || {
                let env = mapping::resource_metric(
                    shared.part_a(),
                    &shared.ikey,
                    SystemTime::now(),
                    shared.application_id.as_deref(),
                );
                serde_json::to_vec(&env).ok()
            });
        }
        let (exporter, export_guard) = export.spawn()?;
        let (encoder, encoder_thread) =
            Encoder::spawn(shared.clone(), exporter.clone(), self.queue_capacity)
                .map_err(|e| AppInsightsError::Export(ExportError::Spawn(e)))?;
        let pipeline = Pipeline {
            shared,
            exporter,
            encoder,
        };
        let guard = AppInsightsGuard::new(
            pipeline.clone(),
            export_guard,
            encoder_thread,
            metrics.then_some(interval),
        );
        let layer = AppInsightsLayer {
            inner: Some(Active {
                pipeline,
                traces,
                logs,
                metrics,
                trace_based_log_sampling: self.trace_based_log_sampling,
            }),
        };
        Ok((layer, guard))
    }
}

/// `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds, else 60 s.
fn metric_interval_from(env: &Env) -> Result<Duration, AppInsightsError> {
    match env.var(METRIC_INTERVAL_ENV) {
        None => Ok(Duration::from_secs(60)),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(AppInsightsError::InvalidConfig {
                name: METRIC_INTERVAL_ENV,
                reason: "expected a positive whole number of milliseconds".into(),
            }),
        },
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for AppInsightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppInsightsError({self})")
    }
}
