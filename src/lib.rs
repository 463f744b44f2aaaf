//! # tracing-insights
//!
//! `tracing` telemetry for Azure Application Insights, Live Metrics and any OTLP backend,
//! with W3C correlation ids (`operation_Id` / `operation_ParentId`) in every log line and the
//! same ids in every exporter. Everything is a `tracing_subscriber::Layer`; this crate puts
//! them together in one call.
//!
//! ## Quick start
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Whatever the environment configures (the table below); with nothing configured,
//!     // JSON log lines with ids on stdout and a waterfall of every trace on stderr.
//!     let telemetry = tracing_insights::init()?;
//!
//!     let request = tracing::info_span!("POST /chat", otel.kind = "server");
//!     request.in_scope(|| tracing::warn!("slow upstream")); // carries operation_Id
//!
//!     telemetry.shutdown(std::time::Duration::from_secs(10))?;
//!     Ok(())
//! }
//! ```
//!
//! ## Configuration
//!
//! [`init`] and [`from_env`] read the environment; [`Telemetry::builder`] takes the same
//! settings in code (code wins). A variable that is set but malformed is an error naming it;
//! nothing falls back silently.
//!
//! | variable | effect |
//! |---|---|
//! | `APPLICATIONINSIGHTS_CONNECTION_STRING` | Application Insights **and** Live Metrics on (`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` as the App Insights crate documents) |
//! | [`APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED`](env::LIVE_METRICS_ENV)`=false` | Live Metrics off, App Insights stays on (Microsoft's `enable_live_metrics=False`) |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | OTLP on for traces, logs and metrics (every other `OTEL_EXPORTER_OTLP_*` variable as the OTLP crate documents) |
//! | `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT` | OTLP on for that signal only; a signal with no endpoint is never sent to the default `localhost:4318` |
//! | a preset's trigger variable (`SENTRY_DSN`, `HONEYCOMB_API_KEY`, `DD_API_KEY`, `GRAFANA_CLOUD_TOKEN` / `GRAFANA_OTLP_ENDPOINT`, ...) | that backend on (the presets crate's `TRIGGERS` table); a missing companion variable is an error naming it |
//! | `OTEL_SDK_DISABLED=true` | every exporter off: no thread, no HTTP request |
//! | `OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none` | that signal off in every exporter |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | the one sampler every exporter honours (default: keep everything) |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource every exporter reports |
//! | `RUST_LOG` | the **log** filter: which events are written and exported as logs (default `info`) |
//! | [`TRACING_INSIGHTS_SPANS`](filter::SPANS_ENV) | the **span** filter: which spans carry ids and are exported, and which metric events count (default `info`) |
//! | [`TRACING_INSIGHTS_LOG_FORMAT`](env::LOG_FORMAT_ENV) | `json` (default), `text` or `none`: log lines on stdout |
//! | [`TRACING_INSIGHTS_WATERFALL`](env::WATERFALL_ENV) | `true`/`false`: every trace as a waterfall on stderr (default: only when nothing exports) |
//! | [`TRACING_INSIGHTS_CHECK`](env::CHECK_ENV) | `false` skips the OTLP start-up check (default: one empty export per signal in the background; a stderr line for each signal not accepted) |
//!
//! ## Filtering: logs and spans on their own
//!
//! `RUST_LOG=warn` keeps log lines and exported logs to warnings, but never hides a request:
//! spans have their own filter ([`filter::SPANS_ENV`], default `info`), so every WARN line
//! inside a request still carries its `operation_Id`, every request is still exported and
//! every outgoing call still forwards its `traceparent`. Span-context directives in
//! `RUST_LOG` (`warn,[checkout]=debug`) still work. Change the log level at run time with
//! [`TelemetryGuard::log_filter`]; traces are unaffected.
//!
//! ## Your own stack
//!
//! [`from_env`] (or [`TelemetryBuilder::build`]) gives the same layers as one layer to add
//! to your own registry, beside your own layers. To build the stack from the individual
//! layers instead, use the same layout: the correlation layer and the exporters behind
//! [`Filters::telemetry`](filter::Filters::telemetry), log output behind
//! [`Filters::logs`](filter::Filters::logs). The reload handle's type is plain, so it fits
//! in application state:
//!
//! ```
//! use tracing_insights::correlation;
//! use tracing_insights::filter::{Filters, LogFilterHandle};
//! use tracing_subscriber::{prelude::*, EnvFilter};
//!
//! /// The reload handle's type, spelled out once: no subscriber type parameters (unlike
//! /// `reload::Handle<EnvFilter, S>`, whose `S` is the whole stack below the filtered layer).
//! type LogLevel = LogFilterHandle;
//!
//! /// Whatever the handlers share; the log level can be changed from an admin endpoint.
//! struct AppState {
//!     log_level: LogLevel,
//! }
//!
//! let filters = Filters::new(EnvFilter::new("info"), EnvFilter::new("warn"));
//! let subscriber = tracing_subscriber::registry()
//!     // ids, exporters (and the waterfall): spans by the span filter
//!     .with(correlation::layer().with_filter(filters.telemetry()))
//!     // log lines: events by the log filter
//!     .with(correlation::json().layer().with_filter(filters.logs()));
//! let state = AppState { log_level: filters.log_handle() };
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info_span!("POST /chat").in_scope(|| tracing::warn!("has operation_Id"));
//!     state.log_level.reload("debug").unwrap();
//! });
//! ```
//!
//! Put several exporters in one filtered group with `and_then` and `Option`s, not a `Vec` of
//! layers: an empty `Vec` layer answers "never" for every callsite, which in
//! `tracing-subscriber` 0.3 wipes the interest of the per-layer filters beside it.
//!
//! With a stock global `EnvFilter` instead (`registry().with(EnvFilter::from_default_env())`),
//! `RUST_LOG=warn` hides the INFO request span from every layer: do not filter spans with
//! the log level.
//!
//! ## What is sent where
//!
//! One `tracing` call, every exporter (each crate's docs table the fields in detail):
//!
//! | `tracing` | Application Insights | OTLP | Live Metrics |
//! |---|---|---|---|
//! | span with `otel.kind = "server"` / `"consumer"` | request (`RequestData`) | span, kind SERVER / CONSUMER | request rate, duration, failures |
//! | span with `otel.kind = "client"` / `"producer"`, or no kind | dependency (`RemoteDependencyData`; no kind: `InProc`) | span, kind CLIENT / PRODUCER / INTERNAL | dependency rate, duration, failures |
//! | span failed (`otel.status_code = "error"`, or an ERROR event inside it) | `success: false` | status ERROR | a failed request / dependency |
//! | event | trace (`MessageData`), `severityLevel` from the level, target as `logger_name` | log record, target as the scope | a document while the portal watches |
//! | event with an `error` field or `exception.*` fields | exception (`ExceptionData`) | log record with the error's attributes | exception rate |
//! | event with `monotonic_counter.*`, `counter.*`, `gauge.*`, `histogram.*` fields | `MetricData` per interval | a metric per interval | |
//! | the correlation ids | `ai.operation.id` / `ai.operation.parentId` | `trace_id` / `span_id` / `parent_span_id` | |
//!
//! The JSON and text log lines carry the same ids (`operation_Id`, `operation_ParentId`,
//! `trace_id`, `span_id`).
//!
//! ## Records from the `log` crate
//!
//! Libraries that log with the `log` crate (`log::warn!`) are part of the same output:
//! [`init`] (with the `log` feature, on by default) installs `tracing-log`'s `LogTracer`,
//! unless the application already installed a `log` logger, which it keeps. [`from_env`] and
//! [`TelemetryBuilder::build`] do not touch the global `log` logger: call
//! `tracing_log::LogTracer::init()` yourself when you build your own stack.
//!
//! A bridged record is an event inside the current span, so it carries the request's
//! `operation_Id`. Its line shows the record's own target, module, file and line, as
//! `tracing_subscriber::fmt` does, not the bridge's `"target":"log"` and `log.*` fields:
//! `log::warn!(target: "upstream::client", "retrying")` inside a request is a JSON line with
//! `"level":"WARN"`, `"target":"upstream::client"`, `"fields":{"message":"retrying"}` and the
//! request's `"operation_Id"` (`tests/init_log.rs` checks exactly that).
//!
//! `RUST_LOG` filters them by their own target (`RUST_LOG=info,hyper=warn`).
//!
//! ## Exporter settings side by side
//!
//! The exporters' builders use the same names for the same things. [`init`] and
//! [`Telemetry::builder`] use every default; build an exporter yourself (its crate's
//! builder) to change one, and add it to your own stack.
//!
//! | setting | `AppInsightsLayer::builder()` | `OtlpLayer::builder()` | `LiveMetricsLayer::builder()` |
//! |---|---|---|---|
//! | destination | `with_connection_string` (default `APPLICATIONINSIGHTS_CONNECTION_STRING`) | `with_endpoint`, `with_signal_endpoint` (default `OTEL_EXPORTER_OTLP_*ENDPOINT`) | `with_connection_string` (its `LiveEndpoint`) |
//! | where variables come from | `with_env` | `with_env` | `with_env` |
//! | resource (service name, …) | `with_resource` | `with_resource` | `with_resource` |
//! | authentication | `with_token_provider` (Entra ID) | `with_auth`, `with_header` | `with_token_provider` |
//! | request timeout | `with_request_timeout` (10 s) | `with_request_timeout` (10 s; `OTEL_EXPORTER_OTLP_TIMEOUT`) | `with_request_timeout` (5 s) |
//! | queue | `with_queue_capacity` (2048) | `with_queue_capacity` (2048 per signal) | bounded documents: `with_max_documents_per_second` (20) |
//! | batch size | `with_max_batch` (512) | `with_max_batch` (512), `with_max_request_bytes` (4 MiB) | |
//! | batch delay | `with_batch_delay` (5 s) | `with_batch_delay` (5 s spans, 1 s logs) | |
//! | retries | `with_retries` (4 attempts from 0.8 s) | `with_retries` (5 attempts from 500 ms) | none (live) |
//! | offline spool | `with_offline_storage` (on; off for loopback), `with_offline_storage_dir` | `with_offline_storage` (off) | none (live) |
//! | signals | `with_traces`, `with_logs`, `with_metrics` (on; `OTEL_*_EXPORTER=none`) | `with_traces`, `with_logs`, `with_metrics` (on; same variables) | |
//! | metric interval | `with_metric_interval` (60 s; `OTEL_METRIC_EXPORT_INTERVAL`) | `with_metric_interval` (60 s) | 1 s while watched |
//! | telemetry processors (add, edit, redact, drop items) | `with_processor` (spans, logs, metrics) | `with_processor` (spans, logs, metric measurements) | `with_processor` (sample documents) |
//! | dropping the guard | flushes for about 3 s (measured 1.8 s against a silent endpoint) | flushes for at most 2 s | returns at once; keeps running while the layer lives |
//!
//! ## Local development
//!
//! With no exporter configured, [`init`] writes JSON log lines with ids on stdout and, when
//! a trace's root span closes, the whole trace as a [waterfall] on stderr.
//!
//! ## Shutting down
//!
//! [`TelemetryGuard`] holds every exporter's guard: [`TelemetryGuard::shutdown`] and
//! [`TelemetryGuard::flush`] run on every exporter at once within one deadline (a dead
//! endpoint cannot starve a healthy one); [`TelemetryGuard::stats`] reports each exporter's
//! counters; dropping it shuts down within [`DROP_TIMEOUT`] (5 s) and prints on stderr what
//! was not delivered.
//!
//! Keep every guard until the end of `main`: `let (layer, _guard) = …`, never
//! `let (layer, _) = …`, which drops the guard at once (`#[must_use]` cannot catch it on a
//! destructured tuple). If it happens anyway, nothing is lost quietly: App Insights and OTLP
//! print one line on stderr at the first item after their guard is gone, naming the
//! exporter and this fix, and Live Metrics keeps running for as long as its layer lives.
//!
//! ## When something is wrong
//!
//! The exporters' own problems never go through `tracing` (no telemetry loops): they are
//! lines on stderr starting with `[tracing-insights]`, and counters in
//! [`TelemetryGuard::stats`]. At start-up [`init`] checks each OTLP endpoint in the
//! background ([`env::CHECK_ENV`]) and prints a line for each signal it does not accept, in
//! words (`traces → https://…/v1/traces: HTTP 404 Not Found (wrong path? …)`). Errors print
//! their fix-it message under `fn main() -> Result<(), Box<dyn Error>>` too: every error's
//! `Debug` carries its message.
//!
//! ## Feature flags
//!
//! | feature | default | re-exports |
//! |---|---|---|
//! | `correlation` | yes | [`correlation`]: ids, sampler, resource, JSON/text log formats; [`init`], [`waterfall`] |
//! | `appinsights` | yes | `appinsights`: the Application Insights exporter |
//! | `azure-core` | no | `azure::AzureCredential`: Entra ID tokens from the Azure SDK for Rust's credentials |
//! | `live-metrics` | yes | `live_metrics`: the Azure Live Metrics (QuickPulse) stream |
//! | `otlp` | yes | `otlp`: OTLP export (HTTP/protobuf, HTTP/JSON) with the same ids; implies `presets` |
//! | `otlp-grpc` | no | OTLP/gRPC for the `otlp` layer |
//! | `presets` | yes | `presets`: OTLP backend presets as data (Sentry, Honeycomb, Datadog, ...) |
//! | `log` | yes | [`init`] forwards `log` records to `tracing` (`tracing-log`'s `LogTracer`); their lines show the record's own target |
//! | `testing` | no | the correlation layer's injectable clock and id generator |
//! | `reqwest` | yes | the exporters' HTTP client: reqwest 0.13 on a private current-thread runtime in each exporter's thread (proxies from the environment); wins over `ureq` |
//! | `ureq` | no | the lean HTTP client: blocking ureq (no tokio, no hyper); with `default-features = false` |
//! | `rustls` | yes | TLS: reqwest's own rustls (aws-lc-rs per client, the platform's roots; custom CA and client identity from `OTEL_EXPORTER_OTLP_CERTIFICATE` etc.); ureq's rustls with ring |
//! | `rustls-ring` | no | lean TLS: rustls with ring only, given to our clients; an application's own reqwest client without a TLS feature then needs a process-wide provider (see `tracing-insights-export`) |
//! | `native-tls` | no | TLS with the platform's library (OpenSSL, Secure Transport, SChannel); wins over both rustls features |
//! | `http` | no | `http`: SERVER/CLIENT spans with W3C propagation for tower servers and clients, `HeaderMap` extract/inject |
//! | `http-axum` | no | `http` with axum's route template and peer address |
//! | `http-reqwest` | no | `http` with `TracingMiddleware` for reqwest-middleware / reqwest 0.13 |
//! | `opentelemetry` | no | `opentelemetry`: App Insights as an OpenTelemetry SDK (0.33) exporter, a propagator and context bridge for OpenTelemetry API code |
//! | `tracing-opentelemetry` | no | `opentelemetry` with one id source beside `tracing-opentelemetry` 0.34 |
//! | `opentelemetry-live-metrics` | no | `opentelemetry` with Live Metrics fed from the OpenTelemetry SDK spans the exporter receives (`AppInsightsExporter::with_live_metrics`) |
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "correlation")]
pub mod env;
mod error;
#[cfg(feature = "correlation")]
mod exporters;
pub mod filter;
mod guard;
#[cfg(feature = "correlation")]
mod telemetry;
#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub mod waterfall;

pub use error::InitError;
pub use guard::{ExporterGuard, ExporterStats, ShutdownErrors, TelemetryGuard, DROP_TIMEOUT};
#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub use telemetry::{from_env, init, LogFormat, Telemetry, TelemetryBuilder, TelemetryLayer};

#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub use tracing_insights_correlation as correlation;

#[cfg(feature = "appinsights")]
#[cfg_attr(docsrs, doc(cfg(feature = "appinsights")))]
pub use tracing_insights_appinsights as appinsights;

#[cfg(feature = "live-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "live-metrics")))]
pub use tracing_insights_live_metrics as live_metrics;

/// What the Azure layers share: connection string, Entra ID token providers.
#[cfg(any(feature = "appinsights", feature = "live-metrics"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "appinsights", feature = "live-metrics")))
)]
pub use tracing_insights_azure as azure;

#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use tracing_insights_otlp as otlp;

#[cfg(feature = "presets")]
#[cfg_attr(docsrs, doc(cfg(feature = "presets")))]
pub use tracing_insights_presets as presets;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use tracing_insights_http as http;

#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use tracing_insights_opentelemetry as opentelemetry;

// The README's examples are compiled and run as doc tests.
#[cfg(all(doctest, feature = "correlation"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
