//! Every preset but Sentry (which derives its URLs from a DSN, in `sentry.rs`).
//!
//! Each vendor is a small builder: `new(...)` with what is required, consuming `with_*` /
//! region methods, `build()`, and `from_env()` / `from_env_with(env)` reading the vendor's
//! documented variables. Secrets are never shown by `Debug`.

use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol, Signal};
use crate::validate::parse_header_list;
use base64::Engine as _;
use std::fmt;

const ALL: &[Signal] = &[Signal::Traces, Signal::Metrics, Signal::Logs];
const TRACES: &[Signal] = &[Signal::Traces];

pub(crate) fn required(
    env: &(impl EnvSource + ?Sized),
    preset: &'static str,
    var: &'static str,
    what: &'static str,
) -> Result<String, PresetError> {
    env.var(var)
        .map(|v| v.trim().to_owned())
        .ok_or(PresetError::MissingVar { preset, var, what })
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `Debug` for builders: the type name and the non-secret fields only.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

// ---------------------------------------------------------------- Honeycomb

/// Honeycomb: traces, metrics and logs to `https://api.honeycomb.io` (US) or
/// `https://api.eu1.honeycomb.io` (EU) with `x-honeycomb-team: <ingest key>`.
///
/// Metrics need a dataset (`x-honeycomb-dataset`, else Honeycomb answers `unknown_metrics`):
/// they are sent only when [`with_metrics_dataset`](Self::with_metrics_dataset) (or
/// [`with_dataset`](Self::with_dataset), for Classic environments) names one. Traces and logs
/// carry the dataset header only when given one; otherwise Honeycomb files them under the
/// service name.
///
/// Env: `HONEYCOMB_API_KEY` (required), `HONEYCOMB_DATASET`, `HONEYCOMB_METRICS_DATASET`,
/// `HONEYCOMB_API_ENDPOINT` (base URL, e.g. the EU one).
#[derive(Clone)]
pub struct Honeycomb {
    api_key: String,
    base: String,
    dataset: Option<String>,
    metrics_dataset: Option<String>,
}
redacted_debug!(Honeycomb {
    base,
    dataset,
    metrics_dataset
});

impl Honeycomb {
    /// US region with this ingest key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base: "https://api.honeycomb.io".into(),
            dataset: None,
            metrics_dataset: None,
        }
    }

    /// The EU region (`https://api.eu1.honeycomb.io`).
    #[must_use]
    pub fn eu(mut self) -> Self {
        self.base = "https://api.eu1.honeycomb.io".into();
        self
    }

    /// The dataset for every signal (`x-honeycomb-dataset`; Classic environments).
    #[must_use]
    pub fn with_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.dataset = Some(dataset.into());
        self
    }

    /// The dataset for metrics only.
    #[must_use]
    pub fn with_metrics_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.metrics_dataset = Some(dataset.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let metrics = self
            .metrics_dataset
            .clone()
            .or_else(|| self.dataset.clone());
        let signals: &[Signal] = if metrics.is_some() {
            ALL
        } else {
            &[Signal::Traces, Signal::Logs]
        };
        let mut p = Preset::http(
            "honeycomb",
            &self.base,
            signals,
            &[("x-honeycomb-team", &self.api_key)],
            Protocol::HttpProtobuf,
            "HONEYCOMB_API_ENDPOINT",
        )?;
        if let Some(ds) = &self.dataset {
            p = p.with_header("x-honeycomb-dataset", ds)?;
        }
        if let Some(ds) = &metrics {
            p = p.with_signal_header(Signal::Metrics, "x-honeycomb-dataset", ds)?;
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut h = Self::new(required(
            env,
            "honeycomb",
            "HONEYCOMB_API_KEY",
            "an ingest key",
        )?);
        if let Some(base) = env.var("HONEYCOMB_API_ENDPOINT") {
            h.base = base;
        }
        if let Some(ds) = env.var("HONEYCOMB_DATASET") {
            h = h.with_dataset(ds);
        }
        if let Some(ds) = env.var("HONEYCOMB_METRICS_DATASET") {
            h = h.with_metrics_dataset(ds);
        }
        h.build()
    }
}

// ---------------------------------------------------------------- Datadog

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

// ---------------------------------------------------------------- Grafana Cloud

/// Grafana Cloud's OTLP gateway: `https://otlp-gateway-{zone}.grafana.net/otlp/v1/...`
/// (HTTP only) with `Authorization: Basic base64("{instance id}:{token}")`; the token is a
/// Cloud Access Policy token with `traces:write`, `metrics:write`, `logs:write`.
///
/// Env: `GRAFANA_CLOUD_INSTANCE_ID` (or `GRAFANA_INSTANCE_ID`), `GRAFANA_CLOUD_TOKEN`, and
/// `GRAFANA_CLOUD_ZONE` (e.g. `prod-eu-west-2`) or `GRAFANA_CLOUD_OTLP_ENDPOINT` (the whole
/// base URL from the stack's OpenTelemetry tile). `GRAFANA_OTLP_ENDPOINT`, the name other
/// frameworks' Grafana presets read, is accepted for the same base URL
/// (`GRAFANA_CLOUD_OTLP_ENDPOINT` wins when both are set); the instance id and token are then
/// required as well.
#[derive(Clone)]
pub struct GrafanaCloud {
    base: String,
    base_var: &'static str,
    instance_id: String,
    token: String,
}
redacted_debug!(GrafanaCloud { base, instance_id });

impl GrafanaCloud {
    /// For a zone such as `prod-us-east-0`.
    pub fn new(zone: &str, instance_id: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base: format!("https://otlp-gateway-{}.grafana.net/otlp", zone.trim()),
            base_var: "GRAFANA_CLOUD_ZONE",
            instance_id: instance_id.into(),
            token: token.into(),
        }
    }

    /// With the whole OTLP base URL copied from the stack.
    pub fn with_endpoint(
        endpoint: impl Into<String>,
        instance_id: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Self {
            base: endpoint.into(),
            base_var: "GRAFANA_CLOUD_OTLP_ENDPOINT",
            instance_id: instance_id.into(),
            token: token.into(),
        }
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        if self.instance_id.trim().is_empty() || self.instance_id.contains(':') {
            return Err(PresetError::invalid(
                "GRAFANA_CLOUD_INSTANCE_ID",
                "must be the stack's numeric instance id",
            ));
        }
        let auth = basic(self.instance_id.trim(), self.token.trim());
        Preset::http(
            "grafana-cloud",
            &self.base,
            ALL,
            &[("authorization", &auth)],
            Protocol::HttpProtobuf,
            self.base_var,
        )
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let id = env
            .var("GRAFANA_CLOUD_INSTANCE_ID")
            .or_else(|| env.var("GRAFANA_INSTANCE_ID"))
            .ok_or(PresetError::MissingVar {
                preset: "grafana-cloud",
                var: "GRAFANA_CLOUD_INSTANCE_ID",
                what: "the stack's instance id",
            })?;
        let token = required(
            env,
            "grafana-cloud",
            "GRAFANA_CLOUD_TOKEN",
            "a Cloud Access Policy token",
        )?;
        let endpoint = ["GRAFANA_CLOUD_OTLP_ENDPOINT", "GRAFANA_OTLP_ENDPOINT"]
            .into_iter()
            .find_map(|var| env.var(var).map(|value| (var, value)));
        match endpoint {
            Some((var, endpoint)) => {
                let mut preset = Self::with_endpoint(endpoint, id, token);
                preset.base_var = var;
                preset.build()
            }
            None => {
                let zone = required(
                    env,
                    "grafana-cloud",
                    "GRAFANA_CLOUD_ZONE",
                    "the stack's zone, e.g. prod-eu-west-2",
                )?;
                if !zone.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(PresetError::invalid(
                        "GRAFANA_CLOUD_ZONE",
                        "must look like prod-eu-west-2",
                    ));
                }
                Self::new(&zone, id, token).build()
            }
        }
    }
}

// ---------------------------------------------------------------- Axiom

/// Axiom: `https://us-east-1.aws.edge.axiom.co` (US) or `https://eu-central-1.aws.edge.axiom.co`
/// (EU), HTTP only, `Authorization: Bearer <token>`; traces and logs carry
/// `X-Axiom-Dataset`, metrics `X-Axiom-Metrics-Dataset` (one dataset per signal type;
/// metrics are sent only when a metrics dataset is named, and only as protobuf).
///
/// Env: `AXIOM_TOKEN`, `AXIOM_DATASET` (required), `AXIOM_METRICS_DATASET`, `AXIOM_URL`
/// (base override, e.g. the legacy `https://api.axiom.co`).
#[derive(Clone)]
pub struct Axiom {
    token: String,
    dataset: String,
    metrics_dataset: Option<String>,
    base: String,
}
redacted_debug!(Axiom {
    dataset,
    metrics_dataset,
    base
});

impl Axiom {
    /// US edge with this token and dataset.
    pub fn new(token: impl Into<String>, dataset: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            dataset: dataset.into(),
            metrics_dataset: None,
            base: "https://us-east-1.aws.edge.axiom.co".into(),
        }
    }

    /// The EU edge.
    #[must_use]
    pub fn eu(mut self) -> Self {
        self.base = "https://eu-central-1.aws.edge.axiom.co".into();
        self
    }

    /// Send metrics to this dataset.
    #[must_use]
    pub fn with_metrics_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.metrics_dataset = Some(dataset.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let signals: &[Signal] = if self.metrics_dataset.is_some() {
            ALL
        } else {
            &[Signal::Traces, Signal::Logs]
        };
        let auth = format!("Bearer {}", self.token.trim());
        let mut p = Preset::http(
            "axiom",
            &self.base,
            signals,
            &[("authorization", &auth)],
            Protocol::HttpProtobuf,
            "AXIOM_URL",
        )?
        .with_signal_header(Signal::Traces, "x-axiom-dataset", &self.dataset)?
        .with_signal_header(Signal::Logs, "x-axiom-dataset", &self.dataset)?;
        if let Some(ds) = &self.metrics_dataset {
            p = p.with_signal_header(Signal::Metrics, "x-axiom-metrics-dataset", ds)?;
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut a = Self::new(
            required(env, "axiom", "AXIOM_TOKEN", "an API token (xaat-…)")?,
            required(
                env,
                "axiom",
                "AXIOM_DATASET",
                "the dataset for traces and logs",
            )?,
        );
        if let Some(ds) = env.var("AXIOM_METRICS_DATASET") {
            a = a.with_metrics_dataset(ds);
        }
        if let Some(base) = env.var("AXIOM_URL") {
            a.base = base;
        }
        a.build()
    }
}

// ---------------------------------------------------------------- New Relic

/// New Relic: `https://otlp.nr-data.net` (US) or `https://otlp.eu01.nr-data.net` (EU) with
/// `api-key: <license key>`; delta temporality, as New Relic recommends.
///
/// The region follows the license key as New Relic's agents do: a key starting `eu01x` is an
/// EU account. Env: `NEW_RELIC_LICENSE_KEY` (required), `NEW_RELIC_OTLP_ENDPOINT` (base
/// override, e.g. FedRAMP `https://gov-otlp.nr-data.net`).
#[derive(Clone)]
pub struct NewRelic {
    license_key: String,
    base: Option<String>,
}
redacted_debug!(NewRelic { base });

impl NewRelic {
    /// With this license (ingest) key.
    pub fn new(license_key: impl Into<String>) -> Self {
        Self {
            license_key: license_key.into(),
            base: None,
        }
    }

    /// Another base URL.
    #[must_use]
    pub fn with_endpoint(mut self, base: impl Into<String>) -> Self {
        self.base = Some(base.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let key = self.license_key.trim();
        let base = self.base.unwrap_or_else(|| {
            if key.starts_with("eu01x") {
                "https://otlp.eu01.nr-data.net".into()
            } else {
                "https://otlp.nr-data.net".into()
            }
        });
        Ok(Preset::http(
            "newrelic",
            &base,
            ALL,
            &[("api-key", key)],
            Protocol::HttpProtobuf,
            "NEW_RELIC_OTLP_ENDPOINT",
        )?
        .delta())
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut n = Self::new(required(
            env,
            "newrelic",
            "NEW_RELIC_LICENSE_KEY",
            "a license (ingest) key",
        )?);
        if let Some(base) = env.var("NEW_RELIC_OTLP_ENDPOINT") {
            n = n.with_endpoint(base);
        }
        n.build()
    }
}

// ---------------------------------------------------------------- Dynatrace

/// Dynatrace: `https://{environment}.live.dynatrace.com/api/v2/otlp/v1/...` (or an
/// ActiveGate's `https://{ag}:9999/e/{environment}/api/v2/otlp`), **HTTP protobuf only**,
/// `Authorization: Api-Token <token>` (scopes `openTelemetryTrace.ingest`, `metrics.ingest`,
/// `logs.ingest`), **delta temporality only**.
///
/// Env: `DT_API_TOKEN` (required) and `DT_ENDPOINT` (the `…/api/v2/otlp` base) or
/// `DT_ENVIRONMENT_ID`.
#[derive(Clone)]
pub struct Dynatrace {
    base: String,
    token: String,
}
redacted_debug!(Dynatrace { base });

impl Dynatrace {
    /// A SaaS environment id such as `abc12345`.
    pub fn environment(environment_id: &str, token: impl Into<String>) -> Self {
        Self {
            base: format!(
                "https://{}.live.dynatrace.com/api/v2/otlp",
                environment_id.trim()
            ),
            token: token.into(),
        }
    }

    /// Any `…/api/v2/otlp` base (ActiveGate, Managed).
    pub fn with_endpoint(base: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            token: token.into(),
        }
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let auth = format!("Api-Token {}", self.token.trim());
        Ok(Preset::http(
            "dynatrace",
            &self.base,
            ALL,
            &[("authorization", &auth)],
            Protocol::HttpProtobuf,
            "DT_ENDPOINT",
        )?
        .delta())
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let token = required(
            env,
            "dynatrace",
            "DT_API_TOKEN",
            "an API token with the ingest scopes",
        )?;
        match env.var("DT_ENDPOINT") {
            Some(base) => Self::with_endpoint(base, token).build(),
            None => {
                let id = required(
                    env,
                    "dynatrace",
                    "DT_ENDPOINT",
                    "the …/api/v2/otlp base URL (or set DT_ENVIRONMENT_ID)",
                )
                .or_else(|e| env.var("DT_ENVIRONMENT_ID").ok_or(e))?;
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                    return Err(PresetError::invalid(
                        "DT_ENVIRONMENT_ID",
                        "must be letters, digits and '-'",
                    ));
                }
                Self::environment(&id, token).build()
            }
        }
    }
}

// ---------------------------------------------------------------- Elastic

/// Elastic: the managed OTLP endpoint (copy it from Add data → OpenTelemetry) with
/// `Authorization: ApiKey <key>`, or a self-managed APM Server (`https://<apm-server>:8200`)
/// with `Authorization: Bearer <secret token>`. Traces, metrics, logs.
///
/// Env: `ELASTIC_OTLP_ENDPOINT` + `ELASTIC_API_KEY`, or `ELASTIC_APM_SERVER_URL` +
/// `ELASTIC_APM_SECRET_TOKEN` (or `ELASTIC_APM_API_KEY`).
#[derive(Clone)]
pub struct Elastic {
    base: String,
    authorization: String,
}
redacted_debug!(Elastic { base });

impl Elastic {
    /// An endpoint with an API key (`ApiKey` scheme).
    pub fn with_api_key(endpoint: impl Into<String>, api_key: &str) -> Self {
        Self {
            base: endpoint.into(),
            authorization: format!("ApiKey {}", api_key.trim()),
        }
    }

    /// An APM Server with a secret token (`Bearer` scheme).
    pub fn with_secret_token(endpoint: impl Into<String>, token: &str) -> Self {
        Self {
            base: endpoint.into(),
            authorization: format!("Bearer {}", token.trim()),
        }
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        Preset::http(
            "elastic",
            &self.base,
            ALL,
            &[("authorization", &self.authorization)],
            Protocol::HttpProtobuf,
            "ELASTIC_OTLP_ENDPOINT",
        )
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        if let Some(endpoint) = env.var("ELASTIC_OTLP_ENDPOINT") {
            let key = required(env, "elastic", "ELASTIC_API_KEY", "an API key")?;
            return Self::with_api_key(endpoint, &key).build();
        }
        let server = required(
            env,
            "elastic",
            "ELASTIC_OTLP_ENDPOINT",
            "the managed OTLP endpoint (or set ELASTIC_APM_SERVER_URL)",
        )
        .or_else(|e| env.var("ELASTIC_APM_SERVER_URL").ok_or(e))?;
        if let Some(key) = env.var("ELASTIC_APM_API_KEY") {
            return Self::with_api_key(server, &key).build();
        }
        let token = required(
            env,
            "elastic",
            "ELASTIC_APM_SECRET_TOKEN",
            "the APM Server's secret token",
        )?;
        Self::with_secret_token(server, &token).build()
    }
}

// ---------------------------------------------------------------- SigNoz

/// SigNoz Cloud (`https://ingest.{us,eu,in}.signoz.cloud:443`, `signoz-ingestion-key`) or a
/// self-hosted collector (`http://<host>:4318`, no auth). Traces, metrics, logs.
///
/// Env: `SIGNOZ_INGESTION_KEY` + `SIGNOZ_REGION` (default `us`) for Cloud, or
/// `SIGNOZ_ENDPOINT` for self-hosted (with the key, if set, as a header).
#[derive(Clone)]
pub struct SigNoz {
    base: String,
    key: Option<String>,
}
redacted_debug!(SigNoz { base });

impl SigNoz {
    /// SigNoz Cloud in `region` (`us`, `eu`, `in`).
    pub fn cloud(region: &str, ingestion_key: impl Into<String>) -> Self {
        Self {
            base: format!("https://ingest.{}.signoz.cloud:443", region.trim()),
            key: Some(ingestion_key.into()),
        }
    }

    /// A self-hosted collector.
    pub fn self_hosted(endpoint: impl Into<String>) -> Self {
        Self {
            base: endpoint.into(),
            key: None,
        }
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let headers: Vec<(&str, &str)> = self
            .key
            .as_deref()
            .map(|k| vec![("signoz-ingestion-key", k.trim())])
            .unwrap_or_default();
        Preset::http(
            "signoz",
            &self.base,
            ALL,
            &headers,
            Protocol::HttpProtobuf,
            "SIGNOZ_ENDPOINT",
        )
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        if let Some(endpoint) = env.var("SIGNOZ_ENDPOINT") {
            let mut s = Self::self_hosted(endpoint);
            s.key = env.var("SIGNOZ_INGESTION_KEY");
            return s.build();
        }
        let key = required(
            env,
            "signoz",
            "SIGNOZ_INGESTION_KEY",
            "a SigNoz Cloud ingestion key (or set SIGNOZ_ENDPOINT)",
        )?;
        let region = env.var("SIGNOZ_REGION").unwrap_or_else(|| "us".into());
        if !["us", "eu", "in"].contains(&region.trim()) {
            return Err(PresetError::invalid(
                "SIGNOZ_REGION",
                "must be us, eu or in",
            ));
        }
        Self::cloud(&region, key).build()
    }
}

// ---------------------------------------------------------------- Uptrace

/// Uptrace: `uptrace-dsn: <DSN>` to `https://api.uptrace.dev` for a cloud DSN, or to the
/// DSN's own host for a self-hosted one (`http://<token>@localhost:14318?grpc=14317` sends
/// to `http://localhost:14318`). Delta temporality, as Uptrace's own distributions use.
///
/// Env: `UPTRACE_DSN`.
#[derive(Clone)]
pub struct Uptrace {
    dsn: String,
}
redacted_debug!(Uptrace {});

impl Uptrace {
    /// With this DSN.
    pub fn new(dsn: impl Into<String>) -> Self {
        Self { dsn: dsn.into() }
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let dsn = self.dsn.trim();
        let bad =
            || PresetError::invalid("UPTRACE_DSN", "expected {scheme}://{token}@{host}[:port]");
        let (scheme, rest) = dsn.split_once("://").ok_or_else(bad)?;
        let (_, host) = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit_once('@')
            .ok_or_else(bad)?;
        let hostname = host.split(':').next().unwrap_or_default();
        let base = if hostname == "uptrace.dev" || hostname.ends_with(".uptrace.dev") {
            "https://api.uptrace.dev".to_owned()
        } else {
            format!("{scheme}://{host}")
        };
        Ok(Preset::http(
            "uptrace",
            &base,
            ALL,
            &[("uptrace-dsn", dsn)],
            Protocol::HttpProtobuf,
            "UPTRACE_DSN",
        )?
        .delta())
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        Self::new(required(env, "uptrace", "UPTRACE_DSN", "the project DSN")?).build()
    }
}

// ---------------------------------------------------------------- Logfire

/// Pydantic Logfire: `https://logfire-us.pydantic.dev` or `https://logfire-eu.pydantic.dev`,
/// HTTP only, `Authorization: <write token>` (no `Bearer`). The region follows the token as
/// Logfire's SDK reads it (`pylf_v1_eu_…` is EU), else US.
///
/// Env: `LOGFIRE_TOKEN` (required), `LOGFIRE_BASE_URL` (override).
#[derive(Clone)]
pub struct Logfire {
    token: String,
    base: Option<String>,
}
redacted_debug!(Logfire { base });

impl Logfire {
    /// With this write token.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            base: None,
        }
    }

    /// Another base URL.
    #[must_use]
    pub fn with_base_url(mut self, base: impl Into<String>) -> Self {
        self.base = Some(base.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let token = self.token.trim();
        let base = self.base.unwrap_or_else(|| {
            let region = token
                .strip_prefix("pylf_v")
                .and_then(|r| r.split('_').nth(1));
            match region {
                Some("eu") => "https://logfire-eu.pydantic.dev".into(),
                _ => "https://logfire-us.pydantic.dev".into(),
            }
        });
        Preset::http(
            "logfire",
            &base,
            ALL,
            &[("authorization", token)],
            Protocol::HttpProtobuf,
            "LOGFIRE_BASE_URL",
        )
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut l = Self::new(required(
            env,
            "logfire",
            "LOGFIRE_TOKEN",
            "a project write token",
        )?);
        l.base = env.var("LOGFIRE_BASE_URL");
        l.build()
    }
}

// ---------------------------------------------------------------- Langfuse

/// Langfuse: traces only, to `{host}/api/public/otel/v1/traces` with
/// `Authorization: Basic base64("{public key}:{secret key}")` and
/// `x-langfuse-ingestion-version: 4` (the real-time ingestion path Langfuse's 2026 API asks
/// direct OTel exporters to use). Default host: EU cloud `https://cloud.langfuse.com`.
///
/// Env: `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` (required), `LANGFUSE_HOST` or
/// `LANGFUSE_BASE_URL`.
#[derive(Clone)]
pub struct Langfuse {
    public_key: String,
    secret_key: String,
    host: String,
}
redacted_debug!(Langfuse { public_key, host });

impl Langfuse {
    /// EU cloud with these keys.
    pub fn new(public_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            public_key: public_key.into(),
            secret_key: secret_key.into(),
            host: "https://cloud.langfuse.com".into(),
        }
    }

    /// Another host (`https://us.cloud.langfuse.com`, self-hosted).
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let base = format!("{}/api/public/otel", self.host.trim().trim_end_matches('/'));
        let auth = basic(self.public_key.trim(), self.secret_key.trim());
        Preset::http(
            "langfuse",
            &base,
            TRACES,
            &[
                ("authorization", &auth),
                ("x-langfuse-ingestion-version", "4"),
            ],
            Protocol::HttpProtobuf,
            "LANGFUSE_HOST",
        )
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut l = Self::new(
            required(
                env,
                "langfuse",
                "LANGFUSE_PUBLIC_KEY",
                "the project's public key (pk-lf-…)",
            )?,
            required(
                env,
                "langfuse",
                "LANGFUSE_SECRET_KEY",
                "the project's secret key (sk-lf-…)",
            )?,
        );
        if let Some(host) = env
            .var("LANGFUSE_HOST")
            .or_else(|| env.var("LANGFUSE_BASE_URL"))
        {
            l = l.with_host(host);
        }
        l.build()
    }
}

// ---------------------------------------------------------------- Phoenix

/// Arize Phoenix: traces only (`/v1/logs` answers 405), **HTTP protobuf only** (JSON gets
/// 415), to `{endpoint}/v1/traces` (default `http://localhost:6006`); an endpoint that already
/// ends in `/v1/traces` is used as given. `Authorization: Bearer <API key>` when auth is on
/// (Phoenix Cloud); the project from `x-project-name`.
///
/// Env: `PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_API_KEY`, `PHOENIX_PROJECT_NAME`,
/// `PHOENIX_CLIENT_HEADERS` (`k=v,k2=v2`, percent-decoded).
#[derive(Clone)]
pub struct Phoenix {
    endpoint: String,
    api_key: Option<String>,
    project: Option<String>,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for Phoenix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phoenix")
            .field("endpoint", &self.endpoint)
            .field("project", &self.project)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for Phoenix {
    fn default() -> Self {
        Self::new("http://localhost:6006")
    }
}

impl Phoenix {
    /// A Phoenix collector endpoint.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: None,
            project: None,
            headers: Vec::new(),
        }
    }

    /// Bearer API key.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The project spans land in.
    #[must_use]
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        let mut p = match endpoint.strip_suffix("/v1/traces") {
            Some(base) => Preset::http(
                "phoenix",
                base,
                TRACES,
                &[],
                Protocol::HttpProtobuf,
                "PHOENIX_COLLECTOR_ENDPOINT",
            )?,
            None => Preset::http(
                "phoenix",
                endpoint,
                TRACES,
                &[],
                Protocol::HttpProtobuf,
                "PHOENIX_COLLECTOR_ENDPOINT",
            )?,
        };
        for (k, v) in &self.headers {
            p = p.with_header(k, v)?;
        }
        if let Some(key) = &self.api_key {
            p = p.with_header("authorization", &format!("Bearer {}", key.trim()))?;
        }
        if let Some(project) = &self.project {
            p = p
                .with_header("x-project-name", project)?
                .with_resource_attribute("openinference.project.name", project);
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut p = Self::new(required(
            env,
            "phoenix",
            "PHOENIX_COLLECTOR_ENDPOINT",
            "the collector URL, e.g. http://localhost:6006",
        )?);
        p.api_key = env.var("PHOENIX_API_KEY");
        p.project = env.var("PHOENIX_PROJECT_NAME");
        if let Some(list) = env.var("PHOENIX_CLIENT_HEADERS") {
            p.headers = parse_header_list(&list, "PHOENIX_CLIENT_HEADERS")?;
        }
        p.build()
    }
}

// ---------------------------------------------------------------- LangSmith

/// LangSmith: traces only, to `https://api.smith.langchain.com/otel/v1/traces` (or
/// `{LANGSMITH_ENDPOINT}/otel/...` for EU, APAC or self-hosted) with `x-api-key` and an
/// optional `Langsmith-Project`.
///
/// Env: `LANGSMITH_API_KEY` (required), `LANGSMITH_PROJECT`, `LANGSMITH_ENDPOINT`.
#[derive(Clone)]
pub struct LangSmith {
    api_key: String,
    project: Option<String>,
    endpoint: String,
}
redacted_debug!(LangSmith { project, endpoint });

impl LangSmith {
    /// US cloud with this key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            project: None,
            endpoint: "https://api.smith.langchain.com".into(),
        }
    }

    /// The project traces land in.
    #[must_use]
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Another API endpoint (`https://eu.api.smith.langchain.com`, self-hosted `…/api/v1`).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let base = format!("{}/otel", self.endpoint.trim().trim_end_matches('/'));
        let mut p = Preset::http(
            "langsmith",
            &base,
            TRACES,
            &[("x-api-key", self.api_key.trim())],
            Protocol::HttpProtobuf,
            "LANGSMITH_ENDPOINT",
        )?;
        if let Some(project) = &self.project {
            p = p.with_header("langsmith-project", project)?;
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut l = Self::new(required(
            env,
            "langsmith",
            "LANGSMITH_API_KEY",
            "an API key",
        )?);
        l.project = env.var("LANGSMITH_PROJECT");
        if let Some(e) = env.var("LANGSMITH_ENDPOINT") {
            l.endpoint = e;
        }
        l.build()
    }
}

// ---------------------------------------------------------------- collector / custom

/// A local OpenTelemetry Collector (or any OTLP receiver) at `http://localhost:4318`: every
/// signal, no auth. The OTLP layer's `OTEL_EXPORTER_OTLP_*` handling covers the general case.
pub fn collector() -> Preset {
    Preset::unchecked(
        "collector",
        "http://localhost:4318",
        ALL,
        Protocol::HttpProtobuf,
    )
}

/// Any OTLP/HTTP endpoint: every signal to `{base}/v1/{signal}`; add headers with
/// [`Preset::with_header`].
///
/// ```
/// use tracing_insights_presets::{custom, Signal};
/// let p = custom("https://otel.example.internal:4318")
///     .unwrap()
///     .with_header("authorization", "Bearer t0ken")
///     .unwrap();
/// assert_eq!(p.target(Signal::Logs).unwrap().url(), "https://otel.example.internal:4318/v1/logs");
/// assert!(!format!("{p:?}").contains("t0ken"));
/// ```
pub fn custom(base: &str) -> Result<Preset, PresetError> {
    Preset::http("custom", base, ALL, &[], Protocol::HttpProtobuf, "endpoint")
}
