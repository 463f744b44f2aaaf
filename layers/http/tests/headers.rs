//! `extract` / `inject` on plain header maps: the W3C rules and the length limits.

mod common;

use common::Capture;
use http::HeaderMap;
use tracing_insights_correlation::CorrelationSpanExt;
use tracing_insights_http::{extract, inject, inject_current, MAX_TRACESTATE_LEN};

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn tracestate_lines_are_joined_and_carried_to_the_outgoing_call() {
    let capture = Capture::default();
    let _guard = capture.install();
    let span = tracing::info_span!("server", otel.kind = "server");
    let incoming = headers(&[
        ("traceparent", TP),
        ("tracestate", "a=1"),
        ("tracestate", "b=2"),
    ]);
    assert!(extract(&span, &incoming));
    let mut outgoing = HeaderMap::new();
    span.in_scope(|| assert!(inject_current(&mut outgoing)));
    let tp = outgoing["traceparent"].to_str().unwrap();
    assert_eq!(tp, span.traceparent().unwrap());
    assert!(tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    assert_eq!(outgoing["tracestate"], "a=1,b=2");
}

#[test]
fn an_oversized_tracestate_is_dropped_the_parent_kept() {
    let capture = Capture::default();
    let _guard = capture.install();
    let span = tracing::info_span!("server");
    let big = format!("a={}", "x".repeat(MAX_TRACESTATE_LEN));
    assert!(extract(
        &span,
        &headers(&[("traceparent", TP), ("tracestate", &big)])
    ));
    assert_eq!(span.tracestate(), None);
    assert_eq!(
        span.trace_id().unwrap().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
}

#[test]
fn no_traceparent_no_tracestate() {
    let capture = Capture::default();
    let _guard = capture.install();
    let span = tracing::info_span!("server");
    assert!(!extract(&span, &headers(&[("tracestate", "a=1")])));
    assert_eq!(span.tracestate(), None);
    let mut out = headers(&[("tracestate", "stale=1")]);
    assert!(inject(&span, &mut out));
    assert!(
        out.get("tracestate").is_none(),
        "a stale tracestate must not go out"
    );
}

#[test]
fn without_a_correlation_layer_nothing_is_written() {
    let span = tracing::info_span!("no subscriber");
    let mut out = HeaderMap::new();
    assert!(!inject(&span, &mut out));
    assert!(out.is_empty());
}
