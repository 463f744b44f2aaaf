//! The exporters the environment asks for, each `None` when its variables are unset, and one
//! guard that shuts them all down before exit.

use std::time::Duration;
use tracing_insights::correlation::Resource;
use tracing_insights::TelemetryGuard;

/// The exporter layers (an `Option` each: a layer switched off costs nothing and keeps the
/// subscriber's type the same in every environment).
pub(crate) struct Exporters {
    pub(crate) appinsights: Option<tracing_insights::appinsights::AppInsightsLayer>,
    pub(crate) live_metrics: Option<tracing_insights::live_metrics::LiveMetricsLayer>,
    pub(crate) guard: TelemetryGuard,
}

impl Exporters {
    /// Whether anything exports (else the example shows its telemetry locally).
    pub(crate) fn any(&self) -> bool {
        self.appinsights.is_some() || self.live_metrics.is_some()
    }
}

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

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
    Ok(Exporters {
        appinsights,
        live_metrics,
        guard,
    })
}
