//! Telemetry processors: code that sees every span, log record and metric measurement
//! before it is encoded and may change its attributes or drop it (the OpenTelemetry SDK's
//! span and log processors, Sentry's `before_send`).
//!
//! A processor gets a [`Telemetry`]: this exporter's own mutable copy of one item (the
//! correlation layer's shared span record is never touched; the span is converted to its
//! OTLP message first), with its kind, name, attributes and, for a log record, its body.
//! It runs on the signal's worker thread, never on the application's. Returning `false`
//! drops the item; a panic drops it too. Both are counted as
//! [`DropReason::Processor`](crate::DropReason::Processor), a panic also in
//! [`ExportStats::contained_panics`](crate::ExportStats::contained_panics). Processors run
//! in the order they were added.
//!
//! A metric measurement is processed before it is aggregated: changing or removing an
//! attribute changes the series it is counted in, dropping it leaves it out of the sums.
//!
//! ```
//! use tracing_insights_otlp::processors::{AddAttributes, RedactGenAiContent, RedactMatching, RedactUrlQuery};
//! use tracing_insights_otlp::{OtlpLayer, Telemetry, TelemetryKind};
//!
//! let builder = OtlpLayer::builder()
//!     .with_processor(AddAttributes::new([("deployment", "blue")]))
//!     // Prompts and completions never leave the process.
//!     .with_processor(RedactGenAiContent)
//!     // `?token=abc` becomes `?token=REDACTED` in URL attributes.
//!     .with_processor(RedactUrlQuery)
//!     // Any string attribute (and log body) that looks like an e-mail address.
//!     .with_processor(RedactMatching::glob("*@*.*"))
//!     // A closure: drop health checks.
//!     .with_processor(|item: &mut Telemetry<'_>| {
//!         !(item.kind() == TelemetryKind::Span && item.str_attribute("url.path") == Some("/health"))
//!     });
//! # let _ = builder;
//! ```

use crate::config::{signal_index, Signal};
use crate::convert::{AttrValue, Measurement};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing_insights_export::chain::{run_chain, Verdict};

pub mod processors;

/// What an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryKind {
    /// A span.
    Span,
    /// A log record.
    Log,
    /// A metric measurement, before aggregation.
    Metric,
}

/// An attribute value as a processor reads and writes it. Arrays, maps and bytes (which
/// this exporter does not produce itself) read as their text.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// A string.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for AttributeValue {
    fn from(v: &str) -> Self {
        AttributeValue::Str(v.to_owned())
    }
}
impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        AttributeValue::Str(v)
    }
}
impl From<i64> for AttributeValue {
    fn from(v: i64) -> Self {
        AttributeValue::Int(v)
    }
}
impl From<f64> for AttributeValue {
    fn from(v: f64) -> Self {
        AttributeValue::Double(v)
    }
}
impl From<bool> for AttributeValue {
    fn from(v: bool) -> Self {
        AttributeValue::Bool(v)
    }
}

impl AttributeValue {
    fn from_any(v: &AnyValue) -> Self {
        match &v.value {
            Some(any_value::Value::StringValue(s)) => AttributeValue::Str(s.clone()),
            Some(any_value::Value::IntValue(i)) => AttributeValue::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => AttributeValue::Double(*d),
            Some(any_value::Value::BoolValue(b)) => AttributeValue::Bool(*b),
            Some(other) => AttributeValue::Str(format!("{other:?}")),
            None => AttributeValue::Str(String::new()),
        }
    }

    fn into_any(self) -> AnyValue {
        AnyValue {
            value: Some(match self {
                AttributeValue::Str(s) => any_value::Value::StringValue(s),
                AttributeValue::Int(i) => any_value::Value::IntValue(i),
                AttributeValue::Double(d) => any_value::Value::DoubleValue(d),
                AttributeValue::Bool(b) => any_value::Value::BoolValue(b),
            }),
        }
    }
}

/// One item on its way out, as this exporter's own mutable view of it.
pub struct Telemetry<'a> {
    kind: TelemetryKind,
    name: Option<&'a str>,
    attributes: &'a mut Vec<KeyValue>,
    body: Option<&'a mut Option<AnyValue>>,
}

impl fmt::Debug for Telemetry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("attributes", &self.attributes.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Telemetry<'a> {
    pub(crate) fn new(
        kind: TelemetryKind,
        name: Option<&'a str>,
        attributes: &'a mut Vec<KeyValue>,
        body: Option<&'a mut Option<AnyValue>>,
    ) -> Self {
        Self {
            kind,
            name,
            attributes,
            body,
        }
    }

    /// What the item is.
    pub fn kind(&self) -> TelemetryKind {
        self.kind
    }

    /// A span's or metric's name; `None` for a log record.
    pub fn name(&self) -> Option<&str> {
        self.name
    }

    /// An attribute's value.
    pub fn attribute(&self, key: &str) -> Option<AttributeValue> {
        let kv = self.attributes.iter().find(|kv| kv.key == key)?;
        Some(
            kv.value
                .as_ref()
                .map_or(AttributeValue::Str(String::new()), AttributeValue::from_any),
        )
    }

    /// A string attribute's value (`None` when absent or not a string).
    pub fn str_attribute(&self, key: &str) -> Option<&str> {
        let kv = self.attributes.iter().find(|kv| kv.key == key)?;
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// Every attribute's key, in the item's order.
    pub fn attribute_keys(&self) -> impl Iterator<Item = &str> {
        self.attributes.iter().map(|kv| kv.key.as_str())
    }

    /// Adds or replaces an attribute.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        let key = key.into();
        let value = Some(value.into().into_any());
        match self.attributes.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.attributes.push(KeyValue {
                key,
                value,
                ..Default::default()
            }),
        }
    }

    /// Removes an attribute, returning its value.
    pub fn remove_attribute(&mut self, key: &str) -> Option<AttributeValue> {
        let i = self.attributes.iter().position(|kv| kv.key == key)?;
        let kv = self.attributes.remove(i);
        Some(
            kv.value
                .as_ref()
                .map_or(AttributeValue::Str(String::new()), AttributeValue::from_any),
        )
    }

    /// Changes every string attribute's value with `f` (`None` keeps the value).
    pub fn map_str_attributes(&mut self, mut f: impl FnMut(&str, &str) -> Option<String>) {
        for kv in self.attributes.iter_mut() {
            if let Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) = &mut kv.value
            {
                if let Some(new) = f(&kv.key, s) {
                    *s = new;
                }
            }
        }
    }

    /// A log record's body when it is a string (its message).
    pub fn body(&self) -> Option<&str> {
        match self.body.as_deref()?.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s),
            _ => None,
        }
    }

    /// Replaces a log record's body; ignored on spans and metrics.
    pub fn set_body(&mut self, body: impl Into<String>) {
        if let Some(b) = self.body.as_deref_mut() {
            *b = Some(AnyValue {
                value: Some(any_value::Value::StringValue(body.into())),
            });
        }
    }
}

/// Sees each item before it is encoded; returns `false` to drop it. Any
/// `Fn(&mut Telemetry<'_>) -> bool + Send + Sync` closure is one.
pub trait TelemetryProcessor: Send + Sync + 'static {
    /// Changes `item` in place; `false` drops it.
    fn process(&self, item: &mut Telemetry<'_>) -> bool;
}

impl<F> TelemetryProcessor for F
where
    F: Fn(&mut Telemetry<'_>) -> bool + Send + Sync + 'static,
{
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        self(item)
    }
}

/// The builder's processors with their counters, shared by the signals' encoders and the
/// guard.
#[derive(Default)]
pub(crate) struct Processors {
    list: Vec<Arc<dyn TelemetryProcessor>>,
    /// The layer's panic counter: a processor's panic is a contained panic too.
    panics: Arc<AtomicU64>,
    /// Items dropped per signal (traces, logs, metrics).
    dropped: [AtomicU64; 3],
}

impl Processors {
    pub(crate) fn new(list: Vec<Arc<dyn TelemetryProcessor>>, panics: Arc<AtomicU64>) -> Self {
        Self {
            list,
            panics,
            dropped: Default::default(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Runs every processor on one item; `false`: drop it (a processor said so or
    /// panicked; counted).
    pub(crate) fn run(&self, signal: Signal, item: &mut Telemetry<'_>) -> bool {
        let verdict = run_chain(&self.list, |p| p.process(item));
        if verdict == Verdict::Panicked {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
        if !verdict.is_kept() {
            self.dropped[signal_index(signal)].fetch_add(1, Ordering::Relaxed);
        }
        verdict.is_kept()
    }

    /// Items of `signal` the processors dropped.
    pub(crate) fn dropped(&self, signal: Signal) -> u64 {
        self.dropped[signal_index(signal)].load(Ordering::Relaxed)
    }
}

/// Runs the processors on a metric measurement, its attributes seen as key-values; the
/// attributes are sorted by key again afterwards (the set's identity in the aggregator).
pub(crate) fn measurement(processors: &Processors, m: &mut Measurement) -> bool {
    let mut attributes: Vec<KeyValue> = m
        .attributes
        .drain(..)
        .map(|(key, v)| crate::convert::kv(key, v.to_any()))
        .collect();
    let mut view = Telemetry::new(TelemetryKind::Metric, Some(&m.name), &mut attributes, None);
    if !processors.run(Signal::Metrics, &mut view) {
        return false;
    }
    m.attributes = attributes
        .into_iter()
        .filter_map(|kv| Some((kv.key, AttrValue::from_any(kv.value?.value.as_ref()?))))
        .collect();
    m.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    true
}
