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

/// One series of an interval: the metric, its dimensions (sorted by name) and its point.
struct Series {
    name: &'static str,
    dims: Vec<(&'static str, String)>,
    point: MetricPoint,
}

/// The series of the current interval, found by a hash of (metric, dimensions) so that
/// counting a span allocates nothing unless it starts a new series.
#[derive(Default)]
struct Interval {
    series: Vec<Series>,
    /// Hash of (metric, dimensions) to indices in `series` (a collision just holds two).
    index: HashMap<u64, Vec<usize>>,
}

/// The per-interval aggregates, keyed by (metric name, sorted dimensions).
#[derive(Default)]
pub(crate) struct StandardMetrics {
    interval: Mutex<Interval>,
}

/// Dimensions of one span, borrowed from its envelope (at most nine).
type Dims<'a> = [(&'static str, &'a str)];

fn hash(name: &str, dims: &Dims<'_>) -> u64 {
    // Word at a time (FxHash's step): short keys, no DoS concern (dimension values come from
    // this process's spans, and a collision costs a comparison, not a wrong count). The
    // dimension names are the schema's own constants: their lengths tell them apart well
    // enough, and `find` compares them in full.
    let mut h = Fx(name.len() as u64);
    h.bytes(name.as_bytes());
    for (k, v) in dims {
        h.word(k.len() as u64);
        h.bytes(v.as_bytes());
    }
    h.0
}

/// The rotate-xor-multiply step of rustc's FxHash, over 8-byte words.
struct Fx(u64);

impl Fx {
    fn word(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn bytes(&mut self, b: &[u8]) {
        let mut words = b.chunks_exact(8);
        for w in &mut words {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(w);
            self.word(u64::from_le_bytes(chunk));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(last));
        // The length ends the value: "ab" + "c" and "a" + "bc" hash apart.
        self.word(b.len() as u64);
    }
}

impl Interval {
    fn find(&self, h: u64, name: &str, dims: &Dims<'_>) -> Option<usize> {
        self.index.get(&h)?.iter().copied().find(|&i| {
            let s = &self.series[i];
            s.name == name
                && s.dims.len() == dims.len()
                && s.dims
                    .iter()
                    .zip(dims)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && v1 == v2)
        })
    }

    fn point(&mut self, name: &'static str, dims: &Dims<'_>) -> &mut MetricPoint {
        let h = hash(name, dims);
        let i = match self.find(h, name, dims) {
            Some(i) => i,
            None if self.series.len() >= MAX_SERIES => {
                let folded: Vec<(&'static str, &str)> = dims
                    .iter()
                    .copied()
                    .filter(|(k, _)| k.starts_with("_MS.") || k.starts_with("cloud/"))
                    .collect();
                let h = hash(name, &folded);
                match self.find(h, name, &folded) {
                    Some(i) => i,
                    None => self.add(h, name, &folded),
                }
            }
            None => self.add(h, name, dims),
        };
        &mut self.series[i].point
    }

    fn add(&mut self, h: u64, name: &'static str, dims: &Dims<'_>) -> usize {
        self.series.push(Series {
            name,
            dims: dims.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            point: MetricPoint {
                value: 0.0,
                count: 0,
                min_max: None,
            },
        });
        let i = self.series.len() - 1;
        self.index.entry(h).or_default().push(i);
        i
    }
}

impl StandardMetrics {
    /// Counts a mapped Request or RemoteDependency envelope; other envelopes are ignored.
    /// Returns whether it was counted.
    pub(crate) fn record(&self, env: &Envelope<'_>) -> bool {
        let mut dims = [("", ""); 9];
        let Some((name, n, ms)) = dimensions(env, &mut dims) else {
            return false;
        };
        let mut interval = self.interval.lock().unwrap_or_else(PoisonError::into_inner);
        let p = interval.point(name, &dims[..n]);
        p.value += ms;
        p.count += 1;
        p.min_max = Some(match p.min_max {
            Some((min, max)) => (min.min(ms), max.max(ms)),
            None => (ms, ms),
        });
        true
    }

    /// Ends the interval: its points, with their metric name and dimensions.
    pub(crate) fn collect(&self) -> Vec<(&'static str, StrMap<'static>, MetricPoint)> {
        let taken =
            std::mem::take(&mut *self.interval.lock().unwrap_or_else(PoisonError::into_inner));
        taken
            .series
            .into_iter()
            .map(|s| {
                let mut props = StrMap::default();
                for (k, v) in s.dims {
                    props.insert(k, v);
                }
                (s.name, props, s.point)
            })
            .collect()
    }
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
/// and `dependency/target` its target. The dimensions go into `dims`, sorted by name; the
/// count of them is returned.
fn dimensions<'a>(
    env: &'a Envelope<'_>,
    dims: &mut [(&'static str, &'a str); 9],
) -> Option<(&'static str, usize, f64)> {
    let (duration, carried, ok) = match &env.data.base_data {
        BaseData::Request(r) => (&r.duration, r.duration_ms, r.success),
        BaseData::Dependency(d) => (&d.duration, d.duration_ms, d.success),
        _ => return None,
    };
    let ms = carried.or_else(|| duration_ms(duration))?;
    let tag = |k: &str| env.tags.get(k).unwrap_or_default();
    let success = if ok { "True" } else { "False" };
    let mut n = 0;
    let mut push = |k: &'static str, v: &'a str| {
        dims[n] = (k, v);
        n += 1;
    };
    push("_MS.IsAutocollected", "True");
    push("cloud/roleInstance", tag("ai.cloud.roleInstance"));
    push("cloud/roleName", tag("ai.cloud.role"));
    if env.tags.contains("ai.operation.syntheticSource") {
        push("operation/synthetic", "True");
    }
    let metric = match &env.data.base_data {
        BaseData::Request(r) => {
            push("_MS.MetricId", "requests/duration");
            push("request/resultCode", &r.response_code);
            push("Request.Success", success);
            REQUEST_METRIC
        }
        BaseData::Dependency(d) => {
            push("_MS.MetricId", "dependencies/duration");
            push("dependency/resultCode", &d.result_code);
            push("Dependency.Success", success);
            let ty = d.dep_type.as_deref().unwrap_or_default();
            // Microsoft's HTTP standard metric says `http`; other types keep their own name.
            push("Dependency.Type", if ty == "HTTP" { "http" } else { ty });
            push("dependency/target", d.target.as_deref().unwrap_or_default());
            DEPENDENCY_METRIC
        }
        _ => return None,
    };
    dims[..n].sort_unstable_by_key(|(k, _)| *k);
    Some((metric, n, ms))
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
                // Parsed from the text, as for an envelope made anywhere else.
                duration_ms: None,
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
                duration_ms: None,
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
            time: crate::mapping::TestTimestamp(std::time::UNIX_EPOCH),
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

    #[test]
    fn series_beyond_the_limit_fold_into_one_and_keep_the_counts() {
        let m = StandardMetrics::default();
        let codes: Vec<String> = (0..MAX_SERIES + 5).map(|i| i.to_string()).collect();
        for code in &codes {
            let mut e = env("0.00:00:00.001000", "", None);
            if let BaseData::Request(r) = &mut e.data.base_data {
                r.response_code.clone_from(code);
            }
            assert!(m.record(&e));
            assert!(m.record(&e), "a known series is found again");
        }
        let points = m.collect();
        assert_eq!(points.len(), MAX_SERIES + 1);
        assert_eq!(
            points.iter().map(|(_, _, p)| p.count).sum::<u64>(),
            2 * codes.len() as u64
        );
        let folded = points
            .iter()
            .find(|(_, props, _)| props.get("request/resultCode").is_none())
            .unwrap();
        assert_eq!(folded.2.count, 10);
        assert_eq!(folded.1.get("_MS.MetricId"), Some("requests/duration"));
        assert_eq!(folded.1.get("cloud/roleName"), Some("svc"));
    }
}
