//! Metric points as MetricData envelopes, the standard metrics, and the `_OTELRESOURCE_`
//! metric.

use super::attributes::{Attrs, MAX_NAME, MAX_PROP_KEY, MAX_PROP_VALUE};
use super::part_a::{PartA, Tags};
use super::targets::{client_http_target, client_url, status_code};
use super::{envelope, METRIC};
use crate::text::{truncate, truncate_owned, value_string};
use serde_json::{json, Map, Value};
use std::time::SystemTime;
use tracing_insights_correlation::FieldValue;

/// The `_OTELRESOURCE_` metric put first in every batch: the resource's attributes as
/// properties of a metric with value 0, so the portal can show them (as Microsoft's exporter).
pub(crate) fn resource_metric(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    application_id: Option<&str>,
) -> Value {
    let mut props = part_a.resource_props.clone();
    if let Some(id) = application_id {
        props
            .entry("microsoft.applicationId")
            .or_insert_with(|| json!(id));
    }
    let bd = json!({
        "ver": 2,
        "metrics": [{"name": "_OTELRESOURCE_", "value": 0}],
        "properties": props,
    });
    envelope(METRIC, ikey, time, part_a.tags(), None, "MetricData", bd)
}

/// One aggregated metric point, as MetricData carries it: `value` (a sum for counters and histograms,
/// the value for up-down counters and gauges), `count`, and `min`/`max` for histograms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricPoint {
    pub(crate) value: f64,
    pub(crate) count: u64,
    pub(crate) min_max: Option<(f64, f64)>,
}

/// New-semconv standard metrics are recorded in seconds; Breeze wants milliseconds.
pub(super) const STANDARD_SECONDS: &[&str] = &[
    "http.server.request.duration",
    "http.client.request.duration",
];
/// Old-semconv standard metrics, already in milliseconds.
pub(super) const STANDARD_MILLIS: &[&str] = &["http.server.duration", "http.client.duration"];
/// Autocollected instruments Microsoft's exporter drops (their standard-metric twins carry
/// the same information).
pub(super) const DROPPED_METRICS: &[&str] = &[
    "http.server.request.size",
    "http.server.response.size",
    "http.server.active_requests",
    "http.client.request.size",
    "http.client.response.size",
];

/// A histogram point of a standard HTTP duration metric as a pre-aggregated standard metric:
/// its properties replaced by `_MS.MetricId` (`requests/duration`,
/// `dependencies/duration`), `_MS.IsAutocollected` and the request/dependency dimensions the
/// portal's standard charts read.
pub(super) fn standard_metric_props(
    part_a: &PartA,
    name: &str,
    a: Attrs<'_>,
) -> Map<String, Value> {
    let server = name.starts_with("http.server.");
    let code = status_code(a).unwrap_or(0);
    let success = if code != 0 && code < 400 {
        "True"
    } else {
        "False"
    };
    let tag = |k: &str| {
        part_a
            .tags
            .iter()
            .find(|(t, _)| *t == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut p = Map::new();
    if server {
        p.insert("_MS.MetricId".into(), json!("requests/duration"));
        p.insert("_MS.IsAutocollected".into(), json!("True"));
        p.insert("request/resultCode".into(), json!(code.to_string()));
        p.insert("Request.Success".into(), json!(success));
        if a.has("user_agent.synthetic.type") {
            p.insert("operation/synthetic".into(), json!("True"));
        }
    } else {
        p.insert("_MS.MetricId".into(), json!("dependencies/duration"));
        p.insert("_MS.IsAutocollected".into(), json!("True"));
        p.insert("Dependency.Type".into(), json!("http"));
        p.insert("Dependency.Success".into(), json!(success));
        let url = client_url(a);
        p.insert(
            "dependency/target".into(),
            json!(client_http_target(a, url.as_deref())),
        );
        p.insert("dependency/resultCode".into(), json!(code.to_string()));
    }
    p.insert(
        "cloud/roleInstance".into(),
        json!(tag("ai.cloud.roleInstance")),
    );
    p.insert("cloud/roleName".into(), json!(tag("ai.cloud.role")));
    p
}

/// A metric point as a MetricData envelope; `None` for the
/// autocollected instruments Microsoft's exporter drops.
pub(crate) fn metric_envelope(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    name: &str,
    attrs: &[(&'static str, FieldValue)],
    point: &MetricPoint,
) -> Option<Value> {
    if DROPPED_METRICS.contains(&name) {
        return None;
    }
    let a = Attrs(attrs);
    let standard = point.min_max.is_some()
        && (STANDARD_SECONDS.contains(&name) || STANDARD_MILLIS.contains(&name));
    let scale = if standard && STANDARD_SECONDS.contains(&name) {
        1000.0
    } else {
        1.0
    };
    let props = if standard {
        standard_metric_props(part_a, name, a)
    } else {
        let mut props = Map::new();
        for (k, v) in attrs {
            if k.is_empty() || k.chars().count() > MAX_PROP_KEY {
                continue;
            }
            props.insert(
                (*k).to_owned(),
                Value::String(truncate_owned(value_string(v), MAX_PROP_VALUE)),
            );
        }
        props
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(truncate(name, MAX_NAME)));
    m.insert("value".into(), json!(point.value * scale));
    m.insert("count".into(), json!(point.count));
    if let Some((min, max)) = point.min_max {
        m.insert("min".into(), json!(min * scale));
        m.insert("max".into(), json!(max * scale));
    }
    let mut tags = part_a.tags();
    field_tags_synthetic(a, &mut tags);
    let bd = json!({"ver": 2, "properties": props, "metrics": [Value::Object(m)]});
    Some(envelope(METRIC, ikey, time, tags, None, "MetricData", bd))
}

/// A standard metric derived from spans (`requests/duration`, `dependencies/duration`) as
/// MetricData: `props` are its dimensions, the point's values are milliseconds.
pub(crate) fn standard_metric_envelope(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    name: &str,
    props: Map<String, Value>,
    point: &MetricPoint,
) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("value".into(), json!(point.value));
    m.insert("count".into(), json!(point.count));
    if let Some((min, max)) = point.min_max {
        m.insert("min".into(), json!(min));
        m.insert("max".into(), json!(max));
    }
    let bd = json!({"ver": 2, "properties": props, "metrics": [Value::Object(m)]});
    envelope(METRIC, ikey, time, part_a.tags(), None, "MetricData", bd)
}

/// `ai.operation.syntheticSource` when the point's attributes say a bot or test made it.
pub(super) fn field_tags_synthetic(a: Attrs<'_>, tags: &mut Tags) {
    if matches!(
        a.s("user_agent.synthetic.type").as_deref(),
        Some("bot" | "test")
    ) {
        tags.set("ai.operation.syntheticSource", "True");
    }
}
