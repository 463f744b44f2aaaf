//! Honeycomb.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol, Signal};

/// Honeycomb: traces, metrics and logs to `https://api.honeycomb.io` (US) or
/// `https://api.eu1.honeycomb.io` (EU) with `x-honeycomb-team: <ingest key>`.
///
/// Metrics need a dataset (`x-honeycomb-dataset`, else Honeycomb answers `unknown_metrics`):
/// they are sent only when [`with_metrics_dataset`](Self::with_metrics_dataset) (or
/// [`with_dataset`](Self::with_dataset), for Classic environments) names one. Traces and logs
/// carry the dataset header only when given one; otherwise Honeycomb files them under the
/// service name.
///
/// Env: `HONEYCOMB_API_KEY` (required), `HONEYCOMB_DATASET`, `HONEYCOMB_METRICS_DATASET`,
/// `HONEYCOMB_API_ENDPOINT` (base URL, e.g. the EU one).
#[derive(Clone)]
pub struct Honeycomb {
    api_key: String,
    base: String,
    dataset: Option<String>,
    metrics_dataset: Option<String>,
}
redacted_debug!(Honeycomb {
    base,
    dataset,
    metrics_dataset
});

impl Honeycomb {
    /// US region with this ingest key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base: "https://api.honeycomb.io".into(),
            dataset: None,
            metrics_dataset: None,
        }
    }

    /// The EU region (`https://api.eu1.honeycomb.io`).
    #[must_use]
    pub fn eu(mut self) -> Self {
        self.base = "https://api.eu1.honeycomb.io".into();
        self
    }

    /// The dataset for every signal (`x-honeycomb-dataset`; Classic environments).
    #[must_use]
    pub fn with_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.dataset = Some(dataset.into());
        self
    }

    /// The dataset for metrics only.
    #[must_use]
    pub fn with_metrics_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.metrics_dataset = Some(dataset.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let metrics = self
            .metrics_dataset
            .clone()
            .or_else(|| self.dataset.clone());
        let signals: &[Signal] = if metrics.is_some() {
            ALL
        } else {
            &[Signal::Traces, Signal::Logs]
        };
        let mut p = Preset::http(
            "honeycomb",
            &self.base,
            signals,
            &[("x-honeycomb-team", &self.api_key)],
            Protocol::HttpProtobuf,
            "HONEYCOMB_API_ENDPOINT",
        )?;
        if let Some(ds) = &self.dataset {
            p = p.with_header("x-honeycomb-dataset", ds)?;
        }
        if let Some(ds) = &metrics {
            p = p.with_signal_header(Signal::Metrics, "x-honeycomb-dataset", ds)?;
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut h = Self::new(required(
            env,
            "honeycomb",
            "HONEYCOMB_API_KEY",
            "an ingest key",
        )?);
        if let Some(base) = env.var("HONEYCOMB_API_ENDPOINT") {
            h.base = base;
        }
        if let Some(ds) = env.var("HONEYCOMB_DATASET") {
            h = h.with_dataset(ds);
        }
        if let Some(ds) = env.var("HONEYCOMB_METRICS_DATASET") {
            h = h.with_metrics_dataset(ds);
        }
        h.build()
    }
}
