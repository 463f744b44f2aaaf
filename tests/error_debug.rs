//! Every public error's `Debug` carries its message, so that `fn main() -> Result<(), Box<dyn
//! Error>>` (which prints `Error: {:?}`) shows the fix-it text, not only a variant's name.
//! Each error is produced the way a user meets it where that is possible.

use std::error::Error;
use std::fmt::{Debug, Display};

/// `Debug` contains the whole `Display` message, and the message is not empty.
fn reads_well<E: Debug + Display>(e: &E) -> String {
    let (shown, debug) = (e.to_string(), format!("{e:?}"));
    assert!(!shown.is_empty());
    assert!(debug.contains(&shown), "Debug `{debug}` lacks `{shown}`");
    debug
}

#[test]
fn facade_errors() {
    let e = tracing_insights::filter::Filters::new(
        tracing_subscriber::EnvFilter::new("info"),
        tracing_subscriber::EnvFilter::new("info"),
    )
    .log_handle()
    .reload("info,[")
    .unwrap_err();
    reads_well(&e);
    let init = tracing_insights::InitError::from(e);
    reads_well(&init);
    let boxed: Box<dyn Error> = Box::new(tracing_insights::InitError::AlreadyInstalled);
    assert!(format!("{boxed:?}").contains("from_env()"), "{boxed:?}");
}

#[cfg(feature = "appinsights")]
#[test]
fn app_insights_and_azure_errors() {
    use tracing_insights::appinsights::AppInsightsLayer;
    use tracing_insights::azure::{auth::AuthenticationString, ConnectionString};
    let e = ConnectionString::parse("IngestionEndpoint=http://127.0.0.1:9/").unwrap_err();
    reads_well(&e);
    let e = AuthenticationString::parse("Authorization=Basic").unwrap_err();
    reads_well(&e);
    let e = AppInsightsLayer::builder()
        .with_connection_string("InstrumentationKey=;")
        .build()
        .unwrap_err();
    let debug = reads_well(&e);
    assert!(debug.starts_with("AppInsightsError("), "{debug}");
    let e = tracing_insights::azure::EnvError {
        name: "APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED",
        expected: "true or false",
    };
    reads_well(&e);
    reads_well(&tracing_insights::azure::TokenError(
        "no token: refused".into(),
    ));
}

#[cfg(feature = "live-metrics")]
#[test]
fn live_metrics_errors() {
    let e = tracing_insights::live_metrics::LiveMetricsLayer::builder()
        .with_connection_string("InstrumentationKey=;")
        .build()
        .unwrap_err();
    reads_well(&e);
}

#[cfg(feature = "otlp")]
#[test]
fn otlp_and_export_errors() {
    use tracing_insights::otlp::{OtlpLayer, ShutdownError};
    let e = OtlpLayer::builder()
        .with_endpoint("not a url")
        .build()
        .unwrap_err();
    reads_well(&e);
    for e in [
        ShutdownError::Timeout(std::time::Duration::from_secs(2)),
        ShutdownError::WorkerGone,
        ShutdownError::Export("3 items dropped; last error: connection refused".into()),
    ] {
        reads_well(&e);
    }
}

#[cfg(feature = "presets")]
#[test]
fn preset_errors() {
    let empty: [(&str, &str); 0] = [];
    let e = tracing_insights::presets::Langfuse::from_env_with(&empty).unwrap_err();
    let debug = reads_well(&e);
    assert!(debug.contains("LANGFUSE_PUBLIC_KEY"), "{debug}");
}

#[test]
fn correlation_errors() {
    std::env::set_var("OTEL_TRACES_SAMPLER", "bogus");
    let e = tracing_insights::correlation::sampler_from_env().unwrap_err();
    std::env::remove_var("OTEL_TRACES_SAMPLER");
    reads_well(&e);
}

#[test]
fn telemetry_guard_errors() {
    use std::time::Duration;
    struct Stuck;
    impl tracing_insights::ExporterGuard for Stuck {
        fn flush_within(&self, _: Duration) -> Result<(), Box<dyn Error + Send + Sync>> {
            Ok(())
        }
        fn shutdown_within(self, _: Duration) -> Result<(), Box<dyn Error + Send + Sync>> {
            Err("endpoint refused the connection".into())
        }
        fn stats(&self) -> tracing_insights::ExporterStats {
            tracing_insights::ExporterStats::default()
        }
    }
    let e = tracing_insights::TelemetryGuard::new()
        .with("stuck", Stuck)
        .shutdown(Duration::from_secs(2))
        .unwrap_err();
    let debug = reads_well(&e);
    assert!(debug.contains("stuck: endpoint refused"), "{debug}");
}

#[cfg(feature = "opentelemetry")]
#[test]
fn opentelemetry_errors() {
    reads_well(&tracing_insights::opentelemetry::SharedIdsError);
}

/// A shutdown error says why, in words: an endpoint that never answers is "no answer
/// within …", not the HTTP client's "timeout: global". Only 127.0.0.1 is contacted.
#[cfg(feature = "appinsights")]
#[test]
fn a_shutdown_error_says_why_in_words() {
    use std::time::Duration;
    use tracing_insights_testing::http::{LoopbackServer, Reply};
    use tracing_subscriber::prelude::*;
    let server = LoopbackServer::start(|_| Reply::hang());
    let (layer, guard) = tracing_insights::appinsights::AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey=00000000-0000-4000-8000-00000000cafe;IngestionEndpoint={}/",
            server.origin
        ))
        .with_request_timeout(Duration::from_millis(500))
        .with_retries(1, Duration::from_millis(10))
        .with_offline_storage(false)
        .build()
        .expect("App Insights layer");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights::correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::warn!("lost"));
    let e = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    let debug = reads_well(&e);
    assert!(debug.contains("no answer within 500ms"), "{debug}");
    assert!(!debug.contains("timeout: global"), "{debug}");
}
