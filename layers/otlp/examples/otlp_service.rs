//! The OTLP layer on a small AI-service-shaped workload, configured only by `OTEL_*`
//! variables:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=ai-service \
//!   cargo run -p tracing-insights-otlp --example otlp_service
//! ```
//!
//! It prints the connectivity check (one empty export per signal, the HTTP status in words),
//! sends one request's spans, logs and metrics, and exits non-zero if delivery failed.

use std::process::ExitCode;
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::{sampler_from_env, OtlpLayer};
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let (otlp, guard) = match OtlpLayer::builder().build() {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("OTLP configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let mut corr = correlation::layer();
    match sampler_from_env() {
        Ok(Some(sampler)) => corr = corr.with_sampler(sampler),
        Ok(None) => {}
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    eprintln!("{}", guard.check());
    tracing_subscriber::registry()
        .with(corr)
        .with(correlation::json().layer())
        .with(otlp)
        .init();

    let request = tracing::info_span!("POST /chat", otel.kind = "server", http.route = "/chat");
    request.in_scope(|| {
        tracing::info_span!("chat gpt-4o", otel.kind = "client",
            gen_ai.operation.name = "chat", gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            gen_ai.usage.input_tokens = 12_u64, gen_ai.usage.output_tokens = 34_u64)
        .in_scope(|| {
            tracing::info!(histogram.gen_ai.client.token.usage = 12_u64, gen_ai.token.type = "input");
            tracing::info!(histogram.gen_ai.client.token.usage = 34_u64, gen_ai.token.type = "output");
        });
        tracing::info!(monotonic_counter.chat.requests = 1_u64, "served");
    });
    drop(request);

    match guard.shutdown(Duration::from_secs(10)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("OTLP export: {e}");
            ExitCode::FAILURE
        }
    }
}
