//! One call: the layers the environment (or the code) asks for, with split filters, as one
//! global subscriber ([`init`]) or one layer plus a guard ([`from_env`], [`Telemetry`]).

use crate::env::{self, Env};
use crate::filter::{self, Filters, LOGS_ENV, SPANS_ENV};
use crate::guard::TelemetryGuard;
use crate::waterfall::WaterfallLayer;
use crate::InitError;
use tracing_core::Subscriber;
use tracing_insights_correlation::{self as correlation, Resource, Sampler};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Every layer [`Telemetry`] builds, as one layer for a subscriber of type `S`.
pub type TelemetryLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// What the log lines on stdout look like ([`env::LOG_FORMAT_ENV`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line, with `operation_Id` / `operation_ParentId` (the default).
    Json,
    /// `tracing_subscriber`'s full text format with the ids after the level.
    Text,
    /// No log lines (exporters still get the events).
    None,
}

/// Installs a global subscriber with every layer the environment asks for (the table in the
/// [crate docs](crate#configuration)) and returns the guard that flushes the exporters.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let telemetry = tracing_insights::init()?;
///     tracing::info_span!("GET /", otel.kind = "server").in_scope(|| tracing::info!("hello"));
///     telemetry.shutdown(std::time::Duration::from_secs(10))?;
///     Ok(())
/// }
/// ```
pub fn init() -> Result<TelemetryGuard, InitError> {
    Telemetry::builder().init()
}

/// The same layers as [`init`], as one layer for your own subscriber, and the guard.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), tracing_insights::InitError> {
/// let (telemetry, guard) = tracing_insights::from_env()?;
/// let subscriber = tracing_subscriber::registry().with(telemetry);
/// # drop((subscriber, guard));
/// # Ok(()) }
/// ```
pub fn from_env<S>() -> Result<(TelemetryLayer<S>, TelemetryGuard), InitError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    Telemetry::builder().build()
}

/// [`init`] and [`from_env`] with values given in code; each `with_*` wins over its
/// environment variable.
///
/// ```
/// use tracing_insights::{LogFormat, Telemetry};
///
/// # fn main() -> Result<(), tracing_insights::InitError> {
/// let (layer, guard) = Telemetry::builder()
///     .with_log_filter("warn")
///     .with_log_format(LogFormat::Text)
///     .with_waterfall(false)
///     .build::<tracing_subscriber::Registry>()?;
/// # drop((layer, guard));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Telemetry;

impl Telemetry {
    /// A builder that reads everything from the environment until told otherwise.
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::default()
    }
}

/// Builds the stack; see [`Telemetry`].
#[derive(Default)]
pub struct TelemetryBuilder {
    resource: Option<Resource>,
    sampler: Option<Sampler>,
    span_filter: Option<String>,
    log_filter: Option<String>,
    log_format: Option<LogFormat>,
    log_writer: Option<BoxMakeWriter>,
    waterfall: Option<bool>,
    waterfall_writer: Option<BoxMakeWriter>,
    exporters: Option<bool>,
    #[cfg(feature = "appinsights")]
    connection_string: Option<String>,
    #[cfg(feature = "live-metrics")]
    live_metrics: Option<bool>,
    #[cfg(feature = "otlp")]
    otlp_endpoint: Option<String>,
    #[cfg(feature = "testing")]
    correlation: Option<correlation::CorrelationLayer>,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string and endpoints may hold secrets: never shown.
        f.debug_struct("TelemetryBuilder")
            .field("span_filter", &self.span_filter)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("waterfall", &self.waterfall)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// The resource every exporter reports (default: `Resource::from_env`).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// The sampler (default: from `OTEL_TRACES_SAMPLER`, else keep everything).
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// The span filter's directives (default: [`SPANS_ENV`], else `info`).
    pub fn with_span_filter(mut self, directives: impl Into<String>) -> Self {
        self.span_filter = Some(directives.into());
        self
    }

    /// The log filter's directives (default: `RUST_LOG`, else `info`).
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    /// The log line format (default: [`env::LOG_FORMAT_ENV`], else JSON).
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Where log lines go (default: stdout).
    pub fn with_log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Shows every trace as a waterfall on stderr (default: [`env::WATERFALL_ENV`], else
    /// only when no exporter is on).
    pub fn with_waterfall(mut self, on: bool) -> Self {
        self.waterfall = Some(on);
        self
    }

    /// Where the waterfall goes (default: stderr).
    pub fn with_waterfall_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.waterfall_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// `false` turns every exporter off whatever the environment says, as
    /// `OTEL_SDK_DISABLED=true` does. `true` leaves it to the environment (each exporter
    /// still honours `OTEL_SDK_DISABLED` itself).
    pub fn with_exporters(mut self, on: bool) -> Self {
        self.exporters = Some(on);
        self
    }

    /// Turns Application Insights (and Live Metrics) on with this connection string.
    #[cfg(feature = "appinsights")]
    #[cfg_attr(docsrs, doc(cfg(feature = "appinsights")))]
    pub fn with_connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(connection_string.into());
        self
    }

    /// Turns Live Metrics on or off when Application Insights is on (default: on, unless
    /// [`env::LIVE_METRICS_ENV`] says `false`).
    #[cfg(feature = "live-metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "live-metrics")))]
    pub fn with_live_metrics(mut self, on: bool) -> Self {
        self.live_metrics = Some(on);
        self
    }

    /// Turns OTLP on with this base URL (`{url}/v1/traces`, ...), as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` does.
    #[cfg(feature = "otlp")]
    #[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
    pub fn with_otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(url.into());
        self
    }

    /// Uses this correlation layer (an injected clock or id generator) instead of one built
    /// here; the resource and sampler settings then come from it.
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn with_correlation_layer(mut self, layer: correlation::CorrelationLayer) -> Self {
        self.correlation = Some(layer);
        self
    }

    /// Installs the stack as the global subscriber; returns the guard. With the `log`
    /// feature (default) it also forwards records of the `log` crate to `tracing`
    /// (`tracing-log`'s `LogTracer`), unless a `log` logger is already installed: their
    /// lines then show the record's own target, file and line.
    pub fn init(self) -> Result<TelemetryGuard, InitError> {
        let (layer, guard) = self.build::<tracing_subscriber::Registry>()?;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .map_err(|_| InitError::AlreadyInstalled)?;
        // Another `log` logger is the application's choice: keep it.
        #[cfg(feature = "log")]
        let _ = tracing_log::LogTracer::init();
        Ok(guard)
    }

    /// The stack as one layer for a subscriber of type `S`, and the guard.
    pub fn build<S>(self) -> Result<(TelemetryLayer<S>, TelemetryGuard), InitError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let env = Env::process();
        let filters = Filters::new(
            span_or_log_filter(self.span_filter.as_deref(), SPANS_ENV, &env)?,
            span_or_log_filter(self.log_filter.as_deref(), LOGS_ENV, &env)?,
        );
        let log_format = match self.log_format {
            Some(f) => f,
            None => env.log_format()?,
        };
        let exporters_on = match self.exporters {
            Some(on) => on,
            None => !env.sdk_disabled()?,
        };
        // Every variable of ours is checked before an exporter starts a thread.
        let waterfall_setting = match self.waterfall {
            Some(w) => Some(w),
            None => env.waterfall()?,
        };

        #[cfg(feature = "testing")]
        let injected = self.correlation;
        #[cfg(not(feature = "testing"))]
        let injected: Option<correlation::CorrelationLayer> = None;
        let correlation = match injected {
            Some(layer) => layer,
            None => {
                let sampler = match self.sampler {
                    Some(s) => Some(s),
                    None => env::sampler_from_env()?,
                };
                let mut layer = correlation::layer();
                if let Some(resource) = self.resource {
                    layer = layer.with_resource(resource);
                }
                if let Some(sampler) = sampler {
                    layer = layer.with_sampler(sampler);
                }
                layer
            }
        };
        let resource = correlation.resource().clone();

        let mut guard = TelemetryGuard::new();
        let mut on = crate::exporters::Exporters::default();
        if exporters_on {
            on = crate::exporters::build(
                &resource,
                &env,
                crate::exporters::InCode {
                    #[cfg(feature = "appinsights")]
                    connection_string: self.connection_string,
                    #[cfg(feature = "live-metrics")]
                    live_metrics: self.live_metrics,
                    #[cfg(feature = "otlp")]
                    otlp_endpoint: self.otlp_endpoint,
                },
                &mut guard,
            )?;
        }
        let waterfall = waterfall_setting.unwrap_or(guard.is_empty()).then(|| {
            let writer = self
                .waterfall_writer
                .unwrap_or_else(|| BoxMakeWriter::new(std::io::stderr));
            WaterfallLayer::new().with_writer(writer)
        });

        let telemetry = correlation
            .and_then(on.layer::<S>())
            .and_then(waterfall)
            .with_filter(filters.telemetry());
        let writer = || {
            self.log_writer
                .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout))
        };
        let logs: Option<TelemetryLayer<_>> = match log_format {
            LogFormat::Json => Some(correlation::json().layer().with_writer(writer()).boxed()),
            LogFormat::Text => Some(correlation::text().layer().with_writer(writer()).boxed()),
            LogFormat::None => None,
        };
        let layer = telemetry.and_then(logs.with_filter(filters.logs())).boxed();
        guard.log_filter = Some(filters.log_handle());
        Ok((layer, guard))
    }
}

/// The code's directives, else the variable's, else `info`.
fn span_or_log_filter(
    in_code: Option<&str>,
    variable: &'static str,
    env: &Env,
) -> Result<EnvFilter, InitError> {
    match in_code {
        Some(directives) => {
            EnvFilter::builder()
                .parse(directives)
                .map_err(|source| InitError::Code {
                    setting: if variable == SPANS_ENV {
                        "with_span_filter"
                    } else {
                        "with_log_filter"
                    },
                    message: source.to_string(),
                })
        }
        None => Ok(filter::parse_var(variable, env.get(variable).as_deref())?),
    }
}
