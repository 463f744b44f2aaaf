//! The environment variables [`init`](crate::init) reads besides the exporters' own.

use crate::InitError;
use crate::LogFormat;
use tracing_insights_correlation::Sampler;

/// `json` (default), `text` or `none`: the format of the log lines on stdout.
pub const LOG_FORMAT_ENV: &str = "TRACING_INSIGHTS_LOG_FORMAT";

/// `true` or `false`: show every trace as a waterfall on stderr (default: only when no
/// exporter is on).
pub const WATERFALL_ENV: &str = "TRACING_INSIGHTS_WATERFALL";

/// `false` skips the connectivity check [`init`](crate::init) starts for each OTLP exporter
/// (default `true`): one empty export per signal, on a background thread, that prints a line
/// on stderr for each signal the endpoint did not accept (a wrong path, a missing key, no
/// answer within 3 s). Start-up never waits for it; nothing is printed when all is well.
pub const CHECK_ENV: &str = "TRACING_INSIGHTS_CHECK";

/// `true` turns every exporter off, App Insights and Live Metrics included: no thread is
/// started and no HTTP request is made (OpenTelemetry's variable).
pub const SDK_DISABLED_ENV: &str = "OTEL_SDK_DISABLED";

/// `false` turns Live Metrics off while Application Insights stays on (as Microsoft's
/// distro's `enable_live_metrics=False`).
pub const LIVE_METRICS_ENV: &str = "APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED";

/// The process environment; a blank value counts as unset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env;

impl Env {
    pub(crate) fn process() -> Self {
        Self
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    #[cfg_attr(
        not(any(feature = "appinsights", feature = "live-metrics", feature = "otlp")),
        allow(dead_code)
    )]
    pub(crate) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn bool(&self, name: &'static str) -> Result<Option<bool>, InitError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(InitError::Variable {
                    name,
                    expected: "true or false",
                }),
            },
        }
    }

    pub(crate) fn sdk_disabled(&self) -> Result<bool, InitError> {
        Ok(self.bool(SDK_DISABLED_ENV)?.unwrap_or(false))
    }

    pub(crate) fn waterfall(&self) -> Result<Option<bool>, InitError> {
        self.bool(WATERFALL_ENV)
    }

    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn check(&self) -> Result<bool, InitError> {
        Ok(self.bool(CHECK_ENV)?.unwrap_or(true))
    }

    #[cfg_attr(not(feature = "live-metrics"), allow(dead_code))]
    pub(crate) fn live_metrics(&self) -> Result<bool, InitError> {
        Ok(self.bool(LIVE_METRICS_ENV)?.unwrap_or(true))
    }

    pub(crate) fn log_format(&self) -> Result<LogFormat, InitError> {
        match self.get(LOG_FORMAT_ENV) {
            None => Ok(LogFormat::Json),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "json" => Ok(LogFormat::Json),
                "text" => Ok(LogFormat::Text),
                "none" => Ok(LogFormat::None),
                _ => Err(InitError::Variable {
                    name: LOG_FORMAT_ENV,
                    expected: "json, text or none",
                }),
            },
        }
    }
}

/// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the correlation crate's reading: the
/// spec's values and Microsoft's `microsoft.fixed_percentage` / `microsoft.rate_limited`).
pub(crate) fn sampler_from_env() -> Result<Option<Sampler>, InitError> {
    tracing_insights_correlation::sampler_from_env().map_err(|e| InitError::Exporter {
        exporter: "sampler",
        source: e.into(),
    })
}
