//! Telemetry processors on the wire (a loopback ingestion endpoint, decoded): the ready-made
//! ones, a dropping one, and a panicking one (its item is dropped and counted; the others
//! go on).

use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::processors::{
    AddProperties, RedactGenAiContent, RedactMatching, RedactUrlQuery,
};
use tracing_insights_appinsights::{
    AppInsightsBuilder, AppInsightsLayer, Telemetry, TelemetryKind,
};
use tracing_insights_correlation as correlation;
use tracing_insights_testing::loopback_receiver as receiver;
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

/// Runs a request with an HTTP and an LLM dependency, a log line and a metric through a
/// layer built by `f`; returns the envelopes and the guard's processor-dropped and
/// contained-panic counts.
fn run(f: impl FnOnce(AppInsightsBuilder) -> AppInsightsBuilder) -> (Vec<Value>, u64, u64) {
    let (port, captured) = receiver();
    let builder = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .with_performance_counters(false)
        .with_metric_interval(Duration::from_secs(3600));
    let (layer, guard) = f(builder).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "GET /orders",
            otel.kind = "server",
            http.request.method = "GET",
            url.full = "https://shop/orders?user=bob&token=s3cret",
            http.response.status_code = 200_i64
        )
        .in_scope(|| {
            tracing::info_span!(
                "GET",
                otel.kind = "client",
                http.request.method = "GET",
                url.full = "https://api/items?key=abc"
            )
            .in_scope(|| {});
            tracing::info_span!(
                "chat gpt-4o",
                otel.kind = "client",
                gen_ai.provider.name = "openai",
                gen_ai.request.model = "gpt-4o",
                gen_ai.input.messages =
                    r#"[{"role":"user","parts":[{"content":"my card is 4111"}]}]"#,
                gen_ai.output.messages = "[]"
            )
            .in_scope(|| {});
            tracing::info!(
                customer = "bob@example.com",
                "order placed by bob@example.com"
            );
            tracing::info!(monotonic_counter.orders = 1_u64);
        });
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    let dropped = guard.processor_dropped();
    let panics = guard.contained_panics();
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect();
    (envs, dropped, panics)
}

fn of<'a>(envs: &'a [Value], base_type: &str) -> Vec<&'a Value> {
    envs.iter()
        .filter(|e| e["data"]["baseType"] == base_type)
        .collect()
}

fn bd(e: &Value) -> &Value {
    &e["data"]["baseData"]
}

#[test]
fn add_properties_reaches_every_item() {
    let (envs, _, _) = run(|b| b.with_processor(AddProperties::new([("deployment", "blue")])));
    assert_eq!(envs.len(), 5, "{envs:#?}");
    for e in &envs {
        assert_eq!(bd(e)["properties"]["deployment"], "blue", "{e:#}");
    }
}

#[test]
fn redact_genai_content_keeps_the_rest_of_the_span() {
    let (envs, _, _) = run(|b| b.with_processor(RedactGenAiContent));
    let llm = of(&envs, "RemoteDependencyData")
        .into_iter()
        .find(|e| bd(e)["properties"]["gen_ai.request.model"] == "gpt-4o")
        .unwrap();
    assert_eq!(bd(llm)["properties"]["gen_ai.input.messages"], "REDACTED");
    assert_eq!(bd(llm)["properties"]["gen_ai.output.messages"], "REDACTED");
    assert_eq!(bd(llm)["type"], "GenAI | openai");
    assert!(!serde_json::to_string(&envs).unwrap().contains("4111"));
}

#[test]
fn redact_url_query_values() {
    let (envs, _, _) = run(|b| b.with_processor(RedactUrlQuery));
    let req = of(&envs, "RequestData")[0];
    assert_eq!(
        bd(req)["url"],
        "https://shop/orders?user=REDACTED&token=REDACTED"
    );
    let http = of(&envs, "RemoteDependencyData")
        .into_iter()
        .find(|e| bd(e)["type"] == "HTTP")
        .unwrap();
    assert_eq!(bd(http)["data"], "https://api/items?key=REDACTED");
    let all = serde_json::to_string(&envs).unwrap();
    assert!(!all.contains("s3cret") && !all.contains("key=abc"), "{all}");
}

#[test]
fn redact_values_matching_a_pattern() {
    let (envs, _, _) = run(|b| b.with_processor(RedactMatching::glob("*@*.*")));
    let msg = of(&envs, "MessageData")[0];
    assert_eq!(bd(msg)["properties"]["customer"], "REDACTED");
    assert_eq!(bd(msg)["message"], "REDACTED");
    assert!(!serde_json::to_string(&envs)
        .unwrap()
        .contains("example.com"));
}

#[test]
fn a_closure_drops_and_retypes_and_a_panicking_processor_loses_only_its_item() {
    let (envs, dropped, panics) = run(|b| {
        b.with_processor(|item: &mut Telemetry<'_>| {
            if item.kind() == Some(TelemetryKind::Message) {
                panic!("processor bug");
            }
            true
        })
        .with_processor(|item: &mut Telemetry<'_>| {
            if item.kind() == Some(TelemetryKind::Metric) {
                return false;
            }
            if item.field("type").and_then(Value::as_str) == Some("HTTP") {
                item.set_field("type", "Inventory API");
                item.set_tag("ai.user.id", "u-1");
            }
            true
        })
    });
    assert!(
        of(&envs, "MessageData").is_empty(),
        "the panicking processor's item is dropped"
    );
    assert!(of(&envs, "MetricData").is_empty(), "dropped by the closure");
    assert_eq!(of(&envs, "RequestData").len(), 1);
    let http = of(&envs, "RemoteDependencyData")
        .into_iter()
        .find(|e| bd(e)["type"] == "Inventory API")
        .expect("re-typed");
    assert_eq!(http["tags"]["ai.user.id"], "u-1");
    assert_eq!(dropped, 2, "one dropped by choice, one by a panic");
    assert_eq!(panics, 1);
}
