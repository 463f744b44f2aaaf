//! New Relic.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
