//! The span record: what a span says about itself, recorded once for every exporter.

use crate::contain;
use compact_str::CompactString;
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use tracing_core::field::{Field, Visit};

/// A recorded field value, keeping the type `tracing` gave it so that exporters can map it
/// (OTLP keeps ints, doubles and bools; Application Insights writes strings).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// `bool`.
    Bool(bool),
    /// `i64` (and smaller signed integers).
    I64(i64),
    /// `u64` (and smaller unsigned integers).
    U64(u64),
    /// `i128`.
    I128(i128),
    /// `u128`.
    U128(u128),
    /// `f64`.
    F64(f64),
    /// A string, or a value recorded with `?` / `%` (formatted once, at record time). Up to
    /// 24 bytes it is stored inline: most span fields (methods, routes, names, ids) cost no
    /// allocation.
    Str(CompactString),
    /// A value recorded as `&dyn Error`, with its `source()` chain.
    Error(ErrorValue),
}

impl FieldValue {
    /// The value as a string slice, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an `i64`, when it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            FieldValue::I64(v) => Some(v),
            FieldValue::U64(v) => i64::try_from(v).ok(),
            FieldValue::I128(v) => i64::try_from(v).ok(),
            FieldValue::U128(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// About the bytes this value holds, for the byte bounds of exporters' queues: a string's
    /// (or an error's messages') length, plus 16 for the field's name and framing.
    pub fn held_bytes(&self) -> usize {
        FIELD_BYTES
            + match self {
                FieldValue::Str(s) => s.len(),
                FieldValue::Error(e) => {
                    e.message.len() + e.sources.iter().map(String::len).sum::<usize>()
                }
                _ => 0,
            }
    }

    /// The value as an `f64`, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::F64(v) => Some(v),
            FieldValue::I64(v) => Some(v as f64),
            FieldValue::U64(v) => Some(v as f64),
            FieldValue::I128(v) => Some(v as f64),
            FieldValue::U128(v) => Some(v as f64),
            _ => None,
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::U64(v) => write!(f, "{v}"),
            FieldValue::I128(v) => write!(f, "{v}"),
            FieldValue::U128(v) => write!(f, "{v}"),
            FieldValue::F64(v) => write!(f, "{v}"),
            FieldValue::Str(v) => f.write_str(v),
            FieldValue::Error(e) => f.write_str(&e.message),
        }
    }
}

/// An error recorded through `tracing`'s `record_error`: its message and the messages of its
/// `source()` chain, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorValue {
    /// `to_string()` of the error itself.
    pub message: String,
    /// `to_string()` of each `source()`, outermost first.
    pub sources: Vec<String>,
}

impl ErrorValue {
    /// Walks `source()` and records every message. The chain is cut at 32 links, which also
    /// ends a cyclic chain.
    ///
    /// The error's code runs contained: a `Display` that panics gives
    /// [`DISPLAY_PANICKED`](crate::DISPLAY_PANICKED) for that message, a `source()` that panics
    /// ends the chain there (see [`contained_panics`](crate::contained_panics)).
    pub fn from_error(err: &(dyn Error + 'static)) -> Self {
        let mut sources = Vec::new();
        let mut next = source_of(err);
        while let Some(e) = next {
            if sources.len() == 32 {
                break;
            }
            sources.push(contain::display_string(e));
            next = source_of(e);
        }
        Self {
            message: contain::display_string(err),
            sources,
        }
    }
}

fn source_of<'e>(err: &'e (dyn Error + 'static)) -> Option<&'e (dyn Error + 'static)> {
    contain::callback(None, || err.source())
}

/// What [`FieldValue::held_bytes`] counts for a field's name and framing.
const FIELD_BYTES: usize = 16;

/// The span kind, from the `otel.kind` field (as in `tracing-opentelemetry`); case-insensitive
/// `server`, `client`, `producer`, `consumer`, `internal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// Handles an incoming request (Application Insights: Request).
    Server,
    /// Makes an outgoing call (Application Insights: RemoteDependency).
    Client,
    /// Sends a message for later processing.
    Producer,
    /// Processes a received message (Application Insights: Request).
    Consumer,
}

impl SpanKind {
    /// Parses the `otel.kind` value; unknown values give `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let v = value.trim();
        [
            ("internal", SpanKind::Internal),
            ("server", SpanKind::Server),
            ("client", SpanKind::Client),
            ("producer", SpanKind::Producer),
            ("consumer", SpanKind::Consumer),
        ]
        .into_iter()
        .find(|(name, _)| v.eq_ignore_ascii_case(name))
        .map(|(_, k)| k)
    }

    /// The OpenTelemetry name: `internal`, `server`, `client`, `producer`, `consumer`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// The span status, from `otel.status_code` / `otel.status_message`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SpanStatus {
    /// Not set (the default).
    #[default]
    Unset,
    /// Explicitly `ok`.
    Ok,
    /// `error`, with an optional description.
    Error {
        /// `otel.status_message`, if any.
        message: Option<String>,
    },
}

/// One link from a span to another span's context (W3C ids), added with
/// [`CorrelationSpanExt::add_link`](crate::CorrelationSpanExt::add_link) or `follows_from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanLink {
    /// The linked span's trace.
    pub trace_id: crate::TraceId,
    /// The linked span.
    pub span_id: crate::SpanId,
}

/// What a span says about itself: name, kind, status and fields, recorded once.
#[derive(Clone, Debug, Default)]
pub struct SpanRecord {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) status: SpanStatus,
    pub(crate) status_message: Option<String>,
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    /// [`FieldValue::held_bytes`] of every field, kept as they are recorded.
    pub(crate) bytes: usize,
}

impl SpanRecord {
    pub(crate) fn new(name: &'static str, fields: usize) -> Self {
        Self {
            name: Cow::Borrowed(name),
            fields: Vec::with_capacity(fields),
            ..Self::default()
        }
    }

    /// The name: `otel.name` when given, else the span's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind, from `otel.kind`.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The explicit status, from `otel.status_code` and `otel.status_message`.
    pub fn status(&self) -> SpanStatus {
        match &self.status {
            SpanStatus::Error { .. } => SpanStatus::Error {
                message: self.status_message.clone(),
            },
            other => other.clone(),
        }
    }

    /// Every recorded field except the reserved `otel.*` ones, in recording order; a field
    /// recorded again keeps its place and takes the new value.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// One field's value.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// About the bytes the fields hold ([`FieldValue::held_bytes`] of each), kept as they
    /// are recorded: what an exporter counts against its queue's byte bound without
    /// walking the fields again on the application's thread.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// A visitor for a new span's attributes: a callsite's field names are unique, so no
    /// duplicate scan is needed.
    pub(crate) fn first_recording(&mut self) -> FirstRecording<'_> {
        FirstRecording(self)
    }

    fn put(&mut self, name: &'static str, value: FieldValue, bytes: usize) {
        if self.put_reserved(name, &value) {
            return;
        }
        self.bytes += bytes;
        match self.fields.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => {
                self.bytes -= slot.1.held_bytes();
                slot.1 = value;
            }
            None => self.fields.push((name, value)),
        }
    }

    fn push(&mut self, name: &'static str, value: FieldValue, bytes: usize) {
        if !self.put_reserved(name, &value) {
            self.bytes += bytes;
            self.fields.push((name, value));
        }
    }

    /// Applies an `otel.*` field to name, kind or status; `false` for any other field.
    fn put_reserved(&mut self, name: &'static str, value: &FieldValue) -> bool {
        if !name.starts_with("otel.") {
            return false;
        }
        match name {
            "otel.name" => self.name = Cow::Owned(value.to_string()),
            "otel.kind" => {
                if let Some(kind) = SpanKind::parse(&value.to_string()) {
                    self.kind = kind;
                }
            }
            "otel.status_code" => {
                let v = value.to_string();
                if v.eq_ignore_ascii_case("ok") {
                    self.status = SpanStatus::Ok;
                } else if v.eq_ignore_ascii_case("error") {
                    self.status = SpanStatus::Error { message: None };
                } else if v.eq_ignore_ascii_case("unset") {
                    self.status = SpanStatus::Unset;
                }
            }
            "otel.status_message" => self.status_message = Some(value.to_string()),
            _ => return false,
        }
        true
    }
}

/// Records a new span's attributes (see [`SpanRecord::first_recording`]).
pub(crate) struct FirstRecording<'a>(&'a mut SpanRecord);

macro_rules! record_visitor {
    ($ty:ty) => {
        impl Visit for $ty {
            fn record_f64(&mut self, field: &Field, value: f64) {
                self.put_field(field.name(), FieldValue::F64(value), FIELD_BYTES);
            }
            fn record_i64(&mut self, field: &Field, value: i64) {
                self.put_field(field.name(), FieldValue::I64(value), FIELD_BYTES);
            }
            fn record_u64(&mut self, field: &Field, value: u64) {
                self.put_field(field.name(), FieldValue::U64(value), FIELD_BYTES);
            }
            fn record_i128(&mut self, field: &Field, value: i128) {
                self.put_field(field.name(), FieldValue::I128(value), FIELD_BYTES);
            }
            fn record_u128(&mut self, field: &Field, value: u128) {
                self.put_field(field.name(), FieldValue::U128(value), FIELD_BYTES);
            }
            fn record_bool(&mut self, field: &Field, value: bool) {
                self.put_field(field.name(), FieldValue::Bool(value), FIELD_BYTES);
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                // The length from the `&str` (the cut value is never longer than the bound).
                let bytes = FIELD_BYTES + value.len().min(crate::MAX_VALUE_BYTES);
                self.put_field(field.name(), FieldValue::Str(crate::cut_str(value)), bytes);
            }
            fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
                let value = FieldValue::Error(ErrorValue::from_error(value));
                let bytes = value.held_bytes();
                self.put_field(field.name(), value, bytes);
            }
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                // Formatted here, before the layer takes the span's lock: a panicking
                // value becomes a placeholder and cannot poison anything.
                // Cut at the door: a huge value is never formatted or copied in full.
                let value = crate::cut_debug(value);
                let bytes = FIELD_BYTES + value.len();
                self.put_field(field.name(), FieldValue::Str(value), bytes);
            }
        }
    };
}

impl SpanRecord {
    fn put_field(&mut self, name: &'static str, value: FieldValue, bytes: usize) {
        self.put(name, value, bytes);
    }

    /// Applies values recorded (and formatted) earlier, outside any lock.
    pub(crate) fn apply(&mut self, pending: Pending) {
        if let Some((name, value)) = pending.first {
            let bytes = value.held_bytes();
            self.put(name, value, bytes);
        }
        for (name, value) in pending.rest {
            let bytes = value.held_bytes();
            self.put(name, value, bytes);
        }
    }
}

/// Values of one `span.record(...)` call, formatted before the span's lock is taken. The
/// first value is kept inline: `record` nearly always sets one field, and then this costs
/// no allocation beyond the value's own.
#[derive(Default)]
pub(crate) struct Pending {
    first: Option<(&'static str, FieldValue)>,
    rest: Vec<(&'static str, FieldValue)>,
}

impl Pending {
    fn put_field(&mut self, name: &'static str, value: FieldValue, _bytes: usize) {
        if self.first.is_none() {
            self.first = Some((name, value));
        } else {
            self.rest.push((name, value));
        }
    }
}

impl FirstRecording<'_> {
    fn put_field(&mut self, name: &'static str, value: FieldValue, bytes: usize) {
        self.0.push(name, value, bytes);
    }
}

/// An event's fields, in recording order (a callsite's names are unique: no duplicate scan).
#[derive(Default)]
pub(crate) struct EventFields {
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    /// [`FieldValue::held_bytes`] of every field.
    pub(crate) bytes: usize,
}

impl EventFields {
    fn put_field(&mut self, name: &'static str, value: FieldValue, bytes: usize) {
        self.bytes += bytes;
        self.fields.push((name, value));
    }
}

record_visitor!(SpanRecord);
record_visitor!(FirstRecording<'_>);
record_visitor!(Pending);
record_visitor!(EventFields);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        assert_eq!(SpanKind::parse("SERVER"), Some(SpanKind::Server));
        assert_eq!(SpanKind::parse("Client"), Some(SpanKind::Client));
        assert_eq!(SpanKind::parse("bogus"), None);
    }

    fn put(r: &mut SpanRecord, name: &'static str, value: FieldValue) {
        let bytes = value.held_bytes();
        r.put(name, value, bytes);
    }

    #[test]
    fn reserved_fields_set_name_kind_status() {
        let mut r = SpanRecord::new("span", 1);
        put(&mut r, "otel.name", FieldValue::Str("POST /chat".into()));
        put(&mut r, "otel.kind", FieldValue::Str("server".into()));
        put(&mut r, "otel.status_code", FieldValue::Str("ERROR".into()));
        put(
            &mut r,
            "otel.status_message",
            FieldValue::Str("boom".into()),
        );
        put(&mut r, "a", FieldValue::I64(1));
        put(&mut r, "a", FieldValue::I64(2));
        assert_eq!(r.name(), "POST /chat");
        assert_eq!(r.kind(), SpanKind::Server);
        assert_eq!(
            r.status(),
            SpanStatus::Error {
                message: Some("boom".into())
            }
        );
        assert_eq!(r.fields(), &[("a", FieldValue::I64(2))]);
        assert_eq!(r.held_bytes(), 16);
        put(&mut r, "s", FieldValue::Str("abc".into()));
        put(&mut r, "s", FieldValue::Str("abcdef".into()));
        assert_eq!(r.held_bytes(), 16 + 16 + 6);
    }
}
