//! Backend presets (`tracing-insights-presets`) applied to the builder.

use crate::builder::OtlpBuilder;
use crate::config::{Signal, SIGNALS};
use tracing_insights_presets as presets;

impl OtlpBuilder {
    /// Sends where a backend preset says: each accepted signal to its URL (used as given)
    /// with its headers and protocol, the preset's temporality, and nothing for the signals
    /// the backend does not accept. The layer is named after the preset, so several presets
    /// can run side by side. Preset values are builder values: they win over `OTEL_*`
    /// variables; later `with_*` calls still win over the preset.
    ///
    /// ```
    /// use tracing_insights_otlp::OtlpLayer;
    /// use tracing_insights_presets::Honeycomb;
    /// let preset = Honeycomb::new("ingest-key").build().unwrap();
    /// let builder = OtlpLayer::builder().with_preset(&preset);
    /// assert!(!format!("{builder:?}").contains("ingest-key"));
    /// ```
    #[must_use]
    pub fn with_preset(self, preset: &presets::Preset) -> Self {
        let mut b = self
            .with_name(preset.name())
            .with_temporality(preset.temporality());
        for s in SIGNALS {
            b = match preset.target(s) {
                Some(t) => {
                    let mut b = b
                        .with_signal_enabled(s, true)
                        .with_signal_endpoint(s, t.url())
                        .with_signal_protocol(s, t.protocol());
                    for (name, value) in t.headers() {
                        b = b.with_signal_header(s, name, value);
                    }
                    b
                }
                None => b.with_signal_enabled(s, false),
            };
        }
        b
    }

    fn with_signal_enabled(self, signal: Signal, on: bool) -> Self {
        match signal {
            Signal::Traces => self.with_traces(on),
            Signal::Logs => self.with_logs(on),
            Signal::Metrics => self.with_metrics(on),
        }
    }
}
