//! Our span records and events as OTLP messages (the `opentelemetry-proto` prost types).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_core::field::{Field, Visit};
use tracing_core::Level;
use tracing_insights_correlation::{
    ErrorValue, FieldValue, FinishedEvent, FinishedSpan, Resource, SpanContext, SpanKind,
    SpanStatus,
};

/// W3C `sampled` trace flag.
const SAMPLED: u32 = 0x01;
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`.
const HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
const IS_REMOTE: u32 = 0x200;

pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn str_kv(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

/// A typed field as an OTLP value: ints stay ints (a `u64`/`i128`/`u128` that does not fit
/// an `i64` becomes its decimal string, as `tracing-opentelemetry` does), floats doubles,
/// bools bools, errors their message.
pub(crate) fn any_value(value: &FieldValue) -> any_value::Value {
    use any_value::Value as V;
    match value {
        FieldValue::Bool(b) => V::BoolValue(*b),
        FieldValue::I64(i) => V::IntValue(*i),
        FieldValue::U64(u) => i64::try_from(*u)
            .map(V::IntValue)
            .unwrap_or_else(|_| V::StringValue(u.to_string())),
        FieldValue::I128(i) => i64::try_from(*i)
            .map(V::IntValue)
            .unwrap_or_else(|_| V::StringValue(i.to_string())),
        FieldValue::U128(u) => i64::try_from(*u)
            .map(V::IntValue)
            .unwrap_or_else(|_| V::StringValue(u.to_string())),
        FieldValue::F64(f) => V::DoubleValue(*f),
        FieldValue::Str(s) => V::StringValue(s.to_string()),
        FieldValue::Error(e) => V::StringValue(e.message.clone()),
        // `FieldValue` is non-exhaustive: anything new is carried as its display form.
        #[allow(unreachable_patterns)]
        other => V::StringValue(other.to_string()),
    }
}

/// The correlation layer's resource as an OTLP resource.
pub(crate) fn resource(r: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: r.iter().map(|(k, v)| str_kv(k, v)).collect(),
        ..Default::default()
    }
}

pub(crate) fn scope(name: &str) -> InstrumentationScope {
    InstrumentationScope {
        name: name.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

/// The OpenTelemetry exception attributes for an error value.
fn exception_attributes(e: &ErrorValue) -> Vec<KeyValue> {
    let mut attrs = vec![str_kv("exception.message", e.message.clone())];
    if !e.sources.is_empty() {
        // The `source()` chain, outermost first, one per line (there is no stack trace).
        let mut chain = e.message.clone();
        for s in &e.sources {
            chain.push_str("\ncaused by: ");
            chain.push_str(s);
        }
        attrs.push(str_kv("exception.stacktrace", chain));
    }
    attrs
}

fn proto_kind(kind: SpanKind) -> i32 {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as K;
    (match kind {
        SpanKind::Internal => K::Internal,
        SpanKind::Server => K::Server,
        SpanKind::Client => K::Client,
        SpanKind::Producer => K::Producer,
        SpanKind::Consumer => K::Consumer,
    }) as i32
}

fn span_flags(ctx: &SpanContext) -> u32 {
    let mut flags = HAS_IS_REMOTE;
    if ctx.sampled {
        flags |= SAMPLED;
    }
    if ctx.remote_parent {
        flags |= IS_REMOTE;
    }
    flags
}

/// A closed span's record as an OTLP span. Error fields also become `exception` span
/// events (with the `source()` chain), as OpenTelemetry records exceptions.
pub(crate) fn span(data: &FinishedSpan) -> Span {
    let ctx = data.context();
    let end = unix_nanos(data.end_time());
    let mut attributes = Vec::with_capacity(data.record().fields().len());
    let mut events = Vec::new();
    for (name, value) in data.record().fields() {
        attributes.push(kv(*name, any_value(value)));
        if let FieldValue::Error(e) = value {
            events.push(span::Event {
                time_unix_nano: end,
                name: "exception".into(),
                attributes: exception_attributes(e),
                ..Default::default()
            });
        }
    }
    let status = match data.status() {
        SpanStatus::Unset => None,
        SpanStatus::Ok => Some(Status {
            code: status::StatusCode::Ok as i32,
            message: String::new(),
        }),
        SpanStatus::Error { message } => Some(Status {
            code: status::StatusCode::Error as i32,
            message: message.unwrap_or_default(),
        }),
    };
    Span {
        trace_id: ctx.trace_id.to_bytes().to_vec(),
        span_id: ctx.span_id.to_bytes().to_vec(),
        trace_state: data.tracestate().unwrap_or_default().to_owned(),
        parent_span_id: ctx
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags: span_flags(&ctx),
        name: data.name().to_owned(),
        kind: proto_kind(data.kind()),
        start_time_unix_nano: unix_nanos(data.start_time()),
        end_time_unix_nano: end,
        attributes,
        events,
        links: data
            .links()
            .iter()
            .map(|l| span::Link {
                trace_id: l.trace_id.to_bytes().to_vec(),
                span_id: l.span_id.to_bytes().to_vec(),
                ..Default::default()
            })
            .collect(),
        status,
        ..Default::default()
    }
}

/// The OTLP severity of a `tracing` level.
pub(crate) fn severity(level: &Level) -> (i32, &'static str) {
    match *level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        _ => (17, "ERROR"),
    }
}

/// The kind of metric an event field names by its prefix (the `tracing-opentelemetry`
/// `MetricsLayer` convention, plus `gauge.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum InstrumentKind {
    /// `monotonic_counter.` — a monotonic sum.
    Counter,
    /// `counter.` — a non-monotonic sum (an up-down counter).
    UpDownCounter,
    /// `histogram.`.
    Histogram,
    /// `gauge.` — the last value.
    Gauge,
}

pub(crate) fn metric_prefix(name: &str) -> Option<(InstrumentKind, &str)> {
    for (prefix, kind) in [
        ("monotonic_counter.", InstrumentKind::Counter),
        ("counter.", InstrumentKind::UpDownCounter),
        ("histogram.", InstrumentKind::Histogram),
        ("gauge.", InstrumentKind::Gauge),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if !rest.is_empty() {
                return Some((kind, rest));
            }
        }
    }
    None
}

/// Whether an event has a field named as a metric (`monotonic_counter.x`, `counter.x`,
/// `histogram.x`, `gauge.x`): the layer's only look at a metric event on the application
/// thread (its value may still be no number; the worker skips such a field).
pub(crate) fn has_metric_field(fields: &[(&'static str, FieldValue)]) -> bool {
    fields.iter().any(|(name, _)| metric_prefix(name).is_some())
}

/// A number an event gave a metric field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Double(f64),
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Double(d) => d,
        }
    }
}

/// One metric measurement taken from an event.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    pub(crate) kind: InstrumentKind,
    pub(crate) name: String,
    pub(crate) value: Number,
    /// The event's other fields (sorted by key: the attribute set's identity).
    pub(crate) attributes: Vec<(String, AttrValue)>,
}

/// A hashable attribute value (floats by their bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AttrValue {
    Bool(bool),
    Int(i64),
    Double(u64),
    Str(String),
}

impl AttrValue {
    pub(crate) fn from_any(v: &any_value::Value) -> Self {
        match v {
            any_value::Value::BoolValue(b) => AttrValue::Bool(*b),
            any_value::Value::IntValue(i) => AttrValue::Int(*i),
            any_value::Value::DoubleValue(d) => AttrValue::Double(d.to_bits()),
            any_value::Value::StringValue(s) => AttrValue::Str(s.clone()),
            _ => AttrValue::Str(String::new()),
        }
    }

    pub(crate) fn to_any(&self) -> any_value::Value {
        match self {
            AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
            AttrValue::Int(i) => any_value::Value::IntValue(*i),
            AttrValue::Double(bits) => any_value::Value::DoubleValue(f64::from_bits(*bits)),
            AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
        }
    }
}

/// An event recorded inside a span as one of the span's events (on the worker): its fields
/// as attributes plus `level`, named by its message.
pub(crate) fn span_event(ev: &FinishedEvent) -> span::Event {
    let v = EventVisitor::of_fields(ev.fields(), false);
    let mut attributes = v.attributes;
    attributes.push(str_kv("level", ev.level().as_str()));
    span::Event {
        time_unix_nano: unix_nanos(ev.time()),
        name: v.message.unwrap_or_else(|| "event".into()),
        attributes,
        ..Default::default()
    }
}

/// Collects an event's fields: the message, the other fields as attributes (errors as
/// `exception.*`), and the metric fields.
#[derive(Default)]
pub(crate) struct EventVisitor {
    pub(crate) message: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) metrics: Vec<(InstrumentKind, &'static str, Number)>,
    pub(crate) want_metrics: bool,
}

impl EventVisitor {
    /// The message, attributes and (with `want_metrics`) metric fields of a recorded event.
    pub(crate) fn of_fields(fields: &[(&'static str, FieldValue)], want_metrics: bool) -> Self {
        let mut v = Self {
            want_metrics,
            attributes: Vec::with_capacity(fields.len()),
            ..Self::default()
        };
        for (name, value) in fields {
            v.push_value(name, value);
        }
        v
    }

    fn push(&mut self, field: &Field, value: FieldValue) {
        self.push_value(field.name(), &value);
    }

    fn push_value(&mut self, name: &'static str, value: &FieldValue) {
        // A `log`-crate record's metadata (`log.target`, `log.file`, ...): the record's
        // target is the scope (`normalized_metadata`), not an attribute.
        if tracing_insights_correlation::is_log_field(name) {
            return;
        }
        if self.want_metrics {
            if let Some((kind, metric)) = metric_prefix(name) {
                let n = match value {
                    FieldValue::I64(i) => Some(Number::Int(*i)),
                    FieldValue::U64(u) => Some(
                        i64::try_from(*u)
                            .map(Number::Int)
                            .unwrap_or(Number::Double(*u as f64)),
                    ),
                    FieldValue::I128(i) => Some(
                        i64::try_from(*i)
                            .map(Number::Int)
                            .unwrap_or(Number::Double(*i as f64)),
                    ),
                    FieldValue::U128(u) => Some(
                        i64::try_from(*u)
                            .map(Number::Int)
                            .unwrap_or(Number::Double(*u as f64)),
                    ),
                    FieldValue::F64(f) if f.is_finite() => Some(Number::Double(*f)),
                    _ => None,
                };
                if let Some(n) = n {
                    self.metrics.push((kind, metric, n));
                }
            }
        }
        if name == "message" {
            self.message = Some(value.to_string());
            return;
        }
        if let FieldValue::Error(e) = value {
            self.attributes.extend(exception_attributes(e));
            if name == "error" {
                return;
            }
        }
        self.attributes.push(kv(name, any_value(value)));
    }

    /// The event's non-metric attributes as a metric attribute set (sorted, deduplicated).
    pub(crate) fn metric_attributes(&self) -> Vec<(String, AttrValue)> {
        let mut out: Vec<(String, AttrValue)> = self
            .attributes
            .iter()
            .filter(|kv| metric_prefix(&kv.key).is_none())
            .filter_map(|kv| {
                let v = kv.value.as_ref()?.value.as_ref()?;
                Some((kv.key.clone(), AttrValue::from_any(v)))
            })
            .collect();
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    pub(crate) fn into_log(
        self,
        level: &Level,
        now: SystemTime,
        ctx: Option<SpanContext>,
    ) -> LogRecord {
        let (severity_number, severity_text) = severity(level);
        let t = unix_nanos(now);
        let (trace_id, span_id, flags) = match ctx {
            Some(c) => (
                c.trace_id.to_bytes().to_vec(),
                c.span_id.to_bytes().to_vec(),
                u32::from(c.sampled),
            ),
            None => (Vec::new(), Vec::new(), 0),
        };
        LogRecord {
            time_unix_nano: t,
            observed_time_unix_nano: t,
            severity_number,
            severity_text: severity_text.into(),
            body: self.message.map(|m| AnyValue {
                value: Some(any_value::Value::StringValue(m)),
            }),
            attributes: self.attributes,
            flags,
            trace_id,
            span_id,
            ..Default::default()
        }
    }
}

impl Visit for EventVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, FieldValue::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        // Cut at the door (the correlation crate's bound): never a full copy of a huge value.
        self.push(
            field,
            FieldValue::Str(tracing_insights_correlation::cut_str(value)),
        );
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, FieldValue::Error(ErrorValue::from_error(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(
            field,
            FieldValue::Str(tracing_insights_correlation::cut_debug(value)),
        );
    }
}
