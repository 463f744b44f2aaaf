//! Fields as properties (customDimensions) and measurements: which fields the mapping
//! consumes and leaves out, the size limits, and `sampleRate`.

use super::envelope::StrMap;
use crate::text::{truncate, truncate_owned, value_string};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use tracing_insights_correlation::FieldValue;

/// `v` cut to at most `max` characters ([`truncate`]), borrowed when it was.
pub(crate) fn cut(v: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    match v {
        Cow::Borrowed(s) => Cow::Borrowed(truncate(s, max)),
        Cow::Owned(s) => Cow::Owned(truncate_owned(s, max)),
    }
}

/// A field value as a property string ([`value_string`]), borrowed for strings and errors.
pub(crate) fn value_cow(v: &FieldValue) -> Cow<'_, str> {
    match v {
        FieldValue::Str(s) => Cow::Borrowed(s),
        FieldValue::Error(e) => Cow::Borrowed(&e.message),
        other => Cow::Owned(value_string(other)),
    }
}

pub(super) const MAX_NAME: usize = 1024;
pub(super) const MAX_CODE: usize = 1024;
pub(super) const MAX_URL: usize = 2048;
pub(super) const MAX_DATA: usize = 8192;
pub(super) const MAX_MESSAGE: usize = 32768;
pub(super) const MAX_PROP_KEY: usize = 150;
pub(super) const MAX_PROP_VALUE: usize = 8192;
pub(super) const MAX_GENAI_PROP_VALUE: usize = 256 * 1024;
pub(super) const MAX_LINKS: usize = 103;

/// Properties that may hold whole conversations get 256 KiB.
pub(super) const GENAI_LARGE: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.evaluation.explanation",
];

pub(super) const FILTERED_PREFIXES: &[&str] = &[
    "http.",
    "db.",
    "message.",
    "messaging.",
    "rpc.",
    "enduser.",
    "net.",
    "peer.",
    "exception.",
    "thread.",
    "fass.",
    "code.",
];

/// Whether Microsoft's exporter leaves a span attribute out of span properties because of
/// its prefix (`FILTERED_PREFIXES`). Public for the conformance runner (feature `testing`),
/// which explains differences by the same rule.
#[cfg_attr(not(feature = "testing"), allow(unreachable_pub))]
pub fn span_property_filtered(key: &str) -> bool {
    FILTERED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// This layer's own reserved fields (conventions for what `tracing` cannot carry).
pub(super) const RESERVED: &[&str] = &["otel.link_attributes", "otel.severity_number"];

pub(super) const FILTERED_KEYS: &[&str] = &[
    "session.id",
    "_MS.sampleRate",
    "microsoft.custom_measurements",
    "client.address",
    "client.port",
    "server.address",
    "server.port",
    "url.full",
    "url.path",
    "url.query",
    "url.scheme",
    "url.template",
    "error.type",
    "network.local.address",
    "network.local.port",
    "network.protocol.name",
    "network.peer.address",
    "network.peer.port",
    "network.protocol.version",
    "network.transport",
    "user_agent.original",
    "user_agent.synthetic.type",
];

/// A view of recorded fields with the lookups the mapping needs.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a>(pub(crate) &'a [(&'static str, FieldValue)]);

impl<'a> Attrs<'a> {
    pub(super) fn get(&self, key: &str) -> Option<&'a FieldValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// The value as a string, when present and non-empty (Python's truthiness in `or` chains).
    pub(crate) fn s(&self, key: &str) -> Option<String> {
        self.get(key).map(value_string).filter(|s| !s.is_empty())
    }
    pub(super) fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.s(k))
    }
    pub(super) fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::F64(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
            v => v.as_i64(),
        }
    }
    pub(super) fn f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            FieldValue::Str(s) => s.trim().parse().ok(),
            v => v.as_f64(),
        }
    }
}

/// The properties (customDimensions) of a span or event: every field except the standard
/// ones the mapping consumes and those Microsoft's exporter leaves out by prefix.
pub(super) fn properties(a: Attrs<'_>) -> StrMap<'_> {
    let mut props = StrMap::default();
    for (k, v) in a.0 {
        if k.is_empty()
            || k.chars().count() > MAX_PROP_KEY
            || span_property_filtered(k)
            || FILTERED_KEYS.contains(k)
            || RESERVED.contains(k)
        {
            continue;
        }
        let max = if GENAI_LARGE.contains(k) {
            MAX_GENAI_PROP_VALUE
        } else {
            MAX_PROP_VALUE
        };
        props.insert(*k, cut(value_cow(v), max));
    }
    props
}

/// `microsoft.custom_measurements` (a JSON object): numeric, finite, non-bool values.
pub(super) fn measurements(a: Attrs<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(raw) = a.s("microsoft.custom_measurements") else {
        return m;
    };
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&raw) else {
        return m;
    };
    for (k, v) in obj {
        if let Value::Number(n) = v {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                m.insert(truncate(&k, MAX_PROP_KEY).to_owned(), json!(f));
            }
        }
    }
    m
}

/// `sampleRate`: an explicit `_MS.sampleRate` field, else the sampler's percentage when it
/// keeps less than everything.
pub(super) fn sample_rate(a: Attrs<'_>, sampler_rate: f64) -> Option<f64> {
    a.f64("_MS.sampleRate")
        .or((sampler_rate < 100.0).then_some(sampler_rate))
}
