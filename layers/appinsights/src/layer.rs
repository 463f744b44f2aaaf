//! The layer: hands closed spans and events to the encoder's queue.

use crate::builder::AppInsightsBuilder;
use crate::encoder::{EventJob, EventSpanJob, Job};
use crate::guard::Pipeline;
use crate::main_agent::MainAgent;
use crate::mapping::ErrorExtra;
use std::fmt;
use std::sync::Arc;
use tracing_core::span::{Attributes, Id};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Metadata, Subscriber};
use tracing_insights_correlation::{
    event_context, find_span_data, CorrelationLayer, FieldValue, SpanData,
};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Sends spans and events to Application Insights. Not generic over the subscriber; put it
/// above the correlation layer: `registry().with(correlation::layer()).with(appinsights)`.
///
/// A layer built with `OTEL_SDK_DISABLED=true` (or every signal off) does nothing:
/// [`is_enabled`](Self::is_enabled) says so.
#[derive(Clone)]
pub struct AppInsightsLayer {
    pub(crate) inner: Option<Active>,
}

/// A running layer: its pipeline and the signals it sends.
#[derive(Clone)]
pub(crate) struct Active {
    pub(crate) pipeline: Pipeline,
    pub(crate) traces: bool,
    pub(crate) logs: bool,
    pub(crate) metrics: bool,
    /// Logs of traces the sampler dropped are dropped too (Microsoft's
    /// `enable_trace_based_sampling_for_logs`; off by default: they are kept).
    pub(crate) trace_based_log_sampling: bool,
}

impl fmt::Debug for AppInsightsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The instrumentation key is a secret: not shown.
        let mut d = f.debug_struct("AppInsightsLayer");
        match &self.inner {
            None => d.field("enabled", &false),
            Some(a) => d
                .field("exporter", &a.pipeline.exporter)
                .field("traces", &a.traces)
                .field("logs", &a.logs)
                .field("metrics", &a.metrics),
        }
        .finish_non_exhaustive()
    }
}

impl AppInsightsLayer {
    /// A builder with the defaults.
    pub fn builder() -> AppInsightsBuilder {
        AppInsightsBuilder::default()
    }

    /// Whether this layer exports anything (`false` when `OTEL_SDK_DISABLED=true` or every
    /// signal is off).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Items dropped: the encoder's or the export queue was full, or the export pipeline
    /// gave them up.
    pub fn dropped(&self) -> u64 {
        // The encoder queue's drops are counted in the export pipeline's account.
        self.inner
            .as_ref()
            .map_or(0, |a| a.pipeline.exporter.dropped())
    }

    /// Envelopes delivered.
    pub fn sent(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |a| a.pipeline.exporter.sent())
    }
}

impl Active {
    /// Hands the closed span's shared record (finished once by the correlation layer, an
    /// `Arc` clone) to the encoder thread, which maps and encodes it.
    /// A span of a trace the sampler dropped still goes over when standard metrics are
    /// on: they count every request and dependency.
    fn export_span(&self, data: &SpanData, main_agent: Option<Arc<MainAgent>>) {
        let sampled = data.is_sampled();
        if !sampled && self.pipeline.shared.standard.is_none() {
            return;
        }
        self.pipeline.encoder.send(Job::Span {
            span: data.finished(),
            errors: self.logs,
            sampled,
            main_agent,
        });
    }

    fn export_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let p = &self.pipeline;
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        normalize_log_record(&mut fields.fields);
        // An event that carries metric fields is a measurement, not a log line.
        if self.metrics {
            if p.shared.metrics.record_event(&fields.fields) {
                return;
            }
        } else if fields
            .fields
            .iter()
            .any(|(k, _)| crate::metrics::is_metric_field(k))
        {
            return;
        }
        if !self.logs {
            return;
        }
        let time = p.shared.clock().now();
        let level = event.metadata().level();
        let target = event.metadata().target();
        let FieldCollector { mut fields, extra } = fields;
        // GenAI main-agent attribution of the event's span, as Microsoft's distro adds it to
        // log records (looked up only once some span has an attribution).
        if p.shared.main_agents_seen() {
            if let Some(agent) = ctx
                .event_span(event)
                .and_then(|s| s.extensions().get::<Arc<MainAgent>>().cloned())
            {
                agent.add_fields(&mut fields);
            }
        }
        let mut job = Some((fields, extra));
        let mut emit = |span: Option<EventSpanJob>| {
            if let Some((fields, extra)) = job.take() {
                p.encoder.send(Job::Event(Box::new(EventJob {
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
                if !c.sampled && self.trace_based_log_sampling {
                    return;
                }
                // The span's own fields (`session.id`, `_MS.sampleRate`) when it is visible.
                let done = ctx.event_span(event).and_then(|span| {
                    find_span_data(&span, |d| {
                        if d.span_id() != c.span_id {
                            return false;
                        }
                        p.shared.set_resource(d.resource());
                        emit(Some(EventSpanJob::new(
                            c.trace_id.to_string(),
                            c.span_id.to_string(),
                            d.record().fields(),
                            if c.sampled { d.sample_rate() } else { 100.0 },
                        )));
                        true
                    })
                });
                if done != Some(true) {
                    emit(Some(EventSpanJob::new(
                        c.trace_id.to_string(),
                        c.span_id.to_string(),
                        &[],
                        if c.sampled {
                            p.shared.sampler_rate()
                        } else {
                            100.0
                        },
                    )));
                }
            }
            // Not handed over (the correlation layer is stacked after this one, or filtered):
            // walk the spans this layer can see.
            None => {
                let found = ctx.event_span(event).and_then(|span| {
                    find_span_data(&span, |d| {
                        if d.is_sampled() || !self.trace_based_log_sampling {
                            p.shared.set_resource(d.resource());
                            let c = d.context();
                            emit(Some(EventSpanJob::new(
                                c.trace_id.to_string(),
                                c.span_id.to_string(),
                                d.record().fields(),
                                if c.sampled { d.sample_rate() } else { 100.0 },
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

/// A `log`-crate record (through `tracing-log`'s bridge, target `log`): its own target
/// becomes `logger_name`, as the record's target would be for a `tracing` event, and the
/// bridge's other metadata fields (`log.module_path`, `log.file`, `log.line`) are not
/// properties (`tracing_insights_correlation::normalized_metadata` reads the same fields).
fn normalize_log_record(fields: &mut Vec<(&'static str, FieldValue)>) {
    use tracing_insights_correlation::is_log_field;
    if !fields.iter().any(|(k, _)| is_log_field(k)) {
        return;
    }
    fields.retain_mut(|(k, _)| {
        if *k == "log.target" {
            *k = "logger_name";
            true
        } else {
            !is_log_field(k)
        }
    });
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
        // Cut at the door (the correlation crate's bound) before the copy onto the queue;
        // the mapping cuts to the schema's limits on the encoder thread.
        self.fields.push((
            f.name(),
            FieldValue::Str(tracing_insights_correlation::cut_str(v)),
        ));
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
        self.fields.push((
            f.name(),
            FieldValue::Str(tracing_insights_correlation::cut_debug(v)),
        ));
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
        let Some(a) = &self.inner else { return };
        let subscriber: &dyn Subscriber = subscriber;
        if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
            a.pipeline.shared.adopt(correlation);
            // Closed spans reach this layer as the correlation layer's one shared record.
            if a.traces {
                correlation.share_finished_spans();
            }
        }
    }

    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let Some(a) = &self.inner else { return };
        if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
            a.pipeline.shared.adopt(correlation);
            // Closed spans reach this layer as the correlation layer's one shared record.
            if a.traces {
                correlation.share_finished_spans();
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(a) = &self.inner else { return };
        if !a.logs && !a.metrics {
            return;
        }
        // Never let a mapping bug unwind into the application.
        a.pipeline.shared.contain(|| a.export_event(event, &ctx));
    }

    // Called once per callsite and subscriber (also for callsites registered before the
    // subscriber was made): notes whether any span may take part in GenAI main-agent
    // attribution. Interest as the default (this layer filters nothing).
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if let Some(a) = &self.inner {
            if crate::main_agent::declares_agent_fields(metadata) {
                a.pipeline.shared.saw_agent_callsite();
            }
        }
        Interest::always()
    }

    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(a) = &self.inner else { return };
        // No span carries an agent's fields yet: nothing to attribute (one relaxed load).
        if !a.traces || !a.pipeline.shared.agent_callsites_seen() {
            return;
        }
        // GenAI main-agent attribution, taken from the parent while both are open.
        a.pipeline.shared.contain(|| {
            if let Some(span) = ctx.span(id) {
                if crate::main_agent::on_new_span(&span) {
                    a.pipeline.shared.saw_main_agent();
                }
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(a) = &self.inner else { return };
        if !a.traces {
            return;
        }
        a.pipeline.shared.contain(|| {
            let Some(span) = ctx.span(&id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                a.export_span(data, ext.get::<Arc<MainAgent>>().cloned());
            }
        });
    }
}
