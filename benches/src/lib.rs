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
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use std::fmt;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};
use tracing::Dispatch;
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::testing::{ManualClock, QpsRequest, QpsResponse, Transport};
use tracing_insights_live_metrics::LiveMetricsLayer;
use tracing_subscriber::prelude::*;

pub mod export;
pub mod throughput;
pub use export::{LoopbackClient, NoopClient, Sink};

/// The exporters' queue bound in the exporter rungs, on both sides (ours and the SDK's batch
/// processor): large enough that a `ladder-count` run (1,000 requests, 5,000 items) never
/// drops. Criterion runs offer far more than the workers drain in a 5 s batch delay; what
/// they drop is printed after each rung.
pub const EXPORT_QUEUE: usize = 65_536;

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
    /// Issue 4: `+ correlation` + `tracing_insights_appinsights::AppInsightsLayer`, exporting
    /// to a loopback [`Sink`] (queue [`EXPORT_QUEUE`], batches of 512, 5 s delay, gzip; no
    /// `_OTELRESOURCE_` metric).
    AppInsights,
    /// Issue 4 peer: `tracing-opentelemetry` (defaults) + `opentelemetry-application-insights`
    /// 0.46 in the SDK's batch processor (queue [`EXPORT_QUEUE`], 512, 5 s), its HTTP client
    /// a [`LoopbackClient`] to a loopback [`Sink`].
    OtelAppInsights,
    /// Issue 7: `+ correlation` + `LiveMetricsLayer`, nobody watching (the service answered
    /// the first ping "not subscribed").
    Live,
    /// Issue 7: as [`Rung::Live`], subscribed (the service answered "subscribed"), the
    /// default 20 documents per second: after the first 20 items the buffer is full until
    /// the next post, so every span and event is counted (sharded atomics) but no document
    /// is built. That is the steady state of any service above 4 requests per second.
    LiveSubscribed,
    /// Issue 7, `ladder-count` only: subscribed with an unbounded document buffer, so every
    /// span and event also becomes a document (the cost below 4 requests per second).
    LiveSubscribedDocs,
    /// Issue 8: `+ correlation` + `tracing_insights_otlp::OtlpLayer`, HTTP/protobuf to a
    /// loopback [`Sink`], traces only with the event as a span event (the shape
    /// `tracing-opentelemetry` sends), queue [`EXPORT_QUEUE`], 512, 5 s, no compression
    /// (this layer's default is gzip; opentelemetry-otlp's is none).
    Otlp,
    /// Issue 8 peer: `tracing-opentelemetry` (defaults) + `opentelemetry-otlp` 0.33
    /// (`http-proto`, no HTTP client feature: a [`LoopbackClient`]) in the SDK's batch
    /// processor (queue [`EXPORT_QUEUE`], 512, 5 s) to a loopback [`Sink`].
    OtelOtlp,
    /// Issue 15: the full stack, one subscriber: `+ correlation` + `correlation::json().layer()`
    /// to `io::sink` + App Insights (as [`Rung::AppInsights`]) + OTLP (as [`Rung::Otlp`]),
    /// each exporter to its own loopback [`Sink`]. Its peer is [`Rung::OtelOtlp`].
    Full,
    /// Issue 15, `ladder-count` only: the full stack of [`Rung::Full`] with a global
    /// `LevelFilter::WARN`, so every span and event of the (INFO) workload is disabled: the
    /// cost of instrumentation that is switched off, beside [`Rung::None`].
    FullDisabled,
    /// `ladder-count` only: `+ correlation` + a layer that does nothing but ask the
    /// correlation layer for shared span and event records, as every exporter does: what the
    /// records cost, once, whatever the number of exporters.
    CorrelationShared,
    /// `ladder-count` only: `+ correlation` + App Insights + OTLP (as in [`Rung::Full`],
    /// without the JSON line): beside [`Rung::AppInsights`] and [`Rung::Otlp`], what a
    /// second exporter adds.
    Exporters,
    /// `ladder-count` only: `tracing-opentelemetry` + `opentelemetry-otlp` (HTTP/protobuf,
    /// uncompressed, an async `reqwest::Client`) in the SDK's async-runtime batch processor
    /// (`span_processor_with_async_runtime`, tokio, queue [`EXPORT_QUEUE`]), beside
    /// [`Rung::OtelOtlp`]'s thread-based one.
    OtelOtlpAsync,
}

/// A rung's subscriber and what keeps its exporters alive (guards, providers, the sink).
pub struct Stack {
    /// The subscriber under test.
    pub dispatch: Dispatch,
    finish: Option<Box<dyn FnOnce() -> String>>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("dispatch", &self.dispatch)
            .finish_non_exhaustive()
    }
}

impl Stack {
    fn plain(dispatch: Dispatch) -> Stack {
        Stack {
            dispatch,
            finish: None,
        }
    }

    /// Flushes and stops the rung's exporter (everything queued is sent to the sink) and
    /// says what it dropped or delivered, if anything.
    pub fn finish(mut self) -> String {
        let report = self.finish.take().map(|f| f()).unwrap_or_default();
        drop(self.dispatch);
        report
    }
}

impl Rung {
    /// Every rung, in the order the bench runs them.
    pub const ALL: [Rung; 16] = [
        Rung::None,
        Rung::Registry,
        Rung::Correlation,
        Rung::CorrelationJson,
        Rung::CorrelationJsonLayer,
        Rung::FmtJson,
        Rung::Otel,
        Rung::OtelLean,
        Rung::OtelBatch,
        Rung::AppInsights,
        Rung::OtelAppInsights,
        Rung::Live,
        Rung::LiveSubscribed,
        Rung::Otlp,
        Rung::OtelOtlp,
        Rung::Full,
    ];

    /// Rungs for `ladder-count` only (not in the criterion bench).
    pub const EXTRA: [Rung; 5] = [
        Rung::LiveSubscribedDocs,
        Rung::FullDisabled,
        Rung::OtelOtlpAsync,
        Rung::CorrelationShared,
        Rung::Exporters,
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
            Rung::AppInsights => "appinsights",
            Rung::OtelAppInsights => "otel_appinsights",
            Rung::Live => "live",
            Rung::LiveSubscribed => "live_subscribed",
            Rung::LiveSubscribedDocs => "live_subscribed_docs",
            Rung::Otlp => "otlp",
            Rung::OtelOtlp => "otel_otlp",
            Rung::Full => "full",
            Rung::FullDisabled => "full_disabled",
            Rung::OtelOtlpAsync => "otel_otlp_async",
            Rung::CorrelationShared => "correlation_shared",
            Rung::Exporters => "appinsights+otlp",
        }
    }

    /// The rung called `name`.
    pub fn from_name(name: &str) -> Option<Rung> {
        Rung::ALL
            .into_iter()
            .chain(Rung::EXTRA)
            .find(|r| r.name() == name)
    }

    /// A fresh subscriber for this rung, with whatever keeps its exporter alive.
    pub fn stack(self) -> Stack {
        match self {
            Rung::AppInsights => appinsights_stack(),
            Rung::OtelAppInsights => otel_appinsights_stack(),
            Rung::Live => live_stack(false, None),
            Rung::LiveSubscribed => live_stack(true, None),
            Rung::LiveSubscribedDocs => live_stack(true, Some(usize::MAX)),
            Rung::Otlp => otlp_stack(&Sink::start(false), EXPORT_QUEUE),
            Rung::OtelOtlp => otel_otlp_stack(&Sink::start(false), EXPORT_QUEUE),
            Rung::Full => full_stack(true, None),
            Rung::FullDisabled => {
                full_stack(true, Some(tracing_subscriber::filter::LevelFilter::WARN))
            }
            Rung::Exporters => full_stack(false, None),
            Rung::OtelOtlpAsync => throughput::otel_otlp_async_stack(),
            _ => Stack::plain(self.dispatch()),
        }
    }

    /// A fresh subscriber for this rung (the rungs without an exporter; for the others
    /// use [`Rung::stack`], which keeps the exporter alive).
    fn dispatch(self) -> Dispatch {
        match self {
            Rung::AppInsights
            | Rung::OtelAppInsights
            | Rung::Live
            | Rung::LiveSubscribed
            | Rung::LiveSubscribedDocs
            | Rung::Otlp
            | Rung::OtelOtlp
            | Rung::Full
            | Rung::FullDisabled
            | Rung::Exporters
            | Rung::OtelOtlpAsync => unreachable!("exporter rungs are built by Rung::stack"),
            Rung::None => Dispatch::none(),
            Rung::Registry => Dispatch::new(tracing_subscriber::registry()),
            Rung::Correlation => {
                Dispatch::new(tracing_subscriber::registry().with(correlation::layer()))
            }
            Rung::CorrelationShared => Dispatch::new(
                tracing_subscriber::registry()
                    .with(correlation::layer())
                    .with(AskShared),
            ),
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

/// The SDK's batch processor with the exporter rungs' settings: queue `queue`, batches of
/// 512, 5 s delay (the SDK's defaults but the queue).
fn batch_processor<E: SpanExporter + 'static>(exporter: E, queue: usize) -> BatchSpanProcessor {
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(queue)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_secs(5))
                .build(),
        )
        .build()
}

/// The App Insights connection string pointing at a loopback sink.
pub fn loopback_connection_string(sink: &Sink) -> String {
    format!(
        "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://{}/",
        sink.addr()
    )
}

/// Our App Insights layer to `sink`: queue [`EXPORT_QUEUE`], batches of 512, 5 s, gzip (its
/// default), no `_OTELRESOURCE_` metric.
fn appinsights_layer(
    sink: &Sink,
) -> (
    tracing_insights_appinsights::AppInsightsLayer,
    tracing_insights_appinsights::AppInsightsGuard,
) {
    tracing_insights_appinsights::AppInsightsLayer::builder()
        .with_connection_string(loopback_connection_string(sink))
        .with_queue_capacity(EXPORT_QUEUE)
        .with_max_batch(512)
        .with_batch_delay(Duration::from_secs(5))
        .with_resource_metric(false)
        .build()
        .expect("App Insights layer")
}

fn appinsights_stack() -> Stack {
    let sink = Sink::start(false);
    let (layer, guard) = appinsights_layer(&sink);
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
    );
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let dropped = guard.dropped();
            let ok = guard.shutdown(Duration::from_secs(30)).is_ok();
            format!(
                "appinsights: dropped {dropped}, shutdown ok {ok}, sink requests {}",
                sink.stats()
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
            )
        })),
    }
}

fn otel_appinsights_stack() -> Stack {
    let sink = Sink::start(false);
    let exporter = opentelemetry_application_insights::Exporter::new_from_connection_string(
        loopback_connection_string(&sink),
        LoopbackClient::default(),
    )
    .expect("opentelemetry-application-insights exporter");
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(batch_processor(exporter, EXPORT_QUEUE))
        .build();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(
        tracing_opentelemetry::OpenTelemetryLayer::new(provider.tracer("tracing-insights-benches")),
    ));
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let ok = provider
                .shutdown_with_timeout(Duration::from_secs(120))
                .is_ok();
            format!(
                "otel_appinsights: shutdown ok {ok}, sink requests {}",
                sink.stats()
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed)
            )
        })),
    }
}

/// A Live Metrics service that answers every ping and post with `subscribed`.
#[derive(Debug)]
struct LiveAnswer(bool);

impl Transport for LiveAnswer {
    fn send(&mut self, request: &QpsRequest) -> Result<QpsResponse, String> {
        black_box(request);
        Ok(QpsResponse {
            status: 200,
            headers: vec![("x-ms-qps-subscribed".to_owned(), self.0.to_string())],
            body: Vec::new(),
        })
    }
}

fn live_stack(subscribed: bool, max_documents: Option<usize>) -> Stack {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_795_306_053));
    let mut builder = LiveMetricsLayer::builder()
        .with_connection_string(
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;LiveEndpoint=http://127.0.0.1:1",
        )
        .with_machine_name("bench")
        .with_stream_id("bench");
    if let Some(n) = max_documents {
        builder = builder.with_max_documents_per_second(n);
    }
    let (layer, mut controller) = builder
        .build_with(clock.clone(), LiveAnswer(subscribed))
        .expect("Live Metrics layer");
    // One ping: the answer decides whether the layer collects.
    let wait = controller.poll();
    clock.advance(wait);
    assert_eq!(layer.is_collecting(), subscribed, "Live Metrics state");
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
    );
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            // The controller and its clock live as long as the rung.
            drop((controller, clock));
            String::new()
        })),
    }
}

/// `+ correlation` + our OTLP layer to `sink` (HTTP/protobuf, traces only, the event as a
/// span event, queue `queue`, batches of 512, 5 s, no compression, no process variables).
pub fn otlp_stack(sink: &Sink, queue: usize) -> Stack {
    let (layer, guard) = otlp_layer(sink, queue);
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
    );
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let dropped = guard.dropped();
            let ok = guard.shutdown(Duration::from_secs(60)).is_ok();
            format!("otlp: dropped {dropped}, shutdown ok {ok}")
        })),
    }
}

/// The full stack: correlation, the JSON line to `io::sink`, App Insights and
/// OTLP, each exporter to its own loopback sink; with `filter`, under that global filter.
/// Asks the correlation layer for shared span and event records and does nothing else
/// ([`Rung::CorrelationShared`]).
struct AskShared;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AskShared {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        if let Some(c) = dispatch.downcast_ref::<correlation::CorrelationLayer>() {
            c.share_finished_spans();
            c.share_finished_events();
        }
    }
}

/// Correlation, the JSON line when `json`, App Insights and OTLP, each exporter to its own
/// loopback sink; every span and event disabled by `filter` when given.
fn full_stack(json: bool, filter: Option<tracing_subscriber::filter::LevelFilter>) -> Stack {
    let ai_sink = Sink::start(false);
    let otlp_sink = Sink::start(false);
    let (ai, ai_guard) = appinsights_layer(&ai_sink);
    let (otlp, otlp_guard) = otlp_layer(&otlp_sink, EXPORT_QUEUE);
    let base = tracing_subscriber::registry().with(correlation::layer());
    // Two stacks rather than an `Option<JsonLayer>`: the full stack is measured as users
    // build it.
    let dispatch = if json {
        let stack = base
            .with(correlation::json().layer().with_writer(std::io::sink))
            .with(ai)
            .with(otlp);
        match filter {
            Some(filter) => Dispatch::new(stack.with(filter)),
            None => Dispatch::new(stack),
        }
    } else {
        let stack = base.with(ai).with(otlp);
        match filter {
            Some(filter) => Dispatch::new(stack.with(filter)),
            None => Dispatch::new(stack),
        }
    };
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let ai_dropped = ai_guard.dropped();
            let otlp_dropped = otlp_guard.dropped();
            let ai_ok = ai_guard.shutdown(Duration::from_secs(30)).is_ok();
            let otlp_ok = otlp_guard.shutdown(Duration::from_secs(60)).is_ok();
            format!(
                "full: appinsights dropped {ai_dropped}, shutdown ok {ai_ok}, sink requests {}; \
                 otlp dropped {otlp_dropped}, shutdown ok {otlp_ok}, sink requests {}",
                ai_sink
                    .stats()
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed),
                otlp_sink
                    .stats()
                    .requests
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
        })),
    }
}

/// Our OTLP layer to `sink` (HTTP/protobuf, traces only, the event as a span event, queue
/// `queue`, batches of 512, 5 s, no compression, no process variables).
fn otlp_layer(
    sink: &Sink,
    queue: usize,
) -> (
    tracing_insights_otlp::OtlpLayer,
    tracing_insights_otlp::OtlpGuard,
) {
    use tracing_insights_otlp::{Compression, EnvVars, OtlpLayer, Protocol};
    OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(format!("http://{}", sink.addr()))
        .with_protocol(Protocol::HttpProtobuf)
        // opentelemetry-otlp sends uncompressed unless built with a gzip feature; this
        // layer gzips by default.
        .with_compression(Compression::None)
        .with_traces(true)
        .with_logs(false)
        .with_metrics(false)
        .with_span_events(true)
        .with_queue_capacity(queue)
        .with_max_batch(512)
        .with_batch_delay(Duration::from_secs(5))
        .build()
        .expect("OTLP layer")
}

/// `tracing-opentelemetry` (defaults) + `opentelemetry-otlp` (HTTP/protobuf through a
/// [`LoopbackClient`]) to `sink`, in the SDK's batch processor (queue `queue`, 512, 5 s).
pub fn otel_otlp_stack(sink: &Sink, queue: usize) -> Stack {
    use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(LoopbackClient::default())
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{}/v1/traces", sink.addr()))
        .build()
        .expect("opentelemetry-otlp exporter");
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(batch_processor(exporter, queue))
        .build();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(
        tracing_opentelemetry::OpenTelemetryLayer::new(provider.tracer("tracing-insights-benches")),
    ));
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let ok = provider
                .shutdown_with_timeout(Duration::from_secs(120))
                .is_ok();
            format!("otel_otlp: shutdown ok {ok}")
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rung_runs_a_request() {
        for rung in Rung::ALL.into_iter().chain(Rung::EXTRA) {
            assert_eq!(Rung::from_name(rung.name()), Some(rung));
            let stack = rung.stack();
            tracing::dispatcher::with_default(&stack.dispatch, || request(1));
            stack.finish();
        }
    }
}
