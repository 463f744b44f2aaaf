//! Sentry: the OTLP endpoints and auth header derived from a DSN.

use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol, Signal};
use crate::vendors::required;

/// Sentry (traces and logs over OTLP/HTTP protobuf; Sentry does not ingest OTLP metrics).
///
/// From a DSN `{scheme}://{public_key}[:{secret}]@{host}[:{port}]/{path/prefix/}{project_id}`:
/// traces go to `{scheme}://{host[:port]}/{prefix}api/{project_id}/integration/otlp/v1/traces`,
/// logs to `…/v1/logs`, with `x-sentry-auth: sentry sentry_key={public_key}`.
///
/// ```
/// use tracing_insights_presets::{Sentry, Signal};
/// let p = Sentry::from_dsn("https://abc@o123.ingest.us.sentry.io/456").unwrap();
/// assert_eq!(
///     p.target(Signal::Traces).unwrap().url(),
///     "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces"
/// );
/// assert!(p.target(Signal::Metrics).is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Sentry;

/// The parts of a Sentry DSN the preset uses.
struct Dsn<'a> {
    scheme: &'a str,
    public_key: &'a str,
    host_port: &'a str,
    prefix: &'a str,
    project_id: &'a str,
}

fn parse_dsn(dsn: &str) -> Result<Dsn<'_>, PresetError> {
    let bad = |reason: &str| PresetError::invalid("SENTRY_DSN", reason.to_owned());
    let dsn = dsn.trim();
    let (scheme, rest) = dsn
        .split_once("://")
        .ok_or_else(|| bad("expected {scheme}://{public_key}@{host}/{project_id}"))?;
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be http or https"));
    }
    let (userinfo, rest) = rest
        .rsplit_once('@')
        .ok_or_else(|| bad("no public key: expected {public_key}@ before the host"))?;
    let public_key = userinfo.split(':').next().unwrap_or_default();
    if public_key.is_empty() || !public_key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("the public key must be non-empty letters and digits"));
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
    crate::validate::check_url(&format!("{scheme}://{host_port}"), "SENTRY_DSN")?;
    let path = path.trim_end_matches('/');
    let (prefix, project_id) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    if project_id.is_empty()
        || !project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(bad("the DSN must end with the project id, e.g. …/456"));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "the path must not contain spaces or control characters",
        ));
    }
    Ok(Dsn {
        scheme,
        public_key,
        host_port,
        prefix,
        project_id,
    })
}

impl Sentry {
    /// The preset for a DSN. The DSN's secret part, if any, is not used (OTLP ingestion needs
    /// only the public key).
    pub fn from_dsn(dsn: &str) -> Result<Preset, PresetError> {
        let d = parse_dsn(dsn)?;
        let base = format!(
            "{}://{}/{}api/{}/integration/otlp",
            d.scheme, d.host_port, d.prefix, d.project_id
        );
        let auth = format!("sentry sentry_key={}", d.public_key);
        Preset::http(
            "sentry",
            &base,
            &[Signal::Traces, Signal::Logs],
            &[("x-sentry-auth", &auth)],
            Protocol::HttpProtobuf,
            "SENTRY_DSN",
        )
    }

    /// From `SENTRY_DSN`.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `SENTRY_DSN` in `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        Self::from_dsn(&required(env, "sentry", "SENTRY_DSN", "the project's DSN")?)
    }
}
