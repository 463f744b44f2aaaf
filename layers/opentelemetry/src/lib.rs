//! # tracing-insights-opentelemetry
//!
//! The one crate of `tracing-insights` that speaks the OpenTelemetry API and SDK, on the
//! `opentelemetry` / `opentelemetry_sdk` **0.33** line (the one `tracing-opentelemetry` 0.34
//! and `opentelemetry-application-insights` 0.46 use). The other crates expose no
//! OpenTelemetry type.
//!
//! ## Application Insights for `opentelemetry_sdk` users
//!
//! [`AppInsightsExporter`] is a `SpanExporter`, a `LogExporter` and a `PushMetricExporter`.
//! It maps with the App Insights layer's mapping (an OpenTelemetry span becomes the same
//! record a `tracing` span does) and sends through the same export pipeline: bounded queue,
//! batching, retries with `Retry-After`, offline spool, Entra ID, all set on the same
//! builder.
//!
//! ```no_run
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use std::time::Duration;
//! use tracing_insights_opentelemetry::AppInsightsExporter;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Reads APPLICATIONINSIGHTS_CONNECTION_STRING unless one is given.
//! let (exporter, guard) = AppInsightsExporter::build(AppInsightsExporter::builder())?;
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! // ... opentelemetry::global::set_tracer_provider(provider.clone()) ...
//! provider.shutdown()?;
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok(()) }
//! ```
//!
//! Span events become log records inside the span (an `exception` event an Exception);
//! logs are kept outside spans too. The SDK's sampler decides which spans arrive; a
//! `_MS.sampleRate` attribute sets the envelope's `sampleRate`, as for `tracing` spans. With the
//! `live-metrics` feature, [`AppInsightsExporter::with_live_metrics`] feeds a Live Metrics
//! stream from the same spans, events and logs (a `LiveMetricsSink` from
//! `tracing_insights_live_metrics::LiveMetricsBuilder::build_sink`).
//!
//! The mapping runs where the SDK calls its exporter: on the batch processor's thread, or,
//! with a simple processor, on the thread that ends the span (use the batch processor in
//! services); sending is always on the export pipeline's own thread. What only the `tracing` path does (an ERROR event
//! failing its span) is marked per path in the conformance crate's `DEVIATIONS.md`.
//!
//! ## One trace with OpenTelemetry API code
//!
//! Code instrumented with the OpenTelemetry API (a library, the Azure SDK for Rust's
//! OpenTelemetry bridge) starts its spans under OpenTelemetry's current context. Stack
//! [`ContextLayer`] after the correlation layer and each entered `tracing` span is that
//! context, so those spans are children of ours; or pass [`current_context`] yourself.
//! [`InsightsPropagator`] injects the current `tracing` span's `traceparent` when the
//! OpenTelemetry context has no span, and extracts remote parents ([`set_parent`] hands
//! one to a `tracing` span).
//!
//! ## Beside `tracing-opentelemetry`
//!
//! With the `tracing-opentelemetry` feature, [`shared_ids`] gives the tracer for
//! `tracing-opentelemetry`'s layer and the id source for the correlation layer, so the
//! OpenTelemetry span, the log line's `operation_Id` and the App Insights envelope carry one
//! trace id; a provider not built with [`SharedIdGenerator`] is an error at start-up.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
mod convert;
mod exporter;
#[cfg(feature = "tracing-opentelemetry")]
mod tracing_otel;

pub use context::{
    context_of, current_context, set_parent, span_context_of, ContextLayer, InsightsPropagator,
};
pub use exporter::AppInsightsExporter;
pub use tracing_insights_appinsights::{AppInsightsBuilder, AppInsightsError, AppInsightsGuard};
#[cfg(feature = "tracing-opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing-opentelemetry")))]
pub use tracing_otel::{shared_ids, SharedIdGenerator, SharedIdTracer, SharedIds, SharedIdsError};
