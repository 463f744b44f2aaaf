//! The exporters the environment turns on, each built by its own crate's builder.

use crate::env::Env;
use crate::guard::TelemetryGuard;
use crate::telemetry::TelemetryLayer;
use crate::InitError;
use tracing_core::Subscriber;
use tracing_insights_correlation::Resource;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

// The variables that turn the exporters on are their own crates' public constants.
#[cfg(any(feature = "appinsights", feature = "live-metrics"))]
use tracing_insights_azure::CONNECTION_STRING_ENV;
#[cfg(feature = "otlp")]
use tracing_insights_otlp::environment::OTEL_EXPORTER_OTLP_ENDPOINT as OTLP_ENDPOINT_ENV;

/// Settings given in code, which win over the environment.
#[derive(Default)]
pub(crate) struct InCode {
    #[cfg(feature = "appinsights")]
    pub(crate) connection_string: Option<String>,
    #[cfg(feature = "live-metrics")]
    pub(crate) live_metrics: Option<bool>,
    #[cfg(feature = "otlp")]
    pub(crate) otlp_endpoint: Option<String>,
}

/// The exporter layers that are on.
#[derive(Default)]
pub(crate) struct Exporters {
    #[cfg(feature = "appinsights")]
    appinsights: Option<tracing_insights_appinsights::AppInsightsLayer>,
    #[cfg(feature = "live-metrics")]
    live_metrics: Option<tracing_insights_live_metrics::LiveMetricsLayer>,
    #[cfg(feature = "otlp")]
    otlp: Vec<tracing_insights_otlp::OtlpLayer>,
}

impl Exporters {
    /// Every layer as one (boxed: one virtual call per callback and exporter), `None` when
    /// no exporter is on. Not a `Vec` of layers: an empty `Vec` layer answers "never" for
    /// every callsite, which wipes the per-layer filters' interest beside it.
    pub(crate) fn layer<S>(self) -> Option<TelemetryLayer<S>>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        self.layers()
            .into_iter()
            .reduce(|a, b| a.and_then(b).boxed())
    }

    fn layers<S>(self) -> Vec<TelemetryLayer<S>>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        #[allow(unused_mut)]
        let mut layers: Vec<TelemetryLayer<S>> = Vec::new();
        #[cfg(feature = "appinsights")]
        layers.extend(self.appinsights.map(Layer::boxed));
        #[cfg(feature = "live-metrics")]
        layers.extend(self.live_metrics.map(Layer::boxed));
        #[cfg(feature = "otlp")]
        layers.extend(self.otlp.into_iter().map(Layer::boxed));
        layers
    }
}

/// Builds what the environment (or the code) turns on and adds each guard to `guard`.
#[allow(unused_variables, unused_mut)]
pub(crate) fn build(
    resource: &Resource,
    env: &Env,
    code: InCode,
    guard: &mut TelemetryGuard,
) -> Result<Exporters, InitError> {
    let mut on = Exporters::default();
    let mut g = std::mem::take(guard);

    #[cfg(feature = "appinsights")]
    let azure = code.connection_string.is_some() || env.is_set(CONNECTION_STRING_ENV);
    #[cfg(all(not(feature = "appinsights"), feature = "live-metrics"))]
    let azure = env.is_set(CONNECTION_STRING_ENV);

    #[cfg(feature = "appinsights")]
    if azure {
        let mut b = tracing_insights_appinsights::AppInsightsLayer::builder()
            .with_resource(resource.clone());
        if let Some(cs) = &code.connection_string {
            b = b.with_connection_string(cs.clone());
        }
        let (layer, ai_guard) = b
            .build()
            .map_err(|e| exporter(azure_source("Application Insights", &code), e))?;
        if layer.is_enabled() {
            g = g.with("appinsights", ai_guard);
            on.appinsights = Some(layer);
        }
    }

    #[cfg(feature = "live-metrics")]
    if azure {
        let wanted = match code.live_metrics {
            Some(w) => w,
            None => env.live_metrics()?,
        };
        if wanted {
            let mut b = tracing_insights_live_metrics::LiveMetricsLayer::builder()
                .with_resource(resource.clone());
            #[cfg(feature = "appinsights")]
            if let Some(cs) = &code.connection_string {
                b = b.with_connection_string(cs.clone());
            }
            let (layer, lm_guard) = b
                .build()
                .map_err(|e| exporter(azure_source("Live Metrics", &code), e))?;
            g = g.with("live-metrics", lm_guard);
            on.live_metrics = Some(layer);
        }
    }

    #[cfg(feature = "otlp")]
    {
        use tracing_insights_otlp::{OtlpLayer, Signal};
        let check = env.check()?;
        let signal_env = |s: Signal| tracing_insights_otlp::environment::signal_var(s, "ENDPOINT");
        let base = code.otlp_endpoint.is_some() || env.is_set(OTLP_ENDPOINT_ENV);
        let signals =
            [Signal::Traces, Signal::Logs, Signal::Metrics].map(|s| env.is_set(&signal_env(s)));
        if base || signals.iter().any(|s| *s) {
            let mut b = OtlpLayer::builder().with_resource(resource.clone());
            if let Some(url) = &code.otlp_endpoint {
                b = b.with_endpoint(url.clone());
            }
            // A signal with neither its own endpoint nor the base one stays off: nothing is
            // ever sent to the default localhost:4318 unasked.
            if !base && !signals[0] {
                b = b.with_traces(false);
            }
            if !base && !signals[1] {
                b = b.with_logs(false);
            }
            if !base && !signals[2] {
                b = b.with_metrics(false);
            }
            let (layer, otlp_guard) = b.build().map_err(|e| exporter("OTLP", e))?;
            if layer.is_enabled() {
                if check {
                    report_check(&otlp_guard, "OTLP");
                }
                g = g.with("otlp", otlp_guard);
                on.otlp.push(layer);
            }
        }
        for preset in tracing_insights_presets::from_env_all().map_err(|e| exporter("preset", e))? {
            let name = preset.name();
            let (layer, otlp_guard) = OtlpLayer::builder()
                .with_preset(&preset)
                .with_resource(resource.clone())
                .build()
                .map_err(|e| exporter(name, e))?;
            if layer.is_enabled() {
                if check {
                    report_check(&otlp_guard, name);
                }
                g = g.with(name, otlp_guard);
                on.otlp.push(layer);
            }
        }
    }
    *guard = g;
    Ok(on)
}

/// Starts the OTLP connectivity check in the background: one stderr line per signal the
/// endpoint did not accept, nothing when all is well. Start-up does not wait for it.
#[cfg(feature = "otlp")]
fn report_check(guard: &tracing_insights_otlp::OtlpGuard, name: &'static str) {
    guard.check_in_background(move |report| {
        for r in report.results.iter().filter(|r| {
            !matches!(
                r.outcome,
                tracing_insights_otlp::CheckOutcome::Accepted { .. }
            )
        }) {
            // Our own diagnostics never go through `tracing` (no telemetry loops).
            eprintln!("[tracing-insights] {name} start-up check: {r}");
        }
    });
}

/// The exporter's name, and the variable its connection string came from when it did.
#[cfg(any(feature = "appinsights", feature = "live-metrics"))]
fn azure_source(name: &'static str, code: &InCode) -> &'static str {
    #[cfg(feature = "appinsights")]
    let in_code = code.connection_string.is_some();
    #[cfg(not(feature = "appinsights"))]
    let in_code = {
        let _ = code;
        false
    };
    match (name, in_code) {
        (_, true) => name,
        ("Live Metrics", false) => "Live Metrics (APPLICATIONINSIGHTS_CONNECTION_STRING)",
        _ => "Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING)",
    }
}

#[allow(dead_code)]
fn exporter(name: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> InitError {
    InitError::Exporter {
        exporter: name,
        source: Box::new(e),
    }
}
