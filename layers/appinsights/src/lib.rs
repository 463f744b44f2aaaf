//! # tracing-insights-appinsights
//!
//! A [`tracing_subscriber::Layer`] that sends `tracing` spans and events to Azure
//! Application Insights (`{IngestionEndpoint}/v2.1/track`), mapped field by field as
//! Microsoft's official exporter (`azure-monitor-opentelemetry-exporter`) maps OpenTelemetry
//! spans: server/consumer spans become **requests**, client/producer/internal spans
//! **dependencies** (HTTP, databases, messaging, Azure SDK, GenAI), events become **traces**
//! (messages) or **exceptions**. Every deliberate difference from that exporter is listed in
//! the conformance crate's `DEVIATIONS.md`.
//!
//! It reads ids, sampling decision, fields, kind, status and resource from the
//! `tracing-insights-correlation` layer, which must be in the same subscriber, below it:
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//! use tracing_insights_appinsights::AppInsightsLayer;
//! use tracing_insights_correlation as correlation;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Reads APPLICATIONINSIGHTS_CONNECTION_STRING unless one is given.
//! let (appinsights, guard) = AppInsightsLayer::builder().build()?;
//! tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(appinsights)
//!     .init();
//! tracing::info_span!("GET /chat", otel.kind = "server", http.request.method = "GET",
//!     http.route = "/chat", http.response.status_code = 200).in_scope(|| {
//!     tracing::info!("answered");
//! });
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok(()) }
//! ```
//!
//! ## Fields it reads
//!
//! OpenTelemetry semantic-convention names as field names (`http.request.method`,
//! `url.full`, `http.route`, `http.response.status_code`, `server.address`,
//! `db.system.name`, `db.query.text`, `messaging.system`, `az.namespace`,
//! `gen_ai.system`, `enduser.id`, `session.id`, ...), the correlation layer's `otel.name`,
//! `otel.kind`, `otel.status_code`, `otel.status_message`, and:
//!
//! | field | effect |
//! |---|---|
//! | `microsoft.custom_measurements` | JSON object → `measurements` (numbers only) |
//! | `_MS.sampleRate` | the envelope's `sampleRate` (else the sampler's percentage when below 100) |
//! | `otel.link_attributes` | JSON array, one object per link in link order (`enqueuedTime` → `timeSinceEnqueued`) |
//! | `ai.user.id`, `ai.session.id`, ... | any App Insights context tag key sets that tag |
//! | an `error` field (`&dyn Error`) on an event or a span | an exception (for a span: at its end), with its `source()` chain: one linked detail (`id`/`outerId`) per error, outermost first; on an event with a message, the outer detail's message is `"{message}: {error}"` |
//! | `error = exception(&err)` on an event | the same, with the error's Rust type as `typeName` (see [`exception`]) and a backtrace as `stack` when enabled |
//! | `exception.type`, `exception.message`, `exception.stacktrace` | an exception (OpenTelemetry's names); `exception.type` wins over every other type name |
//! | `microsoft.custom_event.name` (Microsoft's attribute) | the event is a custom event (EventData) with that name |
//! | `microsoft.availability.{id,name,duration,success}` | the event is an availability result |
//! | `otel.severity_number` (reserved) | the OpenTelemetry severity number (1-24), for what a `tracing` level cannot say (FATAL → `severityLevel` 4) |
//! | `monotonic_counter.NAME`, `counter.NAME`, `gauge.NAME`, `histogram.NAME` | a metric measurement, not a log (below) |
//!
//! ## Logs
//!
//! Every event that passes the layer's filter is exported when it happens, inside or
//! outside a span, with no per-span cap: a Message with `severityLevel` from its level
//! (TRACE/DEBUG 0, INFO 1, WARN 2, ERROR 3), its fields as properties and its target as
//! `logger_name` (for a `log`-crate record through `tracing-log`, the record's own target;
//! the bridge's `log.*` fields are not properties). Inside a span it carries `ai.operation.id` / `ai.operation.parentId` of
//! that span, as the correlation layer saw it, even when this layer's own filter hides the
//! span; outside any span it has no operation tags. Times come from the correlation layer's
//! clock.
//!
//! ## Metrics
//!
//! Event fields named with the `tracing-opentelemetry` `MetricsLayer` prefixes (plus
//! `gauge.`) are measurements; the event's other fields (except `message`) are the
//! attributes. They are aggregated per interval ([`AppInsightsBuilder::with_metric_interval`],
//! default `OTEL_METRIC_EXPORT_INTERVAL` or 60 s) per attribute set and sent as MetricData:
//!
//! | prefix | instrument | `value` | `count` |
//! |---|---|---|---|
//! | `monotonic_counter.` | counter | the sum over the interval (delta) | 1 |
//! | `counter.` | up-down counter | the running total | 1 |
//! | `gauge.` | gauge | the last value | 1 |
//! | `histogram.` | histogram | the sum over the interval, with `min` and `max` | measurements |
//!
//! ```
//! tracing::info!(monotonic_counter.orders = 1, region = "eu");
//! tracing::info!(histogram.payment_ms = 12.5, provider = "contoso");
//! ```
//!
//! Histograms named `http.server.request.duration` / `http.client.request.duration` (seconds)
//! or `http.server.duration` / `http.client.duration` (ms) become Application Insights'
//! pre-aggregated standard metrics (`requests/duration`, `dependencies/duration`, in ms).
//! Each metric keeps at most 2000 attribute sets
//! ([`AppInsightsBuilder::with_metric_cardinality_limit`]); beyond that, measurements go to
//! one series with `otel.metric.overflow = True`, counted by [`AppInsightsGuard::metric_overflows`].
//! Recording takes a shared read lock and updates atomics; no lock is held while sending.
//! Metric fields are never subject to trace sampling: an event in a trace the sampler
//! dropped still counts.
//!
//! ## Standard metrics and performance counters
//!
//! As Microsoft's distro does, the layer sends what the portal's Performance and Failures
//! blades and the Metrics explorer read, on the metric interval:
//!
//! - **Standard metrics** ([`AppInsightsBuilder::with_standard_metrics`], on): every request
//!   and dependency span, sampled or not, counts in `requests/duration` /
//!   `dependencies/duration` (MetricData named `Server response time` / `Dependency
//!   duration`, `_MS.MetricId` and the result code, success, `Dependency.Type`,
//!   `dependency/target`, `operation/synthetic` and cloud role dimensions in the
//!   properties; values in ms, pre-aggregated per interval; shutdown sends the last partial
//!   interval). The spans' envelopes carry `_MS.ProcessedByMetricExtractors = "True"`, so
//!   the service does not count them twice. With them on, do not also record the
//!   `http.*.duration` histograms above for the same requests.
//! - **Performance counters** ([`AppInsightsBuilder::with_performance_counters`], on): the
//!   nine counters of Microsoft's `enable_performance_counters`, under the same names
//!   (`\Processor(_Total)\% Processor Time`, `\Process(??APP_WIN32_PROC??)\Private Bytes`,
//!   `\ASP.NET Applications(??APP_W3SVC_PROC??)\Requests/Sec`, ...). Linux reads the
//!   machine and process counters from `/proc`; on other platforms only the request and
//!   exception counters are sent. Request Execution Time is in milliseconds.
//!
//! ## Sampling and logs
//!
//! Logs and exceptions inside a trace the sampler dropped are still sent (Microsoft's
//! default), with the trace's ids and no `sampleRate`;
//! [`AppInsightsBuilder::with_trace_based_sampling_for_logs`] drops them with their trace.
//!
//! ## Telemetry processors
//!
//! [`AppInsightsBuilder::with_processor`] adds code that sees every item before it is
//! encoded, on the exporter's threads, and may change it or drop it; ready-made ones in
//! [`processors`]. Redacting before anything leaves the process:
//!
//! ```
//! use tracing_insights_appinsights::processors::{RedactGenAiContent, RedactMatching, RedactUrlQuery};
//! use tracing_insights_appinsights::AppInsightsLayer;
//!
//! let builder = AppInsightsLayer::builder()
//!     .with_processor(RedactGenAiContent) // prompts, completions, tool arguments
//!     .with_processor(RedactUrlQuery) // ?token=abc -> ?token=REDACTED
//!     .with_processor(RedactMatching::glob("*@*.*")); // values holding an e-mail address
//! # let _ = builder;
//! ```
//!
//! ## GenAI
//!
//! A span with `gen_ai.provider.name` (today's conventions) or `gen_ai.system` is a
//! dependency typed `GenAI | {provider}`; conversation contents
//! (`gen_ai.input.messages`, ...) keep up to 256 KiB. Spans under an agent carry
//! `microsoft.gen_ai.main_agent.{name,id,version,conversation_id}`, taken from the parent
//! (a root `invoke_agent` span attributes itself), as Microsoft's distro adds them.
//!
//! ## Entra ID
//!
//! [`AppInsightsBuilder::with_token_provider`] gives a credential; give both Azure layers
//! clones of one [`SharedCredential`] and they fetch one token between them. Without one,
//! `Authorization=AAD` in the connection string or
//! `APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD[;ClientId=…]` uses the
//! managed identity the environment points to (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT`, else
//! the instance metadata service), as Microsoft's SDKs do.
//!
//! ## When the endpoint is down: the offline spool
//!
//! A batch that still fails after its attempts ([`AppInsightsBuilder::with_retries`],
//! default 4 from 0.8 s, `Retry-After` honoured) is written to an **offline spool** on disk
//! and sent again every 30 s, also by the next run of the process, as Microsoft's exporters
//! do. It is **on by default**: a directory under the OS temp dir keyed by the endpoint
//! (`0700`, files `0600`), at most 50 MiB, batches kept 48 h; it stays off for loopback
//! endpoints (tests, local collectors). [`AppInsightsBuilder::with_offline_storage_dir`] puts
//! it elsewhere, `with_offline_storage(false)` turns it off (failed batches are then dropped
//! and counted). What is in it shows as `spooled` in [`AppInsightsGuard::stats`], and
//! [`AppInsightsGuard::shutdown`]'s error counts what was spooled rather than delivered.
//!
//! ## Turning it off
//!
//! `OTEL_SDK_DISABLED=true` makes [`AppInsightsBuilder::build`] return a layer that does
//! nothing and starts no thread (no request leaves the process), and a guard whose
//! `shutdown` is `Ok`. `OTEL_TRACES_EXPORTER=none`, `OTEL_LOGS_EXPORTER=none` and
//! `OTEL_METRICS_EXPORTER=none` turn one signal off each. The builder's settings, their
//! defaults and variables are tabled on [`AppInsightsBuilder`].
//!
//! ## Panics
//!
//! [`install_panic_hook`] reports a panic as a Critical exception correlated to the current
//! span, and flushes (bounded) before the process unwinds or aborts.
//!
//! Other fields become `properties` (customDimensions), except the standard ones the
//! mapping consumes. Every schema limit truncates on a char boundary.
//!
//! ## Guarantees
//!
//! Spans are exported when they close, events when they happen; spans the correlation
//! layer's sampler dropped are not exported, nor their events; events inside kept spans carry
//! the sampler's `sampleRate` when it keeps less than 100 %. The application thread only
//! copies a span's record or an event's fields into a bounded queue (`try_send`); an encoder
//! thread maps and encodes the envelopes and hands them to the export worker. A full queue
//! drops and counts ([`AppInsightsGuard::dropped`]); [`AppInsightsGuard::flush`] and [`AppInsightsGuard::shutdown`] wait for
//! the encoder first. No callback panics into the application (a contained panic is counted,
//! [`AppInsightsGuard::contained_panics`]). The public API exposes no OpenTelemetry type.

mod backlog;
mod builder;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod encode_bench;
mod encoder;
mod exception;
mod guard;
mod layer;
mod main_agent;
mod mapping;
mod metrics;
mod perf;
mod processor;
mod sdk;
mod shared;
mod shared_event;
mod standard;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod text;
#[cfg(not(feature = "testing"))]
mod text;

pub use builder::{
    AppInsightsBuilder, AppInsightsError, METRIC_INTERVAL_ENV, RESOURCE_METRIC_DISABLED_ENV,
};
pub use exception::{exception, Exception};
pub use guard::{install_panic_hook, AppInsightsGuard, FlushHandle};
pub use layer::AppInsightsLayer;
/// Whether Microsoft's exporter leaves a span attribute out of span properties because of its
/// prefix. For the conformance runner, which explains differences by the same rule.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use mapping::span_property_filtered;
pub use processor::processors;
pub use processor::{Telemetry, TelemetryKind, TelemetryProcessor};
pub use sdk::{AppInsightsSink, ForeignLog, ForeignMetric, ForeignSpan};
pub use tracing_insights_azure::auth::AUTHENTICATION_STRING_ENV;
pub use tracing_insights_azure::env::{
    Env, EnvSource, LOGS_EXPORTER_ENV, METRICS_EXPORTER_ENV, SDK_DISABLED_ENV, TRACES_EXPORTER_ENV,
};
pub use tracing_insights_azure::CONNECTION_STRING_ENV;
pub use tracing_insights_azure::{
    ConnectionString, ConnectionStringError, ManagedIdentity, SharedCredential,
};
pub use tracing_insights_export::{DropReason, ExportStats, ShutdownError};

/// The largest envelope sent, in bytes of JSON (the export queue's per-item limit, from
/// Azure Monitor's documented 64 KB per item): a larger one has its exception stacks, then
/// messages, then property values cut until it fits.
pub const MAX_ITEM_BYTES: usize = tracing_insights_export::DEFAULT_MAX_ITEM_BYTES;
