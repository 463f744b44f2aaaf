//! Datadog.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

/// Datadog through a local Agent's OTLP receiver (`http://localhost:4318`; OTLP is off in
/// the Agent by default: set `DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT=0.0.0.0:4318`,
/// and `DD_OTLP_CONFIG_LOGS_ENABLED=true` for logs). Traces, metrics and logs; delta
/// temporality, which Datadog recommends.
///
/// Env: `DD_AGENT_HOST` (default `localhost`), `DD_OTLP_HTTP_PORT` (default 4318).
#[derive(Debug, Clone)]
pub struct DatadogAgent {
    host: String,
    port: u16,
}

impl Default for DatadogAgent {
    fn default() -> Self {
        Self::new()
    }
}

impl DatadogAgent {
    /// `localhost:4318`.
    pub fn new() -> Self {
        Self {
            host: "localhost".into(),
            port: 4318,
        }
    }

    /// Another Agent host.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Another OTLP/HTTP port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let base = format!("http://{}:{}", self.host, self.port);
        Ok(Preset::http(
            "datadog-agent",
            &base,
            ALL,
            &[],
            Protocol::HttpProtobuf,
            "DD_AGENT_HOST",
        )?
        .delta())
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut d = Self::new();
        if let Some(host) = env.var("DD_AGENT_HOST") {
            d.host = host;
        }
        if let Some(port) = env.var("DD_OTLP_HTTP_PORT") {
            d.port = port
                .trim()
                .parse()
                .map_err(|_| PresetError::invalid("DD_OTLP_HTTP_PORT", "must be a port number"))?;
        }
        d.build()
    }
}

/// The Datadog sites agentless OTLP intake is documented for.
pub const DATADOG_SITES: &[&str] = &[
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "ddog-gov.com",
];

/// Datadog agentless OTLP intake: `https://otlp.{site}/v1/{traces,metrics,logs}` with
/// `dd-api-key`, delta temporality (required for metrics).
///
/// The metrics URL is Datadog's documented one; the traces and logs URLs follow the same
/// pattern, which community exporters use but the stored Datadog page did not show (it names
/// per-site "otlp_trace_endpoint" values): if your site differs, override with
/// [`Preset::with_signal_url`]. `ddog-gov.com` support is unclear in Datadog's docs.
///
/// Env: `DD_API_KEY` (required), `DD_SITE` (default `datadoghq.com`; one of
/// [`DATADOG_SITES`] or any other `*.datadoghq.*` host suffix).
#[derive(Clone)]
pub struct DatadogAgentless {
    api_key: String,
    site: String,
}
redacted_debug!(DatadogAgentless { site });

impl DatadogAgentless {
    /// `datadoghq.com` (US1) with this API key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            site: "datadoghq.com".into(),
        }
    }

    /// Another site (`datadoghq.eu`, `us5.datadoghq.com`, ...).
    #[must_use]
    pub fn with_site(mut self, site: impl Into<String>) -> Self {
        self.site = site.into();
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let site = self.site.trim().trim_end_matches('/');
        if site.is_empty()
            || !site
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(PresetError::invalid(
                "DD_SITE",
                format!(
                    "must be a Datadog site such as {}",
                    DATADOG_SITES.join(", ")
                ),
            ));
        }
        Ok(Preset::http(
            "datadog",
            &format!("https://otlp.{site}"),
            ALL,
            &[("dd-api-key", &self.api_key)],
            Protocol::HttpProtobuf,
            "DD_SITE",
        )?
        .delta())
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut d = Self::new(required(env, "datadog", "DD_API_KEY", "a Datadog API key")?);
        if let Some(site) = env.var("DD_SITE") {
            d = d.with_site(site);
        }
        d.build()
    }
}
