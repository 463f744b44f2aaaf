//! Events with several metric fields, end to end: each field is its own instrument over the
//! event's other fields, the event is also a log record, and the metrics queue counts the
//! event once however many metric fields it has.

mod common;

use common::{attr_str, Receiver};
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::proto::common::v1::any_value::Value;
use tracing_insights_otlp::proto::metrics::v1::{metric::Data, number_data_point, Metric};
use tracing_subscriber::prelude::*;

fn metric<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}: {metrics:#?}"))
}

#[test]
fn several_metric_fields_on_one_event_each_count_over_the_events_other_fields() {
    let rx = Receiver::start();
    let (layer, guard) = rx.builder().build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| {
            for latency in [7_u64, 300] {
                tracing::info!(
                    monotonic_counter.requests = 1_u64,
                    histogram.latency_ms = latency,
                    gauge.temperature = 21.5,
                    counter.not_a_number = "many",
                    route = "/chat",
                    "served"
                );
            }
            // No metric field: not on the metrics queue at all.
            tracing::info!(route = "/chat", "plain");
        });
    });
    let stats = guard.stats();
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let metrics = rx.metrics();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names.len(),
        3,
        "a field with no number is no metric: {names:?}"
    );
    let Some(Data::Sum(requests)) = &metric(&metrics, "requests").data else {
        panic!("requests is a sum")
    };
    assert!(requests.is_monotonic);
    assert_eq!(requests.data_points.len(), 1);
    let point = &requests.data_points[0];
    assert_eq!(point.value, Some(number_data_point::Value::AsInt(2)));
    // The attribute set is the event's other fields: no metric field, no message.
    let keys: Vec<&str> = point.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["route"]);
    assert_eq!(attr_str(&point.attributes, "route"), Some("/chat"));
    let Some(Data::Histogram(latency)) = &metric(&metrics, "latency_ms").data else {
        panic!("latency_ms is a histogram")
    };
    let h = &latency.data_points[0];
    assert_eq!(
        (h.count, h.sum, h.min, h.max),
        (2, Some(307.0), Some(7.0), Some(300.0))
    );
    assert_eq!(attr_str(&h.attributes, "route"), Some("/chat"));
    let Some(Data::Gauge(temperature)) = &metric(&metrics, "temperature").data else {
        panic!("temperature is a gauge")
    };
    assert_eq!(
        temperature.data_points[0].value,
        Some(number_data_point::Value::AsDouble(21.5))
    );

    // Each event is a log record too, with every field.
    let logs = rx.logs();
    let served: Vec<_> = logs
        .iter()
        .filter(|l| {
            l.body.as_ref().and_then(|b| b.value.as_ref())
                == Some(&Value::StringValue("served".into()))
        })
        .collect();
    assert_eq!(served.len(), 2, "{logs:#?}");
    assert_eq!(
        attr_str(&served[0].attributes, "counter.not_a_number"),
        Some("many")
    );
    assert_eq!(served[0].trace_id.len(), 16);

    // The metrics queue took one item per event with metric fields.
    let queued = stats.kind("metrics").expect("per-signal stats");
    assert_eq!(queued.produced, 2, "{queued:?}");
    assert_eq!(queued.dropped(), 0, "{queued:?}");
}
