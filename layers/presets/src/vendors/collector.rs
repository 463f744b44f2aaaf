//! A plain collector and any other OTLP endpoint.

use super::ALL;
use crate::error::PresetError;
use crate::preset::{Preset, Protocol};

/// A local OpenTelemetry Collector (or any OTLP receiver) at `http://localhost:4318`: every
/// signal, no auth. The OTLP layer's `OTEL_EXPORTER_OTLP_*` handling covers the general case.
pub fn collector() -> Preset {
    Preset::unchecked(
        "collector",
        "http://localhost:4318",
        ALL,
        Protocol::HttpProtobuf,
    )
}

/// Any OTLP/HTTP endpoint: every signal to `{base}/v1/{signal}`; add headers with
/// [`Preset::with_header`].
///
/// ```
/// use tracing_insights_presets::{custom, Signal};
/// let p = custom("https://otel.example.internal:4318")
///     .unwrap()
///     .with_header("authorization", "Bearer t0ken")
///     .unwrap();
/// assert_eq!(p.target(Signal::Logs).unwrap().url(), "https://otel.example.internal:4318/v1/logs");
/// assert!(!format!("{p:?}").contains("t0ken"));
/// ```
pub fn custom(base: &str) -> Result<Preset, PresetError> {
    Preset::http("custom", base, ALL, &[], Protocol::HttpProtobuf, "endpoint")
}
