//! Code instrumented only with the OpenTelemetry API, called inside one of our `tracing`
//! spans, starts children of that span and forwards its trace: the App Insights layer exports
//! our span and `AppInsightsExporter` the OpenTelemetry child, with the right parent, on the
//! wire. And the propagator's round trip: extract a `traceparent`, continue it in a
//! `tracing` span, inject it again from inside that span.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::Context;
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tracing_insights_appinsights::AppInsightsLayer;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
use tracing_insights_opentelemetry::{
    set_parent, AppInsightsExporter, ContextLayer, InsightsPropagator,
};
use tracing_insights_testing::{loopback_receiver as receiver, Captured};
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

fn named<'a>(envs: &'a [Value], name: &str) -> &'a Value {
    envs.iter()
        .find(|e| e["data"]["baseData"]["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {envs:#?}"))
}

/// A library as crates write them: only the OpenTelemetry API, the global tracer and the
/// global propagator. Returns the headers it would send.
fn library_fetch(url: &str) -> HashMap<String, String> {
    let tracer = opentelemetry::global::tracer("contoso-client");
    let span = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("url.full", url.to_owned()),
            KeyValue::new("http.request.method", "GET"),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
    cx.span().end();
    headers
}

/// Headers injected by OpenTelemetry API code with no OpenTelemetry span of its own.
fn library_inject() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject(&mut headers));
    headers
}

#[test]
fn opentelemetry_api_code_inside_our_span_is_its_child_on_both_paths() {
    let (port, captured) = receiver();
    let cs = format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/");
    let (layer, layer_guard) = AppInsightsLayer::builder()
        .with_connection_string(cs.clone())
        .build()
        .unwrap();
    let (exporter, sdk_guard) =
        AppInsightsExporter::build(AppInsightsExporter::builder().with_connection_string(cs))
            .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(InsightsPropagator::new());

    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer)
        .with(ContextLayer);
    let (ours, headers, bare) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("POST /chat", otel.kind = "server");
        let ours = request.span_context().unwrap();
        let (headers, bare) =
            request.in_scope(|| (library_fetch("https://contoso.example/a"), library_inject()));
        drop(request);
        (ours, headers, bare)
    });
    provider.shutdown().unwrap();
    sdk_guard.shutdown(Duration::from_secs(10)).unwrap();
    layer_guard.shutdown(Duration::from_secs(10)).unwrap();

    let envs = envelopes(&captured);
    let request = named(&envs, "POST /chat");
    let child = named(&envs, "GET /a");
    let trace_id = ours.trace_id.to_string();
    assert_eq!(request["tags"]["ai.operation.id"], trace_id);
    assert_eq!(child["data"]["baseType"], "RemoteDependencyData");
    assert_eq!(
        child["tags"]["ai.operation.id"], trace_id,
        "the child is in our trace"
    );
    assert_eq!(
        child["tags"]["ai.operation.parentId"],
        ours.span_id.to_string(),
        "the child's parent is our span"
    );
    let child_id = child["data"]["baseData"]["id"].as_str().unwrap();
    // The library forwards our trace, with its own span as the parent.
    assert_eq!(
        headers.get("traceparent").map(String::as_str),
        Some(format!("00-{trace_id}-{child_id}-01").as_str())
    );
    // Without an OpenTelemetry span of its own, it forwards our span.
    assert_eq!(
        bare.get("traceparent").map(String::as_str),
        Some(format!("00-{trace_id}-{}-01", ours.span_id).as_str())
    );
}

#[test]
fn propagator_round_trip_through_a_tracing_span() {
    let incoming = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
        ),
        ("tracestate".to_owned(), "congo=t61rcWkgMzE".to_owned()),
    ]);
    let propagator = InsightsPropagator::new();
    let cx = propagator.extract(&incoming);
    assert!(cx.span().span_context().is_remote());
    let subscriber = tracing_subscriber::registry().with(correlation::layer());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("GET /orders", otel.kind = "server");
        assert!(set_parent(&span, &cx));
        let ours = span.span_context().unwrap();
        assert_eq!(
            ours.trace_id.to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(ours.parent_span_id.unwrap().to_string(), "b7ad6b7169203331");
        assert!(ours.remote_parent);
        let mut out = HashMap::new();
        span.in_scope(|| propagator.inject_context(&Context::new(), &mut out));
        assert_eq!(
            out["traceparent"],
            format!("00-0af7651916cd43dd8448eb211c80319c-{}-01", ours.span_id)
        );
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
        // The same context as an OpenTelemetry context, without the layer.
        let sc = tracing_insights_opentelemetry::context_of(&span);
        assert_eq!(
            sc.span().span_context().span_id().to_string(),
            ours.span_id.to_string()
        );
    });
    // Nothing to inject outside any span, and a bad header extracts nothing.
    let mut out = HashMap::new();
    propagator.inject_context(&Context::new(), &mut out);
    assert!(out.is_empty());
    let bad = HashMap::from([(
        "traceparent".to_owned(),
        "00-zz-b7ad6b7169203331-01".to_owned(),
    )]);
    assert!(!propagator.extract(&bad).span().span_context().is_valid());
}

#[test]
fn context_layer_follows_enter_and_exit_of_nested_spans() {
    let current = || {
        let cx = Context::current();
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| sc.span_id().to_string())
    };
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(ContextLayer);
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let inner = tracing::info_span!(parent: &outer, "inner");
        let (o, i) = (
            outer.span_id().unwrap().to_string(),
            inner.span_id().unwrap().to_string(),
        );
        assert_eq!(current(), None);
        outer.in_scope(|| {
            assert_eq!(current().as_deref(), Some(o.as_str()));
            inner.in_scope(|| assert_eq!(current().as_deref(), Some(i.as_str())));
            assert_eq!(
                current().as_deref(),
                Some(o.as_str()),
                "inner's exit restores outer"
            );
        });
        assert_eq!(current(), None, "outer's exit restores the empty context");
        // Exits out of order: entering inner, then outer, exiting inner first.
        let gi = inner.enter();
        let go = outer.enter();
        drop(gi);
        assert_eq!(current().as_deref(), Some(o.as_str()));
        drop(go);
        assert_eq!(current(), None);
    });
}
