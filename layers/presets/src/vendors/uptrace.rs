//! Uptrace.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

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
