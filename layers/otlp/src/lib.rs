//! # tracing-insights-otlp
//!
//! OTLP export for `tracing-insights`: the correlation layer's span records become OTLP
//! spans, events become OTLP log records (with the trace and span ids of the span they
//! happen in), and event fields named `monotonic_counter.*`, `counter.*`, `histogram.*` and
//! `gauge.*` become OTLP metrics, all carrying the **same ids** the JSON log lines and the
//! Application Insights envelopes carry, and the correlation layer's resource. There is no
//! second id source: no `tracing-opentelemetry`, no OpenTelemetry SDK tracer.
//! `opentelemetry-proto` is used for its message types and encoding only.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//! use tracing_insights_correlation as correlation;
//! use tracing_insights_otlp::OtlpLayer;
//!
//! // OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (or any OTEL_EXPORTER_OTLP_* variable)
//! let (otlp, guard) = OtlpLayer::builder().build().expect("valid OTEL_* configuration");
//! eprintln!("{}", guard.check()); // "traces → http://127.0.0.1:4318/v1/traces: HTTP 200 OK (accepted)" ...
//! tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(otlp)
//!     .init();
//! tracing::info_span!("chat gpt-4o", otel.kind = "client", gen_ai.usage.input_tokens = 12)
//!     .in_scope(|| tracing::info!(histogram.gen_ai.client.token.usage = 12, gen_ai.token.type = "input"));
//! guard.shutdown(Duration::from_secs(5)).expect("delivered");
//! ```
//!
//! ## Mapping
//!
//! | ours | OTLP |
//! |---|---|
//! | `SpanData` ids, parent, `tracestate`, links | `Span.trace_id`, `span_id`, `parent_span_id`, `trace_state`, `links`; `flags` = sampled + is-remote bits |
//! | name (`otel.name`), kind (`otel.kind`), status (`otel.status_code`/`_message`, or an ERROR event) | `name`, `kind`, `status` |
//! | span fields | attributes (ints stay ints, floats doubles, bools bools) |
//! | an error field (`&dyn Error`) | the attribute (its message) and an `exception` span event with `exception.message` and the `source()` chain in `exception.stacktrace` |
//! | event | `LogRecord`: body = message, severity from the level, attributes = fields, trace/span id of the event's span, scope = the event's target (a `log`-crate record's own target; the bridge's `log.*` fields are not attributes) |
//! | event, with [`OtlpBuilder::with_span_events`] | also a span event on its span (for trace-only backends) |
//! | `monotonic_counter.x = n` | Sum `x`, monotonic |
//! | `counter.x = n` | Sum `x`, not monotonic |
//! | `histogram.x = v` | Histogram `x` (GenAI advisory buckets for `gen_ai.*`) |
//! | `gauge.x = v` | Gauge `x` (last value) |
//!
//! A metric's attributes are the event's other fields. Metrics are aggregated per export
//! interval per attribute set on the worker thread (cumulative by default, delta or
//! lowmemory configurable).
//!
//! **Sampling.** The correlation layer's decision is honoured: nothing from a sampled-out
//! trace is exported — its spans, its events' log records and its events' metric fields.
//! Events outside any span are always exported.
//!
//! **Filters.** A span hidden from this layer by a per-layer filter is not exported; its
//! events still carry its real ids (from the correlation layer's
//! [`event_context`](tracing_insights_correlation::event_context)), and its visible
//! children keep their real parent id (ids never change with filtering), so a backend
//! shows them under a parent it never received.
//!
//! ## Configuration
//!
//! See [`OtlpBuilder`] for every `OTEL_*` variable and the precedence (builder > signal
//! variable > generic variable > default); [`sampler_from_env`] maps
//! `OTEL_TRACES_SAMPLER[_ARG]` onto the correlation layer's sampler. Bad values are an
//! [`OtlpError`] naming the variable; the names are constants in [`environment`]. The
//! environment is any [`EnvSource`] (the one trait every exporter reads through): the
//! process by default, [`EnvVars`] or an array of pairs in tests
//! ([`OtlpBuilder::with_env`]). [`Signal`], [`Protocol`] and [`Temporality`] are the presets
//! crate's, so a preset applies as is ([`OtlpBuilder::with_preset`]). Several destinations
//! may run at once: one layer each, with distinct [`OtlpBuilder::with_name`]s.
//!
//! ## Delivery
//!
//! Each enabled signal runs on the shared export pipeline of `tracing-insights-export` (the
//! same one Application Insights uses): a bounded queue (full: drop, count, warn once), a
//! named worker thread (`tracing-insights-otlp-<name>-<signal>`), whose own spans and events
//! go nowhere, that batches, encodes (HTTP/protobuf by default, HTTP/JSON with
//! `http/json`) and gzips (default). OTLP's retryable answers (429, 502, 503, 504,
//! honouring `Retry-After`; the retryable gRPC codes) and transport errors are retried
//! with backoff and jitter
//! *without holding up the worker*: a batch waiting for its retry is parked while new items
//! keep being batched and sent. A partial success is counted (rejected items under
//! [`DropReason::Rejected`]) and reported; anything else is final and reported by
//! [`OtlpGuard::shutdown`] in words (a 404 says "wrong path?"), and [`OtlpGuard::check`]
//! finds it up front. 307/308 redirects to the same host are followed. Batches that
//! exhaust their attempts are dropped and counted, or, with
//! [`OtlpBuilder::with_offline_storage`] (opt-in), kept on disk and sent when the receiver
//! is back, also after a restart. [`OtlpBuilder::with_auth`] adds an authorization hook.
//! [`OtlpGuard::stats`] reports the one [`ExportStats`] every exporter reports, per signal
//! in [`ExportStats::by_kind`].
//!
//! ## Telemetry processors
//!
//! [`OtlpBuilder::with_processor`] adds code that sees every span, log record and metric
//! measurement on the signal's worker thread before it is encoded, through this exporter's
//! own mutable [`Telemetry`] view (the correlation layer's shared records stay untouched):
//! it may add, change or remove attributes, or drop the item. A panic in it drops that
//! item, counted in [`ExportStats::contained_panics`] and as [`DropReason::Processor`].
//! Ready-made ones are in [`processors`]; the same as App Insights' and with the same
//! matching. Redacting before anything leaves the process:
//!
//! ```
//! use tracing_insights_otlp::processors::{RedactGenAiContent, RedactMatching, RedactUrlQuery};
//! use tracing_insights_otlp::OtlpLayer;
//!
//! let builder = OtlpLayer::builder()
//!     .with_processor(RedactGenAiContent) // prompts, completions, tool arguments
//!     .with_processor(RedactUrlQuery) // ?token=abc -> ?token=REDACTED
//!     .with_processor(RedactMatching::glob("*@*.*")); // values holding an e-mail address
//! # let _ = builder;
//! ```
//!
//! ## Panics
//!
//! Each `Layer` callback's body runs under `catch_unwind`: a panic in it (a bug of ours, or
//! an application value whose `Debug`/`Display` panics while it is recorded) loses that
//! callback's span, log record or measurement, is counted in
//! [`ExportStats::contained_panics`], and never unwinds into the application.
//!
//! With the `grpc` feature, `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (or
//! [`Protocol::Grpc`]) sends unary `Export` calls over HTTP/2 to the server address
//! (`http://host:4317` cleartext, `https://` with TLS), gzip inside gRPC's framing, retrying
//! OTLP's retryable gRPC codes. It uses `tonic`'s channel (hyper and h2 underneath, rustls
//! with the platform's roots or the configured CA) driven by a private current-thread tokio
//! runtime on the worker thread: no application runtime is needed or disturbed.
//!
//! ## Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `http-json` | yes | `http/json` (serde for the OTLP messages) |
//! | `grpc` | no | `grpc` (tonic, tokio) |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answers;
mod builder;
mod check;
mod config;
mod convert;
pub mod environment;
#[cfg(feature = "grpc")]
mod grpc;
mod guard;
mod layer;
mod limits;
mod metrics;
mod pipeline;
mod preset;
mod processor;
mod tls;

pub use builder::OtlpBuilder;
pub use check::{CheckOutcome, CheckReport, CheckResult};
pub use config::{
    parse_headers, sampler_from_env, sampler_from_env_source, Compression, EnvSource, EnvVars,
    OtlpError, ProcessEnv, Protocol, Signal, Temporality, DEFAULT_ENDPOINT, DEFAULT_GRPC_ENDPOINT,
};
pub use guard::OtlpGuard;
pub use layer::OtlpLayer;
pub use processor::processors;
pub use processor::{AttributeValue, Telemetry, TelemetryKind, TelemetryProcessor};
pub use tracing_insights_export::{
    DropReason, ExportStats, Loss, OfflineStorage, RequestAuth, ShutdownError,
};

/// The instrumentation scope name spans and metrics are exported under.
pub const INSTRUMENTATION_SCOPE: &str = pipeline::SCOPE;

/// The OTLP message types this crate encodes (re-exported from `opentelemetry-proto`), for
/// tests and receivers that decode what it sends.
pub use opentelemetry_proto::tonic as proto;
