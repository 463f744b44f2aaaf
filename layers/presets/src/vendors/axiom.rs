//! Axiom.

use super::{required, ALL};
use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::{Preset, Protocol, Signal};

/// Axiom: `https://us-east-1.aws.edge.axiom.co` (US) or `https://eu-central-1.aws.edge.axiom.co`
/// (EU), HTTP only, `Authorization: Bearer <token>`; traces and logs carry
/// `X-Axiom-Dataset`, metrics `X-Axiom-Metrics-Dataset` (one dataset per signal type;
/// metrics are sent only when a metrics dataset is named, and only as protobuf).
///
/// Env: `AXIOM_TOKEN`, `AXIOM_DATASET` (required), `AXIOM_METRICS_DATASET`, `AXIOM_URL`
/// (base override, e.g. the legacy `https://api.axiom.co`).
#[derive(Clone)]
pub struct Axiom {
    token: String,
    dataset: String,
    metrics_dataset: Option<String>,
    base: String,
}
redacted_debug!(Axiom {
    dataset,
    metrics_dataset,
    base
});

impl Axiom {
    /// US edge with this token and dataset.
    pub fn new(token: impl Into<String>, dataset: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            dataset: dataset.into(),
            metrics_dataset: None,
            base: "https://us-east-1.aws.edge.axiom.co".into(),
        }
    }

    /// The EU edge.
    #[must_use]
    pub fn eu(mut self) -> Self {
        self.base = "https://eu-central-1.aws.edge.axiom.co".into();
        self
    }

    /// Send metrics to this dataset.
    #[must_use]
    pub fn with_metrics_dataset(mut self, dataset: impl Into<String>) -> Self {
        self.metrics_dataset = Some(dataset.into());
        self
    }

    /// The preset.
    pub fn build(self) -> Result<Preset, PresetError> {
        let signals: &[Signal] = if self.metrics_dataset.is_some() {
            ALL
        } else {
            &[Signal::Traces, Signal::Logs]
        };
        let auth = format!("Bearer {}", self.token.trim());
        let mut p = Preset::http(
            "axiom",
            &self.base,
            signals,
            &[("authorization", &auth)],
            Protocol::HttpProtobuf,
            "AXIOM_URL",
        )?
        .with_signal_header(Signal::Traces, "x-axiom-dataset", &self.dataset)?
        .with_signal_header(Signal::Logs, "x-axiom-dataset", &self.dataset)?;
        if let Some(ds) = &self.metrics_dataset {
            p = p.with_signal_header(Signal::Metrics, "x-axiom-metrics-dataset", ds)?;
        }
        Ok(p)
    }

    /// From the process environment.
    pub fn from_env() -> Result<Preset, PresetError> {
        Self::from_env_with(&ProcessEnv)
    }

    /// From `env`.
    pub fn from_env_with(env: &(impl EnvSource + ?Sized)) -> Result<Preset, PresetError> {
        let mut a = Self::new(
            required(env, "axiom", "AXIOM_TOKEN", "an API token (xaat-…)")?,
            required(
                env,
                "axiom",
                "AXIOM_DATASET",
                "the dataset for traces and logs",
            )?,
        );
        if let Some(ds) = env.var("AXIOM_METRICS_DATASET") {
            a = a.with_metrics_dataset(ds);
        }
        if let Some(base) = env.var("AXIOM_URL") {
            a.base = base;
        }
        a.build()
    }
}
