//! Metric aggregation on the worker thread: one series per (instrument, name, attribute set),
//! collected once per export interval.

use crate::config::Aggregation as Temporality;
use crate::convert::{kv, AttrValue, InstrumentKind, Measurement, Number};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, Sum,
};
use std::collections::{BTreeMap, HashMap};

/// OpenTelemetry's default explicit bucket boundaries.
pub(crate) const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The GenAI semantic conventions' advisory buckets (v1.41.0).
fn advisory_bounds(name: &str) -> Option<Vec<f64>> {
    match name {
        "gen_ai.client.token.usage" => Some(
            [
                1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
                4194304.0, 16777216.0, 67108864.0,
            ]
            .to_vec(),
        ),
        "gen_ai.client.operation.duration"
        | "gen_ai.client.operation.time_to_first_chunk"
        | "gen_ai.client.operation.time_per_output_chunk"
        | "gen_ai.server.request.duration"
        | "gen_ai.server.time_to_first_token"
        | "gen_ai.server.time_per_output_token" => Some(
            [
                0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96,
                81.92,
            ]
            .to_vec(),
        ),
        _ => None,
    }
}

type Key = (InstrumentKind, String);
type Attrs = Vec<(String, AttrValue)>;

#[derive(Debug, Clone)]
enum State {
    Sum { value: Number },
    Gauge { value: Number },
    Histogram(Hist),
}

#[derive(Debug, Clone)]
struct Hist {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

#[derive(Debug, Clone)]
struct Series {
    state: State,
    start: u64,
    /// Whether anything was recorded since the last collection (delta series with no new
    /// measurement are not reported).
    touched: bool,
}

fn add(a: Number, b: Number) -> Number {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => match x.checked_add(y) {
            Some(s) => Number::Int(s),
            None => Number::Double(x as f64 + y as f64),
        },
        (x, y) => Number::Double(x.as_f64() + y.as_f64()),
    }
}

fn point_value(n: Number) -> number_data_point::Value {
    match n {
        Number::Int(i) => number_data_point::Value::AsInt(i),
        Number::Double(d) => number_data_point::Value::AsDouble(d),
    }
}

/// The aggregator: fed measurements, collected into OTLP metrics.
#[derive(Debug)]
pub(crate) struct Aggregator {
    temporality: Temporality,
    bounds: HashMap<String, Vec<f64>>,
    series: BTreeMap<Key, HashMap<Attrs, Series>>,
    start: u64,
    /// Series cap (a cardinality explosion must not grow memory without end).
    max_series: usize,
    count: usize,
    pub(crate) overflowed: u64,
}

impl Aggregator {
    pub(crate) fn new(
        temporality: Temporality,
        bounds: HashMap<String, Vec<f64>>,
        start: u64,
    ) -> Self {
        Self {
            temporality,
            bounds,
            series: BTreeMap::new(),
            start,
            max_series: 2000,
            count: 0,
            overflowed: 0,
        }
    }

    fn delta(&self, kind: InstrumentKind) -> bool {
        match self.temporality {
            Temporality::Cumulative => false,
            Temporality::Delta => true,
            Temporality::LowMemory => kind != InstrumentKind::UpDownCounter,
        }
    }

    fn bounds_for(&self, name: &str) -> Vec<f64> {
        self.bounds
            .get(name)
            .cloned()
            .or_else(|| advisory_bounds(name))
            .unwrap_or_else(|| DEFAULT_BOUNDS.to_vec())
    }

    pub(crate) fn record(&mut self, m: Measurement, now: u64) {
        let key = (m.kind, m.name);
        let bounds = (m.kind == InstrumentKind::Histogram).then(|| self.bounds_for(&key.1));
        let at_cap = self.count >= self.max_series;
        let series_start = if self.delta(m.kind) { now } else { self.start };
        let by_attrs = self.series.entry(key).or_default();
        if !by_attrs.contains_key(&m.attributes) {
            if at_cap {
                self.overflowed += 1;
                return;
            }
            let state = match m.kind {
                InstrumentKind::Counter | InstrumentKind::UpDownCounter => State::Sum {
                    value: Number::Int(0),
                },
                InstrumentKind::Gauge => State::Gauge { value: m.value },
                InstrumentKind::Histogram => {
                    let bounds = bounds.unwrap_or_else(|| DEFAULT_BOUNDS.to_vec());
                    State::Histogram(Hist {
                        counts: vec![0; bounds.len() + 1],
                        bounds,
                        count: 0,
                        sum: 0.0,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                    })
                }
            };
            by_attrs.insert(
                m.attributes.clone(),
                Series {
                    state,
                    start: series_start,
                    touched: false,
                },
            );
            self.count += 1;
        }
        let Some(series) = by_attrs.get_mut(&m.attributes) else {
            return;
        };
        series.touched = true;
        match &mut series.state {
            State::Sum { value } => *value = add(*value, m.value),
            State::Gauge { value } => *value = m.value,
            State::Histogram(h) => {
                let v = m.value.as_f64();
                let i = h
                    .bounds
                    .iter()
                    .position(|b| v <= *b)
                    .unwrap_or(h.bounds.len());
                h.counts[i] += 1;
                h.count += 1;
                h.sum += v;
                h.min = h.min.min(v);
                h.max = h.max.max(v);
            }
        }
    }

    /// The OTLP metrics for this interval; delta series are reset, and dropped when idle.
    pub(crate) fn collect(&mut self, now: u64) -> Vec<Metric> {
        let mut out = Vec::new();
        let temporality = self.temporality;
        let delta_of = |kind: InstrumentKind| match temporality {
            Temporality::Cumulative => false,
            Temporality::Delta => true,
            Temporality::LowMemory => kind != InstrumentKind::UpDownCounter,
        };
        for ((kind, name), by_attrs) in self.series.iter_mut() {
            let delta = delta_of(*kind);
            let agg = if delta {
                AggregationTemporality::Delta
            } else {
                AggregationTemporality::Cumulative
            } as i32;
            let mut numbers = Vec::new();
            let mut hists = Vec::new();
            for (attrs, series) in by_attrs.iter_mut() {
                if delta && !series.touched {
                    continue;
                }
                let attributes: Vec<_> = attrs.iter().map(|(k, v)| kv(k, v.to_any())).collect();
                match &mut series.state {
                    State::Sum { value } | State::Gauge { value } => {
                        numbers.push(NumberDataPoint {
                            attributes,
                            start_time_unix_nano: series.start,
                            time_unix_nano: now,
                            value: Some(point_value(*value)),
                            ..Default::default()
                        });
                        if delta && matches!(series.state, State::Sum { .. }) {
                            series.state = State::Sum {
                                value: Number::Int(0),
                            };
                        }
                    }
                    State::Histogram(h) => {
                        hists.push(HistogramDataPoint {
                            attributes,
                            start_time_unix_nano: series.start,
                            time_unix_nano: now,
                            count: h.count,
                            sum: Some(h.sum),
                            bucket_counts: h.counts.clone(),
                            explicit_bounds: h.bounds.clone(),
                            min: (h.count > 0).then_some(h.min),
                            max: (h.count > 0).then_some(h.max),
                            ..Default::default()
                        });
                        if delta {
                            h.counts.iter_mut().for_each(|c| *c = 0);
                            h.count = 0;
                            h.sum = 0.0;
                            h.min = f64::INFINITY;
                            h.max = f64::NEG_INFINITY;
                        }
                    }
                }
                series.touched = false;
                if delta {
                    series.start = now;
                }
            }
            let data = match kind {
                InstrumentKind::Counter | InstrumentKind::UpDownCounter => {
                    if numbers.is_empty() {
                        continue;
                    }
                    metric::Data::Sum(Sum {
                        data_points: numbers,
                        aggregation_temporality: agg,
                        is_monotonic: *kind == InstrumentKind::Counter,
                    })
                }
                InstrumentKind::Gauge => {
                    if numbers.is_empty() {
                        continue;
                    }
                    metric::Data::Gauge(Gauge {
                        data_points: numbers,
                    })
                }
                InstrumentKind::Histogram => {
                    if hists.is_empty() {
                        continue;
                    }
                    metric::Data::Histogram(Histogram {
                        data_points: hists,
                        aggregation_temporality: agg,
                    })
                }
            };
            out.push(Metric {
                name: name.clone(),
                data: Some(data),
                ..Default::default()
            });
        }
        // A gauge is reported once per value: an idle gauge is not repeated under delta.
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: InstrumentKind, name: &str, v: Number, attr: &str) -> Measurement {
        Measurement {
            kind,
            name: name.into(),
            value: v,
            attributes: vec![("k".into(), AttrValue::Str(attr.into()))],
        }
    }

    #[test]
    fn cumulative_sums_keep_running_totals() {
        let mut a = Aggregator::new(Temporality::Cumulative, HashMap::new(), 1);
        a.record(m(InstrumentKind::Counter, "c", Number::Int(2), "a"), 2);
        a.record(m(InstrumentKind::Counter, "c", Number::Int(3), "a"), 3);
        a.record(m(InstrumentKind::Counter, "c", Number::Int(1), "b"), 3);
        let first = a.collect(10);
        assert_eq!(first.len(), 1);
        let Some(metric::Data::Sum(s)) = &first[0].data else {
            panic!()
        };
        assert_eq!(s.data_points.len(), 2);
        assert!(s.is_monotonic);
        a.record(m(InstrumentKind::Counter, "c", Number::Int(5), "a"), 11);
        let second = a.collect(20);
        let Some(metric::Data::Sum(s)) = &second[0].data else {
            panic!()
        };
        let pa = s
            .data_points
            .iter()
            .find(|p| {
                p.attributes[0].value.as_ref().unwrap().value
                    == Some(AttrValue::Str("a".into()).to_any())
            })
            .unwrap();
        assert_eq!(pa.value, Some(number_data_point::Value::AsInt(10)));
        assert_eq!(pa.start_time_unix_nano, 1);
    }

    #[test]
    fn delta_resets_and_skips_idle_series() {
        let mut a = Aggregator::new(Temporality::Delta, HashMap::new(), 1);
        a.record(
            m(InstrumentKind::Histogram, "h", Number::Double(7.0), "a"),
            2,
        );
        a.record(m(InstrumentKind::Histogram, "h", Number::Int(30), "a"), 2);
        let first = a.collect(10);
        let Some(metric::Data::Histogram(h)) = &first[0].data else {
            panic!()
        };
        assert_eq!(h.data_points[0].count, 2);
        assert_eq!(h.data_points[0].sum, Some(37.0));
        assert_eq!(h.data_points[0].bucket_counts[2], 1);
        assert_eq!(h.data_points[0].bucket_counts[4], 1);
        assert!(a.collect(20).is_empty());
    }
}
