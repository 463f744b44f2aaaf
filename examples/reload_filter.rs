//! The log level changed at run time; traces are unaffected.
//!
//! ```text
//! cargo run --example reload_filter
//! ```
//!
//! The service starts at `RUST_LOG=warn` (or whatever `RUST_LOG` says), turns its log filter
//! up to `debug` halfway through, as an admin endpoint would, and back down. Every request's
//! trace is shown on stderr (the waterfall) in all three phases, with the same
//! `operation_Id` as its log lines on stdout: the span filter
//! (`TRACING_INSIGHTS_SPANS`, default `info`) never changed.
//!
//! [`LogFilterHandle`] has no type parameters, so it goes in application state as it is.

use std::time::Duration;
use tracing_insights::filter::LogFilterHandle;
use tracing_insights::Telemetry;

/// What request handlers share: here, just the log level switch.
struct AppState {
    log_level: LogFilterHandle,
}

fn handle(i: u32) {
    let span = tracing::info_span!("GET /items", otel.kind = "server", request = i);
    let _e = span.enter();
    tracing::debug!("cache lookup");
    tracing::info!("items listed");
    if i % 2 == 1 {
        tracing::warn!("slow query");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log_level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let telemetry = Telemetry::builder()
        .with_log_filter(log_level.clone())
        .with_waterfall(true)
        .init()?;
    let state = AppState {
        log_level: telemetry.log_filter().expect("set by init"),
    };

    for (phase, level) in [
        (1, log_level.as_str()),
        (2, "debug"),
        (3, log_level.as_str()),
    ] {
        state.log_level.reload(level)?;
        eprintln!(
            "reload_filter: phase {phase}, log filter {}",
            state.log_level.current()
        );
        for i in 0..2 {
            handle(phase * 10 + i);
        }
    }

    telemetry.shutdown(Duration::from_secs(10))?;
    Ok(())
}
