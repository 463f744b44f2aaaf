//! Grafana Cloud.

use super::{basic, required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
