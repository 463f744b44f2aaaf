//! The OpenTelemetry SDK's tracer, logger and meter providers with `AppInsightsExporter`
//! deliver Request, RemoteDependency, Message, Exception and Metric envelopes to a loopback
//! ingestion endpoint, mapped as the `tracing` layer maps them, with the SDK's ids.

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;
use std::time::Duration;
use tracing_insights_opentelemetry::AppInsightsExporter;
use tracing_insights_testing::{loopback_receiver as receiver, Captured};

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn envelopes(captured: &Captured) -> Vec<Value> {
    captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| {
            assert_eq!(r.path, "/v2.1/track");
            serde_json::from_slice::<Vec<Value>>(&r.body).unwrap()
        })
        .collect()
}

fn by_base_type<'a>(envs: &'a [Value], t: &str) -> Vec<&'a Value> {
    envs.iter().filter(|e| e["data"]["baseType"] == t).collect()
}

#[test]
fn spans_logs_and_metrics_from_the_sdk_reach_the_wire() {
    let (port, captured) = receiver();
    let builder = AppInsightsExporter::builder().with_connection_string(format!(
        "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
    ));
    let (exporter, guard) = AppInsightsExporter::build(builder).unwrap();
    assert!(
        !format!("{exporter:?}").contains("0123abcd"),
        "no key in Debug"
    );
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("service.namespace", "shop"))
        .build();
    let tracers = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let loggers = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let meters = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(exporter)
        .build();

    let tracer = tracers.tracer("shop.http");
    let server = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("server.address", "shop.example"),
            KeyValue::new("url.path", "/orders/7"),
            KeyValue::new("http.route", "/orders/{id}"),
            KeyValue::new("http.response.status_code", 200),
            KeyValue::new("app.tenant", "contoso"),
        ])
        .start(&tracer);
    let server_sc = server.span_context().clone();
    let cx = Context::current_with_span(server);
    let mut db = tracer
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.query.text", "SELECT * FROM orders WHERE id = $1"),
            KeyValue::new("server.address", "db.local"),
        ])
        .start_with_context(&tracer, &cx);
    db.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "TimeoutError"),
            KeyValue::new("exception.message", "query took too long"),
        ],
    );
    db.set_status(opentelemetry::trace::Status::error("timeout"));
    let db_sc = db.span_context().clone();
    db.end();
    let logger = loggers.logger("shop.orders");
    let mut record = logger.create_log_record();
    record.set_body(AnyValue::from("order 7 shipped"));
    record.set_severity_number(Severity::Warn);
    record.add_attribute("order.id", 7);
    record.set_trace_context(server_sc.trace_id(), server_sc.span_id(), None);
    logger.emit(record);
    let mut outside = logger.create_log_record();
    outside.set_body(AnyValue::from("started"));
    outside.set_severity_number(Severity::Info);
    logger.emit(outside);
    cx.span().end();
    let meter = meters.meter("shop");
    let orders = meter.u64_counter("orders").build();
    orders.add(2, &[KeyValue::new("region", "eu")]);
    orders.add(3, &[KeyValue::new("region", "eu")]);
    let latency = meter.f64_histogram("payment_ms").build();
    latency.record(10.0, &[]);
    latency.record(30.0, &[]);

    tracers.shutdown().unwrap();
    loggers.shutdown().unwrap();
    meters.shutdown().unwrap();
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let envs = envelopes(&captured);
    let trace_id = server_sc.trace_id().to_string();
    let req = by_base_type(&envs, "RequestData");
    assert_eq!(req.len(), 1, "{envs:#?}");
    let req = req[0];
    assert_eq!(req["tags"]["ai.operation.id"], trace_id);
    assert_eq!(req["tags"]["ai.cloud.role"], "shop.checkout");
    assert_eq!(
        req["data"]["baseData"]["id"],
        server_sc.span_id().to_string()
    );
    assert_eq!(req["data"]["baseData"]["name"], "GET /orders/{id}");
    assert_eq!(req["data"]["baseData"]["responseCode"], "200");
    assert_eq!(
        req["data"]["baseData"]["url"],
        "https://shop.example/orders/7"
    );
    assert_eq!(
        req["data"]["baseData"]["properties"]["app.tenant"],
        "contoso"
    );

    let dep = by_base_type(&envs, "RemoteDependencyData");
    assert_eq!(dep.len(), 1, "{envs:#?}");
    let dep = dep[0];
    assert_eq!(dep["tags"]["ai.operation.id"], trace_id);
    assert_eq!(
        dep["tags"]["ai.operation.parentId"],
        server_sc.span_id().to_string()
    );
    assert_eq!(dep["data"]["baseData"]["type"], "postgresql");
    assert_eq!(dep["data"]["baseData"]["success"], false);

    let exc = by_base_type(&envs, "ExceptionData");
    assert_eq!(exc.len(), 1, "{envs:#?}");
    assert_eq!(
        exc[0]["tags"]["ai.operation.parentId"],
        db_sc.span_id().to_string()
    );
    assert_eq!(
        exc[0]["data"]["baseData"]["exceptions"][0]["typeName"],
        "TimeoutError"
    );

    let msgs = by_base_type(&envs, "MessageData");
    let shipped = msgs
        .iter()
        .find(|m| m["data"]["baseData"]["message"] == "order 7 shipped")
        .expect("the log inside the span");
    assert_eq!(shipped["data"]["baseData"]["severityLevel"], 2);
    assert_eq!(shipped["tags"]["ai.operation.id"], trace_id);
    assert_eq!(shipped["data"]["baseData"]["properties"]["order.id"], "7");
    assert_eq!(
        shipped["data"]["baseData"]["properties"]["logger_name"],
        "shop.orders"
    );
    let started = msgs
        .iter()
        .find(|m| m["data"]["baseData"]["message"] == "started")
        .expect("a log outside spans is kept");
    assert!(started["tags"].get("ai.operation.id").is_none());

    let metrics: Vec<&Value> = by_base_type(&envs, "MetricData")
        .into_iter()
        .filter(|m| m["data"]["baseData"]["metrics"][0]["name"] != "_OTELRESOURCE_")
        .collect();
    let orders = metrics
        .iter()
        .find(|m| m["data"]["baseData"]["metrics"][0]["name"] == "orders")
        .expect("the counter");
    assert_eq!(orders["data"]["baseData"]["metrics"][0]["value"], 5.0);
    assert_eq!(orders["data"]["baseData"]["properties"]["region"], "eu");
    let pay = metrics
        .iter()
        .find(|m| m["data"]["baseData"]["metrics"][0]["name"] == "payment_ms")
        .expect("the histogram");
    let m = &pay["data"]["baseData"]["metrics"][0];
    assert_eq!(
        (m["value"].as_f64(), m["count"].as_u64()),
        (Some(40.0), Some(2))
    );
    assert_eq!(
        (m["min"].as_f64(), m["max"].as_f64()),
        (Some(10.0), Some(30.0))
    );
}

#[test]
fn a_bad_connection_string_is_an_error_and_disabled_sends_nothing() {
    let err = AppInsightsExporter::build(
        AppInsightsExporter::builder()
            .with_connection_string("IngestionEndpoint=http://127.0.0.1:1"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("InstrumentationKey"), "{err}");

    let (port, captured) = receiver();
    let cs = format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/");
    let builder =
        AppInsightsExporter::builder().with_env(tracing_insights_appinsights::Env::from_pairs([
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str()),
            ("OTEL_SDK_DISABLED", "true"),
        ]));
    let (exporter, guard) = AppInsightsExporter::build(builder).unwrap();
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = tracers.tracer("app");
    tracer.span_builder("work").start(&tracer).end();
    tracers.shutdown().unwrap();
    guard.shutdown(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        captured.lock().unwrap().is_empty(),
        "a disabled exporter sent a request"
    );
}

/// The SDK exporter rides the layer's pipeline: an Entra ID token on every request, and a
/// 503 with `Retry-After: 1` answered by waiting that long and sending the same batch again.
#[test]
fn entra_id_and_retry_after_apply_to_sdk_spans() {
    use tracing_insights_azure::{AccessToken, TokenError};
    use tracing_insights_testing::http::{LoopbackServer, Reply};
    let (server, script) = LoopbackServer::scripted();
    script.push([Reply::status(503).header("Retry-After", "1")]);
    let builder = AppInsightsExporter::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{}/",
            server.port
        ))
        .with_batch_delay(Duration::from_millis(50))
        .with_token_provider(|_scope: &str| -> Result<AccessToken, TokenError> {
            Ok(AccessToken::new(
                "token-from-entra",
                std::time::SystemTime::now() + Duration::from_secs(3600),
            ))
        });
    let (exporter, guard) = AppInsightsExporter::build(builder).unwrap();
    let tracers = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = tracers.tracer("app");
    let mut span = tracer.span_builder("work").start(&tracer);
    let trace_id = span.span_context().trace_id().to_string();
    span.end();
    tracers.shutdown().unwrap();
    let track = server.wait_for(Duration::from_secs(10), |r| {
        r.iter().filter(|r| r.path == "/v2.1/track").count() >= 2
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let track: Vec<_> = track.iter().filter(|r| r.path == "/v2.1/track").collect();
    assert_eq!(track.len(), 2, "the 503 and the retry");
    for r in &track {
        assert_eq!(r.header("authorization"), Some("Bearer token-from-entra"));
        assert!(String::from_utf8_lossy(&r.body).contains(&trace_id));
    }
    assert!(
        track[1].at.duration_since(track[0].at) >= Duration::from_millis(900),
        "Retry-After: 1 honoured"
    );
}
