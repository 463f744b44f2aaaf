//! The layer and its builder.

use crate::encoder::{Encoder, EventJob, EventSpanJob, Job, SpanJob};
use crate::guard::{FlushHandle, Guard};
use crate::mapping::{self, ErrorExtra, PartA};
use crate::metrics::Metrics;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_core::span::Id;
use tracing_core::{Dispatch, Event, Subscriber};
use tracing_insights_azure::auth::{self, AuthenticationString};
use tracing_insights_azure::{
    Authorization, BearerAuth, ConnectionString, ConnectionStringError, TokenProvider,
};
use tracing_insights_correlation::{
    event_context, find_span_data, Clock, CorrelationLayer, FieldValue, Resource, SpanContext,
    SpanData, SystemClock,
};
use tracing_insights_export::{ExportBuilder, ExportError, Exporter};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The metric export interval in milliseconds (OpenTelemetry's variable; default 60000).
const METRIC_INTERVAL_ENV: &str = "OTEL_METRIC_EXPORT_INTERVAL";

/// Disables the `_OTELRESOURCE_` metric when `true` (as in Microsoft's exporters).
const RESOURCE_METRIC_DISABLED_ENV: &str =
    "APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED";

/// Why the layer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string is missing or wrong.
    #[error(transparent)]
    ConnectionString(#[from] ConnectionStringError),
    /// `Authorization=AAD` (or `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`) needs a token
    /// provider ([`AppInsightsBuilder::with_token_provider`]).
    #[error("Microsoft Entra ID is required (Authorization=AAD in the connection string, or APPLICATIONINSIGHTS_AUTHENTICATION_STRING) but no token provider was given: call with_token_provider(..) with a credential (managed identity, workload identity, client secret), or allow local authentication on the resource")]
    EntraIdNotSupported,
    /// The export worker could not start.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Builds an [`AppInsightsLayer`] and the [`Guard`](crate::Guard) that flushes it.
#[derive(Clone)]
pub struct AppInsightsBuilder {
    connection_string: Option<String>,
    queue_capacity: usize,
    max_batch: usize,
    max_delay: Duration,
    resource_metric: Option<bool>,
    events: bool,
    clock: Option<Arc<dyn Clock>>,
    token_provider: Option<Arc<dyn TokenProvider>>,
    metric_interval: Option<Duration>,
    metric_cardinality_limit: usize,
}

impl fmt::Debug for AppInsightsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string holds the instrumentation key: never shown.
        f.debug_struct("AppInsightsBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("max_delay", &self.max_delay)
            .field("resource_metric", &self.resource_metric)
            .field("events", &self.events)
            .field("token_provider", &self.token_provider.is_some())
            .field("metric_interval", &self.metric_interval)
            .field("metric_cardinality_limit", &self.metric_cardinality_limit)
            .finish_non_exhaustive()
    }
}

impl Default for AppInsightsBuilder {
    fn default() -> Self {
        Self {
            connection_string: None,
            queue_capacity: 2048,
            max_batch: 512,
            max_delay: Duration::from_secs(5),
            resource_metric: None,
            events: true,
            clock: None,
            token_provider: None,
            metric_interval: None,
            metric_cardinality_limit: 2000,
        }
    }
}

impl AppInsightsBuilder {
    /// The connection string. Default: `APPLICATIONINSIGHTS_CONNECTION_STRING`.
    #[must_use]
    pub fn with_connection_string(mut self, connection_string: impl Into<String>) -> Self {
        self.connection_string = Some(connection_string.into());
        self
    }

    /// How many envelopes may wait for the worker (default 2048); beyond that they are
    /// dropped and counted.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most envelopes per request (default 512).
    #[must_use]
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max;
        self
    }

    /// The longest an envelope waits before it is sent (default 5 s).
    #[must_use]
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether every request starts with the `_OTELRESOURCE_` metric (default on, unless
    /// `APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED=true`).
    #[must_use]
    pub fn with_resource_metric(mut self, enabled: bool) -> Self {
        self.resource_metric = Some(enabled);
        self
    }

    /// Whether events become traces/exceptions (default on). Off: spans and metrics only.
    #[must_use]
    pub fn with_events(mut self, enabled: bool) -> Self {
        self.events = enabled;
        self
    }

    /// How often metrics (event fields `monotonic_counter.*`, `counter.*`, `gauge.*`,
    /// `histogram.*`) are aggregated and sent. Default: `OTEL_METRIC_EXPORT_INTERVAL`
    /// (milliseconds), else 60 s. [`Guard::flush`] and [`Guard::shutdown`] also end the
    /// interval.
    #[must_use]
    pub fn with_metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = Some(interval);
        self
    }

    /// The most attribute sets per metric (default 2000, as OpenTelemetry's SDK). Beyond it,
    /// measurements go to one series with the attribute `otel.metric.overflow = True`, and are
    /// counted ([`Guard::metric_overflows`]).
    #[must_use]
    pub fn with_metric_cardinality_limit(mut self, limit: usize) -> Self {
        self.metric_cardinality_limit = limit;
        self
    }

    /// The clock for event and metric times, instead of the correlation layer's (which is
    /// the default, so `correlation::layer().with_clock(..)` is enough).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Microsoft Entra ID: every ingestion request carries `Authorization: Bearer <token>`
    /// from `provider`, for the scope `https://monitor.azure.com//.default` (or the connection
    /// string's `AADAudience` + `/.default`). Tokens are cached and refreshed on the export
    /// worker thread; a 401 fetches a new one once.
    #[must_use]
    pub fn with_token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.token_provider = Some(Arc::new(provider));
        self
    }

    /// Parses the connection string and starts the export worker.
    pub fn build(self) -> Result<(AppInsightsLayer, Guard), Error> {
        let cs = ConnectionString::resolve(self.connection_string.as_deref())?;
        // Entra ID (protocol reference 1.3): a token provider turns bearer auth on; AAD asked
        // for by the connection string or the environment without one is an error.
        let bearer = match &self.token_provider {
            Some(p) => Some(Arc::new(BearerAuth::new(p.clone(), auth::scope(&cs)))),
            None if cs.authorization() == Authorization::EntraId
                || !matches!(AuthenticationString::from_env(), Ok(None)) =>
            {
                return Err(Error::EntraIdNotSupported)
            }
            None => None,
        };
        let resource_metric = self.resource_metric.unwrap_or_else(|| {
            !std::env::var(RESOURCE_METRIC_DISABLED_ENV)
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
        });
        let shared = Arc::new(Shared {
            ikey: cs.instrumentation_key().to_owned(),
            application_id: cs.application_id().map(str::to_owned),
            part_a: OnceLock::new(),
            clock: OnceLock::new(),
            sampler_rate: OnceLock::new(),
            metrics: Metrics::new(self.metric_cardinality_limit),
        });
        if let Some(clock) = self.clock.clone() {
            let _ = shared.clock.set(clock);
        }
        let mut export = ExportBuilder::new("appinsights", cs.track_url())
            .with_queue_capacity(self.queue_capacity)
            .with_max_batch(self.max_batch)
            .with_max_delay(self.max_delay);
        if let Some(bearer) = bearer {
            export = export.with_auth(bearer);
        }
        if resource_metric {
            let shared = shared.clone();
            export = export.with_batch_prefix(move || {
                let part_a = shared.part_a();
                let env = mapping::resource_metric(
                    part_a,
                    &shared.ikey,
                    SystemTime::now(),
                    shared.application_id.as_deref(),
                );
                serde_json::to_vec(&env).ok()
            });
        }
        let (exporter, export_guard) = export.spawn()?;
        let interval = self.metric_interval.unwrap_or_else(|| {
            std::env::var(METRIC_INTERVAL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map_or(Duration::from_secs(60), Duration::from_millis)
        });
        let (encoder, encoder_thread) =
            Encoder::spawn(shared.clone(), exporter.clone(), self.queue_capacity)
                .map_err(|e| Error::Export(ExportError::Spawn(e)))?;
        let guard = Guard::new(
            FlushHandle {
                shared: shared.clone(),
                exporter: exporter.clone(),
                encoder: encoder.clone(),
            },
            export_guard,
            encoder_thread,
            interval,
        );
        Ok((
            AppInsightsLayer {
                shared,
                exporter,
                encoder,
                events: self.events,
            },
            guard,
        ))
    }
}

pub(crate) struct Shared {
    pub(crate) ikey: String,
    application_id: Option<String>,
    part_a: OnceLock<PartA>,
    /// The correlation layer's clock (set when the layer is registered), unless overridden.
    clock: OnceLock<Arc<dyn Clock>>,
    /// The correlation layer's sampler percentage.
    sampler_rate: OnceLock<f64>,
    pub(crate) metrics: Metrics,
}

impl Shared {
    fn adopt(&self, correlation: &CorrelationLayer) {
        self.set_resource(correlation.resource());
        // Event and metric times come from the same clock as span times.
        let _ = self.clock.set(correlation.clock());
        let _ = self.sampler_rate.set(correlation.sampler().sample_rate());
    }

    fn set_resource(&self, resource: &Resource) {
        if self.part_a.get().is_none() {
            let _ = self.part_a.set(PartA::new(resource));
        }
    }

    pub(crate) fn part_a(&self) -> &PartA {
        self.part_a
            .get_or_init(|| PartA::new(&Resource::from_env()))
    }

    /// Event and metric times: the correlation layer's clock.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.get_or_init(|| Arc::new(SystemClock)).as_ref()
    }

    fn sampler_rate(&self) -> f64 {
        self.sampler_rate.get().copied().unwrap_or(100.0)
    }
}

/// The context of the span current on this thread (for the panic hook): ids and the
/// sampler's percentage, when the subscriber is a `Registry` with the correlation layer.
pub(crate) fn current_span_context() -> Option<(SpanContext, f64)> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            find_span_data(&span, |d| (d.context(), d.sample_rate()))
        })
        .flatten()
}

/// Sends spans and events to Application Insights. Not generic over the subscriber; put it
/// above the correlation layer: `registry().with(correlation::layer()).with(appinsights)`.
#[derive(Clone)]
pub struct AppInsightsLayer {
    shared: Arc<Shared>,
    exporter: Exporter,
    encoder: Encoder,
    events: bool,
}

impl fmt::Debug for AppInsightsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The instrumentation key is a secret: not shown.
        f.debug_struct("AppInsightsLayer")
            .field("exporter", &self.exporter)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl AppInsightsLayer {
    /// A builder with the defaults.
    pub fn builder() -> AppInsightsBuilder {
        AppInsightsBuilder::default()
    }

    /// Items dropped: the encoder's or the export queue was full, or the export pipeline
    /// gave them up.
    pub fn dropped(&self) -> u64 {
        self.exporter.dropped() + self.encoder.dropped()
    }

    /// Envelopes delivered.
    pub fn sent(&self) -> u64 {
        self.exporter.sent()
    }

    /// Copies the closed span out of its record; the encoder thread maps and encodes it.
    fn export_span(&self, data: &SpanData) {
        if !data.is_sampled() {
            return;
        }
        self.shared.set_resource(data.resource());
        let ctx = data.context();
        self.encoder.send(Job::Span(Box::new(SpanJob {
            name: data.name().to_owned(),
            kind: data.kind(),
            status: data.status(),
            fields: data.record().fields().to_vec(),
            trace_id: ctx.trace_id.to_string(),
            span_id: ctx.span_id.to_string(),
            parent_id: ctx.parent_span_id.map(|p| p.to_string()),
            links: data.links().to_vec(),
            start: data.start_time(),
            end: data.end_time(),
            sampler_rate: data.sample_rate(),
            errors: self.events,
        })));
    }

    fn export_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        // An event that carries metric fields is a measurement, not a log line.
        if self.shared.metrics.record_event(&fields.fields) {
            return;
        }
        let time = self.shared.clock().now();
        let level = event.metadata().level();
        let target = event.metadata().target();
        let FieldCollector { fields, extra } = fields;
        let mut job = Some((fields, extra));
        let mut emit = |span: Option<EventSpanJob>| {
            if let Some((fields, extra)) = job.take() {
                self.encoder.send(Job::Event(Box::new(EventJob {
                    time,
                    level: *level,
                    target,
                    fields,
                    extra,
                    span,
                })));
            }
        };
        // The correlation layer hands over the event's real context, even when this layer's
        // own filter hides the event's spans.
        match event_context(event) {
            Some(None) => emit(None),
            Some(Some(c)) => {
                if !c.sampled {
                    return;
                }
                // The span's own fields (`session.id`, `_MS.sampleRate`) when it is visible.
                let done = ctx.event_span(event).and_then(|span| {
                    find_span_data(&span, |d| {
                        if d.span_id() != c.span_id {
                            return false;
                        }
                        self.shared.set_resource(d.resource());
                        emit(Some(EventSpanJob::new(
                            c.trace_id.to_string(),
                            c.span_id.to_string(),
                            d.record().fields(),
                            d.sample_rate(),
                        )));
                        true
                    })
                });
                if done != Some(true) {
                    emit(Some(EventSpanJob::new(
                        c.trace_id.to_string(),
                        c.span_id.to_string(),
                        &[],
                        self.shared.sampler_rate(),
                    )));
                }
            }
            // Not handed over (the correlation layer is stacked after this one, or filtered):
            // walk the spans this layer can see.
            None => {
                let found = ctx.event_span(event).and_then(|span| {
                    find_span_data(&span, |d| {
                        if d.is_sampled() {
                            self.shared.set_resource(d.resource());
                            let c = d.context();
                            emit(Some(EventSpanJob::new(
                                c.trace_id.to_string(),
                                c.span_id.to_string(),
                                d.record().fields(),
                                d.sample_rate(),
                            )));
                        }
                    })
                });
                // No correlation data: export without operation ids.
                if found.is_none() {
                    emit(None);
                }
            }
        }
    }
}

/// Collects an event's fields with their types (as the correlation layer records spans'),
/// and what an error field says beyond its messages (type names, backtrace).
#[derive(Default)]
struct FieldCollector {
    fields: Vec<(&'static str, FieldValue)>,
    extra: Option<ErrorExtra>,
}

impl tracing_core::field::Visit for FieldCollector {
    fn record_f64(&mut self, f: &tracing_core::Field, v: f64) {
        self.fields.push((f.name(), FieldValue::F64(v)));
    }
    fn record_i64(&mut self, f: &tracing_core::Field, v: i64) {
        self.fields.push((f.name(), FieldValue::I64(v)));
    }
    fn record_u64(&mut self, f: &tracing_core::Field, v: u64) {
        self.fields.push((f.name(), FieldValue::U64(v)));
    }
    fn record_i128(&mut self, f: &tracing_core::Field, v: i128) {
        self.fields.push((f.name(), FieldValue::I128(v)));
    }
    fn record_u128(&mut self, f: &tracing_core::Field, v: u128) {
        self.fields.push((f.name(), FieldValue::U128(v)));
    }
    fn record_bool(&mut self, f: &tracing_core::Field, v: bool) {
        self.fields.push((f.name(), FieldValue::Bool(v)));
    }
    fn record_str(&mut self, f: &tracing_core::Field, v: &str) {
        self.fields.push((f.name(), FieldValue::Str(v.to_owned())));
    }
    fn record_error(&mut self, f: &tracing_core::Field, v: &(dyn std::error::Error + 'static)) {
        self.fields.push((
            f.name(),
            FieldValue::Error(tracing_insights_correlation::ErrorValue::from_error(v)),
        ));
        if self.extra.is_none() {
            self.extra = Some(crate::exception::extra(v));
        }
    }
    fn record_debug(&mut self, f: &tracing_core::Field, v: &dyn fmt::Debug) {
        self.fields
            .push((f.name(), FieldValue::Str(format!("{v:?}"))));
    }
}

impl<S> Layer<S> for AppInsightsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // The correlation layer's resource, clock and sampling rate are adopted when the layer
    // is stacked (`on_layer`, which `Option<L>`, `Filtered` and `reload` forward, and which
    // sees the correlation layer when it was added first, as documented) and again when the
    // subscriber is registered (`on_register_dispatch`, which sees the whole stack but which
    // `Option<L>` does not forward). The first one to find it wins.
    fn on_layer(&mut self, subscriber: &mut S) {
        let subscriber: &dyn Subscriber = subscriber;
        if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
            self.shared.adopt(correlation);
        }
    }

    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
            self.shared.adopt(correlation);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.events {
            // Logs are off; metric fields are still measurements.
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let mut fields = FieldCollector::default();
                event.record(&mut fields);
                self.shared.metrics.record_event(&fields.fields);
            }));
            return;
        }
        // Never let a mapping bug unwind into the application.
        let _ = catch_unwind(AssertUnwindSafe(|| self.export_event(event, &ctx)));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let Some(span) = ctx.span(&id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                self.export_span(data);
            }
        }));
    }
}
