//! `OTEL_{TRACES,LOGS,METRICS}_EXPORTER=none` turns one signal off each; the others still
//! reach a loopback ingestion endpoint.

use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::{AppInsightsLayer, Env};
use tracing_insights_testing::{loopback_receiver as receiver, Captured};
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn base_types(captured: &Captured) -> Vec<String> {
    captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .map(|e| {
            e["data"]["baseType"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn run(var: &str) -> Vec<String> {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_env(Env::from_pairs([(var, "none")]))
        .with_resource_metric(false)
        .with_metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert!(layer.is_enabled());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("GET /x", otel.kind = "server").in_scope(|| {
            tracing::warn!("inside");
            tracing::info!(monotonic_counter.orders = 1);
        });
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let mut types = base_types(&captured);
    types.sort();
    types
}

#[test]
fn each_exporter_variable_turns_its_signal_off() {
    // The second MetricData is the request's standard metric (traces and metrics on).
    assert_eq!(
        run("UNRELATED"),
        ["MessageData", "MetricData", "MetricData", "RequestData"]
    );
    assert_eq!(run("OTEL_TRACES_EXPORTER"), ["MessageData", "MetricData"]);
    assert_eq!(
        run("OTEL_LOGS_EXPORTER"),
        ["MetricData", "MetricData", "RequestData"]
    );
    // A metric event is not a log when metrics are off.
    assert_eq!(run("OTEL_METRICS_EXPORTER"), ["MessageData", "RequestData"]);
}
