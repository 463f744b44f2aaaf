//! End to end against an in-process loopback receiver (always runs): what goes on the wire,
//! decoded with the official protobuf definitions (the prost types of `opentelemetry-proto`).

mod common;

use common::{attr, attr_str, hex, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};
use tracing_insights_correlation::testing::{ManualClock, ScriptedIds};
use tracing_insights_correlation::{
    self as correlation, CorrelationSpanExt, Resource, Sampler, SpanId, TraceId,
};
use tracing_insights_otlp::proto::common::v1::any_value::Value;
use tracing_insights_otlp::proto::metrics::v1::{metric::Data, number_data_point};
use tracing_insights_otlp::{
    CheckOutcome, EnvVars, OtlpGuard, OtlpLayer, Protocol, Signal, Temporality,
};
use tracing_subscriber::prelude::*;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn correlation_layer(ids: &ScriptedIds) -> correlation::CorrelationLayer {
    correlation::layer()
        .with_id_generator(ids.clone())
        .with_clock(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ))
        .with_resource(Resource::from_attributes([
            ("service.name", "ai-service"),
            ("service.version", "1.2.3"),
        ]))
}

#[derive(Debug)]
struct LlmError(Box<dyn std::error::Error + Send + Sync>);
impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LLM call failed")
    }
}
impl std::error::Error for LlmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The ai_service shape: SERVER → DB CLIENT, LLM CLIENT (gen_ai.*), logs, metrics, an error.
fn ai_request() {
    let request = tracing::info_span!(
        "POST /chat",
        otel.kind = "server",
        http.request.method = "POST",
        http.response.status_code = tracing::field::Empty,
    );
    request.set_parent_from_traceparent(&format!("00-{TRACE}-b7ad6b7169203331-01"));
    request.in_scope(|| {
        tracing::info_span!(
            "SELECT docs",
            otel.kind = "client",
            db.system.name = "postgresql"
        )
        .in_scope(|| tracing::debug!(rows = 4_u64, "retrieved"));
        let llm = tracing::info_span!(
            "chat gpt-4o",
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            gen_ai.usage.input_tokens = 12_u64,
            gen_ai.usage.output_tokens = 34_u64,
            gen_ai.request.temperature = 0.2,
            error = tracing::field::Empty,
        );
        llm.in_scope(|| {
            tracing::info!(
                histogram.gen_ai.client.token.usage = 12_u64,
                gen_ai.token.type = "input",
                gen_ai.request.model = "gpt-4o",
                "tokens in"
            );
            tracing::info!(
                histogram.gen_ai.client.token.usage = 34_u64,
                gen_ai.token.type = "output",
                gen_ai.request.model = "gpt-4o",
                "tokens out"
            );
            let err = LlmError("upstream 503".into());
            llm.record("error", &err as &(dyn std::error::Error + 'static));
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                "llm failed"
            );
        });
        request.record("http.response.status_code", 500_u64);
        tracing::info!(
            monotonic_counter.requests = 1_u64,
            route = "/chat",
            "served"
        );
    });
}

fn run(layer: OtlpLayer, guard: OtlpGuard, ids: &ScriptedIds, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry()
        .with(correlation_layer(ids))
        .with(layer);
    tracing::subscriber::with_default(subscriber, f);
    guard.shutdown(Duration::from_secs(10)).unwrap();
}

#[test]
fn spans_logs_and_metrics_carry_the_correlation_ids_and_resource() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().build().unwrap();
    let ids = ScriptedIds::new();
    // What the JSON log lines say, to compare with what OTLP carries.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let s2 = seen.clone();
    run(layer, guard, &ids, move || {
        ai_request();
        let span = tracing::info_span!("after");
        let ctx = span.span_context().unwrap();
        s2.lock()
            .unwrap()
            .push((ctx.trace_id.to_string(), ctx.span_id.to_string()));
    });

    let spans = rx.spans();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let server = by_name("POST /chat");
    let db = by_name("SELECT docs");
    let llm = by_name("chat gpt-4o");
    // The trace continued from the remote parent: same trace id everywhere.
    for s in [server, db, llm] {
        assert_eq!(hex(&s.trace_id), TRACE);
    }
    assert_eq!(hex(&server.parent_span_id), "b7ad6b7169203331");
    assert_eq!(server.flags, 0x301, "sampled, has-is-remote, is-remote");
    assert_eq!(db.parent_span_id, server.span_id);
    assert_eq!(llm.parent_span_id, server.span_id);
    assert_eq!(llm.flags, 0x101);
    assert_eq!((server.kind, db.kind, llm.kind), (2, 3, 3));
    assert_eq!(
        attr(&server.attributes, "http.response.status_code"),
        Some(&Value::IntValue(500))
    );
    assert_eq!(
        attr(&llm.attributes, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(12))
    );
    assert_eq!(
        attr(&llm.attributes, "gen_ai.request.temperature"),
        Some(&Value::DoubleValue(0.2))
    );
    assert_eq!(
        attr_str(&llm.attributes, "gen_ai.provider.name"),
        Some("openai")
    );
    // The error: status, attribute, and an exception event with the source chain.
    assert_eq!(llm.status.as_ref().unwrap().code, 2);
    let exc = &llm.events[0];
    assert_eq!(exc.name, "exception");
    assert_eq!(
        attr_str(&exc.attributes, "exception.message"),
        Some("LLM call failed")
    );
    assert!(attr_str(&exc.attributes, "exception.stacktrace")
        .unwrap()
        .contains("caused by: upstream 503"));
    // Times from the correlation layer's clock.
    assert_eq!(server.start_time_unix_nano, 1_700_000_000_000_000_000);

    // Logs: each carries the ids of the span it happened in.
    let logs = rx.logs();
    let log = |body: &str| {
        logs.iter()
            .find(|l| {
                l.body.as_ref().and_then(|b| b.value.as_ref())
                    == Some(&Value::StringValue(body.into()))
            })
            .unwrap_or_else(|| panic!("no log {body}: {logs:#?}"))
    };
    assert_eq!(log("retrieved").span_id, db.span_id);
    assert_eq!(log("retrieved").severity_number, 5);
    assert_eq!(
        log("retrieved").time_unix_nano,
        1_700_000_000_000_000_000,
        "stamped by the correlation layer's (manual) clock"
    );
    assert_eq!(log("tokens in").span_id, llm.span_id);
    assert_eq!(log("served").span_id, server.span_id);
    assert_eq!(hex(&log("served").trace_id), TRACE);
    assert_eq!(log("served").flags, 1);
    let failed = log("llm failed");
    assert_eq!(
        (failed.severity_number, failed.severity_text.as_str()),
        (17, "ERROR")
    );
    assert_eq!(
        attr_str(&failed.attributes, "exception.message"),
        Some("LLM call failed")
    );

    // The resource is the correlation layer's, on every signal.
    for path in ["/v1/traces", "/v1/logs", "/v1/metrics"] {
        let r = &rx.on(path)[0];
        let res = match path {
            "/v1/traces" => common::decode_traces(r).resource_spans[0].resource.clone(),
            "/v1/logs" => common::decode_logs(r).resource_logs[0].resource.clone(),
            _ => common::decode_metrics(r).resource_metrics[0]
                .resource
                .clone(),
        }
        .unwrap();
        assert_eq!(
            attr_str(&res.attributes, "service.name"),
            Some("ai-service"),
            "{path}"
        );
        assert_eq!(
            attr_str(&res.attributes, "service.version"),
            Some("1.2.3"),
            "{path}"
        );
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert!(r.gzipped, "gzip is on by default");
    }

    // Metrics: the histogram with the GenAI advisory buckets, per attribute set.
    let metrics = rx.metrics();
    let hist = metrics
        .iter()
        .find(|m| m.name == "gen_ai.client.token.usage")
        .unwrap();
    let Some(Data::Histogram(h)) = &hist.data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 2, "cumulative by default");
    assert_eq!(h.data_points.len(), 2);
    assert_eq!(h.data_points[0].explicit_bounds[..3], [1.0, 4.0, 16.0]);
    let input = h
        .data_points
        .iter()
        .find(|p| attr_str(&p.attributes, "gen_ai.token.type") == Some("input"))
        .unwrap();
    assert_eq!((input.count, input.sum), (1, Some(12.0)));
    let counter = metrics.iter().find(|m| m.name == "requests").unwrap();
    let Some(Data::Sum(sum)) = &counter.data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(1))
    );
    assert_eq!(
        attr_str(&sum.data_points[0].attributes, "route"),
        Some("/chat")
    );

    // The ids a span reports to the application are the ids on the wire.
    let (t, s) = seen.lock().unwrap()[0].clone();
    let after = spans.iter().find(|x| x.name == "after").unwrap();
    assert_eq!((hex(&after.trace_id), hex(&after.span_id)), (t, s));
}

#[test]
fn scripted_ids_appear_verbatim() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().build().unwrap();
    let ids = ScriptedIds::new();
    ids.push_trace_id(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap());
    ids.push_span_id(SpanId::from_hex("00f067aa0ba902b7").unwrap());
    run(layer, guard, &ids, || {
        tracing::info_span!("root").in_scope(|| tracing::info!("in root"));
    });
    let span = &rx.spans()[0];
    assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&span.span_id), "00f067aa0ba902b7");
    assert!(span.parent_span_id.is_empty());
    assert_eq!(rx.logs()[0].span_id, span.span_id);
}

#[test]
fn sampled_out_traces_export_nothing() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::always_off()))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("dropped").in_scope(|| {
            tracing::info!(
                monotonic_counter.hidden = 1_u64,
                "inside a sampled-out trace"
            );
        });
        tracing::info!(monotonic_counter.outside = 1_u64, "outside any span");
    });
    guard.shutdown(Duration::from_secs(5)).unwrap();
    assert!(rx.spans().is_empty());
    let logs = rx.logs();
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert!(logs[0].trace_id.is_empty());
    let names: Vec<String> = rx.metrics().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["outside"]);
}

#[test]
fn ratio_sampling_keeps_the_same_traces_as_the_correlation_layer() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().build().unwrap();
    let kept: Arc<Mutex<Vec<String>>> = Arc::default();
    let k2 = kept.clone();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::ratio(0.5).unwrap()))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..40 {
            let span = tracing::info_span!("maybe");
            let ctx = span.span_context().unwrap();
            if ctx.sampled {
                k2.lock().unwrap().push(ctx.trace_id.to_string());
            }
        }
    });
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let mut on_wire: Vec<String> = rx.spans().iter().map(|s| hex(&s.trace_id)).collect();
    let mut want = kept.lock().unwrap().clone();
    on_wire.sort();
    want.sort();
    assert_eq!(on_wire, want);
    assert!(!want.is_empty() && want.len() < 40);
}

#[test]
fn http_json_is_valid_otlp_json() {
    let rx = Receiver::start();
    let (layer, guard) = rx
        .builder()
        .with_protocol(Protocol::HttpJson)
        .build()
        .unwrap();
    run(layer, guard, &ScriptedIds::new(), ai_request);
    let t = &rx.on("/v1/traces")[0];
    assert_eq!(t.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    let server = spans.iter().find(|s| s["name"] == "POST /chat").unwrap();
    assert_eq!(server["traceId"], TRACE, "hex ids");
    assert_eq!(server["kind"], 2, "enums as integers");
    let code = server["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "http.response.status_code")
        .unwrap();
    assert_eq!(code["value"]["intValue"], "500", "int64 as a string");
    assert_eq!(rx.spans().len(), 3);
    assert!(!rx.logs().is_empty() && !rx.metrics().is_empty());
}

#[test]
fn delta_temporality_reports_intervals() {
    let rx = Receiver::start();
    let (layer, guard) = rx
        .builder()
        .with_temporality(Temporality::Delta)
        .with_logs(false)
        .with_traces(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(monotonic_counter.c = 2_u64);
        tracing::info!(monotonic_counter.c = 3_u64);
        tracing::info!(counter.queue = 5_i64);
        tracing::info!(gauge.temp = 21.5);
    });
    guard.flush(Duration::from_secs(5)).unwrap();
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let reqs = rx.on("/v1/metrics");
    assert_eq!(reqs.len(), 1, "an idle delta interval sends nothing");
    let metrics = rx.metrics();
    let c = metrics.iter().find(|m| m.name == "c").unwrap();
    let Some(Data::Sum(s)) = &c.data else {
        panic!()
    };
    assert_eq!(s.aggregation_temporality, 1);
    assert_eq!(
        s.data_points[0].value,
        Some(number_data_point::Value::AsInt(5))
    );
    let q = metrics.iter().find(|m| m.name == "queue").unwrap();
    let Some(Data::Sum(s)) = &q.data else {
        panic!()
    };
    assert!(!s.is_monotonic);
    let g = metrics.iter().find(|m| m.name == "temp").unwrap();
    let Some(Data::Gauge(g)) = &g.data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsDouble(21.5))
    );
}

#[test]
fn metrics_are_exported_every_interval() {
    let rx = Receiver::start();
    let (layer, guard) = rx
        .builder()
        .with_metric_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(monotonic_counter.ticks = 1_u64)
    });
    let reqs = rx.wait_for(|r| r.iter().filter(|r| r.path == "/v1/metrics").count() >= 2);
    assert!(reqs.iter().filter(|r| r.path == "/v1/metrics").count() >= 2);
    guard.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn retryable_answers_are_retried_honouring_retry_after() {
    let rx = Receiver::start();
    rx.answer(503, Some(1));
    rx.answer(429, None);
    let (layer, guard) = rx
        .builder()
        .with_logs(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let t0 = Instant::now();
    run(layer, guard, &ScriptedIds::new(), || {
        tracing::info_span!("retried").in_scope(|| {});
    });
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let reqs = rx.on("/v1/traces");
    assert_eq!(reqs.len(), 3);
    assert_eq!(rx.spans().len(), 3, "the same batch, three times");
}

#[test]
fn non_retryable_answers_are_reported_at_shutdown_in_words() {
    let rx = Receiver::start();
    rx.answer(400, None);
    let (layer, guard) = rx
        .builder()
        .with_logs(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info_span!("x").in_scope(|| {}));
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("HTTP 400 Bad Request"), "{err}");
    assert_eq!(rx.on("/v1/traces").len(), 1, "400 is not retried");
}

#[test]
fn a_wrong_path_is_not_silent() {
    // A signal URL is used as given: without /v1/traces the receiver answers 404.
    let rx = Receiver::start();
    for _ in 0..10 {
        rx.answer(404, None);
    }
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            rx.base.clone(),
        )]))
        .with_logs(false)
        .with_metrics(false)
        .with_batch_delay(Duration::from_millis(10))
        .build()
        .unwrap();
    let report = guard.check();
    assert!(!report.is_ok());
    let r = report.get(Signal::Traces).unwrap();
    assert!(matches!(
        r.outcome,
        CheckOutcome::Rejected { status: 404, .. }
    ));
    let text = report.to_string();
    assert!(text.contains("HTTP 404 Not Found"), "{text}");
    assert!(text.contains("wrong path"), "{text}");
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info_span!("x").in_scope(|| {}));
    assert!(guard
        .flush(Duration::from_secs(5))
        .unwrap_err()
        .to_string()
        .contains("404"));
    assert!(guard.shutdown(Duration::from_secs(5)).is_err());
}

#[test]
fn check_reports_every_signal_accepted_or_unreachable() {
    let rx = Receiver::start();
    let (_layer, guard) = rx.builder().build().unwrap();
    let report = guard.check();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.results.len(), 3);
    assert!(report.to_string().contains("HTTP 200 OK (accepted)"));
    // The signals are checked concurrently: any order.
    let mut paths: Vec<String> = rx.requests().into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(paths, ["/v1/logs", "/v1/metrics", "/v1/traces"]);
    guard.shutdown(Duration::from_secs(5)).unwrap();

    // Nothing listens on a port we just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let report = guard.check();
    assert!(
        matches!(report.results[0].outcome, CheckOutcome::Unreachable(_)),
        "{report}"
    );
    drop(guard);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(format!("http://{}", silent.local_addr().unwrap()))
        .with_queue_capacity(4)
        // One item per request to a receiver that never answers: the worker is stuck in a
        // request while the application floods, so the queue must fill.
        .with_max_batch(1)
        .with_timeout(Duration::from_millis(200))
        .with_retries(1, Duration::from_millis(1))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..500 {
            tracing::info!(i, "flood");
        }
    });
    assert!(guard.dropped() > 0);
    let t0 = Instant::now();
    drop(guard); // bounded
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn several_destinations_get_the_same_ids() {
    let (a, b) = (Receiver::start(), Receiver::start());
    let (la, ga) = a.builder().with_name("a").build().unwrap();
    let (lb, gb) = b
        .builder()
        .with_name("b")
        .with_protocol(Protocol::HttpJson)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(la)
        .with(lb);
    tracing::subscriber::with_default(subscriber, ai_request);
    ga.shutdown(Duration::from_secs(5)).unwrap();
    gb.shutdown(Duration::from_secs(5)).unwrap();
    let ids = |rx: &Receiver| {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = rx
            .spans()
            .into_iter()
            .map(|s| (s.trace_id, s.span_id))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&a).len(), 3);
    assert_eq!(ids(&a), ids(&b));
}

#[test]
fn worker_thread_is_named_and_runs_under_no_subscriber() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().with_name("named").build().unwrap();
    drop(layer);
    let debug = format!("{guard:?}");
    assert!(debug.contains("named"), "{debug}");
    guard.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn per_layer_filters_do_not_change_ids() {
    use tracing_subscriber::filter::LevelFilter;
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().with_span_events(true).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer.with_filter(LevelFilter::INFO));
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let hidden_id: Arc<Mutex<Option<String>>> = Arc::default();
    let (s2, h2) = (seen.clone(), hidden_id.clone());
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        outer.in_scope(|| {
            // Hidden from the OTLP layer by its filter; its event still carries its real ids.
            let hidden = tracing::debug_span!("hidden");
            *h2.lock().unwrap() = Some(hidden.span_id().unwrap().to_string());
            hidden.in_scope(|| tracing::info!("inside hidden"));
        });
        *s2.lock().unwrap() = Some(outer.trace_id().unwrap().to_string());
    });
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let spans = rx.spans();
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["outer"]
    );
    // The hidden span's event goes to the span this layer sees, although the correlation
    // layer counted it in the hidden one.
    assert_eq!(
        spans[0].events.len(),
        1,
        "the span event on the visible span"
    );
    let want = seen.lock().unwrap().clone().unwrap();
    assert_eq!(hex(&spans[0].trace_id), want);
    assert_eq!(hex(&rx.logs()[0].trace_id), want);
    assert_eq!(
        hex(&rx.logs()[0].span_id),
        hidden_id.lock().unwrap().clone().unwrap(),
        "the event's real span, hidden from this layer"
    );
}

#[test]
fn the_correlation_resource_reaches_through_option_and_filters() {
    use tracing_subscriber::filter::LevelFilter;
    // `Option<Layer>` does not forward `on_register_dispatch` in tracing-subscriber 0.3.23;
    // the resource must still be the correlation layer's, even for an event before any span.
    for wrapped in 0..2 {
        let rx = Receiver::start();
        let (layer, guard) = rx
            .builder()
            .with_traces(false)
            .with_metrics(false)
            .build()
            .unwrap();
        let ids = ScriptedIds::new();
        let base = tracing_subscriber::registry().with(correlation_layer(&ids));
        let emit = || tracing::info!("before any span");
        if wrapped == 0 {
            tracing::subscriber::with_default(base.with(Some(layer)), emit);
        } else {
            tracing::subscriber::with_default(
                base.with(Some(layer.with_filter(LevelFilter::INFO)).boxed()),
                emit,
            );
        }
        guard.shutdown(Duration::from_secs(5)).unwrap();
        let req = common::decode_logs(&rx.on("/v1/logs")[0]);
        let res = req.resource_logs[0].resource.as_ref().unwrap();
        assert_eq!(
            attr_str(&res.attributes, "service.name"),
            Some("ai-service"),
            "case {wrapped}"
        );
    }
}

#[test]
fn per_signal_headers_and_protocols_as_a_preset_needs() {
    let rx = Receiver::start();
    let (layer, guard) = rx
        .builder()
        .with_header("x-team", "all")
        .with_signal_header(Signal::Metrics, "x-dataset", "metrics-ds")
        .with_signal_header(Signal::Metrics, "X-Team", "metrics-team")
        .with_signal_protocol(Signal::Logs, Protocol::HttpJson)
        .build()
        .unwrap();
    run(layer, guard, &ScriptedIds::new(), ai_request);
    let t = &rx.on("/v1/traces")[0];
    assert_eq!(
        (t.header("x-team"), t.header("x-dataset")),
        (Some("all"), None)
    );
    assert_eq!(t.header("content-type"), Some("application/x-protobuf"));
    let m = &rx.on("/v1/metrics")[0];
    assert_eq!(m.header("x-dataset"), Some("metrics-ds"));
    assert_eq!(m.header("x-team"), Some("metrics-team"));
    assert_eq!(
        rx.on("/v1/logs")[0].header("content-type"),
        Some("application/json")
    );
}

#[test]
fn span_events_on_request_for_trace_only_backends() {
    let (a, b) = (Receiver::start(), Receiver::start());
    // Two OTLP layers on the same spans: each keeps its own events.
    let (la, ga) = a
        .builder()
        .with_span_events(true)
        .with_logs(false)
        .build()
        .unwrap();
    let (lb, gb) = b.builder().with_span_events(true).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation_layer(&ScriptedIds::new()))
        .with(la)
        .with(lb);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("with events").in_scope(|| {
            tracing::info!(docs = 4_u64, "retrieved");
            for i in 0..200_u64 {
                tracing::debug!(i, "loop");
            }
        });
        tracing::info_span!("sampled").in_scope(|| {});
    });
    ga.shutdown(Duration::from_secs(5)).unwrap();
    gb.shutdown(Duration::from_secs(5)).unwrap();
    for rx in [&a, &b] {
        let spans = rx.spans();
        let s = spans.iter().find(|s| s.name == "with events").unwrap();
        assert_eq!(s.events.len(), 128, "OpenTelemetry's default limit");
        assert_eq!(s.dropped_events_count, 73);
        assert_eq!(s.events[0].name, "retrieved");
        assert_eq!(
            attr(&s.events[0].attributes, "docs"),
            Some(&Value::IntValue(4))
        );
        assert_eq!(attr_str(&s.events[0].attributes, "level"), Some("INFO"));
        assert_eq!(s.events[0].time_unix_nano, 1_700_000_000_000_000_000);
        let other = spans.iter().find(|s| s.name == "sampled").unwrap();
        assert!(other.events.is_empty());
    }
    assert!(a.logs().is_empty());
    assert_eq!(b.logs().len(), 201, "logs go on as before");
}
