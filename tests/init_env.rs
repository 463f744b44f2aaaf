//! One test per row of the environment table in the facade's docs: the right layers on, and
//! a missing or malformed value is an error naming the variable. Exporters point at loopback
//! receivers, and what they received is decoded.
//!
//! The tests change the process environment, so they run one at a time (a lock) and each
//! starts from a clean slate.
#![cfg(feature = "presets")]
// Some helpers serve only the exporter rows, compiled with their features.
#![cfg_attr(not(feature = "otlp"), allow(unused))]

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing_insights::correlation::CorrelationSpanExt;
use tracing_insights::{InitError, Telemetry, TelemetryGuard, TelemetryLayer};
use tracing_insights_testing::{loopback_receiver, CaptureWriter, Captured};
use tracing_subscriber::prelude::*;
use tracing_subscriber::Registry;

static ENV: Mutex<()> = Mutex::new(());

/// Takes the environment lock and removes every variable the facade reads.
fn clean_env() -> MutexGuard<'static, ()> {
    let lock = ENV.lock().unwrap_or_else(PoisonError::into_inner);
    let triggers: Vec<&str> = tracing_insights::presets::TRIGGERS
        .iter()
        .flat_map(|t| t.vars.iter().copied())
        .collect();
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_")
            || k.starts_with("APPLICATIONINSIGHTS_")
            || k.starts_with("TRACING_INSIGHTS_")
            || k == "RUST_LOG"
            || triggers.contains(&k.as_str())
        {
            std::env::remove_var(k);
        }
    }
    // The start-up check's empty exports would show up in the receivers (tests/init_check.rs
    // covers it).
    std::env::set_var("TRACING_INSIGHTS_CHECK", "false");
    lock
}

fn set(vars: &[(&str, &str)]) {
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
}

struct Run {
    guard: TelemetryGuard,
    logs: CaptureWriter,
    waterfall: CaptureWriter,
}

fn build() -> Result<(TelemetryLayer<Registry>, Run), InitError> {
    let logs = CaptureWriter::new();
    let waterfall = CaptureWriter::new();
    let (layer, guard) = Telemetry::builder()
        .with_log_writer(logs.clone())
        .with_waterfall_writer(waterfall.clone())
        .build::<Registry>()?;
    Ok((
        layer,
        Run {
            guard,
            logs,
            waterfall,
        },
    ))
}

/// One request (below) under a subscriber made of `layer`.
fn request(layer: TelemetryLayer<Registry>) {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), one_request);
}

/// A request as ai_service makes it: an INFO server span, a DEBUG and an INFO line, a WARN
/// line, a metric event.
fn one_request() {
    let span = tracing::info_span!(
        "request",
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/chat",
        http.response.status_code = 200
    );
    let _e = span.enter();
    tracing::debug!("debug line");
    tracing::info!("info line");
    tracing::warn!("warn line");
    tracing::info!(histogram.request.size = 12u64, "metric");
}

fn err(result: Result<(TelemetryLayer<Registry>, Run), InitError>) -> String {
    match result {
        Ok((_, run)) => panic!("expected an error, got exporters {:?}", run.guard.names()),
        Err(e) => e.to_string(),
    }
}

fn paths(captured: &Captured) -> Vec<String> {
    captured
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect()
}

#[test]
fn nothing_configured_writes_json_lines_with_ids_and_the_waterfall() {
    let _env = clean_env();
    let (layer, run) = build().unwrap();
    assert!(run.guard.is_empty(), "{:?}", run.guard.names());
    request(layer);
    let lines = run.logs.json_lines();
    assert_eq!(lines.len(), 3, "{lines:?}"); // info, warn, metric at the default INFO
    let id = lines[0]["operation_Id"].as_str().unwrap().to_owned();
    assert!(lines.iter().all(|l| l["operation_Id"] == id.as_str()));
    assert!(run
        .waterfall
        .contents()
        .starts_with(&format!("trace {id}\n")));
}

#[cfg(all(feature = "appinsights", feature = "live-metrics"))]
#[test]
fn connection_string_turns_on_app_insights_and_live_metrics() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    let cs = format!(
        "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:{port}/;LiveEndpoint=http://127.0.0.1:{port}/"
    );
    set(&[
        ("APPLICATIONINSIGHTS_CONNECTION_STRING", &cs),
        ("OTEL_SERVICE_NAME", "checkout"),
    ]);
    let (layer, run) = build().unwrap();
    assert_eq!(run.guard.names(), ["appinsights", "live-metrics"]);
    request(layer);
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    let bodies: String = got
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/v2.1/track")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(bodies.contains("\"RequestData\""), "{bodies}");
    // The resource from OTEL_SERVICE_NAME, as the exporter reports it.
    assert!(
        bodies.contains("\"ai.cloud.role\":\"checkout\""),
        "{bodies}"
    );
    assert!(
        run.waterfall.contents().is_empty(),
        "no waterfall when exporting"
    );
}

#[cfg(all(feature = "appinsights", feature = "live-metrics"))]
#[test]
fn live_metrics_can_be_turned_off_and_a_bad_value_names_the_variable() {
    let _env = clean_env();
    set(&[
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:9/",
        ),
        ("APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED", "false"),
    ]);
    let (_, run) = build().unwrap();
    assert_eq!(run.guard.names(), ["appinsights"]);
    drop(run.guard.shutdown(Duration::from_secs(5)));
    set(&[("APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED", "nope")]);
    assert!(err(build()).contains("APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED"));
}

#[cfg(all(feature = "appinsights", feature = "live-metrics"))]
#[test]
fn a_malformed_connection_string_names_the_variable() {
    let _env = clean_env();
    set(&[(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "IngestionEndpoint=http://127.0.0.1:9/",
    )]);
    let e = err(build());
    assert!(e.contains("APPLICATIONINSIGHTS_CONNECTION_STRING"), "{e}");
}

#[cfg(feature = "otlp")]
#[test]
fn otlp_endpoint_turns_on_otlp_for_every_signal() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    set(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    )]);
    let (layer, run) = build().unwrap();
    assert_eq!(run.guard.names(), ["otlp"]);
    request(layer);
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    let mut p = paths(&got);
    p.sort();
    p.dedup();
    assert_eq!(p, ["/v1/logs", "/v1/metrics", "/v1/traces"]);
}

#[cfg(feature = "otlp")]
#[test]
fn a_signal_endpoint_turns_on_that_signal_only_never_localhost() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    set(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        &format!("http://127.0.0.1:{port}/v1/traces"),
    )]);
    let (layer, run) = build().unwrap();
    assert_eq!(run.guard.names(), ["otlp"]);
    request(layer);
    // Logs or metrics sent to localhost:4318 would fail this shutdown (nothing listens).
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    let p = paths(&got);
    assert!(
        !p.is_empty() && p.iter().all(|p| p == "/v1/traces"),
        "{p:?}"
    );
}

#[cfg(feature = "otlp")]
#[test]
fn a_malformed_otlp_variable_names_it() {
    let _env = clean_env();
    set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
    ]);
    assert!(err(build()).contains("OTEL_EXPORTER_OTLP_PROTOCOL"));
}

#[cfg(feature = "otlp")]
#[test]
fn a_preset_trigger_turns_on_that_preset() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    set(&[(
        "SENTRY_DSN",
        &format!("http://publickey@127.0.0.1:{port}/42"),
    )]);
    let (layer, run) = build().unwrap();
    assert_eq!(run.guard.names(), ["sentry"]);
    request(layer);
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    let p = paths(&got);
    assert!(
        p.contains(&"/api/42/integration/otlp/v1/traces".to_owned()),
        "{p:?}"
    );
}

#[cfg(feature = "otlp")]
#[test]
fn a_preset_missing_its_companion_variable_names_it() {
    let _env = clean_env();
    set(&[("GRAFANA_CLOUD_TOKEN", "secret-token")]);
    let e = err(build());
    assert!(e.contains("GRAFANA_CLOUD_INSTANCE_ID"), "{e}");
    assert!(!e.contains("secret-token"), "{e}");
}

#[test]
fn sdk_disabled_turns_every_exporter_off() {
    let _env = clean_env();
    set(&[
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:9/",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("SENTRY_DSN", "http://key@127.0.0.1:9/1"),
        ("OTEL_SDK_DISABLED", "true"),
    ]);
    let (layer, run) = build().unwrap();
    assert!(run.guard.is_empty(), "{:?}", run.guard.names());
    request(layer);
    assert_eq!(run.logs.json_lines().len(), 3, "log lines stay");
    set(&[("OTEL_SDK_DISABLED", "yes")]);
    assert!(err(build()).contains("OTEL_SDK_DISABLED"));
}

#[cfg(feature = "otlp")]
#[test]
fn every_signal_exporter_none_turns_otlp_off() {
    let _env = clean_env();
    set(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ]);
    let (_, run) = build().unwrap();
    assert!(run.guard.is_empty(), "{:?}", run.guard.names());
    set(&[("OTEL_TRACES_EXPORTER", "bogus")]);
    assert!(err(build()).contains("OTEL_TRACES_EXPORTER"));
}

#[cfg(feature = "otlp")]
#[test]
fn traces_sampler_is_read_and_a_bad_value_names_the_variable() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    set(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            &format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ]);
    let (layer, run) = build().unwrap();
    request(layer);
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    assert!(!paths(&got).contains(&"/v1/traces".to_owned()));
    // Log lines keep their ids whether the trace is sampled or not.
    assert!(run
        .logs
        .json_lines()
        .iter()
        .all(|l| l["operation_Id"].is_string()));
    set(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
    assert!(err(build()).contains("OTEL_TRACES_SAMPLER"));
}

#[test]
fn rust_log_filters_log_lines_not_spans() {
    let _env = clean_env();
    set(&[("RUST_LOG", "warn")]);
    let (layer, run) = build().unwrap();
    request(layer);
    let lines = run.logs.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "WARN");
    let id = lines[0]["operation_Id"]
        .as_str()
        .expect("operation_Id on the WARN line");
    // The INFO request span is still there: the waterfall shows it.
    assert!(run
        .waterfall
        .contents()
        .starts_with(&format!("trace {id}\n")));
    set(&[("RUST_LOG", "warn,=[")]);
    assert!(err(build()).contains("RUST_LOG"));
}

#[cfg(feature = "appinsights")]
#[test]
fn rust_log_warn_still_exports_every_request() {
    let _env = clean_env();
    let (port, got) = loopback_receiver();
    set(&[
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            &format!("InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:{port}/"),
        ),
        ("APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED", "false"),
        ("RUST_LOG", "warn"),
    ]);
    let (layer, run) = build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..3 {
            one_request();
        }
    });
    run.guard.shutdown(Duration::from_secs(30)).unwrap();
    let bodies: String = got
        .lock()
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies.matches("\"RequestData\"").count(), 3, "{bodies}");
    // Exported as logs: only the WARN line of each request.
    assert_eq!(bodies.matches("\"MessageData\"").count(), 3, "{bodies}");
}

#[test]
fn span_context_directives_in_rust_log_still_work() {
    let _env = clean_env();
    set(&[("RUST_LOG", "warn,[request]=debug")]);
    let (layer, run) = build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::debug!("outside: hidden");
        tracing::info_span!("request").in_scope(|| tracing::debug!("inside: shown"));
    });
    let lines = run.logs.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["message"], "inside: shown");
}

#[test]
fn the_span_filter_has_its_own_variable() {
    let _env = clean_env();
    set(&[("TRACING_INSIGHTS_SPANS", "warn")]);
    let (layer, run) = build().unwrap();
    request(layer);
    // The INFO span is filtered out: lines have no ids and no trace is shown.
    let lines = run.logs.json_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| l.get("operation_Id").is_none()));
    assert!(run.waterfall.contents().is_empty());
    set(&[("TRACING_INSIGHTS_SPANS", "info,[")]);
    assert!(err(build()).contains("TRACING_INSIGHTS_SPANS"));
}

#[test]
fn the_log_filter_reloads_at_run_time_and_traces_are_unaffected() {
    let _env = clean_env();
    set(&[("RUST_LOG", "warn")]);
    let (layer, run) = build().unwrap();
    let handle = run.guard.log_filter().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("request");
        let _e = span.enter();
        tracing::info!("before: hidden");
        handle.reload("info").unwrap();
        // Turned down to warn, a new request still has ids to forward.
        handle.reload("warn").unwrap();
        let next = tracing::info_span!(parent: None, "next request", otel.kind = "server");
        assert!(
            next.traceparent().is_some(),
            "no traceparent under a warn log filter"
        );
        handle.reload("info").unwrap();
        tracing::info!("after: shown");
        assert!(handle.reload("info,=[").is_err());
        tracing::info!("still shown");
    });
    let lines = run.logs.json_lines();
    let messages: Vec<_> = lines
        .iter()
        .map(|l| l["fields"]["message"].clone())
        .collect();
    assert_eq!(messages, ["after: shown", "still shown"]);
    assert_eq!(lines[0]["operation_Id"], lines[1]["operation_Id"]);
    // Both requests' traces: a header and one span each.
    assert_eq!(run.waterfall.contents().lines().count(), 4);
}

#[test]
fn log_format_and_waterfall_variables() {
    let _env = clean_env();
    set(&[
        ("TRACING_INSIGHTS_LOG_FORMAT", "text"),
        ("TRACING_INSIGHTS_WATERFALL", "false"),
    ]);
    let (layer, run) = build().unwrap();
    request(layer);
    let text = run.logs.contents();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("operation_Id="), "{text}");
    assert!(run.waterfall.contents().is_empty());
    set(&[("TRACING_INSIGHTS_LOG_FORMAT", "yaml")]);
    assert!(err(build()).contains("TRACING_INSIGHTS_LOG_FORMAT"));
    set(&[
        ("TRACING_INSIGHTS_LOG_FORMAT", "json"),
        ("TRACING_INSIGHTS_WATERFALL", "maybe"),
    ]);
    assert!(err(build()).contains("TRACING_INSIGHTS_WATERFALL"));
}
