//! Ready-made telemetry processors: add properties to everything, redact GenAI message
//! contents, URL query values, and values matching a pattern.

use super::{Telemetry, TelemetryKind, TelemetryProcessor};

/// What redacted values are replaced with.
pub const REDACTED: &str = "REDACTED";

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

/// The GenAI attributes that hold conversation contents.
pub const GENAI_CONTENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.completion",
];

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

/// `url` with its query values redacted (the fragment is kept as is).
pub fn redact_query(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let Some((base, query)) = before_fragment.split_once('?') else {
        return url.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) => format!("{k}={REDACTED}"),
            None => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}{fragment}", query.join("&"))
}

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
            "url.query" => Some(redact_query(&format!("?{v}"))[1..].to_owned()),
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
        let pattern: Vec<char> = pattern.chars().collect();
        Self {
            matches: Box::new(move |v| glob_match(&pattern, v)),
        }
    }

    /// Any predicate on the value.
    pub fn with(matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            matches: Box::new(matches),
        }
    }
}

/// Whether `text` matches `pattern` (`*`, `?`), in linear time by backtracking to the
/// last `*` only.
fn glob_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| glob_match(&p.chars().collect::<Vec<_>>(), t);
        assert!(g("*@*.*", "bob@example.com"));
        assert!(g("*@*.*", "mail bob@example.com now"));
        assert!(!g("*@*.*", "no address"));
        assert!(g("4???-????", "4111-2222"));
        assert!(!g("4???-????", "4111-22223"));
        assert!(g("*", ""));
        assert!(g("a*b*c", "aXXbYYc"));
        assert!(!g("a*b*c", "aXXbYY"));
    }

    #[test]
    fn query_values() {
        assert_eq!(
            redact_query("https://h/p?user=bob&token=x#top"),
            "https://h/p?user=REDACTED&token=REDACTED#top"
        );
        assert_eq!(redact_query("https://h/p"), "https://h/p");
        assert_eq!(redact_query("/p?flag"), "/p?flag");
    }
}
