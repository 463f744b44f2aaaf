//! Metric points as MetricData envelopes, the standard metrics, and the `_OTELRESOURCE_`
//! metric.

use super::attributes::{cut, value_cow, Attrs, MAX_NAME, MAX_PROP_KEY, MAX_PROP_VALUE};
use super::envelope::{BaseData, Envelope, MetricData, MetricValue, StrMap};
use super::part_a::{PartA, Tags};
use super::targets::{client_http_target, client_url, status_code};
use super::{envelope, METRIC};
use crate::text::truncate;
use serde_json::json;
use std::borrow::Cow;
use std::time::SystemTime;
use tracing_insights_correlation::FieldValue;

/// The `_OTELRESOURCE_` metric put first in every batch: the resource's attributes as
/// properties of a metric with value 0, so the portal can show them (as Microsoft's exporter).
pub(crate) fn resource_metric<'a>(
    part_a: &'a PartA,
    ikey: &'a str,
    time: SystemTime,
    application_id: Option<&'a str>,
) -> Envelope<'a> {
    let mut props = part_a.resource_props.borrowed();
    if let Some(id) = application_id {
        props.insert_absent("microsoft.applicationId", || Cow::Borrowed(id));
    }
    let point = MetricValue {
        count: None,
        max: None,
        min: None,
        name: Cow::Borrowed("_OTELRESOURCE_"),
        value: json!(0),
    };
    metric_data(ikey, time, part_a.tags(), props, point)
}

fn metric_data<'a>(
    ikey: &'a str,
    time: SystemTime,
    tags: Tags<'a>,
    properties: StrMap<'a>,
    point: MetricValue<'a>,
) -> Envelope<'a> {
    let bd = MetricData {
        metrics: [point],
        properties,
        ver: 2,
    };
    envelope(
        METRIC,
        ikey,
        time,
        tags,
        None,
        "MetricData",
        BaseData::Metric(bd),
    )
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
pub(super) fn standard_metric_props<'a>(part_a: &'a PartA, name: &str, a: Attrs<'_>) -> StrMap<'a> {
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
            .map_or("", |(_, v)| v.as_str())
    };
    let mut p = StrMap::default();
    if server {
        p.insert("_MS.MetricId", "requests/duration");
        p.insert("_MS.IsAutocollected", "True");
        p.insert("request/resultCode", code.to_string());
        p.insert("Request.Success", success);
        if a.has("user_agent.synthetic.type") {
            p.insert("operation/synthetic", "True");
        }
    } else {
        p.insert("_MS.MetricId", "dependencies/duration");
        p.insert("_MS.IsAutocollected", "True");
        p.insert("Dependency.Type", "http");
        p.insert("Dependency.Success", success);
        let url = client_url(a);
        p.insert("dependency/target", client_http_target(a, url.as_deref()));
        p.insert("dependency/resultCode", code.to_string());
    }
    p.insert("cloud/roleInstance", tag("ai.cloud.roleInstance"));
    p.insert("cloud/roleName", tag("ai.cloud.role"));
    p
}

/// A metric point as a MetricData envelope; `None` for the
/// autocollected instruments Microsoft's exporter drops.
pub(crate) fn metric_envelope<'a>(
    part_a: &'a PartA,
    ikey: &'a str,
    time: SystemTime,
    name: &'a str,
    attrs: &'a [(&'static str, FieldValue)],
    point: &MetricPoint,
) -> Option<Envelope<'a>> {
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
        let mut props = StrMap::default();
        for (k, v) in attrs {
            if k.is_empty() || k.chars().count() > MAX_PROP_KEY {
                continue;
            }
            props.insert(*k, cut(value_cow(v), MAX_PROP_VALUE));
        }
        props
    };
    let m = MetricValue {
        count: Some(point.count),
        max: point.min_max.map(|(_, max)| max * scale),
        min: point.min_max.map(|(min, _)| min * scale),
        name: Cow::Borrowed(truncate(name, MAX_NAME)),
        value: json!(point.value * scale),
    };
    let mut tags = part_a.tags();
    field_tags_synthetic(a, &mut tags);
    Some(metric_data(ikey, time, tags, props, m))
}

/// A standard metric derived from spans (`requests/duration`, `dependencies/duration`) as
/// MetricData: `props` are its dimensions, the point's values are milliseconds.
pub(crate) fn standard_metric_envelope<'a>(
    part_a: &'a PartA,
    ikey: &'a str,
    time: SystemTime,
    name: &'a str,
    props: StrMap<'a>,
    point: &MetricPoint,
) -> Envelope<'a> {
    let m = MetricValue {
        count: Some(point.count),
        max: point.min_max.map(|(_, max)| max),
        min: point.min_max.map(|(min, _)| min),
        name: Cow::Borrowed(name),
        value: json!(point.value),
    };
    metric_data(ikey, time, part_a.tags(), props, m)
}

/// `ai.operation.syntheticSource` when the point's attributes say a bot or test made it.
pub(super) fn field_tags_synthetic(a: Attrs<'_>, tags: &mut Tags<'_>) {
    if matches!(
        a.s("user_agent.synthetic.type").as_deref(),
        Some("bot" | "test")
    ) {
        tags.set("ai.operation.syntheticSource", "True");
    }
}
