//! `OTEL_*` configuration: where the environment comes from, how each variable is parsed,
//! and the errors that name the offending variable.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing_insights_correlation::Sampler;

/// Where variables come from: the presets crate's trait, the one environment source of
/// every exporter ([`ProcessEnv`], arrays and slices of pairs, [`EnvVars`]).
pub use tracing_insights_presets::{EnvSource, ProcessEnv};

/// Variables given by a test or a lookup function, so tests never mutate the process
/// environment. An [`EnvSource`]; as the others, a blank value counts as unset.
///
/// ```
/// use tracing_insights_otlp::{EnvSource, EnvVars};
/// let env = EnvVars::from_vars([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
/// assert_eq!(env.var("OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(), Some("http://127.0.0.1:4318"));
/// assert_eq!(env.var("OTEL_SDK_DISABLED"), None);
/// ```
#[derive(Clone)]
pub struct EnvVars(Source);

#[derive(Clone)]
enum Source {
    Vars(Arc<Vec<(String, String)>>),
    Fn(Arc<dyn Fn(&str) -> Option<String> + Send + Sync>),
}

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets (headers): never shown.
        match &self.0 {
            Source::Vars(v) => f
                .debug_tuple("EnvVars")
                .field(&v.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
                .finish(),
            Source::Fn(_) => f.write_str("EnvVars(fn)"),
        }
    }
}

impl EnvVars {
    /// Exactly these variables; nothing is read from the process.
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(Source::Vars(Arc::new(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )))
    }

    /// No variables at all.
    pub fn empty() -> Self {
        Self::from_vars::<String, String>([])
    }

    /// Any lookup function.
    pub fn from_fn(f: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Source::Fn(Arc::new(f)))
    }
}

impl EnvSource for EnvVars {
    fn var(&self, name: &str) -> Option<String> {
        match &self.0 {
            Source::Vars(v) => v.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            Source::Fn(f) => f(name),
        }
        .filter(|v| !v.trim().is_empty())
    }
}

/// The value of `name`, trimmed; unset and blank are both `None`, as the OpenTelemetry
/// specification says ("empty value is the same as unset").
pub(crate) fn value<E: EnvSource + ?Sized>(env: &E, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The environment a builder reads.
#[derive(Clone)]
pub(crate) struct Env {
    source: Arc<dyn EnvSource + Send + Sync>,
    process: bool,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.process {
            "Env(process)"
        } else {
            "Env(given)"
        })
    }
}

impl Env {
    pub(crate) fn process() -> Self {
        Self {
            source: Arc::new(ProcessEnv),
            process: true,
        }
    }

    pub(crate) fn given(source: impl EnvSource + Send + Sync + 'static) -> Self {
        Self {
            source: Arc::new(source),
            process: false,
        }
    }

    pub(crate) fn value(&self, name: &str) -> Option<String> {
        value(&*self.source, name)
    }

    pub(crate) fn is_process(&self) -> bool {
        self.process
    }

    /// The variables as the correlation crate's resource builder wants them.
    pub(crate) fn pairs(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .filter_map(|n| self.source.var(n).map(|v| ((*n).to_owned(), v)))
            .collect()
    }
}

/// Why an OTLP layer could not be built. Every variant names what to fix; header values are
/// never included (they are often API keys).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// An endpoint is not an absolute `http://` or `https://` URL.
    #[error("{source_name}: `{value}` is not a valid OTLP endpoint: {reason}")]
    InvalidEndpoint {
        /// The variable (or builder method) that gave it.
        source_name: String,
        /// The value (endpoints are not secret; credentials in the URL are masked).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A headers list is malformed. Only header *names* appear here.
    #[error("{source_name}: malformed headers: {reason} (expected `key1=value1,key2=value2`, values percent-encoded)")]
    InvalidHeaders {
        /// The variable (or builder method) that gave it.
        source_name: String,
        /// What is wrong (without any header value).
        reason: String,
    },
    /// An `OTEL_*` variable has a value this library does not accept.
    #[error("{name}=`{value}` is not valid: {reason}")]
    InvalidValue {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What is accepted.
        reason: String,
    },
    /// The worker thread could not be started.
    #[error("could not start the OTLP export thread: {0}")]
    Spawn(String),
}

/// The signals, protocols and temporalities are the presets crate's, so a preset's settings
/// need no conversion.
pub use tracing_insights_presets::{Protocol, Signal, Temporality};

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// `gzip` (the default here: always compiled in, never silently off).
    #[default]
    Gzip,
    /// `none`.
    None,
}

/// How sums and histograms are aggregated: a [`Temporality`], or OpenTelemetry's
/// `lowmemory` preference (delta for counters and histograms, cumulative for up-down
/// counters), which `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Aggregation {
    #[default]
    Cumulative,
    Delta,
    LowMemory,
}

impl From<Temporality> for Aggregation {
    fn from(t: Temporality) -> Self {
        match t {
            Temporality::Cumulative => Aggregation::Cumulative,
            Temporality::Delta => Aggregation::Delta,
        }
    }
}

/// The signals in the order this crate starts, checks and reports them.
pub(crate) const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

/// `traces`, `logs`, `metrics`.
pub(crate) fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "traces",
        Signal::Logs => "logs",
        Signal::Metrics => "metrics",
    }
}

/// `TRACES`, `LOGS`, `METRICS` (the infix of the signal variables).
pub(crate) fn signal_infix(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "TRACES",
        Signal::Logs => "LOGS",
        Signal::Metrics => "METRICS",
    }
}

/// The position of a signal in per-signal arrays.
pub(crate) fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

/// The `Content-Type` of a protocol's requests.
pub(crate) fn content_type(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::HttpProtobuf => "application/x-protobuf",
        Protocol::HttpJson => "application/json",
        Protocol::Grpc => "application/grpc",
    }
}

/// The default OTLP/HTTP base URL.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The default OTLP/gRPC server address.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// Checks that `url` is an absolute http(s) URL with a host.
pub(crate) fn validate_url(source_name: &str, url: &str) -> Result<(), OtlpError> {
    let err = |reason: &str| OtlpError::InvalidEndpoint {
        source_name: source_name.to_owned(),
        value: tracing_insights_export::redirect::mask_url(url),
        reason: reason.to_owned(),
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err("it contains whitespace or control characters"));
    }
    let uri: http::Uri = url.parse().map_err(|_| {
        // Say what is wrong when it is a bracket or a port.
        match tracing_insights_export::endpoint::check_endpoint(url) {
            Err(reason) => err(&reason),
            Ok(()) => err("it does not parse as a URL"),
        }
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        Some(other) => {
            return Err(err(&format!(
                "the scheme is `{other}`; OTLP needs http:// or https://"
            )))
        }
        None => return Err(err("it has no scheme; write http://host:4318")),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => {}
        _ => return Err(err("it has no host")),
    }
    // Unclosed IPv6 brackets, ports beyond 65535 or 0.
    tracing_insights_export::endpoint::check_endpoint(url).map_err(|reason| err(&reason))
}

/// Checks that every `%` in `s` starts a `%XX` escape (two hex digits): a malformed escape
/// would otherwise be sent as written.
fn check_percent_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// The per-signal URL for a base endpoint: the specification's rule (make sure the base
/// ends with `/`, then append `v1/<signal>`).
pub(crate) fn signal_url(base: &str, signal: Signal) -> String {
    let (base, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let mut url = base.trim_end_matches('/').to_owned();
    url.push('/');
    url.push_str(signal.path());
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Parses a `key1=value1,key2=value2` headers list (W3C Baggage style, values
/// percent-decoded, split on the first `=`). Errors never contain a value.
pub fn parse_headers(source_name: &str, value: &str) -> Result<Vec<(String, String)>, OtlpError> {
    let err = |reason: String| OtlpError::InvalidHeaders {
        source_name: source_name.to_owned(),
        reason,
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, pair) in value.split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = pair.split_once('=') else {
            return Err(err(format!("entry {} has no `=`", i + 1)));
        };
        if !check_percent_escapes(k) || !check_percent_escapes(v) {
            // The value is never shown: it is often an API key.
            return Err(err(format!(
                "entry {} has a `%` that does not start a %XX escape (write %25 for a literal %)",
                i + 1
            )));
        }
        let key = percent_encoding::percent_decode_str(k.trim())
            .decode_utf8()
            .map_err(|_| err(format!("entry {}: the name is not UTF-8", i + 1)))?
            .into_owned();
        if key.is_empty() {
            return Err(err(format!("entry {} has an empty name", i + 1)));
        }
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(err(format!(
                "entry {}: `{}` is not a valid header name",
                i + 1,
                key.escape_default()
            )));
        }
        let val = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| {
                err(format!(
                    "the value of `{key}` is not UTF-8 after percent-decoding"
                ))
            })?
            .into_owned();
        if val.is_empty() {
            return Err(err(format!("`{key}` has an empty value")));
        }
        if http::HeaderValue::from_str(&val).is_err() {
            return Err(err(format!(
                "the value of `{key}` has characters a header cannot carry (control characters or line breaks)"
            )));
        }
        merge_header(&mut out, key, val);
    }
    Ok(out)
}

/// Puts `key: value` into `headers`, replacing an existing header of the same name
/// (case-insensitive).
pub(crate) fn merge_header(headers: &mut Vec<(String, String)>, key: String, value: String) {
    match headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(&key))
    {
        Some(slot) => *slot = (key, value),
        None => headers.push((key, value)),
    }
}

pub(crate) fn parse_protocol(name: &str, value: &str) -> Result<Protocol, OtlpError> {
    let invalid = |reason: &str| OtlpError::InvalidValue {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    match value.to_ascii_lowercase().as_str() {
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" if cfg!(feature = "http-json") => Ok(Protocol::HttpJson),
        "http/json" => Err(invalid(
            "http/json needs the `http-json` cargo feature of tracing-insights-otlp",
        )),
        "grpc" if cfg!(feature = "grpc") => Ok(Protocol::Grpc),
        "grpc" => Err(invalid(
            "gRPC needs the `grpc` cargo feature of tracing-insights-otlp; or use http/protobuf (the collector's port 4318)",
        )),
        _ => Err(invalid("expected http/protobuf, http/json or grpc")),
    }
}

pub(crate) fn parse_compression(name: &str, value: &str) -> Result<Compression, OtlpError> {
    match value.to_ascii_lowercase().as_str() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        _ => Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "expected gzip or none".into(),
        }),
    }
}

/// An OTel "Timeout" value: integer milliseconds; `0` means no limit (`None`).
pub(crate) fn parse_millis(name: &str, value: &str) -> Result<Option<Duration>, OtlpError> {
    match value.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(ms) => Ok(Some(Duration::from_millis(ms))),
        Err(_) => Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "expected a whole number of milliseconds (0 = no limit)".into(),
        }),
    }
}

pub(crate) fn parse_positive(name: &str, value: &str) -> Result<usize, OtlpError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "expected a positive whole number".into(),
        }),
    }
}

pub(crate) fn parse_temporality(name: &str, value: &str) -> Result<Aggregation, OtlpError> {
    match value.to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Aggregation::Cumulative),
        "delta" => Ok(Aggregation::Delta),
        "lowmemory" => Ok(Aggregation::LowMemory),
        _ => Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: value.to_owned(),
            reason: "expected cumulative, delta or lowmemory".into(),
        }),
    }
}

/// A boolean variable: `true`/`false` (case-insensitive); unset or empty is `false`.
pub(crate) fn parse_bool(env: &Env, name: &str) -> Result<bool, OtlpError> {
    match env.value(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: v,
            reason: "expected true or false".into(),
        }),
    }
}

/// `OTEL_{TRACES,LOGS,METRICS}_EXPORTER`: `otlp` (default) or `none`.
pub(crate) fn exporter_enabled(env: &Env, signal: Signal) -> Result<bool, OtlpError> {
    let name = format!("OTEL_{}_EXPORTER", signal_infix(signal));
    let Some(v) = env.value(&name) else {
        return Ok(true);
    };
    let mut any = false;
    let mut otlp = false;
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        any = true;
        match part.to_ascii_lowercase().as_str() {
            "otlp" => otlp = true,
            "none" => {}
            // Other exporters are someone else's business (console, zipkin, prometheus):
            // this layer only decides whether OTLP is in the list.
            "console" | "zipkin" | "prometheus" | "logging" => {}
            _ => {
                return Err(OtlpError::InvalidValue {
                    name,
                    value: v.clone(),
                    reason: "expected otlp, none (or another exporter's name)".into(),
                })
            }
        }
    }
    Ok(!any || otlp)
}

/// Maps `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` onto the correlation layer's
/// [`Sampler`], reading the process environment. See [`sampler_from_env_source`].
pub fn sampler_from_env() -> Result<Option<Sampler>, OtlpError> {
    sampler_from_env_source(&ProcessEnv)
}

/// Maps `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` onto a [`Sampler`] (`None` when
/// `OTEL_TRACES_SAMPLER` is unset: keep the correlation layer's default).
///
/// | `OTEL_TRACES_SAMPLER` | sampler |
/// |---|---|
/// | `always_on` | [`Sampler::always_on`] |
/// | `always_off` | [`Sampler::always_off`] |
/// | `traceidratio` | [`Sampler::ratio`]`(arg)` |
/// | `parentbased_always_on` | `always_on().respect_remote_parent(true)` |
/// | `parentbased_always_off` | `always_off().respect_remote_parent(true)` |
/// | `parentbased_traceidratio` | `ratio(arg).respect_remote_parent(true)` |
///
/// The ratio uses the correlation layer's trace-id score (Application Insights' DJB2 hash,
/// so Rust, Python and .NET services keep the same traces), not OpenTelemetry's
/// `TraceIdRatioBased` algorithm: the kept fraction is the same, the kept traces may differ
/// from an OTel SDK's. Local children always follow their parent. `jaeger_remote`,
/// `parentbased_jaeger_remote` and `xray` are errors (not silently replaced).
/// `OTEL_TRACES_SAMPLER_ARG` defaults to `1.0`; a value that is not a number in `[0, 1]` is
/// an error naming the variable.
///
/// ```
/// use tracing_insights_otlp::{sampler_from_env_source, EnvVars};
/// let env = EnvVars::from_vars([
///     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
/// ]);
/// let sampler = sampler_from_env_source(&env).unwrap().unwrap();
/// assert_eq!(sampler.fraction(), 0.25);
/// ```
pub fn sampler_from_env_source<E: EnvSource + ?Sized>(
    env: &E,
) -> Result<Option<Sampler>, OtlpError> {
    const NAME: &str = "OTEL_TRACES_SAMPLER";
    const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    let Some(kind) = value(env, NAME) else {
        return Ok(None);
    };
    let ratio = || -> Result<Sampler, OtlpError> {
        let Some(arg) = value(env, ARG) else {
            return Ok(Sampler::always_on());
        };
        let invalid = || OtlpError::InvalidValue {
            name: ARG.into(),
            value: arg.clone(),
            reason: "expected a number from 0 to 1".into(),
        };
        let r: f64 = arg.parse().map_err(|_| invalid())?;
        Sampler::ratio(r).map_err(|_| invalid())
    };
    let sampler = match kind.to_ascii_lowercase().as_str() {
        "always_on" => Sampler::always_on(),
        "always_off" => Sampler::always_off(),
        "traceidratio" => ratio()?,
        "parentbased_always_on" => Sampler::always_on().respect_remote_parent(true),
        "parentbased_always_off" => Sampler::always_off().respect_remote_parent(true),
        "parentbased_traceidratio" => ratio()?.respect_remote_parent(true),
        "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
            return Err(OtlpError::InvalidValue {
                name: NAME.into(),
                value: kind,
                reason: "this sampler is not supported; use always_on, always_off, traceidratio or a parentbased_ variant".into(),
            })
        }
        _ => {
            return Err(OtlpError::InvalidValue {
                name: NAME.into(),
                value: kind,
                reason: "expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio".into(),
            })
        }
    };
    Ok(Some(sampler))
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for OtlpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OtlpError({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_urls_follow_the_spec() {
        assert_eq!(
            signal_url("http://c:4318", Signal::Traces),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            signal_url("http://c:4318/mycollector/", Signal::Logs),
            "http://c:4318/mycollector/v1/logs"
        );
        assert_eq!(
            signal_url("http://c:4318/a?x=1", Signal::Metrics),
            "http://c:4318/a/v1/metrics?x=1"
        );
    }

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(
            tracing_insights_export::redirect::mask_url("https://user:secret@host/x"),
            "https://***@host/x"
        );
        assert_eq!(
            tracing_insights_export::redirect::mask_url("http://host/x@y"),
            "http://host/x@y"
        );
        assert_eq!(
            tracing_insights_export::redirect::mask_url("https://host/v1/traces?api_key=k"),
            "https://host/v1/traces?***"
        );
    }
}
