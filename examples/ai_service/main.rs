//! The project's main job: a simulated AI service (HTTP → retrieval → LLM) that produces real
//! telemetry through tracing-insights.
//!
//! ```text
//! cargo run --release --example ai_service -- --requests 20 [--rate 5] [--traceparent 00-…-…-01]
//! ```
//!
//! Every request is an HTTP SERVER span `POST /chat` with a retrieval DB CLIENT span and an
//! LLM CLIENT span (`gen_ai.*` fields, OpenTelemetry GenAI conventions v1.41) inside it; one
//! request in ten fails with an error that has a `source()` chain. Telemetry is set up in one
//! call ([`tracing_insights::Telemetry`]): exporters from the environment, JSON log lines with
//! `operation_Id` / `operation_ParentId` on stdout in every configuration and, with no
//! exporter configured, a waterfall of every trace on stderr.

use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tracing::field::Empty;
use tracing_insights::appinsights::exception;
use tracing_insights::correlation::{CorrelationSpanExt, Resource};
use tracing_insights::{LogFormat, Telemetry};

/// How long the exporters get to deliver what is queued at exit (each gets all of it: they
/// shut down in parallel).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

/// Command-line options; kept stable because tests and reviewers drive the example with them.
struct Args {
    requests: u32,
    rate: Option<f64>,
    traceparent: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        requests: 20,
        rate: None,
        traceparent: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--requests" => {
                args.requests = value("--requests")?
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--rate" => {
                let r: f64 = value("--rate")?
                    .parse()
                    .map_err(|e| format!("--rate: {e}"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err("--rate must be a positive number of requests per second".into());
                }
                args.rate = Some(r);
            }
            "--traceparent" => args.traceparent = Some(value("--traceparent")?),
            "-h" | "--help" => {
                return Err("usage: ai_service [--requests N] [--rate R] [--traceparent TP]".into())
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let resource = Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "ai-service".into()),
        )
        .with_service_version(env!("CARGO_PKG_VERSION"))
        .build();
    // Everything else comes from the environment (see the facade's configuration table);
    // stdout always gets JSON lines, whatever TRACING_INSIGHTS_LOG_FORMAT says.
    let telemetry = match Telemetry::builder()
        .with_resource(resource)
        .with_log_format(LogFormat::Json)
        .init()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ai_service: {e}");
            return ExitCode::from(2);
        }
    };
    let exporting = !telemetry.is_empty();

    tracing::info!(requests = args.requests, "ai_service starting");
    let started = Instant::now();
    let mut failures = 0;
    for i in 0..args.requests {
        if let Some(rate) = args.rate {
            let due = started + Duration::from_secs_f64(f64::from(i) / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let tp = if i == 0 {
            args.traceparent.as_deref()
        } else {
            None
        };
        if handle_chat(i, tp).is_err() {
            failures += 1;
        }
    }
    tracing::info!(
        requests = args.requests,
        failures,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ai_service done"
    );
    // Flush first, so the counters below include what was still queued.
    if let Err(e) = telemetry.flush(SHUTDOWN_DEADLINE) {
        eprintln!("ai_service: telemetry not fully flushed: {e}");
    }
    for (name, stats) in telemetry.stats() {
        eprintln!(
            "ai_service: {name}: {} items sent, {} dropped",
            stats.sent, stats.dropped
        );
    }
    if let Err(e) = telemetry.shutdown(SHUTDOWN_DEADLINE) {
        eprintln!("ai_service: telemetry not fully delivered: {e}");
    }
    if !exporting {
        eprintln!(
            "no exporter configured: set APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT to export"
        );
    }
    ExitCode::SUCCESS
}

/// One `POST /chat`: retrieval, then the LLM call; every tenth request fails.
fn handle_chat(i: u32, traceparent: Option<&str>) -> Result<(), LlmError> {
    let request = tracing::info_span!(
        "POST /chat",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = "POST",
        http.route = "/chat",
        url.path = "/chat",
        url.scheme = "http",
        server.address = "localhost",
        server.port = 8080,
        client.address = "127.0.0.1",
        user_agent.original = "ai-client/1.0",
        http.response.status_code = Empty,
    );
    if let Some(tp) = traceparent {
        if !request.set_parent_from_traceparent(tp) {
            tracing::warn!(traceparent = tp, "ignoring malformed --traceparent");
        }
    }
    let _entered = request.enter();
    tracing::info!(request = i, "chat request received");

    let docs = retrieve(i);
    let result = call_llm(i, docs);
    match &result {
        Ok(tokens) => {
            request.record("http.response.status_code", 200);
            tracing::info!(output_tokens = tokens, "chat answered");
        }
        Err(e) => {
            request.record("http.response.status_code", 502);
            request.record("otel.status_code", "error");
            // `exception` keeps the error's Rust type name for Application Insights'
            // `typeName`; every other layer sees the same message and `source()` chain.
            tracing::error!(error = exception(e), "chat failed");
        }
    }
    result.map(|_| ())
}

fn retrieve(i: u32) -> u32 {
    let span = tracing::info_span!(
        "SELECT kb.documents",
        otel.kind = "client",
        db.system.name = "postgresql",
        db.namespace = "kb",
        db.operation.name = "SELECT",
        db.collection.name = "documents",
        db.query.text = "SELECT id, body FROM documents ORDER BY embedding <-> $1 LIMIT $2",
        server.address = "127.0.0.1",
        server.port = 5432,
        db.response.returned_rows = Empty,
    );
    let _e = span.enter();
    work(2, 6);
    let rows = 3 + i % 3;
    span.record("db.response.returned_rows", rows);
    tracing::debug!(rows, "retrieved documents");
    rows
}

fn call_llm(i: u32, docs: u32) -> Result<u32, LlmError> {
    let span = tracing::info_span!(
        "chat gpt-4o",
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o",
        gen_ai.request.max_tokens = 512,
        gen_ai.request.temperature = 0.2,
        gen_ai.response.id = Empty,
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        server.address = "api.openai.com",
        server.port = 443,
        error.type = Empty,
    );
    let _e = span.enter();
    let started = Instant::now();
    work(5, 15);
    let input_tokens = 120 + docs * 200;
    span.record("gen_ai.usage.input_tokens", input_tokens);
    if i % 10 == 9 {
        let err = LlmError::RateLimited {
            source: HttpError {
                status: 429,
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset by peer",
                ),
            },
        };
        span.record("otel.status_code", "error");
        span.record("error.type", "rate_limited");
        tracing::warn!(error = exception(&err), "LLM call failed");
        return Err(err);
    }
    let output_tokens = 40 + (i * 7) % 60;
    span.record("gen_ai.response.id", format!("chatcmpl-{i:04}").as_str());
    span.record("gen_ai.response.model", "gpt-4o-2024-08-06");
    span.record("gen_ai.response.finish_reasons", "[\"stop\"]");
    span.record("gen_ai.usage.output_tokens", output_tokens);
    tracing::info!(
        gen_ai.usage.input_tokens = input_tokens,
        gen_ai.usage.output_tokens = output_tokens,
        "LLM answered"
    );
    // GenAI client metrics (semconv v1.41): `histogram.` fields become OTLP histograms and
    // Application Insights metrics; the other fields are their attributes.
    for (kind, tokens) in [("input", input_tokens), ("output", output_tokens)] {
        tracing::info!(
            histogram.gen_ai.client.token.usage = u64::from(tokens),
            gen_ai.token.type = kind,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            "token usage"
        );
    }
    tracing::info!(
        histogram.gen_ai.client.operation.duration = started.elapsed().as_secs_f64(),
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o",
        "operation duration"
    );
    Ok(output_tokens)
}

/// Simulated latency between `min_ms` and `max_ms`.
fn work(min_ms: u64, max_ms: u64) {
    std::thread::sleep(Duration::from_micros(fastrand::u64(
        min_ms * 1000..max_ms * 1000,
    )));
}

/// The LLM provider refused the call.
#[derive(Debug)]
enum LlmError {
    RateLimited { source: HttpError },
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::RateLimited { .. } => f.write_str("LLM provider rate-limited the request"),
        }
    }
}

impl Error for LlmError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LlmError::RateLimited { source } => Some(source),
        }
    }
}

/// The HTTP call to the provider failed.
#[derive(Debug)]
struct HttpError {
    status: u16,
    source: std::io::Error,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} from api.openai.com", self.status)
    }
}

impl Error for HttpError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}
