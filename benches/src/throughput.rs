//! The stacks of `export-throughput`: each exporter with its defaults (queue 2048, batches of
//! 512, 5 s) beside its peer with the OpenTelemetry SDK's defaults, all posting to a decoding
//! loopback [`Sink`]; and the peer with the SDK's async-runtime batch processor (tokio) for
//! `ladder-count`.
//!
//! The peers use the HTTP client they ship with: `reqwest::blocking::Client`
//! (`opentelemetry-http`'s `reqwest-blocking`, `opentelemetry-otlp`'s default), called on the
//! batch processor's own thread; the async processor uses `reqwest::Client` on the runtime.

use crate::{loopback_connection_string, Sink, Stack, EXPORT_QUEUE};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::Dispatch;
use tracing_insights_correlation as correlation;
use tracing_subscriber::prelude::*;

/// One side of a throughput comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `+ correlation` + our App Insights layer, defaults (gzip).
    AppInsights,
    /// `tracing-opentelemetry` + `opentelemetry-application-insights` 0.46 (gzip, its only
    /// encoding) with a blocking reqwest client, SDK batch processor defaults.
    OtelAppInsights,
    /// `+ correlation` + our OTLP layer, HTTP/protobuf, uncompressed, the event as a span
    /// event, default queue and batching.
    Otlp,
    /// As [`Side::Otlp`] with gzip (the layer's default compression).
    OtlpGzip,
    /// `tracing-opentelemetry` + `opentelemetry-otlp` 0.33, HTTP/protobuf, uncompressed,
    /// blocking reqwest client, SDK batch processor defaults.
    OtelOtlp,
    /// As [`Side::OtelOtlp`] with gzip (`gzip-http`).
    OtelOtlpGzip,
}

impl Side {
    /// Every side.
    pub const ALL: [Side; 6] = [
        Side::AppInsights,
        Side::OtelAppInsights,
        Side::Otlp,
        Side::OtlpGzip,
        Side::OtelOtlp,
        Side::OtelOtlpGzip,
    ];

    /// The side's name on the `export-throughput` command line.
    pub fn name(self) -> &'static str {
        match self {
            Side::AppInsights => "appinsights",
            Side::OtelAppInsights => "otel_appinsights",
            Side::Otlp => "otlp",
            Side::OtlpGzip => "otlp_gzip",
            Side::OtelOtlp => "otel_otlp",
            Side::OtelOtlpGzip => "otel_otlp_gzip",
        }
    }

    /// The side called `name`.
    pub fn from_name(name: &str) -> Option<Side> {
        Side::ALL.into_iter().find(|s| s.name() == name)
    }

    /// A fresh subscriber posting to `sink`, with whatever keeps its exporter alive; with
    /// `queue`, every queue holds that many items instead of the default 2048 (for
    /// `ladder-count`, where nothing may be dropped).
    pub fn stack(self, sink: &Sink, queue: Option<usize>) -> Stack {
        match self {
            Side::AppInsights => appinsights_default(sink, queue),
            Side::OtelAppInsights => otel_appinsights_default(sink, queue),
            Side::Otlp => otlp_default(sink, false, queue),
            Side::OtlpGzip => otlp_default(sink, true, queue),
            Side::OtelOtlp => otel_otlp_default(sink, false, queue),
            Side::OtelOtlpGzip => otel_otlp_default(sink, true, queue),
        }
    }
}

fn appinsights_default(sink: &Sink, queue: Option<usize>) -> Stack {
    let mut builder = tracing_insights_appinsights::AppInsightsLayer::builder()
        .with_connection_string(loopback_connection_string(sink));
    if let Some(queue) = queue {
        builder = builder.with_queue_capacity(queue);
    }
    let (layer, guard) = builder.build().expect("App Insights layer");
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
            format!("dropped {dropped}, shutdown ok {ok}")
        })),
    }
}

fn otlp_default(sink: &Sink, gzip: bool, queue: Option<usize>) -> Stack {
    use tracing_insights_otlp::{Compression, EnvVars, OtlpLayer, Protocol};
    let mut builder = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(format!("http://{}", sink.addr()))
        .with_protocol(Protocol::HttpProtobuf)
        .with_compression(if gzip {
            Compression::Gzip
        } else {
            Compression::None
        })
        .with_traces(true)
        .with_logs(false)
        .with_metrics(false)
        .with_span_events(true);
    if let Some(queue) = queue {
        builder = builder.with_queue_capacity(queue);
    }
    let (layer, guard) = builder.build().expect("OTLP layer");
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
            format!("dropped {dropped}, shutdown ok {ok}")
        })),
    }
}

/// The peers' blocking client, as they build it but without proxies (every request goes to
/// 127.0.0.1).
fn loopback_blocking_client() -> reqwest::blocking::Client {
    install_rustls_provider();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest blocking client")
}

/// Installs rustls' ring provider for the process (a no-op when one is installed): with
/// reqwest's `rustls-no-provider` feature, which our exporters' transport turns on in this
/// build, building a client without one panics.
fn install_rustls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A peer pipeline: `tracing-opentelemetry` over an SDK provider with `processor`.
fn otel_stack(provider: SdkTracerProvider) -> Stack {
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(
        tracing_opentelemetry::OpenTelemetryLayer::new(provider.tracer("tracing-insights-benches")),
    ));
    Stack {
        dispatch,
        finish: Some(Box::new(move || {
            let ok = provider
                .shutdown_with_timeout(Duration::from_secs(120))
                .is_ok();
            format!("shutdown ok {ok}")
        })),
    }
}

/// A provider with the SDK's batch processor for `exporter`: its defaults, or a queue of
/// `queue` spans.
fn batch_provider<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    queue: Option<usize>,
) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder().with_sampler(Sampler::AlwaysOn);
    match queue {
        None => builder.with_batch_exporter(exporter),
        Some(queue) => builder.with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(queue)
                        .build(),
                )
                .build(),
        ),
    }
    .build()
}

fn otel_appinsights_default(sink: &Sink, queue: Option<usize>) -> Stack {
    let exporter = opentelemetry_application_insights::Exporter::new_from_connection_string(
        loopback_connection_string(sink),
        loopback_blocking_client(),
    )
    .expect("opentelemetry-application-insights exporter");
    // The connection string's IngestionEndpoint is rewritten to https (the `LoopbackClient`
    // of the ladder ignores the scheme; reqwest does not): the deprecated setter keeps http.
    #[allow(deprecated)]
    let exporter = exporter
        .with_endpoint(&format!("http://{}", sink.addr()))
        .expect("opentelemetry-application-insights endpoint");
    otel_stack(batch_provider(exporter, queue))
}

fn otel_otlp_default(sink: &Sink, gzip: bool, queue: Option<usize>) -> Stack {
    use opentelemetry_otlp::{Compression, Protocol, WithExportConfig as _, WithHttpConfig as _};
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(loopback_blocking_client())
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{}/v1/traces", sink.addr()));
    if gzip {
        builder = builder.with_compression(Compression::Gzip);
    }
    let exporter = builder.build().expect("opentelemetry-otlp exporter");
    otel_stack(batch_provider(exporter, queue))
}

/// `tracing-opentelemetry` + `opentelemetry-otlp` (HTTP/protobuf, uncompressed, an async
/// `reqwest::Client`) in the SDK's async-runtime batch processor on a one-worker tokio
/// runtime (queue [`EXPORT_QUEUE`], 512, 5 s): the `ladder-count` rung `otel_otlp_async`.
/// The sink does not decode.
pub(crate) fn otel_otlp_async_stack() -> Stack {
    use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
    let sink = Sink::start(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let provider = {
        // The processor spawns its task on the current runtime.
        let _enter = runtime.enter();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client({
                install_rustls_provider();
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("reqwest client")
            })
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("http://{}/v1/traces", sink.addr()))
            .build()
            .expect("opentelemetry-otlp exporter");
        let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(EXPORT_QUEUE)
                    .with_max_export_batch_size(512)
                    .with_scheduled_delay(Duration::from_secs(5))
                    .build(),
            )
            .build();
        SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_span_processor(processor)
            .build()
    };
    let mut stack = otel_stack(provider);
    let finish = stack.finish.take().expect("otel_stack has a finish");
    stack.finish = Some(Box::new(move || {
        let report = finish();
        drop(runtime);
        format!(
            "otel_otlp_async: {report}, sink requests {}",
            sink.stats().requests.load(Ordering::Relaxed)
        )
    }));
    stack
}
