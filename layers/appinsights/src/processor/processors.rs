//! Ready-made telemetry processors: add properties to everything, redact GenAI message
//! contents, URL query values, and values matching a pattern. The matching is the same as
//! the other exporters' ([`tracing_insights_export::redact`]).

use super::{Telemetry, TelemetryKind, TelemetryProcessor};
use tracing_insights_export::redact::{redact_query_string, Glob};

pub use tracing_insights_export::redact::{redact_query, GENAI_CONTENT, REDACTED};

/// Adds properties to every item (metrics included); a property the item already has is
/// kept.
#[derive(Debug, Clone)]
pub struct AddProperties(Vec<(String, String)>);

impl AddProperties {
    /// The properties to add.
    pub fn new<K: Into<String>, V: Into<String>>(props: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            props
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl TelemetryProcessor for AddProperties {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        for (k, v) in &self.0 {
            if item.property(k).is_none() {
                item.set_property(k.clone(), v.clone());
            }
        }
        true
    }
}

/// Replaces GenAI message contents (prompts, completions, system instructions, tool
/// arguments and results: [`GENAI_CONTENT`]) with [`REDACTED`]; the rest of a GenAI span
/// (model, token counts, ...) is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactGenAiContent;

impl TelemetryProcessor for RedactGenAiContent {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        item.map_properties(|k, _| GENAI_CONTENT.contains(&k).then(|| REDACTED.to_owned()));
        true
    }
}

/// Replaces every query value of a URL with [`REDACTED`] (`?user=bob&token=x` becomes
/// `?user=REDACTED&token=REDACTED`): a request's `url`, an HTTP dependency's `data`, and
/// the `url.full`, `http.url`, `url.query`, `http.target` properties.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactUrlQuery;

impl TelemetryProcessor for RedactUrlQuery {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        let field = match item.kind() {
            Some(TelemetryKind::Request) => Some("url"),
            Some(TelemetryKind::Dependency) => Some("data"),
            _ => None,
        };
        if let Some(f) = field {
            if let Some(v) = item.field(f).and_then(|v| v.as_str()) {
                if v.contains("://") || v.starts_with('/') {
                    let new = redact_query(v);
                    item.set_field(f, new);
                }
            }
        }
        item.map_properties(|k, v| match k {
            "url.full" | "http.url" | "http.target" => Some(redact_query(v)),
            "url.query" => Some(redact_query_string(v)),
            _ => None,
        });
        true
    }
}

/// Replaces every property value (and a log line's message) that matches with
/// [`REDACTED`]. The match is on the whole value.
pub struct RedactMatching {
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for RedactMatching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactMatching").finish_non_exhaustive()
    }
}

impl RedactMatching {
    /// A glob on the whole value: `*` matches any run of characters (also none), `?` one
    /// character, everything else itself. `"*@*.*"` matches values holding an e-mail
    /// address; `"4???-????-????-????"` a card number written in groups.
    pub fn glob(pattern: &str) -> Self {
        let glob = Glob::new(pattern);
        Self {
            matches: Box::new(move |v| glob.matches(v)),
        }
    }

    /// Any predicate on the value.
    pub fn with(matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            matches: Box::new(matches),
        }
    }
}

impl TelemetryProcessor for RedactMatching {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        item.map_properties(|_, v| (self.matches)(v).then(|| REDACTED.to_owned()));
        if item.kind() == Some(TelemetryKind::Message) {
            if let Some(m) = item.field("message").and_then(|m| m.as_str()) {
                if (self.matches)(m) {
                    item.set_field("message", REDACTED);
                }
            }
        }
        true
    }
}
