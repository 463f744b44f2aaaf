//! A `log`-crate record (through `tracing-log`'s bridge) reaches every exporter with its own
//! target, not the bridge's `log`: App Insights' `logger_name`, OTLP's scope; the bridge's
//! `log.*` metadata fields are not properties or attributes. Only 127.0.0.1 is contacted.
//! (Its own test binary: the `log` logger is global.)
#![cfg(all(feature = "log", feature = "appinsights", feature = "otlp"))]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use std::time::Duration;
use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::correlation;
use tracing_insights::otlp::OtlpLayer;
use tracing_insights_testing::loopback_receiver;
use tracing_subscriber::prelude::*;

const KEY: &str = "00000000-0000-4000-8000-00000000cafe";

#[test]
fn log_records_keep_their_target_in_every_exporter() {
    tracing_log::LogTracer::init().expect("the log bridge");
    let (ai_port, ai) = loopback_receiver();
    let (otlp_port, otlp) = loopback_receiver();
    let (ai_layer, ai_guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{ai_port}/"
        ))
        .with_offline_storage(false)
        .build()
        .expect("App Insights layer");
    let (otlp_layer, otlp_guard) = OtlpLayer::builder()
        .with_endpoint(format!("http://127.0.0.1:{otlp_port}"))
        .with_traces(false)
        .with_metrics(false)
        .build()
        .expect("OTLP layer");
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(ai_layer)
        .with(otlp_layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("POST /chat", otel.kind = "server").in_scope(|| {
            log::warn!(target: "upstream::client", "retrying");
            tracing::warn!(target: "app::handler", "native");
        });
    });
    ai_guard
        .shutdown(Duration::from_secs(10))
        .expect("App Insights delivered");
    otlp_guard
        .shutdown(Duration::from_secs(10))
        .expect("OTLP delivered");

    // App Insights: logger_name is the record's target; no log.* properties.
    let envelopes: Vec<serde_json::Value> = ai
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.ends_with("/v2.1/track"))
        .flat_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).unwrap_or_default())
        .filter(|e| e["data"]["baseType"] == "MessageData")
        .collect();
    let message = |text: &str| {
        envelopes
            .iter()
            .find(|e| e["data"]["baseData"]["message"] == text)
            .unwrap_or_else(|| panic!("no MessageData `{text}`: {envelopes:#?}"))
            .clone()
    };
    let bridged = message("retrying");
    let props = &bridged["data"]["baseData"]["properties"];
    assert_eq!(props["logger_name"], "upstream::client", "{bridged:#}");
    for k in ["log.target", "log.module_path", "log.file", "log.line"] {
        assert!(props.get(k).is_none(), "{k} in {props:#}");
    }
    assert_eq!(
        message("native")["data"]["baseData"]["properties"]["logger_name"],
        "app::handler"
    );

    // OTLP: the scope is the record's target; no log.* attributes.
    let mut scopes = Vec::new();
    for r in otlp.lock().unwrap().iter().filter(|r| r.path == "/v1/logs") {
        let req = ExportLogsServiceRequest::decode(r.body.as_slice()).expect("protobuf");
        for sl in req.resource_logs.iter().flat_map(|r| &r.scope_logs) {
            for rec in &sl.log_records {
                let body = format!("{:?}", rec.body);
                let keys: Vec<_> = rec.attributes.iter().map(|a| a.key.clone()).collect();
                let scope = sl
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                scopes.push((body, scope, keys));
            }
        }
    }
    let bridged = scopes
        .iter()
        .find(|(b, _, _)| b.contains("retrying"))
        .unwrap_or_else(|| panic!("no OTLP record `retrying`: {scopes:?}"));
    assert_eq!(bridged.1, "upstream::client", "{bridged:?}");
    assert!(
        !bridged.2.iter().any(|k| k.starts_with("log.")),
        "{bridged:?}"
    );
    let native = scopes
        .iter()
        .find(|(b, _, _)| b.contains("native"))
        .unwrap();
    assert_eq!(native.1, "app::handler");
}
