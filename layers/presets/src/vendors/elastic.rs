//! Elastic.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
