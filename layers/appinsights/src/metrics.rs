//! Metrics from event fields (the `tracing-opentelemetry` `MetricsLayer` convention), aggregated
//! per interval per attribute set.
//!
//! | field prefix | instrument | exported as MetricData |
//! |---|---|---|
//! | `monotonic_counter.` | counter | the sum of the interval (delta), `count` 1 |
//! | `counter.` | up-down counter | the running total (cumulative), `count` 1 |
//! | `gauge.` | gauge | the last value, `count` 1 |
//! | `histogram.` | histogram | the sum of the interval, `count`, `min`, `max` (delta) |
//!
//! The hot path takes a shared read lock to find the series (a write lock only the first time
//! an attribute set is seen) and updates atomics; nothing is held across I/O.

use crate::mapping::MetricPoint;
use crate::text::value_string;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tracing_insights_correlation::FieldValue;

/// The attribute that marks the series collecting measurements beyond the cardinality cap
/// (OpenTelemetry's name).
pub(crate) const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// What an event field's prefix makes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Instrument {
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
}

impl Instrument {
    /// The instrument and metric name of a field, when it is a metric field.
    pub(crate) fn of(field: &'static str) -> Option<(Self, &'static str)> {
        [
            ("monotonic_counter.", Instrument::Counter),
            ("counter.", Instrument::UpDownCounter),
            ("gauge.", Instrument::Gauge),
            ("histogram.", Instrument::Histogram),
        ]
        .into_iter()
        .find_map(|(p, i)| field.strip_prefix(p).map(|n| (i, n)))
        .filter(|(_, n)| !n.is_empty())
    }
}

/// An `f64` in an `AtomicU64`.
#[derive(Debug)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn new(v: f64) -> Self {
        Self(AtomicU64::new(v.to_bits()))
    }
    fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Acquire))
    }
    fn store(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Release);
    }
    fn swap(&self, v: f64) -> f64 {
        f64::from_bits(self.0.swap(v.to_bits(), Ordering::AcqRel))
    }
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                Some(f(f64::from_bits(bits)).to_bits())
            });
    }
}

/// One series: an instrument, a name and an attribute set.
#[derive(Debug)]
pub(crate) struct Series {
    instrument: Instrument,
    name: &'static str,
    attrs: Vec<(&'static str, FieldValue)>,
    /// Measurements since the last collection (counter, histogram) or ever (gauge, up-down).
    count: AtomicU64,
    sum: AtomicF64,
    min: AtomicF64,
    max: AtomicF64,
}

impl Series {
    fn new(
        instrument: Instrument,
        name: &'static str,
        attrs: Vec<(&'static str, FieldValue)>,
    ) -> Self {
        Self {
            instrument,
            name,
            attrs,
            count: AtomicU64::new(0),
            sum: AtomicF64::new(0.0),
            min: AtomicF64::new(f64::INFINITY),
            max: AtomicF64::new(f64::NEG_INFINITY),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn attrs(&self) -> &[(&'static str, FieldValue)] {
        &self.attrs
    }

    fn record(&self, v: f64) {
        match self.instrument {
            Instrument::Counter | Instrument::UpDownCounter => self.sum.update(|s| s + v),
            Instrument::Gauge => self.sum.store(v),
            Instrument::Histogram => {
                self.sum.update(|s| s + v);
                self.min.update(|m| m.min(v));
                self.max.update(|m| m.max(v));
            }
        }
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// The point of the interval that ends now (and starts the next one), if there is one.
    fn collect(&self) -> Option<MetricPoint> {
        match self.instrument {
            Instrument::Counter => {
                if self.count.swap(0, Ordering::AcqRel) == 0 {
                    return None;
                }
                Some(MetricPoint {
                    value: self.sum.swap(0.0),
                    count: 1,
                    min_max: None,
                })
            }
            Instrument::UpDownCounter | Instrument::Gauge => {
                (self.count.load(Ordering::Acquire) > 0).then(|| MetricPoint {
                    value: self.sum.load(),
                    count: 1,
                    min_max: None,
                })
            }
            Instrument::Histogram => {
                let count = self.count.swap(0, Ordering::AcqRel);
                if count == 0 {
                    return None;
                }
                Some(MetricPoint {
                    value: self.sum.swap(0.0),
                    count,
                    min_max: Some((
                        self.min.swap(f64::INFINITY),
                        self.max.swap(f64::NEG_INFINITY),
                    )),
                })
            }
        }
    }
}

type Key = (Instrument, &'static str, Vec<(&'static str, String)>);

#[derive(Debug, Default)]
struct Inner {
    series: HashMap<Key, Arc<Series>>,
    per_metric: HashMap<(Instrument, &'static str), usize>,
}

/// Every series of one layer.
#[derive(Debug)]
pub(crate) struct Metrics {
    inner: RwLock<Inner>,
    limit: usize,
    overflows: AtomicU64,
}

impl Metrics {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            limit: limit.max(1),
            overflows: AtomicU64::new(0),
        }
    }

    /// Measurements that went to the overflow series because their metric already had
    /// `limit` attribute sets.
    pub(crate) fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// Records the metric fields of one event; the other fields (but `message`) are the
    /// attributes. Returns whether the event had any metric field.
    pub(crate) fn record_event(&self, fields: &[(&'static str, FieldValue)]) -> bool {
        let mut measurements: Vec<(Instrument, &'static str, f64)> = Vec::new();
        let mut attrs: Vec<(&'static str, FieldValue)> = Vec::new();
        for (k, v) in fields {
            match Instrument::of(k) {
                Some((i, name)) => {
                    if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                        measurements.push((i, name, x));
                    }
                }
                None if *k == "message" => {}
                None => attrs.push((k, v.clone())),
            }
        }
        if measurements.is_empty() {
            return fields.iter().any(|(k, _)| Instrument::of(k).is_some());
        }
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        let key_attrs: Vec<(&'static str, String)> =
            attrs.iter().map(|(k, v)| (*k, value_string(v))).collect();
        for (instrument, name, value) in measurements {
            self.series(instrument, name, &key_attrs, &attrs)
                .record(value);
        }
        true
    }

    fn series(
        &self,
        instrument: Instrument,
        name: &'static str,
        key_attrs: &[(&'static str, String)],
        attrs: &[(&'static str, FieldValue)],
    ) -> Arc<Series> {
        let key: Key = (instrument, name, key_attrs.to_vec());
        if let Some(s) = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .series
            .get(&key)
        {
            return s.clone();
        }
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = inner.series.get(&key) {
            return s.clone();
        }
        let n = inner
            .per_metric
            .get(&(instrument, name))
            .copied()
            .unwrap_or(0);
        let (key, attrs) = if n >= self.limit {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            (
                (
                    instrument,
                    name,
                    vec![(OVERFLOW_ATTRIBUTE, "True".to_owned())],
                ),
                vec![(OVERFLOW_ATTRIBUTE, FieldValue::Bool(true))],
            )
        } else {
            (key, attrs.to_vec())
        };
        if let Some(s) = inner.series.get(&key) {
            return s.clone();
        }
        if key.2.first().map(|(k, _)| *k) != Some(OVERFLOW_ATTRIBUTE) {
            *inner.per_metric.entry((instrument, name)).or_insert(0) += 1;
        }
        let s = Arc::new(Series::new(instrument, name, attrs));
        inner.series.insert(key, s.clone());
        s
    }

    /// Ends the interval: the point of every series that has one, with its name and
    /// attributes. The lock is released before the caller encodes or sends anything.
    pub(crate) fn collect(&self) -> Vec<(Arc<Series>, MetricPoint)> {
        let series: Vec<Arc<Series>> = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .series
            .values()
            .cloned()
            .collect();
        let mut out: Vec<(Arc<Series>, MetricPoint)> = series
            .into_iter()
            .filter_map(|s| s.collect().map(|p| (s, p)))
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(b.0.name));
        out
    }
}

/// Whether `field` is a metric field (`monotonic_counter.`, `counter.`, `gauge.`,
/// `histogram.` prefixes).
pub(crate) fn is_metric_field(field: &'static str) -> bool {
    Instrument::of(field).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &'static str, v: f64) -> (&'static str, FieldValue) {
        (k, FieldValue::F64(v))
    }
    fn s(k: &'static str, v: &str) -> (&'static str, FieldValue) {
        (k, FieldValue::Str(v.into()))
    }

    #[test]
    fn instruments_by_prefix() {
        assert_eq!(
            Instrument::of("monotonic_counter.x"),
            Some((Instrument::Counter, "x"))
        );
        assert_eq!(
            Instrument::of("counter.x"),
            Some((Instrument::UpDownCounter, "x"))
        );
        assert_eq!(Instrument::of("gauge.x"), Some((Instrument::Gauge, "x")));
        assert_eq!(
            Instrument::of("histogram.x"),
            Some((Instrument::Histogram, "x"))
        );
        assert_eq!(Instrument::of("counter."), None);
        assert_eq!(Instrument::of("x"), None);
    }

    #[test]
    fn cap_on_attribute_sets_is_counted() {
        let m = Metrics::new(2);
        for region in ["a", "b", "c", "d"] {
            m.record_event(&[f("monotonic_counter.hits", 1.0), s("region", region)]);
        }
        assert_eq!(m.overflows(), 2);
        let points = m.collect();
        assert_eq!(points.len(), 3);
        let overflow = points
            .iter()
            .find(|(s, _)| s.attrs()[0].0 == OVERFLOW_ATTRIBUTE)
            .unwrap();
        assert_eq!(overflow.1.value, 2.0);
    }
}
