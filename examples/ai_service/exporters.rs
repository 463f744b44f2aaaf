//! The exporters the environment asks for, each `None` (or empty) when its variables are
//! unset, and one guard that shuts them all down before exit.

use std::time::Duration;
use tracing_insights::correlation::Resource;
use tracing_insights::otlp::{OtlpBuilder, OtlpLayer};
use tracing_insights::presets::{self, Preset, PresetError};
use tracing_insights::TelemetryGuard;

/// The exporter layers (an `Option` or `Vec` each: a layer switched off costs nothing and
/// keeps the subscriber's type the same in every environment).
pub(crate) struct Exporters {
    pub(crate) appinsights: Option<tracing_insights::appinsights::AppInsightsLayer>,
    pub(crate) live_metrics: Option<tracing_insights::live_metrics::LiveMetricsLayer>,
    /// Plain `OTEL_EXPORTER_OTLP_*`, then one layer per preset whose variables are set.
    pub(crate) otlp: Vec<OtlpLayer>,
    pub(crate) guard: TelemetryGuard,
}

impl Exporters {
    /// Whether anything exports (else the example shows its telemetry locally).
    pub(crate) fn any(&self) -> bool {
        self.appinsights.is_some() || self.live_metrics.is_some() || !self.otlp.is_empty()
    }
}

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

/// A preset, when its trigger variable is set (then a missing companion variable is an error
/// naming it).
type PresetFromEnv = fn() -> Result<Preset, PresetError>;
const PRESETS: &[(&str, PresetFromEnv)] = &[
    ("SENTRY_DSN", presets::Sentry::from_env),
    ("HONEYCOMB_API_KEY", presets::Honeycomb::from_env),
    ("DD_API_KEY", presets::DatadogAgentless::from_env),
    ("GRAFANA_CLOUD_TOKEN", presets::GrafanaCloud::from_env),
    ("AXIOM_TOKEN", presets::Axiom::from_env),
    ("NEW_RELIC_LICENSE_KEY", presets::NewRelic::from_env),
    ("DT_API_TOKEN", presets::Dynatrace::from_env),
    ("ELASTIC_OTLP_ENDPOINT", presets::Elastic::from_env),
    ("SIGNOZ_INGESTION_KEY", presets::SigNoz::from_env),
    ("UPTRACE_DSN", presets::Uptrace::from_env),
    ("LOGFIRE_TOKEN", presets::Logfire::from_env),
    ("LANGFUSE_PUBLIC_KEY", presets::Langfuse::from_env),
    ("PHOENIX_COLLECTOR_ENDPOINT", presets::Phoenix::from_env),
    ("LANGSMITH_API_KEY", presets::LangSmith::from_env),
];

/// Builds what the environment configures. A variable that is set but wrong is an error
/// (the message says what to fix), never a silent no-op.
pub(crate) fn from_env(resource: &Resource) -> Result<Exporters, String> {
    let mut guard = TelemetryGuard::new();
    let appinsights = if set("APPLICATIONINSIGHTS_CONNECTION_STRING") {
        let (layer, g) = tracing_insights::appinsights::AppInsightsLayer::builder()
            .with_max_delay(Duration::from_secs(1))
            .build()
            .map_err(|e| format!("Application Insights: {e}"))?;
        guard = guard.with("appinsights", g);
        Some(layer)
    } else {
        None
    };
    // Live Metrics reads the same connection string (its LiveEndpoint).
    let live_metrics = if set("APPLICATIONINSIGHTS_CONNECTION_STRING") {
        let (layer, g) = tracing_insights::live_metrics::LiveMetricsLayer::builder()
            .with_resource(resource.clone())
            .build()
            .map_err(|e| format!("Live Metrics: {e}"))?;
        guard = guard.with("live-metrics", g);
        Some(layer)
    } else {
        None
    };

    let mut otlp = Vec::new();
    let generic = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ];
    if generic.iter().any(|v| set(v)) {
        let (layer, g) =
            start_otlp(OtlpLayer::builder(), resource).map_err(|e| format!("OTLP: {e}"))?;
        guard = guard.with("otlp", g);
        otlp.push(layer);
    }
    for (trigger, from_env) in PRESETS {
        if !set(trigger) {
            continue;
        }
        let preset = from_env().map_err(|e| e.to_string())?;
        let name = preset.name();
        let (layer, g) = start_otlp(OtlpLayer::builder().with_preset(&preset), resource)
            .map_err(|e| format!("{name}: {e}"))?;
        guard = guard.with(name, g);
        otlp.push(layer);
    }
    Ok(Exporters {
        appinsights,
        live_metrics,
        otlp,
        guard,
    })
}

fn start_otlp(
    builder: OtlpBuilder,
    resource: &Resource,
) -> Result<(OtlpLayer, tracing_insights::otlp::OtlpGuard), tracing_insights::otlp::OtlpError> {
    let (layer, g) = builder
        .with_resource(resource.clone())
        .with_batch_delay(Duration::from_secs(1))
        .build()?;
    // A wrong path is otherwise silent (a 404 looks like success to most SDKs): say so now.
    let report = g.check();
    if !report.is_ok() {
        eprintln!("ai_service: OTLP connectivity check:\n{report}");
    }
    Ok((layer, g))
}
