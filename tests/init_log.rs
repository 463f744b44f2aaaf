//! `init()` installs the global subscriber and the `log` bridge: a `log::warn!` inside a span
//! becomes a JSON line with the record's own target and the span's `operation_Id`. (Its own
//! test binary: a global subscriber can be installed once per process.)
#![cfg(feature = "log")]

use tracing_insights::correlation::CorrelationSpanExt;
use tracing_insights::{InitError, Telemetry};
use tracing_insights_testing::CaptureWriter;

#[test]
fn init_installs_the_subscriber_and_the_log_bridge() {
    for var in [
        "RUST_LOG",
        "OTEL_SDK_DISABLED",
        "TRACING_INSIGHTS_LOG_FORMAT",
    ] {
        std::env::remove_var(var);
    }
    let out = CaptureWriter::new();
    let guard = Telemetry::builder()
        .with_log_writer(out.clone())
        .with_exporters(false)
        .with_waterfall(false)
        .init()
        .unwrap();
    let request = tracing::info_span!("POST /chat", otel.kind = "server");
    let trace = request.trace_id().unwrap();
    request.in_scope(|| log::warn!(target: "upstream::client", "retrying"));

    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["target"], "upstream::client");
    assert_eq!(lines[0]["fields"]["message"], "retrying");
    assert_eq!(lines[0]["operation_Id"], trace.to_string());

    let again = Telemetry::builder().with_exporters(false).init();
    assert!(matches!(again, Err(InitError::AlreadyInstalled)));
    guard.shutdown(std::time::Duration::from_secs(5)).unwrap();
}
