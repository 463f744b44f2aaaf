//! The workload and the subscriber ladder shared by the `ladder` criterion bench and the
//! `ladder-count` binary (for instruction counts under `valgrind --tool=callgrind`).
//!
//! A *request* is a root span with three nested children (root > child > grandchild >
//! great-grandchild), four fields on each span, and one event in the innermost span. Every
//! rung runs the same [`request`] under its own [`Dispatch`], set with
//! [`tracing::dispatcher::with_default`]; nothing sets a global default.
//!
//! See `BENCHMARKS.md` at the repository root for the commands and the results.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use std::hint::black_box;
use tracing::Dispatch;
use tracing_insights_correlation as correlation;
use tracing_subscriber::prelude::*;

/// Spans per request (a root and three nested children).
pub const SPANS_PER_REQUEST: u64 = 4;

/// One request: a root span with three nested children, four fields each (a string, an
/// integer, a bool or float, and one `%` Display value, which every layer formats to a
/// string), and one event with one field in the innermost span. `n` varies one field so the
/// compiler cannot fold the work away.
#[inline(never)]
pub fn request(n: u64) {
    let n = black_box(n);
    let root = tracing::info_span!(
        "request",
        http.method = "POST",
        http.route = "/chat",
        user.id = n,
        client.address = %"10.0.0.1",
    );
    let _root = root.enter();
    let retrieve = tracing::info_span!(
        "retrieve",
        db.system = "qdrant",
        db.collection = "docs",
        top_k = 8u64,
        cached = false,
    );
    let _retrieve = retrieve.enter();
    let embed = tracing::info_span!(
        "embed",
        model = "text-embedding-3-small",
        tokens = 412u64,
        dims = 1536i64,
        score = 0.5f64,
    );
    let _embed = embed.enter();
    let http = tracing::info_span!(
        "http",
        http.request.method = "POST",
        url.path = "/v1/embeddings",
        http.response.status_code = 200u64,
        server.address = %"api.example.com",
    );
    let _http = http.enter();
    tracing::info!(docs = 4u64, "retrieved");
}

/// A no-op `SpanExporter`: takes each finished span and drops it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(black_box(batch));
        Ok(())
    }
}

/// One subscriber stack of the ladder (or beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rung {
    /// No subscriber: `Dispatch::none()`.
    None,
    /// A bare `tracing_subscriber::Registry`.
    Registry,
    /// `Registry` + `tracing_insights_correlation::layer()`.
    Correlation,
    /// `+ correlation` + `fmt::layer().event_format(correlation::json())` to `io::sink`
    /// (the fmt layer still formats span fields into its own extension, `DefaultFields`).
    CorrelationJson,
    /// `+ correlation` + `correlation::json().layer()` to `io::sink` (`NoSpanFields`: span
    /// fields are read from the correlation record, not formatted a second time).
    CorrelationJsonLayer,
    /// Reference: `tracing_subscriber::fmt().json()` to `io::sink` (no correlation ids).
    FmtJson,
    /// Peer: `Registry` + `tracing-opentelemetry` 0.34 with its defaults (location, thread
    /// and busy/idle-time attributes), an SDK tracer (AlwaysOn sampler, random ids) and a
    /// simple span processor with [`NoopExporter`].
    Otel,
    /// Peer, lean: as [`Rung::Otel`] with location, threads, target and inactivity
    /// tracking off (fewer attributes and no `Instant::now()` on enter/exit).
    OtelLean,
    /// Peer, production-shaped: as [`Rung::Otel`] but with the SDK's batch processor (its
    /// own thread), so the hand-off is a channel send and the no-op export (dropping the
    /// spans) happens off the request's thread. Wall-clock numbers for it leave out what
    /// that thread does; instruction counts include it.
    OtelBatch,
}

impl Rung {
    /// Every rung, in the order the bench runs them.
    pub const ALL: [Rung; 9] = [
        Rung::None,
        Rung::Registry,
        Rung::Correlation,
        Rung::CorrelationJson,
        Rung::CorrelationJsonLayer,
        Rung::FmtJson,
        Rung::Otel,
        Rung::OtelLean,
        Rung::OtelBatch,
    ];

    /// The rung's name in bench ids and on the `ladder-count` command line.
    pub fn name(self) -> &'static str {
        match self {
            Rung::None => "none",
            Rung::Registry => "registry",
            Rung::Correlation => "correlation",
            Rung::CorrelationJson => "correlation+json",
            Rung::CorrelationJsonLayer => "correlation+json_layer",
            Rung::FmtJson => "fmt_json",
            Rung::Otel => "otel",
            Rung::OtelLean => "otel_lean",
            Rung::OtelBatch => "otel_batch",
        }
    }

    /// The rung called `name`.
    pub fn from_name(name: &str) -> Option<Rung> {
        Rung::ALL.into_iter().find(|r| r.name() == name)
    }

    /// A fresh subscriber for this rung.
    pub fn dispatch(self) -> Dispatch {
        match self {
            Rung::None => Dispatch::none(),
            Rung::Registry => Dispatch::new(tracing_subscriber::registry()),
            Rung::Correlation => {
                Dispatch::new(tracing_subscriber::registry().with(correlation::layer()))
            }
            Rung::CorrelationJson => Dispatch::new(
                tracing_subscriber::registry()
                    .with(correlation::layer())
                    .with(
                        tracing_subscriber::fmt::layer()
                            .event_format(correlation::json())
                            .with_writer(std::io::sink),
                    ),
            ),
            Rung::CorrelationJsonLayer => Dispatch::new(
                tracing_subscriber::registry()
                    .with(correlation::layer())
                    .with(correlation::json().layer().with_writer(std::io::sink)),
            ),
            Rung::FmtJson => Dispatch::new(
                tracing_subscriber::fmt()
                    .json()
                    .with_writer(std::io::sink)
                    .finish(),
            ),
            Rung::Otel => Dispatch::new(
                tracing_subscriber::registry()
                    .with(tracing_opentelemetry::OpenTelemetryLayer::new(otel_tracer())),
            ),
            Rung::OtelBatch => Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_opentelemetry::OpenTelemetryLayer::new(
                        SdkTracerProvider::builder()
                            .with_sampler(Sampler::AlwaysOn)
                            .with_batch_exporter(NoopExporter)
                            .build()
                            .tracer("tracing-insights-benches"),
                    ),
                ),
            ),
            Rung::OtelLean => Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_opentelemetry::OpenTelemetryLayer::new(otel_tracer())
                        .with_location(false)
                        .with_threads(false)
                        .with_target(false)
                        .with_tracked_inactivity(false),
                ),
            ),
        }
    }
}

/// An SDK tracer that keeps every span (AlwaysOn, like the correlation layer's default) and
/// hands each finished span to [`NoopExporter`] through a simple (synchronous) processor.
fn otel_tracer() -> opentelemetry_sdk::trace::SdkTracer {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(NoopExporter)
        .build()
        .tracer("tracing-insights-benches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rung_runs_a_request() {
        for rung in Rung::ALL {
            assert_eq!(Rung::from_name(rung.name()), Some(rung));
            tracing::dispatcher::with_default(&rung.dispatch(), || request(1));
        }
    }
}
