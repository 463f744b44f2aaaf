//! `OTEL_SDK_DISABLED=true` and `OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none` on all three turn
//! the layer off: `build()` is `Ok`, no thread starts, no request reaches a loopback
//! receiver, and the guard's `shutdown` is `Ok`. Malformed variables are errors naming them.
//! (This binary builds only disabled layers, so the thread count is its own.)

use std::time::Duration;
use tracing_insights_appinsights::{AppInsightsLayer, Env};
use tracing_insights_testing::loopback_receiver as receiver;
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

/// Threads of this process named by this project (`tracing-insights-*`).
fn our_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("tracing-insigh"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn disabled_with(vars: &[(&str, &str)]) {
    let (port, captured) = receiver();
    let cs = format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}");
    let mut pairs = vec![("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str())];
    pairs.extend_from_slice(vars);
    let before = our_threads();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_env(Env::from_pairs(pairs))
        .with_metric_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(!layer.is_enabled(), "{vars:?}");
    assert_eq!(our_threads(), before, "no thread for a disabled layer");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("GET /x", otel.kind = "server").in_scope(|| {
            tracing::warn!("inside");
            tracing::info!(monotonic_counter.orders = 1);
        });
    });
    guard.flush(Duration::from_secs(1)).unwrap();
    assert_eq!(guard.sent(), 0);
    guard.shutdown(Duration::from_secs(1)).unwrap();
    // Anything the layer had sent would be here well within this time.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        captured.lock().unwrap().is_empty(),
        "{vars:?}: a request left"
    );
}

#[test]
fn sdk_disabled_sends_nothing_and_starts_no_thread() {
    disabled_with(&[("OTEL_SDK_DISABLED", "true")]);
    disabled_with(&[("OTEL_SDK_DISABLED", " TRUE ")]);
    disabled_with(&[
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ]);
}

#[test]
fn sdk_disabled_needs_no_connection_string() {
    // Any EnvSource will do (the trait the OTLP layer takes too): here a plain array.
    let (layer, guard) = AppInsightsLayer::builder()
        .with_env([("OTEL_SDK_DISABLED", "true")])
        .build()
        .unwrap();
    assert!(!layer.is_enabled());
    guard.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn malformed_variables_are_errors_naming_them() {
    let cs = format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:9");
    for (name, value) in [
        ("OTEL_SDK_DISABLED", "yes"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5s"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
        (
            "APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED",
            "1",
        ),
        (
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            "Authorization=Basic",
        ),
    ] {
        let e = AppInsightsLayer::builder()
            .with_connection_string(cs.clone())
            .with_env(Env::from_pairs([(name, value)]))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(name), "{name}={value}: {e}");
    }
    // Not configured at all (and not disabled): the connection string's variable is named.
    let e = AppInsightsLayer::builder()
        .with_env(Env::from_pairs([("OTEL_SDK_DISABLED", "false")]))
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        "{e}"
    );
}
