//! Records from the `log` crate (through `tracing-log`'s `LogTracer`) show their own target,
//! module, file and line in the JSON and text formats, not the bridge's `log` target and
//! `log.*` fields.

use tracing_insights_correlation as correlation;
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::prelude::*;

#[test]
fn a_log_warn_line_carries_the_log_target() {
    // `LogTracer` forwards `log` records to the current `tracing` dispatcher.
    tracing_log::LogTracer::init().expect("LogTracer");
    let json = CaptureWriter::new();
    let text = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(
            correlation::json()
                .with_file(true)
                .with_line_number(true)
                .layer()
                .with_writer(json.clone()),
        )
        .with(correlation::text().layer().with_writer(text.clone()));
    let (trace, line) = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        let line = line!() + 1;
        log::warn!(target: "hyper::proto", "connection reset, {} retries", 3);
        log::info!("plain");
        (
            correlation::CorrelationSpanExt::trace_id(&span).unwrap(),
            line,
        )
    });

    let lines = json.json_lines();
    assert_eq!(lines.len(), 2, "{}", json.contents());
    let warn = &lines[0];
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["target"], "hyper::proto");
    assert_eq!(warn["fields"]["message"], "connection reset, 3 retries");
    assert!(
        warn["fields"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("log.")),
        "{warn}"
    );
    assert!(warn["filename"]
        .as_str()
        .unwrap()
        .ends_with("log_bridge.rs"));
    assert_eq!(warn["line_number"], line);
    assert_eq!(warn["operation_Id"], trace.to_string());
    // Without an explicit target, a `log` record's target is its module path.
    assert_eq!(lines[1]["target"], "log_bridge");

    let text = text.contents();
    let first = text.lines().next().unwrap();
    assert!(
        first.contains(" WARN request: hyper::proto: connection reset, 3 retries"),
        "{first}"
    );
    assert!(!first.contains("log."), "{first}");
    assert!(
        first.ends_with(&format!("operation_Id={trace} operation_ParentId={}", {
            // The span id is the line's parent: read it from the JSON line.
            lines[0]["operation_ParentId"].as_str().unwrap()
        }))
    );
}
