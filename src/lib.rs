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
//! counters; dropping it shuts down within [`DROP_TIMEOUT`].
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
//! | `http` | no | `http`: SERVER/CLIENT spans with W3C propagation for tower servers and clients, `HeaderMap` extract/inject |
//! | `http-axum` | no | `http` with axum's route template and peer address |
//! | `http-reqwest` | no | `http` with `TracingMiddleware` for reqwest-middleware / reqwest 0.13 |
//! | `opentelemetry` | no | `opentelemetry`: App Insights as an OpenTelemetry SDK (0.33) exporter, a propagator and context bridge for OpenTelemetry API code |
//! | `tracing-opentelemetry` | no | `opentelemetry` with one id source beside `tracing-opentelemetry` 0.34 |
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
