//! SigNoz.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
