//! Logs, exceptions and metrics on the wire (a loopback ingestion endpoint, decoded):
//! every event is exported when it happens, inside or outside a span; error chains become
//! linked exception details with real type names; metric fields are aggregated per interval.

use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_insights_appinsights::{exception, AppInsightsGuard, AppInsightsLayer};
use tracing_insights_correlation::testing::{ManualClock, ScriptedIds};
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, Sampler, TraceId};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

use tracing_insights_testing::{loopback_receiver as receiver, Captured};

fn envelopes(captured: &Captured) -> Vec<Value> {
    captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
        .collect()
}

fn of_type<'a>(envs: &'a [Value], base_type: &str) -> Vec<&'a Value> {
    envs.iter()
        .filter(|e| e["data"]["baseType"] == base_type)
        .collect()
}

fn layer(port: u16) -> (AppInsightsLayer, AppInsightsGuard) {
    AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        // Metric intervals end only when the test flushes.
        .with_metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap()
}

#[test]
fn a_log_outside_any_span_arrives_without_operation_ids_stamped_by_the_correlation_clock() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let t = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_clock(ManualClock::new(t)))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(user = "bob", "started");
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let msgs = of_type(&envs, "MessageData");
    assert_eq!(msgs.len(), 1, "{envs:#?}");
    let m = msgs[0];
    assert_eq!(m["data"]["baseData"]["message"], "started");
    assert_eq!(m["data"]["baseData"]["severityLevel"], 1);
    assert_eq!(m["data"]["baseData"]["properties"]["user"], "bob");
    assert!(m["tags"].get("ai.operation.id").is_none(), "{m:#}");
    assert!(m["tags"].get("ai.operation.parentId").is_none(), "{m:#}");
    assert_eq!(m["time"], "2030-03-17T17:46:40Z");
}

#[test]
fn a_thousand_events_in_one_open_span_arrive_before_the_span_closes() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let handle = guard.flush_handle();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("long job", otel.kind = "server");
        let (trace_id, span_id) = (span.trace_id().unwrap(), span.span_id().unwrap());
        span.in_scope(|| {
            for i in 0..1000 {
                tracing::info!(i, "step");
            }
        });
        // The span is still open.
        handle.flush(Duration::from_secs(10)).unwrap();
        let envs = envelopes(&captured);
        assert!(of_type(&envs, "RequestData").is_empty());
        let msgs = of_type(&envs, "MessageData");
        assert_eq!(msgs.len(), 1000);
        for m in msgs {
            assert_eq!(m["tags"]["ai.operation.id"], trace_id.to_string());
            assert_eq!(m["tags"]["ai.operation.parentId"], span_id.to_string());
        }
        drop(span);
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(of_type(&envelopes(&captured), "RequestData").len(), 1);
}

#[test]
fn a_warn_filtered_layer_keeps_the_ids_of_the_info_span_it_cannot_see() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer.with_filter(EnvFilter::new("warn")));
    let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("GET /x", otel.kind = "server");
        let ids = (request.trace_id().unwrap(), request.span_id().unwrap());
        request.in_scope(|| tracing::warn!("slow"));
        ids
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    assert!(
        of_type(&envs, "RequestData").is_empty(),
        "the filter hides it"
    );
    let msgs = of_type(&envs, "MessageData");
    assert_eq!(msgs.len(), 1, "{envs:#?}");
    assert_eq!(msgs[0]["data"]["baseData"]["severityLevel"], 2);
    assert_eq!(msgs[0]["tags"]["ai.operation.id"], trace_id.to_string());
    assert_eq!(
        msgs[0]["tags"]["ai.operation.parentId"],
        span_id.to_string()
    );
}

#[derive(Debug)]
struct SaveError(std::io::Error);

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not save the order")
    }
}

impl std::error::Error for SaveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn save_error() -> SaveError {
    SaveError(std::io::Error::other("disk full"))
}

#[test]
fn a_two_level_error_chain_gives_two_linked_exception_details_with_real_type_names() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let err = save_error();
    let span_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("POST /orders", otel.kind = "server");
        let id = span.span_id().unwrap();
        span.in_scope(|| {
            tracing::error!(error = exception(&err), "save failed");
            // A bare `&dyn Error`: the std source is still recognised.
            tracing::warn!(error = &err as &dyn std::error::Error, "retrying");
            // An explicit `exception.type` wins.
            tracing::error!(
                error = exception(&err),
                exception.type = "OrderStoreError",
                "given up"
            );
        });
        id
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let ex = of_type(&envs, "ExceptionData");
    assert_eq!(ex.len(), 3, "{envs:#?}");
    let by_msg = |m: &str| {
        *ex.iter()
            .find(|e| {
                e["data"]["baseData"]["exceptions"][0]["message"]
                    == format!("{m}: could not save the order")
            })
            .unwrap_or_else(|| panic!("no {m} in {ex:#?}"))
    };
    let first = by_msg("save failed");
    assert_eq!(first["tags"]["ai.operation.parentId"], span_id.to_string());
    assert_eq!(first["data"]["baseData"]["severityLevel"], 3);
    let d = &first["data"]["baseData"]["exceptions"];
    assert_eq!(d.as_array().unwrap().len(), 2);
    assert_eq!(d[0]["typeName"], "logs_metrics::SaveError");
    assert_eq!(d[0]["id"], 0);
    assert_eq!(d[1]["typeName"], "std::io::Error");
    assert_eq!(d[1]["message"], "disk full");
    assert_eq!(d[1]["id"], 1);
    assert_eq!(d[1]["outerId"], 0);
    let bare = by_msg("retrying");
    assert_eq!(bare["data"]["baseData"]["severityLevel"], 2);
    let d = &bare["data"]["baseData"]["exceptions"];
    assert_eq!(d[0]["typeName"], "Exception");
    assert_eq!(d[1]["typeName"], "std::io::Error");
    let explicit = by_msg("given up");
    assert_eq!(
        explicit["data"]["baseData"]["exceptions"][0]["typeName"],
        "OrderStoreError"
    );
    for e in &ex {
        for d in e["data"]["baseData"]["exceptions"].as_array().unwrap() {
            assert_ne!(d["typeName"], "<no type>");
        }
    }
}

#[test]
fn a_custom_event_field_makes_event_data() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(
            microsoft.custom_event.name = "CheckoutCompleted",
            cart.total = 99.5,
            "checkout completed"
        );
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let ev = of_type(&envs, "EventData");
    assert_eq!(ev.len(), 1, "{envs:#?}");
    assert_eq!(ev[0]["data"]["baseData"]["name"], "CheckoutCompleted");
    assert_eq!(
        ev[0]["data"]["baseData"]["properties"]["cart.total"],
        "99.5"
    );
}

/// Runs a kept trace (score 0.33 at 50 %) and a dropped one (score 0.9996), each with an
/// error event, the dropped one also with an info event.
fn kept_and_dropped(layer: AppInsightsLayer) {
    let ids = ScriptedIds::new();
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer()
                .with_sampler(Sampler::ratio(0.5).unwrap())
                .with_id_generator(ids.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // Application Insights' sampling scores of these trace ids (the hash both Microsoft's
        // SDKs and the correlation layer's ratio sampler use): 0.33 is kept at 50 %, 0.9996 is not.
        ids.push_trace_id(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap());
        tracing::info_span!("kept")
            .in_scope(|| tracing::error!(error = exception(&save_error()), "kept"));
        ids.push_trace_id(TraceId::from_hex("ffffffffffffffffffffffffffffffff").unwrap());
        tracing::info_span!("dropped").in_scope(|| {
            tracing::info!("dropped");
            tracing::error!(error = exception(&save_error()), "dropped");
        });
    });
}

const KEPT: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const DROPPED: &str = "ffffffffffffffffffffffffffffffff";

#[test]
fn logs_of_dropped_traces_are_kept_by_default_without_a_sample_rate() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    kept_and_dropped(layer);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let spans: Vec<&Value> = envs
        .iter()
        .filter(|e| e["data"]["baseType"] == "RemoteDependencyData")
        .collect();
    assert_eq!(spans.len(), 1, "only the kept trace's span: {envs:#?}");
    assert_eq!(spans[0]["tags"]["ai.operation.id"], KEPT);
    let ex = of_type(&envs, "ExceptionData");
    assert_eq!(ex.len(), 2, "{envs:#?}");
    let kept = ex
        .iter()
        .find(|e| e["tags"]["ai.operation.id"] == KEPT)
        .unwrap();
    assert_eq!(kept["sampleRate"], 50.0);
    let dropped = ex
        .iter()
        .find(|e| e["tags"]["ai.operation.id"] == DROPPED)
        .unwrap();
    assert!(dropped.get("sampleRate").is_none(), "{dropped:#}");
    let msgs = of_type(&envs, "MessageData");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["tags"]["ai.operation.id"], DROPPED);
}

#[test]
fn trace_based_sampling_for_logs_drops_the_logs_of_dropped_traces() {
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
    kept_and_dropped(layer);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    assert!(
        envs.iter().all(|e| e["tags"]["ai.operation.id"] == KEPT),
        "{envs:#?}"
    );
    let ex = of_type(&envs, "ExceptionData");
    assert_eq!(ex.len(), 1, "{envs:#?}");
    assert_eq!(ex[0]["sampleRate"], 50.0);
}

fn metric<'a>(envs: &'a [Value], name: &str, attr: (&str, &str)) -> Vec<&'a Value> {
    envs.iter()
        .filter(|e| {
            e["data"]["baseType"] == "MetricData"
                && e["data"]["baseData"]["metrics"][0]["name"] == name
                && e["data"]["baseData"]["properties"][attr.0] == attr.1
        })
        .map(|e| &e["data"]["baseData"]["metrics"][0])
        .collect()
}

#[test]
fn counter_up_down_counter_gauge_and_histogram_over_two_intervals() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000));
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_clock(clock.clone()))
        .with(layer);
    let handle = guard.flush_handle();
    let interval = |n: usize| {
        handle.flush(Duration::from_secs(10)).unwrap();
        let envs = envelopes(&captured);
        captured.lock().unwrap().clear();
        assert!(
            of_type(&envs, "MessageData").is_empty(),
            "metric events are not logs"
        );
        eprintln!("interval {n}: {envs:#?}");
        envs
    };
    tracing::subscriber::with_default(subscriber, || {
        // Interval 1.
        tracing::info!(monotonic_counter.orders = 1, region = "eu");
        tracing::info!(monotonic_counter.orders = 2, region = "eu");
        tracing::info!(monotonic_counter.orders = 5, region = "us");
        tracing::info!(counter.queue_depth = 10, queue = "orders");
        tracing::info!(counter.queue_depth = -3, queue = "orders");
        tracing::info!(gauge.temperature = 61.0, core = 0);
        tracing::info!(gauge.temperature = 64.5, core = 0);
        tracing::info!(histogram.latency_ms = 12.5, provider = "contoso");
        tracing::info!(histogram.latency_ms = 30.0, provider = "contoso");
        tracing::info!(histogram.latency_ms = 7.25, provider = "contoso");
        let envs = interval(1);
        let m = metric(&envs, "orders", ("region", "eu"));
        assert_eq!(
            (m.len(), &m[0]["value"], &m[0]["count"]),
            (1, &3.0.into(), &1.into())
        );
        assert_eq!(metric(&envs, "orders", ("region", "us"))[0]["value"], 5.0);
        let m = metric(&envs, "queue_depth", ("queue", "orders"));
        assert_eq!(m[0]["value"], 7.0);
        assert_eq!(
            metric(&envs, "temperature", ("core", "0"))[0]["value"],
            64.5
        );
        let h = metric(&envs, "latency_ms", ("provider", "contoso"));
        assert_eq!(h[0]["value"], 49.75);
        assert_eq!(h[0]["count"], 3);
        assert_eq!(h[0]["min"], 7.25);
        assert_eq!(h[0]["max"], 30.0);
        assert!(envs
            .iter()
            .all(|e| e["time"] == "2030-03-17T17:46:40Z"
                && e["tags"].get("ai.operation.id").is_none()));

        // Interval 2: counters and histograms are deltas, the up-down counter and the
        // gauge are values (sent again even without a new measurement).
        clock.advance(Duration::from_secs(60));
        tracing::info!(monotonic_counter.orders = 4, region = "eu");
        tracing::info!(counter.queue_depth = 5, queue = "orders");
        tracing::info!(histogram.latency_ms = 100.0, provider = "contoso");
        let envs = interval(2);
        assert_eq!(metric(&envs, "orders", ("region", "eu"))[0]["value"], 4.0);
        assert!(
            metric(&envs, "orders", ("region", "us")).is_empty(),
            "no measurement, no delta point"
        );
        assert_eq!(
            metric(&envs, "queue_depth", ("queue", "orders"))[0]["value"],
            12.0
        );
        assert_eq!(
            metric(&envs, "temperature", ("core", "0"))[0]["value"],
            64.5
        );
        let h = metric(&envs, "latency_ms", ("provider", "contoso"));
        assert_eq!(
            (&h[0]["value"], &h[0]["count"], &h[0]["min"], &h[0]["max"]),
            (&100.0.into(), &1.into(), &100.0.into(), &100.0.into())
        );
        assert!(envs.iter().all(|e| e["time"] == "2030-03-17T17:47:40Z"));
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
}

#[test]
fn attribute_sets_beyond_the_cap_go_to_an_overflow_series_and_are_counted() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_metric_cardinality_limit(2)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for user in ["a", "b", "c", "d", "e"] {
            tracing::info!(monotonic_counter.logins = 1, user);
        }
    });
    assert_eq!(guard.metric_overflows(), 3);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let overflow = metric(&envs, "logins", ("otel.metric.overflow", "True"));
    assert_eq!(overflow[0]["value"], 3.0);
    assert_eq!(of_type(&envs, "MetricData").len(), 3);
}

#[derive(Debug)]
struct HttpError(std::io::Error);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HTTP 429 from the provider")
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[derive(Debug)]
struct LlmError(HttpError);

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LLM provider rate-limited the request")
    }
}

impl std::error::Error for LlmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What the example service does for a failing request: an `error!` with a bare `&dyn Error`
/// inside the request span becomes an Exception with the whole chain, in the request.
#[test]
fn a_failing_request_is_an_exception_with_its_chain_in_the_request() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let err = LlmError(HttpError(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset by peer",
    )));
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "POST /chat",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/chat",
            http.response.status_code = tracing::field::Empty,
        );
        let _e = request.enter();
        request.record("http.response.status_code", 502);
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "chat failed"
        );
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let req = of_type(&envs, "RequestData")[0];
    let ex = of_type(&envs, "ExceptionData");
    assert_eq!(ex.len(), 1, "{envs:#?}");
    let ex = ex[0];
    assert_eq!(
        ex["tags"]["ai.operation.id"],
        req["tags"]["ai.operation.id"]
    );
    assert_eq!(
        ex["tags"]["ai.operation.parentId"],
        req["data"]["baseData"]["id"]
    );
    assert_eq!(req["data"]["baseData"]["success"], false);
    let d = ex["data"]["baseData"]["exceptions"].as_array().unwrap();
    assert_eq!(d.len(), 3);
    assert_eq!(
        d[0]["message"],
        "chat failed: LLM provider rate-limited the request"
    );
    assert_eq!(d[1]["message"], "HTTP 429 from the provider");
    assert_eq!((&d[1]["id"], &d[1]["outerId"]), (&1.into(), &0.into()));
    assert_eq!(d[2]["typeName"], "std::io::Error");
    assert_eq!((&d[2]["id"], &d[2]["outerId"]), (&2.into(), &1.into()));
}

#[test]
fn the_metric_interval_sends_points_without_a_flush() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .with_batch_delay(Duration::from_millis(50))
        .with_metric_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(monotonic_counter.ticks = 1, kind = "timer");
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while of_type(&envelopes(&captured), "MetricData").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no metric within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let envs = envelopes(&captured);
    assert_eq!(metric(&envs, "ticks", ("kind", "timer"))[0]["value"], 1.0);
    guard.shutdown(Duration::from_secs(10)).unwrap();
}

#[test]
fn metric_fields_in_dropped_traces_still_count() {
    let (port, captured) = receiver();
    let (layer, guard) = layer(port);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::ratio(0.0).unwrap()))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..5 {
            tracing::info_span!("dropped", otel.kind = "server")
                .in_scope(|| tracing::info!(monotonic_counter.orders = 2_u64, shop = "a"));
        }
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    let points = metric(&envs, "orders", ("shop", "a"));
    assert_eq!(points.len(), 1, "{envs:#?}");
    assert_eq!(
        points[0]["value"], 10.0,
        "every measurement, whatever the sampler"
    );
}
