//! Matching shared by the exporters' ready-made telemetry processors: the GenAI attributes
//! that hold conversation contents, URL query values, and whole-value globs. Each exporter
//! has its own processor types over its own view of an item; only the matching lives here,
//! so the exporters agree on what a redaction hides.

/// What redacted values are replaced with.
pub const REDACTED: &str = "REDACTED";

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

/// The attributes holding a whole URL (or a path with its query) whose query values
/// [`redact_query`] hides; `url.query` holds the query alone ([`redact_query_string`]).
pub const URL_ATTRIBUTES: &[&str] = &["url.full", "http.url", "http.target"];

/// `url` with its query values redacted (`?user=bob&token=x` becomes
/// `?user=REDACTED&token=REDACTED`; the fragment is kept as is).
pub fn redact_query(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let Some((base, query)) = before_fragment.split_once('?') else {
        return url.to_owned();
    };
    format!("{base}?{}{fragment}", redact_query_string(query))
}

/// A bare query (`user=bob&flag`) with its values redacted (`user=REDACTED&flag`).
pub fn redact_query_string(query: &str) -> String {
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) => format!("{k}={REDACTED}"),
            None => pair.to_owned(),
        })
        .collect();
    pairs.join("&")
}

/// A glob on a whole value: `*` matches any run of characters (also none), `?` one
/// character, everything else itself. `"*@*.*"` matches values holding an e-mail address;
/// `"4???-????-????-????"` a card number written in groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(Vec<char>);

impl Glob {
    /// The glob of `pattern`.
    pub fn new(pattern: &str) -> Self {
        Self(pattern.chars().collect())
    }

    /// Whether `text` matches as a whole, in linear time by backtracking to the last `*`
    /// only.
    pub fn matches(&self, text: &str) -> bool {
        let pattern = &self.0;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| Glob::new(p).matches(t);
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
        assert_eq!(redact_query_string("a=1&b"), "a=REDACTED&b");
    }
}
