//! # tracing-insights-correlation
//!
//! The foundation of `tracing-insights`: a [`tracing_subscriber::Layer`] that gives every
//! `tracing` span a W3C trace id and span id **once**, with one sampling decision per trace
//! and one record of the span's fields, stored in the span's extensions where every other
//! layer (Application Insights, Live Metrics, OTLP, the log formats here) reads them. The same
//! trace id is the log line's `operation_Id`, the App Insights envelope's `ai.operation.id`
//! and the OTLP span's `trace_id`.
//!
//! ## Quick start
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(tracing_subscriber::fmt::layer().event_format(correlation::json()));
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("POST /chat", otel.kind = "server");
//!     // Continue the caller's trace (from the incoming `traceparent` header):
//!     request.set_parent_from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
//!     request.in_scope(|| {
//!         // {"timestamp":...,"operation_Id":"0af7651916cd43dd8448eb211c80319c","operation_ParentId":"..."}
//!         tracing::info!(docs = 4, "retrieved");
//!     });
//! });
//! ```
//!
//! ## When ids are fixed
//!
//! A span's ids are made when it is created and **fixed at first use**: when it is entered,
//! gets a child or an event, or its ids are read (by [`CorrelationSpanExt`], an exporter or
//! a log format). Until then [`CorrelationSpanExt::set_parent_from_traceparent`] may replace
//! them with a remote parent's; after that it is a documented no-op that returns `false`.
//! Children inherit the trace id, the sampling decision and the `tracestate`.
//!
//! ## Composition and filtering
//!
//! Stack it on a stock `Registry`, first, without a per-layer filter, so it sees every span.
//! Global filters (`EnvFilter` as a layer, `reload`) and per-layer filters on *other* layers
//! do not change ids. If a per-layer filter hides a span from this layer, that span has no
//! ids of its own and readers fall back to its nearest visible ancestor
//! ([`find_span_data`]). A log format or exporter whose own filter hides an event's spans
//! still writes the event's real ids: the correlation layer hands them over per event
//! ([`event_context`]). Stacking the layer twice is harmless: the first one to see a span
//! makes its ids, the second leaves them alone.
//!
//! ## Span fields it reads
//!
//! | field | meaning |
//! |---|---|
//! | `otel.name` | the span's name for exporters (else the `tracing` span name) |
//! | `otel.kind` | `server`, `client`, `producer`, `consumer`, `internal` (default) |
//! | `otel.status_code` | `ok`, `error` (or `unset`) |
//! | `otel.status_message` | the error description |
//! | anything else | kept, typed, in [`SpanRecord::fields`] for every exporter |
//!
//! An ERROR-level event inside a span with no explicit status makes its status `Error`.
//!
//! ## Sampling and resource
//!
//! One [`Sampler`] decides per trace (default: keep all). One [`Resource`] is built when
//! the layer is made: builder > `OTEL_SERVICE_NAME` > `OTEL_RESOURCE_ATTRIBUTES` > what the
//! environment shows (App Service, Functions, Kubernetes) > defaults. Nothing probes a
//! network endpoint.
//!
//! ## Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `testing` | no | [`testing`]: an injectable clock and id generator |
//!
//! ## Supported Rust versions
//!
//! Built and tested with the current stable toolchain; `rust-version` is the floor of the
//! dependency graph.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod data;
mod event_context;
pub mod format;
mod ids;
mod layer;
mod record;
pub mod resource;
pub mod sampler;
mod span_ext;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traceparent;

pub use clock::{Clock, SystemClock};
pub use data::{find_span_data, span_context, SpanContext, SpanData};
pub use event_context::event_context;
pub use format::{json, text, JsonFormat, NoSpanFields, TextFormat};
pub use ids::{IdGenerator, RandomIdGenerator, SpanId, TraceId};
pub use layer::{layer, CorrelationLayer};
pub use record::{ErrorValue, FieldValue, SpanKind, SpanLink, SpanRecord, SpanStatus};
pub use resource::Resource;
pub use sampler::Sampler;
pub use span_ext::CorrelationSpanExt;
pub use traceparent::TraceParent;
