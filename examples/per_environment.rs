//! One binary, layers switched by `APP_ENV`: the same code runs on a laptop, in staging and
//! in production, and only the telemetry set-up differs.
//!
//! ```text
//! APP_ENV=dev  cargo run --example per_environment     # text lines + waterfall, nothing exported
//! APP_ENV=prod APPLICATIONINSIGHTS_CONNECTION_STRING=... cargo run --example per_environment
//! ```
//!
//! | `APP_ENV` | log lines | log level | exporters | waterfall |
//! |---|---|---|---|---|
//! | `dev` (default) | text | `debug` | none, whatever the environment says | yes |
//! | `staging` | JSON | `info` | from the environment | no |
//! | `prod` | JSON | `warn` (requests are still exported: spans have their own filter) | from the environment | no |
//!
//! The log level is set in code per environment (a value given in code wins over `RUST_LOG`);
//! the span filter (`TRACING_INSIGHTS_SPANS`), the sampler and the exporters' settings still
//! come from the environment.

use std::process::ExitCode;
use std::time::Duration;
use tracing_insights::{LogFormat, Telemetry, TelemetryBuilder};

fn telemetry_for(app_env: &str) -> Result<TelemetryBuilder, String> {
    let builder = Telemetry::builder();
    Ok(match app_env {
        "dev" => builder
            .with_log_format(LogFormat::Text)
            .with_log_filter("debug")
            .with_exporters(false)
            .with_waterfall(true),
        "staging" => builder
            .with_log_format(LogFormat::Json)
            .with_log_filter("info")
            .with_waterfall(false),
        "prod" => builder
            .with_log_format(LogFormat::Json)
            .with_log_filter("warn")
            .with_waterfall(false),
        other => return Err(format!("APP_ENV={other:?}: expected dev, staging or prod")),
    })
}

fn main() -> ExitCode {
    let app_env = std::env::var("APP_ENV").unwrap_or_else(|_| "dev".into());
    let telemetry = match telemetry_for(&app_env).and_then(|b| b.init().map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("per_environment: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "per_environment: APP_ENV={app_env}, exporters {:?}",
        telemetry.names()
    );

    for order in 1..=3 {
        let span = tracing::info_span!(
            "POST /orders",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/orders",
            http.response.status_code = 201,
        );
        let _e = span.enter();
        tracing::debug!(order, "validating");
        tracing::info!(order, "order placed");
        if order == 3 {
            tracing::warn!(order, "stock low");
        }
    }

    if let Err(e) = telemetry.shutdown(Duration::from_secs(10)) {
        eprintln!("per_environment: {e}");
    }
    ExitCode::SUCCESS
}
