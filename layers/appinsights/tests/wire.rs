//! The layer behind a real subscriber delivers requests and dependencies to a loopback
//! ingestion endpoint, with the correlation layer's ids.

use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::AppInsightsLayer;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, Resource, Sampler};
use tracing_insights_testing::{loopback_receiver as receiver, Captured};
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn envelopes(captured: &Captured) -> Vec<Value> {
    captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| {
            assert_eq!(r.path, "/v2.1/track");
            assert!(r.headers.iter().any(|h| h == "content-encoding: gzip"));
            serde_json::from_slice::<Vec<Value>>(&r.body).unwrap()
        })
        .collect()
}

#[test]
fn request_and_dependency_reach_the_wire_with_the_correlation_trace_id() {
    let (port, captured) = receiver();
    let builder = AppInsightsLayer::builder().with_connection_string(format!(
        "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
    ));
    assert!(
        !format!("{builder:?}").contains("0123abcd"),
        "no key in Debug"
    );
    let (layer, guard) = builder.with_standard_metrics(false).build().unwrap();
    assert!(
        !format!("{layer:?}").contains("0123abcd"),
        "no key in Debug"
    );
    let resource =
        Resource::from_attributes([("service.name", "chat"), ("service.namespace", "ai")]);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_resource(resource))
        .with(layer);
    let (trace_id, request_id) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "POST /chat",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/chat",
            url.full = "https://chat.example.com/chat",
            http.response.status_code = 200,
        );
        let ids = (request.trace_id().unwrap(), request.span_id().unwrap());
        request.in_scope(|| {
            tracing::info_span!(
                "SELECT docs",
                otel.kind = "client",
                db.system.name = "postgresql",
                db.query.text = "SELECT 1",
                server.address = "pg",
            )
            .in_scope(|| tracing::info!(rows = 3, "retrieved"));
        });
        ids
    });
    guard.flush(Duration::from_secs(10)).unwrap();
    // The shared statistics type: the three envelopes (the `_OTELRESOURCE_` metric that
    // starts each request is not an item), at least one request, nothing dropped.
    let stats = guard.stats();
    assert_eq!(
        (stats.produced, stats.sent, stats.dropped()),
        (3, 3, 0),
        "{stats:?}"
    );
    assert!(stats.requests >= 1 && stats.bytes_sent > 0, "{stats:?}");
    assert_eq!(stats.contained_panics, 0);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let find = |name: &str| {
        envs.iter()
            .find(|e| e["name"] == format!("Microsoft.ApplicationInsights.{name}"))
            .unwrap_or_else(|| panic!("no {name} in {envs:#?}"))
    };
    let req = find("Request");
    let dep = find("RemoteDependency");
    let msg = find("Message");
    find("Metric");
    for e in [req, dep, msg] {
        assert_eq!(e["iKey"], KEY);
        assert_eq!(e["tags"]["ai.operation.id"], trace_id.to_string());
        assert_eq!(e["tags"]["ai.cloud.role"], "ai.chat");
    }
    assert_eq!(req["data"]["baseData"]["id"], request_id.to_string());
    assert_eq!(req["data"]["baseData"]["name"], "POST /chat");
    assert_eq!(req["data"]["baseData"]["responseCode"], "200");
    assert_eq!(req["data"]["baseData"]["success"], true);
    assert_eq!(dep["tags"]["ai.operation.parentId"], request_id.to_string());
    assert_eq!(dep["data"]["baseData"]["type"], "postgresql");
    assert_eq!(dep["data"]["baseData"]["target"], "pg");
    assert_eq!(msg["data"]["baseData"]["message"], "retrieved");
    assert_eq!(msg["data"]["baseData"]["properties"]["rows"], "3");
    assert_eq!(
        msg["tags"]["ai.operation.parentId"],
        dep["data"]["baseData"]["id"]
    );
}

#[test]
fn sampled_out_spans_and_their_events_are_not_exported_with_trace_based_log_sampling() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .with_trace_based_sampling_for_logs(true)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::ratio(0.0).unwrap()))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("dropped", otel.kind = "server").in_scope(|| tracing::info!("inside"));
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(envelopes(&captured).is_empty());
}

#[test]
fn bad_connection_strings_are_errors_that_say_what_to_fix() {
    let err = AppInsightsLayer::builder()
        .with_connection_string("InstrumentationKey=nope")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("GUID"), "{err}");
    // Entra ID without a token provider is not an error: the environment's managed
    // identity (a loopback endpoint here; nothing is sent, so nothing is fetched).
    let (layer, _guard) = AppInsightsLayer::builder()
        .with_connection_string(format!("InstrumentationKey={KEY};Authorization=AAD"))
        .with_env(tracing_insights_appinsights::Env::from_pairs([
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
            ("IDENTITY_HEADER", "h"),
        ]))
        .build()
        .unwrap();
    assert!(layer.is_enabled());
}

#[test]
fn huge_unicode_fields_never_panic_and_are_cut_on_char_boundaries() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let euros = "€".repeat(40_000);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("big", otel.name = euros.as_str(), note = euros.as_str())
            .in_scope(|| tracing::info!(exception.message = euros.as_str(), "x"));
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let dep = envs
        .iter()
        .find(|e| e["data"]["baseType"] == "RemoteDependencyData")
        .unwrap();
    assert_eq!(
        dep["data"]["baseData"]["name"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1024
    );
    assert_eq!(
        dep["data"]["baseData"]["properties"]["note"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        8192
    );
    assert_eq!(
        dep["tags"]["ai.operation.name"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1024
    );
}

#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LLM call failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn error_fields_become_exceptions_with_their_chain_and_filters_keep_ids() {
    use tracing_subscriber::filter::filter_fn;
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    // A per-layer filter that hides the "noisy" span and its event from App Insights only.
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(Some(layer).with_filter(filter_fn(|m| m.name() != "noisy" && m.target() != "noisy")));
    let err = Outer(Inner);
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "call",
            otel.kind = "client",
            error.type = "Outer",
            error = tracing::field::Empty
        );
        let trace_id = span.trace_id().unwrap();
        span.in_scope(|| {
            tracing::info_span!("noisy").in_scope(|| tracing::info!(target: "noisy", "hidden"));
            tracing::error!(error = &err as &dyn std::error::Error, "while calling");
        });
        span.record("error", &err as &dyn std::error::Error);
        drop(span);
        trace_id
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    assert!(envs
        .iter()
        .all(|e| e["tags"]["ai.operation.id"] == trace_id.to_string()));
    assert!(!envs
        .iter()
        .any(|e| e["data"]["baseData"]["name"] == "noisy"));
    let exceptions: Vec<&Value> = envs
        .iter()
        .filter(|e| e["data"]["baseType"] == "ExceptionData")
        .collect();
    assert_eq!(exceptions.len(), 2, "{envs:#?}");
    let ex = &exceptions[0]["data"]["baseData"]["exceptions"];
    assert_eq!(ex[0]["message"], "while calling: LLM call failed");
    assert_eq!(ex[1]["message"], "connection reset");
    assert_eq!(ex[1]["outerId"], 0);
    // The span's own error field, at its end, inside it.
    let span_ex = &exceptions[1]["data"]["baseData"]["exceptions"];
    assert_eq!(span_ex[0]["typeName"], "Outer");
    assert_eq!(span_ex[0]["message"], "LLM call failed");
    assert_eq!(span_ex[1]["message"], "connection reset");
    let dep = envs
        .iter()
        .find(|e| e["data"]["baseType"] == "RemoteDependencyData")
        .unwrap();
    assert_eq!(
        exceptions[1]["tags"]["ai.operation.parentId"],
        dep["data"]["baseData"]["id"]
    );
    assert_eq!(dep["data"]["baseData"]["success"], false);
}

/// `Option<L>` does not forward `on_register_dispatch`: the layer must still adopt the
/// correlation layer's resource (through `on_layer`), even for a log line written before any
/// span exists, or every envelope would carry the environment's `unknown_service:…` role.
#[test]
fn an_optional_layer_takes_the_correlation_resource_before_any_span() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer().with_resource(Resource::from_attributes([
                ("service.name", "chat-api"),
                ("service.namespace", "ai"),
            ])),
        )
        .with(Some(
            layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        ));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("starting, before any span");
        tracing::info_span!("POST /chat", otel.kind = "server").in_scope(|| {});
    });
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let envs = envelopes(&captured);
    assert_eq!(envs.len(), 2, "{envs:?}");
    for e in &envs {
        assert_eq!(e["tags"]["ai.cloud.role"], "ai.chat-api", "{e}");
    }
}

/// `with_resource` is a fallback: with a correlation layer stacked its resource names the
/// role; without one, the builder's does.
#[test]
fn with_resource_is_used_only_without_a_correlation_layer() {
    let role_of = |with_correlation: bool| {
        let (port, captured) = receiver();
        let (layer, guard) = AppInsightsLayer::builder()
            .with_connection_string(format!(
                "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
            ))
            .with_resource(Resource::from_attributes([(
                "service.name",
                "from-builder",
            )]))
            .with_resource_metric(false)
            .build()
            .unwrap();
        let correlation = with_correlation.then(|| {
            correlation::layer().with_resource(Resource::from_attributes([(
                "service.name",
                "from-correlation",
            )]))
        });
        let subscriber = tracing_subscriber::registry().with(correlation).with(layer);
        tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
        guard.shutdown(Duration::from_secs(10)).unwrap();
        let envs = envelopes(&captured);
        assert_eq!(envs.len(), 1, "{envs:#?}");
        envs[0]["tags"]["ai.cloud.role"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(role_of(true), "from-correlation");
    assert_eq!(role_of(false), "from-builder");
}

/// A span's explicit error status (`otel.status_code = "error"`) survives the correlation
/// layer's finishing of the record at close: the dependency is a failure on the wire.
#[test]
fn an_explicit_error_status_makes_a_failed_dependency() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
        ))
        .with_resource_metric(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("failed", otel.kind = "client", otel.status_code = "error")
            .in_scope(|| {});
        tracing::info_span!("fine", otel.kind = "client").in_scope(|| {});
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let success = |name: &str| {
        envs.iter()
            .find(|e| e["data"]["baseData"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {envs:#?}"))["data"]["baseData"]["success"]
            .clone()
    };
    assert_eq!(success("failed"), false);
    assert_eq!(success("fine"), true);
}
