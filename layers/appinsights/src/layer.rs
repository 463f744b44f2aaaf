//! The layer: hands closed spans and events to the encoder's queue.

use crate::builder::AppInsightsBuilder;
use crate::encoder::Job;
use crate::guard::Pipeline;
use crate::main_agent::MainAgent;
use crate::mapping::ErrorExtra;
use crate::shared_event::{normalize_log_record, EventExtras, SharedEventJob};
use std::fmt;
use std::sync::Arc;
use tracing_core::span::{Attributes, Id};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Metadata, Subscriber};
use tracing_insights_correlation::{
    event_context, find_span_data, finished_event, finished_span, CorrelationLayer, FieldValue,
    FinishedEvent, FinishedSpan, SharedRecord, SpanData,
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
    /// clone) to the encoder thread, which maps and encodes it.
    /// A span of a trace the sampler dropped still goes over when standard metrics are
    /// on: they count every request and dependency.
    fn export_span(&self, span: SharedRecord<FinishedSpan>, main_agent: Option<Arc<MainAgent>>) {
        let sampled = span.is_sampled();
        if !sampled && self.pipeline.shared.standard.is_none() {
            return;
        }
        self.pipeline.encoder.send(Job::Span {
            span,
            errors: self.logs,
            sampled,
            main_agent,
        });
    }

    /// Hands the event's shared record (made once by the correlation layer, a clone)
    /// to the encoder thread, which makes the envelope. Only what needs the application's
    /// thread happens here: metric fields are aggregated, an error's type names read, the
    /// sampling decision and the GenAI attribution looked up.
    fn export_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let p = &self.pipeline;
        let record = match finished_event(event) {
            Some(record) => record,
            None => SharedRecord::new(self.record_event(event, ctx)),
        };
        // An event that carries metric fields is a measurement, not a log line.
        if record
            .fields()
            .iter()
            .any(|(k, _)| crate::metrics::is_metric_field(k))
        {
            if self.metrics {
                let mut fields = record.fields().to_vec();
                normalize_log_record(&mut fields);
                p.shared.metrics.record_event(&fields);
            }
            return;
        }
        if !self.logs {
            return;
        }
        if !record.is_sampled() && self.trace_based_log_sampling {
            return;
        }
        // The record's own time unless this exporter has a clock of its own.
        let time = p.shared.has_own_clock().then(|| p.shared.clock().now());
        // The first error field's type names and backtrace: only the error itself has them.
        let error = if record
            .fields()
            .iter()
            .any(|(_, v)| matches!(v, FieldValue::Error(_)))
        {
            let mut v = ErrorExtraVisitor(None);
            event.record(&mut v);
            v.0
        } else {
            None
        };
        // GenAI main-agent attribution of the event's span, as Microsoft's distro adds it to
        // log records (looked up only once some span has an attribution).
        let main_agent = if p.shared.main_agents_seen() {
            ctx.event_span(event)
                .and_then(|s| s.extensions().get::<Arc<MainAgent>>().cloned())
        } else {
            None
        };
        let extras = (time.is_some() || error.is_some() || main_agent.is_some()).then(|| {
            Box::new(EventExtras {
                time,
                error,
                main_agent,
            })
        });
        p.encoder.send(Job::SharedEvent(SharedEventJob {
            event: record,
            extras,
        }));
    }

    /// The event's record when the correlation layer made none (it is stacked after this
    /// layer, filtered, or no exporter asked it to): with the context it handed over, else
    /// the one of the nearest span this layer can see.
    fn record_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> FinishedEvent
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let p = &self.pipeline;
        let time = p.shared.clock().now();
        // Recorded before any span's lock is taken: the application's `Debug` runs here.
        let (record, wanted) = match event_context(event) {
            Some(None) => return FinishedEvent::new(event, time, None, 100.0),
            // The span's own fields (`session.id`, `_MS.sampleRate`) when it is visible.
            Some(Some(c)) => (
                FinishedEvent::new(event, time, Some(c), p.shared.sampler_rate()),
                Some(c.span_id),
            ),
            None => (FinishedEvent::new(event, time, None, 100.0), None),
        };
        let Some(span) = ctx.event_span(event) else {
            return record;
        };
        let mut record = Some(record);
        let attached = find_span_data(&span, |d| {
            if wanted.is_some_and(|id| id != d.span_id()) {
                return None;
            }
            record.take().map(|r| r.with_span(d))
        })
        .flatten();
        match (attached, record) {
            (Some(r), _) | (None, Some(r)) => r,
            (None, None) => FinishedEvent::new(event, time, None, 100.0),
        }
    }
}

/// The type names and backtrace of an event's first error field.
struct ErrorExtraVisitor(Option<ErrorExtra>);

impl tracing_core::field::Visit for ErrorExtraVisitor {
    fn record_error(&mut self, _: &tracing_core::Field, v: &(dyn std::error::Error + 'static)) {
        if self.0.is_none() {
            self.0 = Some(crate::exception::extra(v));
        }
    }
    fn record_debug(&mut self, _: &tracing_core::Field, _: &dyn fmt::Debug) {}
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
            // Events too: recorded once by the correlation layer for every exporter, with
            // their span's record (`session.id` and `_MS.*` come from there).
            if a.logs || a.metrics {
                correlation.share_event_span_records();
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
            // Events too: recorded once by the correlation layer for every exporter, with
            // their span's record (`session.id` and `_MS.*` come from there).
            if a.logs || a.metrics {
                correlation.share_event_span_records();
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
            // The record the correlation layer has just made, without looking the span up
            // again, unless a GenAI agent attribution may sit in the span's extensions.
            if !a.pipeline.shared.main_agents_seen() {
                if let Some(finished) = finished_span(&id) {
                    a.export_span(finished, None);
                    return;
                }
            }
            let Some(span) = ctx.span(&id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                a.export_span(data.finished(), ext.get::<Arc<MainAgent>>().cloned());
            }
        });
    }
}
