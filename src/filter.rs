//! Spans and logs filtered on their own, so a quiet log level never loses a trace.
//!
//! A stock `EnvFilter` decides for spans and events alike: `RUST_LOG=warn` hides the INFO
//! request span, and with it the request an exporter would send, the `traceparent` a client
//! would forward and the `operation_Id` of every WARN line written inside it. A
//! [`SplitFilter`] is a per-layer filter that asks two `EnvFilter`s instead: **span**
//! metadata (and metric events) goes to the span filter, **log** events to the log filter.
//!
//! The log filter is reloadable through a [`LogFilterHandle`], a plain type without the
//! subscriber's type parameters, so it can live in application state.
//!
//! ```
//! use tracing_insights::filter::Filters;
//! use tracing_insights::correlation;
//! use tracing_subscriber::{prelude::*, EnvFilter};
//!
//! // Spans at INFO and above carry ids and are exported; log lines at WARN and above.
//! let filters = Filters::new(EnvFilter::new("info"), EnvFilter::new("warn"));
//! let log_level = filters.log_handle();
//! let subscriber = tracing_subscriber::registry()
//!     .with(correlation::layer().with_filter(filters.telemetry()))
//!     .with(correlation::json().layer().with_filter(filters.logs()));
//! # drop(subscriber);
//! // Later, at run time (traces are unaffected):
//! log_level.reload("debug").unwrap();
//! ```

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, ParseError};
use tracing_subscriber::layer::{Context, Filter};

/// The variable with the span filter's directives (`EnvFilter` syntax), read by
/// [`init`](crate::init). Default `info`.
pub const SPANS_ENV: &str = "TRACING_INSIGHTS_SPANS";

/// The variable with the log filter's directives (`EnvFilter` syntax), read by
/// [`init`](crate::init). Default `info`.
pub const LOGS_ENV: &str = "RUST_LOG";

/// Event fields with these prefixes are metric measurements (the `tracing-opentelemetry`
/// `MetricsLayer` convention), not logs: exporters count them at the span filter's level.
const METRIC_PREFIXES: [&str; 4] = ["monotonic_counter.", "counter.", "histogram.", "gauge."];

/// Whether the event carries a metric field.
fn is_metric(meta: &Metadata<'_>) -> bool {
    meta.is_event()
        && meta
            .fields()
            .iter()
            .any(|f| METRIC_PREFIXES.iter().any(|p| f.name().starts_with(p)))
}

/// A span filter and a reloadable log filter, from which the per-layer filters of one stack
/// are made ([`Filters::telemetry`], [`Filters::logs`]). Clones share the same filters.
#[derive(Clone)]
pub struct Filters {
    spans: Arc<EnvFilter>,
    logs: Arc<RwLock<EnvFilter>>,
}

impl fmt::Debug for Filters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filters")
            .field("spans", &self.spans.to_string())
            .field("logs", &self.log_handle().current())
            .finish()
    }
}

impl Filters {
    /// Spans (and metric events) by `spans`, log events by `logs`.
    pub fn new(spans: EnvFilter, logs: EnvFilter) -> Self {
        Self {
            spans: Arc::new(spans),
            logs: Arc::new(RwLock::new(logs)),
        }
    }

    /// The filters from [`SPANS_ENV`] and [`LOGS_ENV`] (each `info` when unset or empty). A
    /// malformed value is an error naming its variable.
    pub fn from_env() -> Result<Self, FilterError> {
        Ok(Self::new(
            parse_var(SPANS_ENV, std::env::var(SPANS_ENV).ok().as_deref())?,
            parse_var(LOGS_ENV, std::env::var(LOGS_ENV).ok().as_deref())?,
        ))
    }

    /// For the layers that keep ids and export (correlation, exporters, the waterfall):
    /// spans and metric events by the span filter, log events by the log filter.
    pub fn telemetry(&self) -> SplitFilter {
        SplitFilter {
            filters: self.clone(),
            metrics_are_logs: false,
        }
    }

    /// For a layer that writes log lines: spans by the span filter (so the lines carry
    /// their ids), every event, metric or not, by the log filter.
    pub fn logs(&self) -> SplitFilter {
        SplitFilter {
            filters: self.clone(),
            metrics_are_logs: true,
        }
    }

    /// The handle that changes the log filter at run time.
    pub fn log_handle(&self) -> LogFilterHandle {
        LogFilterHandle {
            logs: self.logs.clone(),
        }
    }
}

/// Parses `EnvFilter` directives read from `variable` (`info` when unset or empty).
pub(crate) fn parse_var(
    variable: &'static str,
    value: Option<&str>,
) -> Result<EnvFilter, FilterError> {
    let value = value.unwrap_or("").trim();
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse(value)
        .map_err(|source| FilterError {
            variable: Some(variable),
            value: value.to_owned(),
            source,
        })
}

/// Directives that do not parse, and where they came from. `Debug` carries the message.
pub struct FilterError {
    variable: Option<&'static str>,
    value: String,
    source: ParseError,
}

impl FilterError {
    /// The variable the directives came from (`None` for a value given in code).
    pub fn variable(&self) -> Option<&'static str> {
        self.variable
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.variable {
            Some(v) => write!(
                f,
                "{v}={:?} is not a valid filter: {}",
                self.value, self.source
            )?,
            None => write!(f, "{:?} is not a valid filter: {}", self.value, self.source)?,
        }
        f.write_str(" (expected EnvFilter directives such as `info` or `warn,my_crate=debug`)")
    }
}

impl fmt::Debug for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FilterError({self})")
    }
}

impl std::error::Error for FilterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Changes the log filter of a running subscriber; traces are unaffected. Clones change the
/// same filter. It has no type parameters, so it fits in application state as it is.
#[derive(Clone)]
pub struct LogFilterHandle {
    logs: Arc<RwLock<EnvFilter>>,
}

impl fmt::Debug for LogFilterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogFilterHandle")
            .field(&self.current())
            .finish()
    }
}

impl LogFilterHandle {
    /// Replaces the log filter with `directives` (`EnvFilter` syntax). Nothing changes when
    /// they do not parse.
    pub fn reload(&self, directives: &str) -> Result<(), FilterError> {
        let filter = EnvFilter::builder()
            .parse(directives)
            .map_err(|source| FilterError {
                variable: None,
                value: directives.to_owned(),
                source,
            })?;
        self.modify(|f| *f = filter);
        Ok(())
    }

    /// Changes the log filter in place. The filter is locked while `change` runs, so
    /// `change` must not emit `tracing` events (as with `tracing_subscriber::reload`).
    pub fn modify(&self, change: impl FnOnce(&mut EnvFilter)) {
        {
            let mut filter = self.logs.write().unwrap_or_else(PoisonError::into_inner);
            change(&mut filter);
        }
        // Callsites cached as "never" under the old filter must be asked again.
        tracing_core::callsite::rebuild_interest_cache();
    }

    /// The current directives.
    pub fn current(&self) -> String {
        self.logs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .to_string()
    }
}

/// A per-layer filter: span metadata to the span filter, events to the log filter (metric
/// events to the span filter in [`Filters::telemetry`]). The span callbacks are forwarded to
/// the log filter too, so its span-context directives (`warn,[request]=debug`) still work
/// for spans the span filter lets through. Made by [`Filters`].
#[derive(Clone)]
pub struct SplitFilter {
    filters: Filters,
    metrics_are_logs: bool,
}

impl fmt::Debug for SplitFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitFilter")
            .field("filters", &self.filters)
            .field("metrics_are_logs", &self.metrics_are_logs)
            .finish()
    }
}

impl SplitFilter {
    fn by_span_filter(&self, meta: &Metadata<'_>) -> bool {
        meta.is_span() || (!self.metrics_are_logs && is_metric(meta))
    }

    fn with_logs<T>(&self, f: impl FnOnce(&EnvFilter) -> T) -> T {
        f(&self
            .filters
            .logs
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }
}

impl<S: Subscriber> Filter<S> for SplitFilter {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if self.by_span_filter(meta) {
            Filter::<S>::enabled(&*self.filters.spans, meta, cx)
        } else {
            self.with_logs(|logs| Filter::<S>::enabled(logs, meta, cx))
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() {
            // The log filter records which span callsites its span-context directives
            // name; its answer for the span itself does not count.
            let _ = self.with_logs(|logs| Filter::<S>::callsite_enabled(logs, meta));
        }
        if self.by_span_filter(meta) {
            Filter::<S>::callsite_enabled(&*self.filters.spans, meta)
        } else {
            self.with_logs(|logs| Filter::<S>::callsite_enabled(logs, meta))
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let spans = Filter::<S>::max_level_hint(&*self.filters.spans)?;
        let logs = self.with_logs(|logs| Filter::<S>::max_level_hint(logs))?;
        Some(spans.max(logs))
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.with_logs(|logs| Filter::<S>::on_new_span(logs, attrs, id, ctx));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.with_logs(|logs| Filter::<S>::on_record(logs, id, values, ctx));
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_logs(|logs| Filter::<S>::on_enter(logs, id, ctx));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.with_logs(|logs| Filter::<S>::on_exit(logs, id, ctx));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.with_logs(|logs| Filter::<S>::on_close(logs, id, ctx));
    }
}

#[cfg(all(test, feature = "correlation"))]
mod tests {
    use super::*;
    use tracing_insights_testing::CaptureWriter;
    use tracing_subscriber::prelude::*;

    #[test]
    fn metric_events_are_logs_for_log_output_and_telemetry_for_exporters() {
        let filters = Filters::new(EnvFilter::new("info"), EnvFilter::new("warn"));
        let (logs, telemetry) = (CaptureWriter::new(), CaptureWriter::new());
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(telemetry.clone())
                    .with_filter(filters.telemetry()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(logs.clone())
                    .with_filter(filters.logs()),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("request").in_scope(|| {
                tracing::info!(histogram.size = 1, "metric");
                tracing::info!("info");
                tracing::warn!("warn");
            });
        });
        let (logs, telemetry) = (logs.contents(), telemetry.contents());
        assert_eq!(logs.lines().count(), 1, "{logs}");
        assert!(logs.contains("warn"), "{logs}");
        assert_eq!(telemetry.lines().count(), 2, "{telemetry}");
        assert!(telemetry.contains("metric"), "{telemetry}");
    }
}
