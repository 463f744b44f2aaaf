//! App Insights export throughput on one OpenTelemetry SDK pipeline: the same
//! spans, made through the `opentelemetry` API with an `opentelemetry_sdk` 0.33 tracer and
//! its batch processor (queue 65 536, batches of 512, 5 s), exported by
//! `tracing-insights-opentelemetry`'s `AppInsightsExporter` (`ours`) or by
//! `opentelemetry-application-insights` 0.46 (`peer`), both to a loopback sink that answers
//! `200`. Reports the wall time to make the spans and to shut everything down (every span
//! delivered), and what the sink received.
//!
//! ```text
//! target/release/otel-sdk-exporters <ours|peer> <requests>
//! ```
//!
//! Keep `requests` at or below 16,000 (4 spans each): beyond the SDK queue's 65,536 spans
//! the batch processor drops spans before either exporter sees them, and the rate measures
//! the drops (the binary warns).

use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing_insights_benches::export::{LoopbackClient, Sink};
use tracing_insights_benches::loopback_connection_string;
use tracing_insights_opentelemetry::AppInsightsExporter;

/// Spans per request: a SERVER span with a DB and an HTTP CLIENT child and an INTERNAL one.
const SPANS_PER_REQUEST: u64 = 4;

fn processor<E: opentelemetry_sdk::trace::SpanExporter + 'static>(e: E) -> BatchSpanProcessor {
    BatchSpanProcessor::builder(e)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(65_536)
                .with_max_export_batch_size(512)
                .with_scheduled_delay(Duration::from_secs(5))
                .build(),
        )
        .build()
}

fn request(tracer: &opentelemetry_sdk::trace::SdkTracer, n: u64) {
    let server = tracer
        .span_builder("GET /chat")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("server.address", "chat.example"),
            KeyValue::new("url.path", "/chat"),
            KeyValue::new("http.route", "/chat"),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("request.n", n as i64),
        ])
        .start(tracer);
    let cx = Context::current_with_span(server);
    let mut db = tracer
        .span_builder("SELECT docs")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new(
                "db.query.text",
                "SELECT id, body FROM docs WHERE topic = $1",
            ),
            KeyValue::new("server.address", "db.local"),
        ])
        .start_with_context(tracer, &cx);
    db.end();
    let mut llm = tracer
        .span_builder("POST /v1/chat/completions")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.full", "https://llm.example/v1/chat/completions"),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("gen_ai.system", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
        ])
        .start_with_context(tracer, &cx);
    llm.end();
    let mut render = tracer
        .span_builder("render")
        .start_with_context(tracer, &cx);
    render.end();
    cx.span().end();
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let which = args.next();
    let n = args.next().and_then(|n| n.parse::<u64>().ok());
    let (Some(which), Some(n)) = (which, n) else {
        eprintln!("usage: otel-sdk-exporters <ours|peer> <requests>");
        return ExitCode::FAILURE;
    };
    if n * SPANS_PER_REQUEST > 65_536 {
        eprintln!(
            "warning: {} spans overflow the SDK queue (65,536): the batch processor drops \
             spans before the exporter sees them; use at most 16000 requests",
            n * SPANS_PER_REQUEST
        );
    }
    let sink = Sink::start(false);
    let cs = loopback_connection_string(&sink);
    let (processor, guard) = match which.as_str() {
        "ours" => {
            let builder = AppInsightsExporter::builder()
                .with_connection_string(cs)
                .with_queue_capacity(65_536)
                .with_max_batch(512)
                .with_batch_delay(Duration::from_secs(5))
                .with_resource_metric(false);
            let (exporter, guard) = match AppInsightsExporter::build(builder) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            (processor(exporter), Some(guard))
        }
        "peer" => {
            let exporter =
                match opentelemetry_application_insights::Exporter::new_from_connection_string(
                    cs,
                    LoopbackClient::default(),
                ) {
                    Ok(e) => e,
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                };
            (processor(exporter), None)
        }
        _ => {
            eprintln!("unknown exporter {which}: ours or peer");
            return ExitCode::FAILURE;
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("tracing-insights-benches");
    let start = Instant::now();
    for i in 0..n {
        request(&tracer, i);
    }
    let made = start.elapsed();
    let provider_ok = provider
        .shutdown_with_timeout(Duration::from_secs(120))
        .is_ok();
    let guard_ok = guard.is_none_or(|g| g.shutdown(Duration::from_secs(120)).is_ok());
    let total = start.elapsed();
    let stats = sink.stats();
    let spans = n * SPANS_PER_REQUEST;
    println!(
        "{which}: {n} requests ({spans} spans) made in {:.3} s; everything delivered after \
         {:.3} s ({:.0} spans/s); sink: {} requests, {} bytes; shutdown ok {}",
        made.as_secs_f64(),
        total.as_secs_f64(),
        spans as f64 / total.as_secs_f64(),
        stats.requests.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed),
        provider_ok && guard_ok,
    );
    ExitCode::SUCCESS
}
