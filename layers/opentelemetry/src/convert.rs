//! OpenTelemetry values and ids as the correlation crate's types, which the App Insights
//! mapping reads.

use opentelemetry::trace::{SpanKind as OtelKind, Status};
use opentelemetry::{Array, Key, KeyValue, Value};
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, OnceLock};
use tracing_insights_correlation::{FieldValue, SpanId, SpanKind, SpanStatus, TraceId};

/// The most distinct attribute keys kept for the process: the mapping takes `&'static str`
/// keys (as `tracing` field names are), so keys are interned once and never freed. Keys are
/// usually a fixed set (semantic conventions); a program that makes keys from data would
/// otherwise grow without bound, so beyond this, new keys are dropped.
const MAX_KEYS: usize = 10_000;

/// FNV-1a: attribute keys are short and not chosen by an attacker who could profit from
/// collisions (a key set is bounded by [`MAX_KEYS`]); SipHash showed in the export profile.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type KeySet = HashSet<&'static str, BuildHasherDefault<Fnv>>;

fn interned() -> &'static Mutex<KeySet> {
    static KEYS: OnceLock<Mutex<KeySet>> = OnceLock::new();
    KEYS.get_or_init(Mutex::default)
}

thread_local! {
    /// The keys this thread already looked up: the export threads ask for the same few keys
    /// for every span, without the process-wide lock.
    static LOCAL: RefCell<KeySet> = RefCell::new(KeySet::default());
}

/// `key` as a `&'static str`, or `None` once [`MAX_KEYS`] distinct keys were seen.
pub(crate) fn intern(key: &str) -> Option<&'static str> {
    let local = LOCAL.with(|l| l.try_borrow().ok().and_then(|l| l.get(key).copied()));
    if local.is_some() {
        return local;
    }
    let k = intern_global(key)?;
    LOCAL.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.insert(k);
        }
    });
    Some(k)
}

fn intern_global(key: &str) -> Option<&'static str> {
    let mut keys = interned().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = keys.get(key) {
        return Some(k);
    }
    if keys.len() >= MAX_KEYS {
        return None;
    }
    let k: &'static str = Box::leak(key.to_owned().into_boxed_str());
    keys.insert(k);
    Some(k)
}

/// An OpenTelemetry attribute value as a typed field. Arrays become JSON text, as the
/// `tracing` path writes them.
pub(crate) fn field_value(v: &Value) -> FieldValue {
    match v {
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::I64(i) => FieldValue::I64(*i),
        Value::F64(f) => FieldValue::F64(*f),
        Value::String(s) => FieldValue::Str(s.as_str().into()),
        Value::Array(a) => FieldValue::Str(array_json(a).into()),
        other => FieldValue::Str(other.to_string().into()),
    }
}

fn array_json(a: &Array) -> String {
    let items: Vec<String> = match a {
        Array::Bool(v) => v.iter().map(|b| b.to_string()).collect(),
        Array::I64(v) => v.iter().map(|i| i.to_string()).collect(),
        Array::F64(v) => v.iter().map(|f| json_number(*f)).collect(),
        Array::String(v) => v.iter().map(|s| json_string(s.as_str())).collect(),
        _ => Vec::new(),
    };
    format!("[{}]", items.join(","))
}

fn json_number(f: f64) -> String {
    if f.is_finite() {
        let s = f.to_string();
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        json_string(&f.to_string())
    }
}

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Appends `attributes` as fields (first occurrence of a key wins, as the SDK keeps them).
pub(crate) fn push_attributes<'a>(
    out: &mut Vec<(&'static str, FieldValue)>,
    attributes: impl IntoIterator<Item = (&'a Key, &'a Value)>,
) {
    for (k, v) in attributes {
        let Some(key) = intern(k.as_str()) else {
            continue;
        };
        if out.iter().any(|(n, _)| *n == key) {
            continue;
        }
        out.push((key, field_value(v)));
    }
}

/// Attributes as fields.
pub(crate) fn fields(attributes: &[KeyValue]) -> Vec<(&'static str, FieldValue)> {
    let mut out = Vec::with_capacity(attributes.len());
    push_attributes(&mut out, attributes.iter().map(|kv| (&kv.key, &kv.value)));
    out
}

/// An OpenTelemetry trace id as ours (the same 16 bytes; no text on the way, this runs
/// for every exported span).
pub(crate) fn trace_id(id: opentelemetry::trace::TraceId) -> TraceId {
    TraceId::from_bytes(id.to_bytes())
}

/// An OpenTelemetry span id as ours; `None` for the invalid (zero) id.
pub(crate) fn span_id(id: opentelemetry::trace::SpanId) -> Option<SpanId> {
    if id == opentelemetry::trace::SpanId::INVALID {
        return None;
    }
    Some(SpanId::from_bytes(id.to_bytes()))
}

/// Our trace id as OpenTelemetry's.
pub(crate) fn otel_trace_id(id: TraceId) -> opentelemetry::trace::TraceId {
    opentelemetry::trace::TraceId::from_bytes(id.to_bytes())
}

/// Our span id as OpenTelemetry's.
pub(crate) fn otel_span_id(id: SpanId) -> opentelemetry::trace::SpanId {
    opentelemetry::trace::SpanId::from_bytes(id.to_bytes())
}

pub(crate) fn kind(k: &OtelKind) -> SpanKind {
    match k {
        OtelKind::Server => SpanKind::Server,
        OtelKind::Client => SpanKind::Client,
        OtelKind::Producer => SpanKind::Producer,
        OtelKind::Consumer => SpanKind::Consumer,
        OtelKind::Internal => SpanKind::Internal,
    }
}

pub(crate) fn status(s: &Status) -> SpanStatus {
    match s {
        Status::Unset => SpanStatus::Unset,
        Status::Ok => SpanStatus::Ok,
        Status::Error { description } => SpanStatus::Error {
            message: (!description.is_empty()).then(|| description.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_arrays_are_json() {
        let t =
            opentelemetry::trace::TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(otel_trace_id(trace_id(t)), t);
        let s = opentelemetry::trace::SpanId::from_hex("b7ad6b7169203331").unwrap();
        assert_eq!(otel_span_id(span_id(s).unwrap()), s);
        assert_eq!(span_id(opentelemetry::trace::SpanId::INVALID), None);
        let v = Value::Array(Array::String(vec!["a\"b".into(), "c".into()]));
        assert_eq!(field_value(&v), FieldValue::Str(r#"["a\"b","c"]"#.into()));
        assert_eq!(intern("k.one"), intern(&String::from("k.one")));
    }
}
