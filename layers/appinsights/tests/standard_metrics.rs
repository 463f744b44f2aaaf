//! Standard metrics and performance counters on the wire (a loopback ingestion endpoint,
//! decoded): `requests/duration` and `dependencies/duration` derived from every request and
//! dependency span, sampled or not; the processed flag on the spans' envelopes; GenAI
//! dependencies typed by today's conventions; the nine performance counters on the metric
//! interval.

use serde_json::Value;
use std::time::Duration;
use tracing_insights_appinsights::{AppInsightsGuard, AppInsightsLayer};
use tracing_insights_correlation::{self as correlation, Sampler};
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

fn builder(port: u16) -> tracing_insights_appinsights::AppInsightsBuilder {
    AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
}

/// The summed `count` of the standard metric `id`, and its points.
fn standard<'a>(envs: &'a [Value], id: &str) -> (u64, Vec<&'a Value>) {
    let points: Vec<&Value> = envs
        .iter()
        .filter(|e| e["data"]["baseData"]["properties"]["_MS.MetricId"] == id)
        .collect();
    let count = points
        .iter()
        .map(|e| {
            e["data"]["baseData"]["metrics"][0]["count"]
                .as_u64()
                .unwrap()
        })
        .sum();
    (count, points)
}

fn requests(n: usize) {
    for i in 0..n {
        tracing::info_span!(
            "GET /chat",
            otel.kind = "server",
            http.request.method = "GET",
            http.route = "/chat",
            url.scheme = "http",
            http.response.status_code = 200_i64
        )
        .in_scope(|| {
            tracing::info_span!(
                "SELECT",
                otel.kind = "client",
                db.system.name = "postgresql",
                server.address = "db",
                db.namespace = "shop"
            )
            .in_scope(|| {});
            tracing::info_span!(
                "chat gpt-4o",
                otel.kind = "client",
                gen_ai.provider.name = "openai",
                gen_ai.request.model = "gpt-4o",
                gen_ai.operation.name = "chat",
                i = i as i64
            )
            .in_scope(|| {});
        });
    }
}

fn run(sampler: Sampler, n: usize) -> Vec<Value> {
    let (port, captured) = receiver();
    let (layer, guard): (AppInsightsLayer, AppInsightsGuard) = builder(port)
        .with_metric_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(sampler))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || requests(n));
    // Shutdown sends the last (here the only) partial interval.
    guard.shutdown(Duration::from_secs(10)).unwrap();
    envelopes(&captured)
}

#[test]
fn every_request_and_dependency_counts_once_and_is_flagged() {
    let envs = run(Sampler::always_on(), 10);
    let (req, points) = standard(&envs, "requests/duration");
    assert_eq!(req, 10, "{envs:#?}");
    let p = &points[0]["data"]["baseData"];
    assert_eq!(p["metrics"][0]["name"], "Server response time");
    assert_eq!(p["properties"]["request/resultCode"], "200");
    assert_eq!(p["properties"]["Request.Success"], "True");
    assert_eq!(p["properties"]["_MS.IsAutocollected"], "True");
    assert!(p["properties"]["cloud/roleName"].is_string());
    let (dep, points) = standard(&envs, "dependencies/duration");
    assert_eq!(dep, 20);
    let types: Vec<&str> = points
        .iter()
        .map(|e| {
            e["data"]["baseData"]["properties"]["Dependency.Type"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        types.contains(&"postgresql") || types.contains(&"SQL") || types.len() == 2,
        "{types:?}"
    );
    assert!(types.contains(&"GenAI | openai"), "{types:?}");
    let spans: Vec<&Value> = envs
        .iter()
        .filter(|e| {
            matches!(
                e["data"]["baseType"].as_str(),
                Some("RequestData" | "RemoteDependencyData")
            )
        })
        .collect();
    assert_eq!(spans.len(), 30);
    for s in &spans {
        assert_eq!(
            s["data"]["baseData"]["properties"]["_MS.ProcessedByMetricExtractors"], "True",
            "{s:#}"
        );
    }
    // Today's GenAI conventions type the LLM call.
    let llm = spans
        .iter()
        .find(|s| s["data"]["baseData"]["properties"]["gen_ai.request.model"] == "gpt-4o")
        .unwrap();
    assert_eq!(llm["data"]["baseData"]["type"], "GenAI | openai");
    assert_eq!(llm["data"]["baseData"]["target"], "openai");
}

#[test]
fn sampled_out_traces_still_count() {
    let envs = run(Sampler::ratio(0.0).unwrap(), 8);
    assert!(
        !envs.iter().any(|e| e["data"]["baseType"] == "RequestData"),
        "nothing of a dropped trace is sent"
    );
    assert_eq!(standard(&envs, "requests/duration").0, 8, "{envs:#?}");
    assert_eq!(standard(&envs, "dependencies/duration").0, 16);
}

#[test]
fn switched_off_there_is_no_standard_metric_and_no_flag() {
    let (port, captured) = receiver();
    let (layer, guard) = builder(port).with_standard_metrics(false).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || requests(2));
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    assert_eq!(standard(&envs, "requests/duration").0, 0);
    assert!(envs
        .iter()
        .all(|e| e["data"]["baseData"]["properties"]["_MS.ProcessedByMetricExtractors"].is_null()));
    assert_eq!(
        envs.iter()
            .filter(|e| e["data"]["baseType"] == "RequestData")
            .count(),
        2
    );
}

const COUNTERS: [&str; 5] = [
    r"\Processor(_Total)\% Processor Time",
    r"\Process(??APP_WIN32_PROC??)\% Processor Time",
    r"\Process(??APP_WIN32_PROC??)\Private Bytes",
    r"\Memory\Available Bytes",
    r"\ASP.NET Applications(??APP_W3SVC_PROC??)\Requests/Sec",
];

fn counter_names(envs: &[Value]) -> Vec<String> {
    envs.iter()
        .filter(|e| e["data"]["baseType"] == "MetricData")
        .filter_map(|e| e["data"]["baseData"]["metrics"][0]["name"].as_str())
        .filter(|n| n.starts_with('\\'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn performance_counters_arrive_on_the_metric_interval() {
    let (port, captured) = receiver();
    let (layer, guard) = builder(port)
        .with_metric_interval(Duration::from_millis(300))
        .with_batch_delay(Duration::from_millis(100))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || requests(3));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let names = loop {
        let names = counter_names(&envelopes(&captured));
        let want: &[&str] = if cfg!(target_os = "linux") {
            &COUNTERS
        } else {
            &COUNTERS[4..]
        };
        if want.iter().all(|w| names.iter().any(|n| n == w)) || std::time::Instant::now() > deadline
        {
            break names;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    guard.shutdown(Duration::from_secs(10)).unwrap();
    for want in COUNTERS {
        if cfg!(target_os = "linux") || want.contains("Requests/Sec") {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
    }
    let envs = envelopes(&captured);
    let rss = envs
        .iter()
        .find(|e| e["data"]["baseData"]["metrics"][0]["name"] == COUNTERS[2]);
    if cfg!(target_os = "linux") {
        let v = rss.unwrap()["data"]["baseData"]["metrics"][0]["value"]
            .as_f64()
            .unwrap();
        assert!(v > 1e6, "Private Bytes {v}");
    }
}

#[test]
fn performance_counters_switch_off() {
    let (port, captured) = receiver();
    let (layer, guard) = builder(port)
        .with_metric_interval(Duration::from_millis(200))
        .with_batch_delay(Duration::from_millis(50))
        .with_performance_counters(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || requests(1));
    std::thread::sleep(Duration::from_millis(900));
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs = envelopes(&captured);
    assert!(
        counter_names(&envs).is_empty(),
        "{:?}",
        counter_names(&envs)
    );
    assert_eq!(
        standard(&envs, "requests/duration").0,
        1,
        "the standard metrics stay on"
    );
}

#[test]
fn the_exception_rate_counts_errors_of_dropped_traces() {
    let (port, captured) = receiver();
    let (layer, guard) = builder(port)
        .with_metric_interval(Duration::from_millis(300))
        .with_batch_delay(Duration::from_millis(50))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::ratio(0.0).unwrap()))
        .with(layer);
    let err = std::io::Error::other("disk full");
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            let e: &(dyn std::error::Error + 'static) = &err;
            tracing::info_span!("save", otel.kind = "server", error = e).in_scope(|| {});
        }
    });
    let name = r"\.NET CLR Exceptions(??APP_CLR_PROC??)\# of Exceps Thrown / sec";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let total = loop {
        std::thread::sleep(Duration::from_millis(200));
        let envs = envelopes(&captured);
        // rate × interval ≈ count; summed over the intervals it is 3 (within rounding).
        let total: f64 = envs
            .iter()
            .filter(|e| e["data"]["baseData"]["metrics"][0]["name"] == name)
            .map(|e| {
                e["data"]["baseData"]["metrics"][0]["value"]
                    .as_f64()
                    .unwrap()
            })
            .sum();
        if total > 0.0 || std::time::Instant::now() > deadline {
            break total;
        }
    };
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(total > 0.0, "no exception counted");
    assert!(
        envelopes(&captured)
            .iter()
            .all(|e| e["data"]["baseType"] != "ExceptionData"),
        "the dropped trace's exceptions are not sent"
    );
}
