//! Langfuse.

use super::{basic, required, TRACES};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
