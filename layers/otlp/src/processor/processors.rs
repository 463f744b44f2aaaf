//! Ready-made telemetry processors: add attributes to everything, redact GenAI message
//! contents, URL query values, and values matching a pattern. The matching is the same as
//! the other exporters' ([`tracing_insights_export::redact`]).

use super::{Telemetry, TelemetryProcessor};
use tracing_insights_export::redact::{
    redact_query, redact_query_string, Glob, GENAI_CONTENT, URL_ATTRIBUTES,
};

pub use tracing_insights_export::redact::REDACTED;

/// Adds attributes to every item (metric measurements included); an attribute the item
/// already has is kept.
#[derive(Debug, Clone)]
pub struct AddAttributes(Vec<(String, String)>);

impl AddAttributes {
    /// The attributes to add.
    pub fn new<K: Into<String>, V: Into<String>>(attrs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(
            attrs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl TelemetryProcessor for AddAttributes {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        for (k, v) in &self.0 {
            if item.attribute(k).is_none() {
                item.set_attribute(k.clone(), v.clone());
            }
        }
        true
    }
}

/// Replaces GenAI message contents (prompts, completions, system instructions, tool
/// arguments and results: `gen_ai.input.messages`, `gen_ai.output.messages`, ...) with
/// [`REDACTED`]; the rest of a GenAI span (model, token counts, ...) is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactGenAiContent;

impl TelemetryProcessor for RedactGenAiContent {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        item.map_str_attributes(|k, _| GENAI_CONTENT.contains(&k).then(|| REDACTED.to_owned()));
        true
    }
}

/// Replaces every query value of a URL with [`REDACTED`] (`?user=bob&token=x` becomes
/// `?user=REDACTED&token=REDACTED`) in the `url.full`, `http.url`, `http.target` and
/// `url.query` attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactUrlQuery;

impl TelemetryProcessor for RedactUrlQuery {
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        item.map_str_attributes(|k, v| {
            if URL_ATTRIBUTES.contains(&k) {
                Some(redact_query(v))
            } else if k == "url.query" {
                Some(redact_query_string(v))
            } else {
                None
            }
        });
        true
    }
}

/// Replaces every string attribute value (and a log record's body) that matches with
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
        item.map_str_attributes(|_, v| (self.matches)(v).then(|| REDACTED.to_owned()));
        if item.body().is_some_and(|b| (self.matches)(b)) {
            item.set_body(REDACTED);
        }
        true
    }
}
