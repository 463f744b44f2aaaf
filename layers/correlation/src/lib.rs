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
//! ## Ids from elsewhere
//!
//! When another layer (a bridge to another tracing system) already gives spans ids, the
//! layer can adopt them instead of making a second set: an [`IdSource`], installed with
//! [`CorrelationLayer::with_id_source`], is asked for each new span's ids first, and the
//! layer makes its own only when it answers `None`.
//!
//! ## For exporters: one finished record per span
//!
//! `tracing_subscriber` runs the inner layers' `on_close` first, so the correlation layer
//! (stacked first) closes a span before any exporter sees it. An exporter that calls
//! [`CorrelationLayer::share_finished_spans`] when it finds the layer gets, from
//! [`SpanData::finished`] in its own `on_close`, the one immutable [`FinishedSpan`] the
//! correlation layer made (a [`SharedRecord`] clone): its share of the application's thread is that
//! clone and a queue hand-off, and mapping and encoding run on its own thread. Cheaper
//! still, [`finished_span`]`(&id)` hands over the record the correlation layer has just
//! made in this very close without looking the span up in the registry again (`None`
//! when it has not: then read [`SpanData::finished`]). Events likewise:
//! [`CorrelationLayer::share_finished_events`] and [`finished_event`].
//!
//! ```
//! use tracing_insights_correlation::{finished_span, CorrelationLayer, SpanData};
//! use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};
//!
//! struct Exporter;
//!
//! impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Exporter {
//!     fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
//!         if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
//!             correlation.share_finished_spans();
//!         }
//!     }
//!
//!     fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
//!         let finished = finished_span(&id).or_else(|| {
//!             let span = ctx.span(&id)?;
//!             let ext = span.extensions();
//!             ext.get::<SpanData>().map(SpanData::finished)
//!         });
//!         if let Some(span) = finished {
//!             // Send the record (a `SharedRecord`) to a worker thread; map and encode it there.
//!             let _ = (span.name(), span.trace_id(), span.record().fields());
//!         }
//!     }
//! }
//! ```
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
//! One [`Sampler`] decides per trace (default: keep all; [`layer`] reads
//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, see [`sampler_from_env`], including
//! Microsoft's `microsoft.fixed_percentage` and `microsoft.rate_limited`). One [`Resource`] is built when
//! the layer is made: builder > `OTEL_SERVICE_NAME` > `OTEL_RESOURCE_ATTRIBUTES` > what the
//! environment shows (App Service, Functions, Kubernetes) > defaults. Nothing probes a
//! network endpoint.
//!
//! ## Panics
//!
//! A layer callback runs on the application's thread with the application's values, and a
//! `Display` or `Debug` implementation may panic. The correlation layer and the JSON and
//! text formats never let that reach the application, poison a lock or abort the process:
//!
//! - every value is formatted **before** any lock is taken, one at a time under
//!   `catch_unwind`; a value whose formatting panics is recorded and written as
//!   [`DEBUG_PANICKED`] (`<Debug panicked>`: values recorded with `?` or `%`, which
//!   `tracing` hands over as `Debug`) or [`DISPLAY_PANICKED`] (`<Display panicked>`: errors
//!   recorded as `&dyn Error` and their sources); the span's or event's other fields stay;
//! - every callback (`on_new_span`, `on_record`, `on_follows_from`, `on_enter`, `on_event`,
//!   `on_close`) and each format's `format_event` also runs under `catch_unwind`, so a lock
//!   poisoned by another layer, or a bug of ours, ends that callback early instead of
//!   unwinding into the application or out of a span's `Drop` (which would abort). A
//!   format that panics writes no line for that event.
//!
//! Each contained panic is counted in [`contained_panics`]. What still reaches the
//! application: the panic hook runs for each of them (the default hook prints the message
//! on stderr), and with `panic = "abort"` nothing can be contained. A panic let out by
//! another layer stacked beside these (a stock `fmt` layer formats span fields while it
//! holds the span's lock) is that layer's; [`TextFormat::layer`] uses [`TextFields`], which
//! contains it.
//!
//! ## Records from the `log` crate
//!
//! With `tracing-log`'s `LogTracer` installed, `log` records arrive as events with the
//! bridge's metadata (target `log`) and `log.*` fields. The JSON and text formats show the
//! record's own target, file and line instead, as `tracing_subscriber::fmt` does; exporters
//! read them with [`normalized_metadata`].
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

mod block;
mod clock;
mod closed_span;
mod contain;
mod data;
mod door;
mod event;
mod event_context;
mod finished;
pub mod format;
mod id_source;
mod ids;
mod kept_events;
mod layer;
mod log_bridge;
mod rate_limit;
mod record;
pub mod resource;
pub mod sampler;
mod sampler_env;
mod span_ext;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traceparent;

pub use block::{Recordable, SharedRecord};
pub use clock::{Clock, SystemClock};
pub use closed_span::finished_span;
/// The string type of [`FieldValue::Str`]: inline up to 24 bytes, a heap buffer beyond.
pub use compact_str::CompactString;
pub use contain::{contained_panics, DEBUG_PANICKED, DISPLAY_PANICKED};
pub use data::{find_span_data, span_context, SpanContext, SpanData};
pub use door::{cut_debug, cut_str, CUT_MARKER, MAX_VALUE_BYTES};
pub use event::FinishedEvent;
pub use event_context::{event_context, finished_event};
pub use finished::FinishedSpan;
pub use format::{
    json, text, JsonFormat, JsonLayer, NoSpanFields, TextFields, TextFormat, UtcTime,
};
pub use id_source::{ExternalIds, IdSource, NewSpan};
pub use ids::{IdGenerator, RandomIdGenerator, SpanId, TraceId};
pub use layer::{layer, CorrelationLayer};
pub use log_bridge::{is_log_field, normalized_metadata};
pub use record::{ErrorValue, FieldValue, SpanKind, SpanLink, SpanRecord, SpanStatus};
pub use resource::Resource;
pub use sampler::Sampler;
pub use sampler_env::{sampler_from_env, SamplerEnvError};
pub use span_ext::CorrelationSpanExt;
pub use traceparent::TraceParent;
