//! Phoenix.

use super::{required, TRACES};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};
use crate::validate::parse_header_list;
use std::fmt;

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
