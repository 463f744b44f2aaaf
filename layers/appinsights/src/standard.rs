//! Standard metrics derived from every request and dependency span, pre-aggregated per
//! metric interval, as Microsoft's SDKs send them: the portal's Performance and Failures
//! blades and the Metrics explorer read `requests/duration` and `dependencies/duration`.
//!
//! Every closed request or dependency span is counted, also in traces the sampler dropped
//! (the encoder sees those spans too, and counts them before it checks the sampling
//! decision), so the counts are the true ones whatever the sampling ratio. The envelopes of
//! counted spans carry `_MS.ProcessedByMetricExtractors = "True"`, which tells the ingestion
//! service not to derive the same metrics from them a second time.
//!
//! Each interval sends one MetricData per dimension set: `value` the sum of the durations in
//! milliseconds, `count`, `min` and `max` (delta: each point covers that interval only).

use crate::mapping::{BaseData, Envelope, MetricPoint, StrMap};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The metric name of the request standard metric (the name .NET's metric extractor uses;
/// the portal keys on `_MS.MetricId`).
pub(crate) const REQUEST_METRIC: &str = "Server response time";
/// The metric name of the dependency standard metric.
pub(crate) const DEPENDENCY_METRIC: &str = "Dependency duration";
/// The property that says the standard metrics of an item were pre-aggregated.
pub(crate) const PROCESSED_FLAG: &str = "_MS.ProcessedByMetricExtractors";

/// Dimension sets beyond this many in one interval are folded into one set with only
/// `_MS.MetricId`, `_MS.IsAutocollected` and the cloud role (so the counts stay right).
const MAX_SERIES: usize = 1000;

/// The per-interval aggregates, keyed by (metric name, sorted dimensions).
#[derive(Default)]
pub(crate) struct StandardMetrics {
    series: Mutex<HashMap<(&'static str, Vec<(String, String)>), MetricPoint>>,
}

impl StandardMetrics {
    /// Counts a mapped Request or RemoteDependency envelope; other envelopes are ignored.
    /// Returns whether it was counted.
    pub(crate) fn record(&self, env: &Envelope<'_>) -> bool {
        let Some((name, dims, ms)) = dimensions(env) else {
            return false;
        };
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let key = if series.len() >= MAX_SERIES && !series.contains_key(&(name, dims.clone())) {
            (name, overflow_dims(&dims))
        } else {
            (name, dims)
        };
        let p = series.entry(key).or_insert(MetricPoint {
            value: 0.0,
            count: 0,
            min_max: Some((ms, ms)),
        });
        p.value += ms;
        p.count += 1;
        if let Some((min, max)) = &mut p.min_max {
            *min = min.min(ms);
            *max = max.max(ms);
        }
        true
    }

    /// Ends the interval: its points, with their metric name and dimensions.
    pub(crate) fn collect(&self) -> Vec<(&'static str, StrMap<'static>, MetricPoint)> {
        let taken =
            std::mem::take(&mut *self.series.lock().unwrap_or_else(PoisonError::into_inner));
        taken
            .into_iter()
            .map(|((name, dims), point)| {
                let mut props = StrMap::default();
                for (k, v) in dims {
                    props.insert(k, v);
                }
                (name, props, point)
            })
            .collect()
    }
}

fn overflow_dims(dims: &[(String, String)]) -> Vec<(String, String)> {
    dims.iter()
        .filter(|(k, _)| k.starts_with("_MS.") || k.starts_with("cloud/"))
        .cloned()
        .collect()
}

/// Parses `d.hh:mm:ss.ffffff` (the envelope's duration) into milliseconds.
pub(crate) fn duration_ms(s: &str) -> Option<f64> {
    let (days, rest) = s.split_once('.')?;
    let mut parts = rest.splitn(3, ':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next()?.parse().ok()?;
    let d: f64 = days.parse().ok()?;
    Some((((d * 24.0 + h) * 60.0 + m) * 60.0 + sec) * 1000.0)
}

/// The metric name, dimensions and duration (ms) of a Request or RemoteDependency
/// envelope, with the dimensions Microsoft's standard metrics carry. For a dependency that
/// is not HTTP, `Dependency.Type` is the dependency's own type (`SQL`, `GenAI | openai`, ...)
/// and `dependency/target` its target.
fn dimensions(env: &Envelope<'_>) -> Option<(&'static str, Vec<(String, String)>, f64)> {
    let (duration, ok) = match &env.data.base_data {
        BaseData::Request(r) => (&r.duration, r.success),
        BaseData::Dependency(d) => (&d.duration, d.success),
        _ => return None,
    };
    let ms = duration_ms(duration)?;
    let tag = |k: &str| env.tags.get(k).unwrap_or_default().to_owned();
    let success = if ok { "True" } else { "False" };
    let mut dims: Vec<(String, String)> = vec![
        ("_MS.IsAutocollected".into(), "True".into()),
        ("cloud/roleInstance".into(), tag("ai.cloud.roleInstance")),
        ("cloud/roleName".into(), tag("ai.cloud.role")),
    ];
    if env.tags.contains("ai.operation.syntheticSource") {
        dims.push(("operation/synthetic".into(), "True".into()));
    }
    let metric = match &env.data.base_data {
        BaseData::Request(r) => {
            dims.push(("_MS.MetricId".into(), "requests/duration".into()));
            dims.push(("request/resultCode".into(), r.response_code.clone()));
            dims.push(("Request.Success".into(), success.into()));
            REQUEST_METRIC
        }
        BaseData::Dependency(d) => {
            dims.push(("_MS.MetricId".into(), "dependencies/duration".into()));
            dims.push(("dependency/resultCode".into(), d.result_code.clone()));
            dims.push(("Dependency.Success".into(), success.into()));
            let ty = d.dep_type.as_deref().unwrap_or_default();
            // Microsoft's HTTP standard metric says `http`; other types keep their own name.
            let ty = if ty == "HTTP" { "http" } else { ty };
            dims.push(("Dependency.Type".into(), ty.to_owned()));
            dims.push((
                "dependency/target".into(),
                d.target.clone().unwrap_or_default(),
            ));
            DEPENDENCY_METRIC
        }
        _ => return None,
    };
    dims.sort();
    Some((metric, dims, ms))
}

/// Marks a counted envelope so the service does not derive its standard metrics again.
pub(crate) fn set_processed_flag(env: &mut Envelope<'_>) {
    if let Some(props) = env.properties_mut() {
        props.insert(PROCESSED_FLAG, "True");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Data, DependencyData, RequestData};
    use serde_json::Map;

    /// A request (`code: Some`) or dependency (`dep: Some((type, target))`) envelope.
    fn env(
        duration: &str,
        code: &str,
        dep: Option<(&'static str, &'static str)>,
    ) -> Envelope<'static> {
        let mut tags = StrMap::default();
        tags.insert("ai.cloud.role", "svc");
        tags.insert("ai.cloud.roleInstance", "i");
        let base_data = match dep {
            None => BaseData::Request(RequestData {
                duration: duration.into(),
                id: "",
                measurements: Map::new(),
                name: "".into(),
                properties: StrMap::default(),
                response_code: code.into(),
                source: None,
                success: true,
                url: None,
                ver: 2,
            }),
            Some((ty, target)) => BaseData::Dependency(DependencyData {
                data: None,
                duration: duration.into(),
                id: "",
                measurements: Map::new(),
                name: "".into(),
                properties: StrMap::default(),
                result_code: code.into(),
                success: true,
                target: Some(target.into()),
                dep_type: Some(ty.into()),
                ver: 2,
            }),
        };
        Envelope {
            data: Data {
                base_data,
                base_type: "",
            },
            ikey: "",
            name: "",
            sample_rate: None,
            tags,
            time: String::new(),
        }
    }

    #[test]
    fn durations_parse_to_milliseconds() {
        assert_eq!(duration_ms("0.00:00:00.250000"), Some(250.0));
        assert_eq!(duration_ms("1.01:00:02.000000"), Some(90_002_000.0));
        assert_eq!(duration_ms("bad"), None);
    }

    #[test]
    fn aggregates_per_dimension_set_and_resets() {
        let m = StandardMetrics::default();
        assert!(m.record(&env("0.00:00:00.100000", "200", None)));
        assert!(m.record(&env("0.00:00:00.300000", "200", None)));
        assert!(m.record(&env(
            "0.00:00:00.050000",
            "0",
            Some(("GenAI | openai", "openai"))
        )));
        let mut message = env("0.00:00:00.050000", "0", None);
        message.data.base_data = BaseData::Message(crate::mapping::MessageData {
            measurements: Map::new(),
            message: "m".into(),
            properties: StrMap::default(),
            severity_level: 1,
            ver: 2,
        });
        assert!(!m.record(&message));
        let mut points = m.collect();
        points.sort_by(|a, b| b.0.cmp(a.0));
        assert_eq!(points.len(), 2);
        let (name, props, p) = &points[0];
        assert_eq!(*name, REQUEST_METRIC);
        assert_eq!(props.get("_MS.MetricId"), Some("requests/duration"));
        assert_eq!(props.get("Request.Success"), Some("True"));
        assert_eq!(props.get("request/resultCode"), Some("200"));
        assert_eq!(
            (p.value, p.count, p.min_max),
            (400.0, 2, Some((100.0, 300.0)))
        );
        let (_, props, p) = &points[1];
        assert_eq!(props.get("Dependency.Type"), Some("GenAI | openai"));
        assert_eq!(props.get("dependency/target"), Some("openai"));
        assert_eq!(p.count, 1);
        assert!(m.collect().is_empty(), "each interval starts empty");
    }
}
