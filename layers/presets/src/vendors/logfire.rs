//! Logfire.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
