//! `LiveMetricsSink`: spans and records handed in without a `tracing` subscriber reach a
//! subscribed stream (a loopback fake QuickPulse service, only 127.0.0.1) as rates and
//! documents; switched off by the environment it does nothing.

mod common;

use common::FakeQuickPulse;
use serde_json::Value;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tracing_insights_correlation::{FieldValue, SpanKind, SpanStatus};
use tracing_insights_live_metrics::{Env, LiveMetricsBuilder, LiveSpan, LIVE_METRICS_ENABLED_ENV};

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn metric(p: &Value, name: &str) -> f64 {
    p["Metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Value"].as_f64())
        .unwrap_or(0.0)
}

#[test]
fn spans_and_logs_handed_to_the_sink_show_in_a_subscribed_stream() {
    let service = FakeQuickPulse::start();
    let (sink, guard) = LiveMetricsBuilder::default()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{}",
            service.port
        ))
        .build_sink()
        .unwrap();
    assert!(sink.is_enabled());
    let ok = SpanStatus::Unset;
    let failed = SpanStatus::Error { message: None };
    let request_fields = [
        ("http.request.method", FieldValue::Str("GET".into())),
        ("http.response.status_code", FieldValue::I64(200)),
    ];
    let db_fields = [("db.system.name", FieldValue::Str("postgresql".into()))];
    let exception = [
        ("exception.type", FieldValue::Str("Timeout".into())),
        ("exception.message", FieldValue::Str("db slow".into())),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = None;
    let mut docs = Vec::new();
    while Instant::now() < deadline && found.is_none() {
        sink.record_span(&LiveSpan {
            name: "GET /items",
            kind: SpanKind::Server,
            status: &ok,
            fields: &request_fields,
            duration: Duration::from_millis(12),
        });
        sink.record_span(&LiveSpan {
            name: "SELECT items",
            kind: SpanKind::Client,
            status: &failed,
            fields: &db_fields,
            duration: Duration::from_millis(3),
        });
        sink.record_log(&exception);
        sink.record_log(&[("message", FieldValue::Str("served".into()))]);
        while let Some(p) = service.next_post(Duration::from_millis(20)) {
            docs.extend(p["Documents"].as_array().cloned().unwrap_or_default());
            if metric(&p, "\\ApplicationInsights\\Requests/Sec") > 0.0
                && metric(&p, "\\ApplicationInsights\\Dependency Calls Failed/Sec") > 0.0
                && metric(&p, "\\ApplicationInsights\\Exceptions/Sec") > 0.0
            {
                found = Some(p);
            }
        }
    }
    let p = found.expect("a post with request, failed dependency and exception rates");
    assert_eq!(
        metric(&p, "\\ApplicationInsights\\Requests Failed/Sec"),
        0.0
    );
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Request" && d["Name"] == "GET /items"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "RemoteDependency" && d["Name"] == "SELECT items"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Exception" && d["ExceptionType"] == "Timeout"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Trace" && d["Message"] == "served"));
    assert_eq!(guard.stats().contained_panics, 0);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(!sink.is_collecting());
}

#[test]
fn switched_off_by_the_environment_the_sink_does_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cs = format!("InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{port}/");
    let (sink, guard) = LiveMetricsBuilder::default()
        .with_env(Env::from_pairs([
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str()),
            (LIVE_METRICS_ENABLED_ENV, "false"),
        ]))
        .build_sink()
        .unwrap();
    assert!(!sink.is_enabled());
    sink.record_log(&[("message", FieldValue::Str("ignored".into()))]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(listener.accept().is_err(), "no connection was made");
    guard.shutdown(Duration::from_secs(1)).unwrap();
}
