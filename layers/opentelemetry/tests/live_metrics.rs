//! OpenTelemetry SDK spans, exception events and logs exported through `AppInsightsExporter`
//! with Live Metrics on feed a Live Metrics stream: a loopback QuickPulse service that
//! subscribes gets posts with non-zero request, dependency and exception rates and the
//! documents, while the App Insights envelopes still reach their own loopback endpoint.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use std::time::{Duration, Instant};
use tracing_insights_live_metrics::LiveMetricsBuilder;
use tracing_insights_opentelemetry::AppInsightsExporter;
use tracing_insights_testing::http::{LoopbackServer, Reply};
use tracing_insights_testing::loopback_receiver;

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

/// The data points posted so far.
fn points(qps: &LoopbackServer) -> Vec<Value> {
    qps.requests()
        .iter()
        .filter(|r| r.path.starts_with("/QuickPulseService.svc/post"))
        .flat_map(|r| {
            serde_json::from_slice::<Vec<Value>>(&r.body).expect("a JSON array of data points")
        })
        .collect()
}

#[test]
fn sdk_spans_through_the_exporter_feed_a_subscribed_live_metrics_stream() {
    // A QuickPulse service that always subscribes.
    let qps = LoopbackServer::start(|_| {
        Reply::status(200)
            .header("x-ms-qps-subscribed", "true")
            .header("x-ms-qps-configuration-etag", "")
    });
    let (ingest_port, captured) = loopback_receiver();
    let cs = format!(
        "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{ingest_port}/;LiveEndpoint={}",
        qps.origin
    );
    let (live, live_guard) = LiveMetricsBuilder::default()
        .with_connection_string(cs.clone())
        .build_sink()
        .unwrap();
    assert!(live.is_enabled());
    let (exporter, guard) =
        AppInsightsExporter::build(AppInsightsExporter::builder().with_connection_string(cs))
            .unwrap();
    let exporter = exporter.with_live_metrics(live.clone());
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let loggers = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = tracers.tracer("shop");
    let logger = loggers.logger("shop");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        // The application, through the OpenTelemetry API only: a request with a backend
        // call that fails with an exception event, and a log line.
        let server = tracer
            .span_builder("GET /chat")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "http://127.0.0.1/chat"),
                KeyValue::new("http.response.status_code", 200),
            ])
            .start(&tracer);
        let cx = Context::current_with_span(server);
        let mut call = tracer
            .span_builder("POST /v1/chat")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("url.full", "http://127.0.0.1/v1/chat"),
                KeyValue::new("http.response.status_code", 503),
            ])
            .start_with_context(&tracer, &cx);
        call.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", "UpstreamError"),
                KeyValue::new("exception.message", "model overloaded"),
            ],
        );
        call.set_status(Status::error("503"));
        call.end();
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Info);
        record.set_body(AnyValue::from("answered"));
        logger.emit(record);
        cx.span().end();

        std::thread::sleep(Duration::from_millis(50));
        found = points(&qps).into_iter().find(|p| {
            metric(p, "\\ApplicationInsights\\Requests/Sec") > 0.0
                && metric(p, "\\ApplicationInsights\\Dependency Calls/Sec") > 0.0
                && metric(p, "\\ApplicationInsights\\Exceptions/Sec") > 0.0
        });
    }
    let p = found.expect("a post with non-zero request, dependency and exception rates");
    assert!(live.is_collecting());
    assert!(metric(&p, "\\ApplicationInsights\\Dependency Calls Failed/Sec") > 0.0);
    assert_eq!(
        metric(&p, "\\ApplicationInsights\\Requests Failed/Sec"),
        0.0,
        "the request succeeded"
    );
    // Documents, across the posts (at most 20 a second).
    let docs: Vec<Value> = points(&qps)
        .iter()
        .flat_map(|p| p["Documents"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Request" && d["Name"] == "GET /chat"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "RemoteDependency" && d["ResultCode"] == "503"));
    assert!(docs.iter().any(|d| d["DocumentType"] == "Exception"
        && d["ExceptionType"] == "UpstreamError"
        && d["ExceptionMessage"] == "model overloaded"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Trace" && d["Message"] == "answered"));

    tracers.shutdown().unwrap();
    loggers.shutdown().unwrap();
    guard.shutdown(Duration::from_secs(10)).unwrap();
    live_guard.shutdown(Duration::from_secs(10)).unwrap();
    // App Insights got the same spans.
    let envelopes: Vec<Value> = captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect();
    assert!(envelopes
        .iter()
        .any(|e| e["data"]["baseType"] == "RequestData"));
    assert!(!live.is_collecting());
}

#[test]
fn without_live_metrics_nothing_is_posted() {
    // The control: the same exporter without `with_live_metrics` leaves a subscribed
    // stream at zero (the sink is fed only through the exporter).
    let qps = LoopbackServer::start(|_| {
        Reply::status(200)
            .header("x-ms-qps-subscribed", "true")
            .header("x-ms-qps-configuration-etag", "")
    });
    let (ingest_port, _captured) = loopback_receiver();
    let cs = format!(
        "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{ingest_port}/;LiveEndpoint={}",
        qps.origin
    );
    let (_live, live_guard) = LiveMetricsBuilder::default()
        .with_connection_string(cs.clone())
        .build_sink()
        .unwrap();
    let (exporter, guard) =
        AppInsightsExporter::build(AppInsightsExporter::builder().with_connection_string(cs))
            .unwrap();
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = tracers.tracer("shop");
    // Wait for two posts (the stream is subscribed and collecting), making requests.
    let until = Instant::now() + Duration::from_secs(30);
    while points(&qps).len() < 3 && Instant::now() < until {
        tracer
            .span_builder("GET /chat")
            .with_kind(SpanKind::Server)
            .start(&tracer)
            .end();
        std::thread::sleep(Duration::from_millis(50));
    }
    let posted = points(&qps);
    assert!(posted.len() >= 3, "posts arrived: {}", posted.len());
    assert!(posted
        .iter()
        .all(|p| metric(p, "\\ApplicationInsights\\Requests/Sec") == 0.0));
    tracers.shutdown().unwrap();
    guard.shutdown(Duration::from_secs(10)).unwrap();
    live_guard.shutdown(Duration::from_secs(10)).unwrap();
}
