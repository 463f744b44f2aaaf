//! A registry with `tracing-opentelemetry`'s layer (an SDK tracer exporting through
//! `AppInsightsExporter`) and our correlation + App Insights layers has one trace id: the
//! JSON log line's `operation_Id`, the App Insights layer's envelope and the OpenTelemetry
//! SDK's exported span agree, span ids and parents too. A provider without the shared id
//! generator is refused at start-up.
#![cfg(feature = "tracing-opentelemetry")]

use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::AppInsightsLayer;
use tracing_insights_correlation as correlation;
use tracing_insights_opentelemetry::{shared_ids, AppInsightsExporter, SharedIdGenerator};
use tracing_insights_testing::{loopback_receiver as receiver, CaptureWriter, Captured};
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn envelopes(captured: &Captured) -> Vec<Value> {
    captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect()
}

fn by_type<'a>(envs: &'a [Value], t: &str) -> &'a Value {
    envs.iter()
        .find(|e| e["data"]["baseType"] == t)
        .unwrap_or_else(|| panic!("no {t} in {envs:#?}"))
}

fn cs(port: u16) -> String {
    format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/")
}

#[test]
fn log_line_app_insights_layer_and_sdk_span_share_one_trace_id() {
    let (layer_port, layer_captured) = receiver();
    let (sdk_port, sdk_captured) = receiver();
    let (layer, layer_guard) = AppInsightsLayer::builder()
        .with_connection_string(cs(layer_port))
        .build()
        .unwrap();
    let (exporter, sdk_guard) = AppInsightsExporter::build(
        AppInsightsExporter::builder().with_connection_string(cs(sdk_port)),
    )
    .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(SharedIdGenerator::default())
        .with_simple_exporter(exporter)
        .build();
    let (tracer, ids) = shared_ids(&provider, "app").unwrap();
    let lines = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(correlation::layer().with_id_source(ids))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(correlation::json())
                .with_writer(lines.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "GET /orders",
            otel.kind = "server",
            http.request.method = "GET"
        )
        .in_scope(|| {
            tracing::info_span!(
                "SELECT orders",
                otel.kind = "client",
                db.system.name = "postgresql"
            )
            .in_scope(|| tracing::info!("queried"));
        });
    });
    provider.shutdown().unwrap();
    sdk_guard.shutdown(Duration::from_secs(10)).unwrap();
    layer_guard.shutdown(Duration::from_secs(10)).unwrap();

    let line = lines
        .json_lines()
        .into_iter()
        .find(|l| l.to_string().contains("queried"))
        .expect("the log line");
    let ours = envelopes(&layer_captured);
    let sdk = envelopes(&sdk_captured);
    let trace_id = line["operation_Id"].as_str().unwrap().to_owned();
    for envs in [&ours, &sdk] {
        let req = by_type(envs, "RequestData");
        let dep = by_type(envs, "RemoteDependencyData");
        assert_eq!(req["tags"]["ai.operation.id"], trace_id, "{envs:#?}");
        assert_eq!(dep["tags"]["ai.operation.id"], trace_id, "{envs:#?}");
        assert_eq!(
            dep["tags"]["ai.operation.parentId"],
            req["data"]["baseData"]["id"]
        );
        assert_eq!(line["operation_ParentId"], dep["data"]["baseData"]["id"]);
    }
    assert_eq!(
        by_type(&ours, "RequestData")["data"]["baseData"]["id"],
        by_type(&sdk, "RequestData")["data"]["baseData"]["id"],
        "the same span id on both sides"
    );
    // The private attribute carrying the ids never reaches the SDK's span.
    assert!(!sdk_captured
        .lock()
        .unwrap()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("tracing_insights.ids")));
}

#[test]
fn a_provider_without_the_shared_id_generator_is_an_error_at_start_up() {
    let provider = SdkTracerProvider::builder().build();
    let err = shared_ids(&provider, "app").unwrap_err();
    assert!(err.to_string().contains("SharedIdGenerator"), "{err}");
}
