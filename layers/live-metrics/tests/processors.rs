//! Document processors on the wire: a loopback QuickPulse service that subscribes gets
//! posts whose sample documents were edited or dropped by the processors, while the
//! counters still count every item; a panicking processor loses only its document
//! (counted). Only 127.0.0.1 is contacted.

mod common;

use common::{metric, FakeQuickPulse};
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::{Document, DropReason, LiveMetricsLayer};
use tracing_subscriber::prelude::*;

#[test]
fn processors_edit_and_drop_documents_before_they_are_posted() {
    let service = FakeQuickPulse::start();
    let cs = service.connection_string();
    let (layer, guard) = LiveMetricsLayer::builder()
        .with_connection_string(cs)
        .with_processor(|doc: &mut Document<'_>| {
            if doc.field("Name") == Some("boom") {
                panic!("a processor bug");
            }
            true
        })
        // Dependencies are not sampled; their counters stay.
        .with_processor(|doc: &mut Document<'_>| doc.document_type() != Some("RemoteDependency"))
        .with_processor(|doc: &mut Document<'_>| {
            if doc.field("Message").is_some_and(|m| m.contains('@')) {
                doc.set_field("Message", "REDACTED");
            }
            doc.remove_field("Url");
            true
        })
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer.clone());
    let _d = tracing::subscriber::set_default(subscriber);

    let mut docs: Vec<Value> = Vec::new();
    let mut dependency_rate = 0.0_f64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let seen = |docs: &[Value], ty: &str| docs.iter().any(|d| d["DocumentType"] == ty);
    while Instant::now() < deadline
        && !(seen(&docs, "Request")
            && seen(&docs, "Trace")
            && dependency_rate > 0.0
            && guard.stats().contained_panics > 0)
    {
        tracing::info_span!("boom", otel.kind = "server").in_scope(|| {});
        tracing::info_span!(
            "GET /chat",
            otel.kind = "server",
            http.request.method = "GET",
            url.full = "http://127.0.0.1/chat?user=bob",
            http.response.status_code = 200
        )
        .in_scope(|| {
            tracing::info_span!(
                "POST",
                otel.kind = "client",
                http.request.method = "POST",
                url.full = "http://127.0.0.1/v1/chat",
                http.response.status_code = 200
            )
            .in_scope(|| {});
            tracing::info!("answer mailed to bob@example.com");
        });
        while let Some(p) = service.next_post(Duration::from_millis(20)) {
            dependency_rate =
                dependency_rate.max(metric(&p, "\\ApplicationInsights\\Dependency Calls/Sec"));
            docs.extend(p["Documents"].as_array().cloned().unwrap_or_default());
        }
    }
    let stats = guard.stats();
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(seen(&docs, "Request"), "{docs:?}");
    assert!(dependency_rate > 0.0, "dependencies are still counted");
    assert!(
        !seen(&docs, "RemoteDependency"),
        "dropped by a processor: {docs:?}"
    );
    assert!(!docs.iter().any(|d| d["Name"] == "boom"), "{docs:?}");
    let request = docs
        .iter()
        .find(|d| d["DocumentType"] == "Request")
        .unwrap();
    assert_eq!(request["Name"], "GET /chat");
    assert!(request.get("Url").is_none(), "{request}");
    let traces: Vec<&Value> = docs
        .iter()
        .filter(|d| d["DocumentType"] == "Trace")
        .collect();
    assert!(
        traces.iter().all(|d| d["Message"] == "REDACTED"),
        "{traces:?}"
    );
    assert!(!Value::Array(docs.clone()).to_string().contains("bob@"));
    assert!(stats.contained_panics >= 1, "{stats:?}");
    assert!(
        stats.dropped_by(DropReason::Processor) > stats.contained_panics,
        "{stats:?}"
    );
}
