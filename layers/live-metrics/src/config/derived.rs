//! Derived metrics: a validated `DerivedMetricInfo` (projection, aggregation, filter groups)
//! and its lock-free accumulator over one post interval.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::telemetry::ItemType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Aggregation {
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Projection {
    Count,
    Duration,
    Dim(String),
}

/// Lock-free accumulator for one derived metric over one post interval.
#[derive(Debug)]
pub(super) struct Accumulator {
    pub(super) count: AtomicU64,
    pub(super) sum: AtomicU64,
    pub(super) min: AtomicU64,
    pub(super) max: AtomicU64,
}

pub(super) fn f64_update(a: &AtomicU64, f: impl Fn(f64) -> f64) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
        Some(f(f64::from_bits(bits)).to_bits())
    });
}

impl Accumulator {
    pub(super) fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }
    pub(super) fn add(&self, v: f64) {
        self.count.fetch_add(1, Ordering::AcqRel);
        f64_update(&self.sum, |s| s + v);
        f64_update(&self.min, |m| m.min(v));
        f64_update(&self.max, |m| m.max(v));
    }
    pub(super) fn take(&self, agg: Aggregation) -> f64 {
        let count = self.count.swap(0, Ordering::AcqRel);
        let sum = f64::from_bits(self.sum.swap(0f64.to_bits(), Ordering::AcqRel));
        let min = f64::from_bits(self.min.swap(f64::INFINITY.to_bits(), Ordering::AcqRel));
        let max = f64::from_bits(self.max.swap(f64::NEG_INFINITY.to_bits(), Ordering::AcqRel));
        if count == 0 {
            return 0.0;
        }
        match agg {
            Aggregation::Sum => sum,
            Aggregation::Avg => sum / count as f64,
            Aggregation::Min if min.is_finite() => min,
            Aggregation::Max if max.is_finite() => max,
            Aggregation::Min | Aggregation::Max => 0.0,
        }
    }
}

/// One `DerivedMetricInfo`, validated, with its accumulator.
#[derive(Debug)]
pub(super) struct DerivedMetric {
    pub(super) id: String,
    pub(super) ty: ItemType,
    pub(super) groups: Vec<Vec<Filter>>,
    pub(super) projection: Projection,
    pub(super) aggregation: Aggregation,
    pub(super) acc: Accumulator,
}
