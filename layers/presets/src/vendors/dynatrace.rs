//! Dynatrace.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
