//! LangSmith.

use super::{required, TRACES};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
