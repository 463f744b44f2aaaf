//! GenAI spans on the wire (a loopback ingestion endpoint, decoded): main-agent attribution
//! from the parent span, as Microsoft's distro adds it, also on log records.

use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::AppInsightsLayer;
use tracing_insights_correlation as correlation;
use tracing_insights_testing::loopback_receiver as receiver;
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

#[test]
fn spans_under_an_agent_carry_the_main_agent() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "invoke_agent planner",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "planner",
            gen_ai.agent.id = "p-1",
            gen_ai.conversation.id = "conv-7"
        )
        .in_scope(|| {
            tracing::info_span!(
                "chat gpt-4o",
                otel.kind = "client",
                gen_ai.provider.name = "openai"
            )
            .in_scope(|| {
                tracing::info!("model answered");
                tracing::info_span!("execute_tool search").in_scope(|| {});
            });
        });
        tracing::info_span!("unrelated").in_scope(|| {});
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs: Vec<Value> = captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect();
    let props = |name: &str| {
        envs.iter()
            .find(|e| e["data"]["baseData"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {envs:#?}"))["data"]["baseData"]
            ["properties"]
            .clone()
    };
    for name in ["invoke_agent planner", "chat gpt-4o", "execute_tool search"] {
        let p = props(name);
        assert_eq!(
            p["microsoft.gen_ai.main_agent.name"], "planner",
            "{name}: {p:#}"
        );
        assert_eq!(p["microsoft.gen_ai.main_agent.id"], "p-1");
        assert_eq!(p["microsoft.gen_ai.main_agent.conversation_id"], "conv-7");
        assert!(p.get("microsoft.gen_ai.main_agent.version").is_none());
    }
    assert!(props("unrelated")
        .get("microsoft.gen_ai.main_agent.name")
        .is_none());
    // A log record gets the attribution of the span it is in.
    let log = envs
        .iter()
        .find(|e| e["data"]["baseData"]["message"] == "model answered")
        .unwrap();
    let p = &log["data"]["baseData"]["properties"];
    assert_eq!(p["microsoft.gen_ai.main_agent.name"], "planner", "{p:#}");
    assert_eq!(p["microsoft.gen_ai.main_agent.conversation_id"], "conv-7");
}

/// An agent run, the same callsites every call.
fn agent_run() {
    tracing::info_span!(
        "invoke_agent early",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = "early-bird",
    )
    .in_scope(|| tracing::info_span!("chat early").in_scope(|| {}));
}

#[test]
fn callsites_hit_before_the_layer_existed_still_attribute() {
    // New spans skip the attribution lookup until a span callsite declaring a GenAI field
    // is registered; callsites hit before the subscriber existed are registered with it
    // when it is made, so their spans are still attributed.
    agent_run();
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, agent_run);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs: Vec<Value> = captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect();
    let chat = envs
        .iter()
        .find(|e| e["data"]["baseData"]["name"] == "chat early")
        .unwrap_or_else(|| panic!("chat early missing: {envs:#?}"));
    assert_eq!(
        chat["data"]["baseData"]["properties"]["microsoft.gen_ai.main_agent.name"],
        "early-bird"
    );
}
