//! The correlation layer: gives every span its ids and record, once.

use crate::clock::{Clock, SystemClock};
use crate::contain;
use crate::data::{find_span_data, find_span_data_mut, Inherited, Shared, SpanData};
use crate::event::FinishedEvent;
use crate::id_source::{IdSource, NewSpan};
#[cfg(feature = "testing")]
use crate::ids::IdGenerator;
use crate::ids::RandomIdGenerator;
use crate::record::{Pending, SpanLink, SpanRecord};
use crate::resource::Resource;
use crate::sampler::Sampler;
use crate::sampler_env::{sampler_from_env, SamplerEnvError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Gives every span a W3C trace id and span id, a sampling decision and one shared record of
/// its fields, stored in the span's extensions for every other layer to read.
///
/// Put it where it sees every span: without a per-layer filter, and before the exporters
/// (`registry().with(correlation::layer()).with(...)`). If a filter hides a span from it, that
/// span gets no ids of its own and readers use its nearest visible ancestor's.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer().with_sampler(correlation::Sampler::ratio(0.5).unwrap()))
///     .with(tracing_subscriber::fmt::layer().event_format(correlation::json()));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("request").in_scope(|| tracing::info!("inside"));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct CorrelationLayer {
    shared: Arc<Shared>,
}

/// A correlation layer with the defaults: random ids, the system clock, the resource from
/// the environment ([`Resource::from_env`]) and the sampler from the environment
/// ([`sampler_from_env`](crate::sampler_from_env): `OTEL_TRACES_SAMPLER` /
/// `OTEL_TRACES_SAMPLER_ARG`), keeping every trace when they are unset.
///
/// It cannot fail: a malformed sampler variable is reported in one line on stderr and every
/// trace is kept. To get that as an error instead, call
/// [`CorrelationLayer::with_sampler_from_env`]; [`CorrelationLayer::with_sampler`] overrides
/// the environment.
pub fn layer() -> CorrelationLayer {
    CorrelationLayer::new()
}

impl Default for CorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CorrelationLayer {
    /// See [`layer`].
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                sampler: match sampler_from_env() {
                    Ok(sampler) => sampler.unwrap_or_default(),
                    Err(e) => {
                        // Not `tracing`: no subscriber may be ready, and ours would loop.
                        eprintln!(
                            "[tracing-insights] {e}; keeping every trace \
                             (CorrelationLayer::with_sampler_from_env reports this as an error)"
                        );
                        Sampler::default()
                    }
                },
                ids: Arc::new(RandomIdGenerator),
                clock: Arc::new(SystemClock),
                resource: Arc::new(Resource::from_env()),
                id_source: None,
                finish: Arc::default(),
                finish_events: Arc::default(),
                event_span_records: Arc::default(),
            }),
        }
    }

    /// The sampler that decides, once per trace, what every exporter keeps. Default: the
    /// environment's ([`layer`]), else [`Sampler::always_on`].
    #[must_use]
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        Arc::make_mut(&mut self.shared).sampler = sampler;
        self
    }

    /// The sampler `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` ask for (see
    /// [`sampler_from_env`](crate::sampler_from_env)), replacing the current one when the
    /// variable is set; unset, the sampler stays as it is. A malformed value is an error
    /// naming the variable.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tracing_insights_correlation as correlation;
    /// let layer = correlation::layer().with_sampler_from_env()?;
    /// # drop(layer); Ok(()) }
    /// ```
    pub fn with_sampler_from_env(self) -> Result<Self, SamplerEnvError> {
        Ok(match sampler_from_env()? {
            Some(sampler) => self.with_sampler(sampler),
            None => self,
        })
    }

    /// The resource every exporter reads. Default: [`Resource::from_env`].
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        Arc::make_mut(&mut self.shared).resource = Arc::new(resource);
        self
    }

    /// Consults `source` for every new span's ids before making its own (see [`IdSource`]):
    /// for a bridge to another tracing system that already gives spans ids, so that one
    /// trace id is shared. Default: none.
    #[must_use]
    pub fn with_id_source(mut self, source: impl IdSource) -> Self {
        Arc::make_mut(&mut self.shared).id_source = Some(Arc::new(source));
        self
    }

    /// Injects the id generator (tests, the conformance runner).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn with_id_generator(mut self, ids: impl IdGenerator) -> Self {
        Arc::make_mut(&mut self.shared).ids = Arc::new(ids);
        self
    }

    /// Injects the clock for span start and end times (tests, the conformance runner).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        Arc::make_mut(&mut self.shared).clock = Arc::new(clock);
        self
    }

    /// Asks the layer to finish every closed span into one shared, immutable record
    /// ([`FinishedSpan`](crate::FinishedSpan), read with
    /// [`SpanData::finished`](crate::SpanData::finished)): an exporter calls this when it
    /// finds the layer (`Layer::on_layer` / `on_register_dispatch`, with
    /// `downcast_ref::<CorrelationLayer>()`). Until some exporter asks, `on_close` only fixes
    /// the end time, so a stack without exporters (the correlation layer and a log format)
    /// does not pay for records nobody reads, and `finished()` makes a copy on demand.
    pub fn share_finished_spans(&self) {
        self.shared.finish.store(true, Ordering::Relaxed);
    }

    /// Asks the layer to record every event once into a shared, immutable record
    /// ([`FinishedEvent`](crate::FinishedEvent), read with
    /// [`finished_event`](crate::finished_event) from the `on_event` of a layer stacked
    /// after this one): an exporter calls this when it finds the layer, as for
    /// [`share_finished_spans`](Self::share_finished_spans). Until some exporter asks, events
    /// are not recorded here.
    pub fn share_finished_events(&self) {
        self.shared.finish_events.store(true, Ordering::Relaxed);
    }

    /// As [`share_finished_events`](Self::share_finished_events), and every event's record
    /// also carries the record of the span it happened in, as it was then
    /// ([`FinishedEvent::span_record`](crate::FinishedEvent::span_record); shared, not
    /// copied): for an exporter that reads span fields with each event (Application
    /// Insights takes `session.id` from there). The first event of a span moves the span's
    /// record into a shared one, which only exporters that read it should pay for.
    pub fn share_event_span_records(&self) {
        self.share_finished_events();
        self.shared
            .event_span_records
            .store(true, Ordering::Relaxed);
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.shared.resource
    }

    /// The sampler.
    pub fn sampler(&self) -> Sampler {
        self.shared.sampler.clone()
    }

    /// The clock span times come from, so that exporters stamp events with the same clock
    /// (an exporter finds the layer with `Dispatch::downcast_ref::<CorrelationLayer>()` in
    /// `Layer::on_register_dispatch`).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.shared.clock.clone()
    }
}

impl<S> Layer<S> for CorrelationLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Every callback runs contained (see the crate docs, "Panics"): the application's values
    // are formatted before any lock is taken, one at a time, and nothing unwinds out of a
    // callback, least of all out of `on_close`, which runs from a span's `Drop`.

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        contain::callback((), || self.new_span(attrs, id, ctx));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        contain::callback((), || {
            let Some(span) = ctx.span(id) else { return };
            // The application's `Display`/`Debug` runs here, with no lock held; only the
            // finished values are moved in under the span's lock.
            let mut pending = Pending::default();
            values.record(&mut pending);
            let mut ext = span.extensions_mut();
            if let Some(data) = ext.get_mut::<SpanData>() {
                data.record_mut().apply(pending);
            }
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        contain::callback((), || {
            let (Some(span), Some(other)) = (ctx.span(id), ctx.span(follows)) else {
                return;
            };
            let Some(target) = find_span_data(&other, |d| d.context()) else {
                return;
            };
            let mut ext = span.extensions_mut();
            if let Some(data) = ext.get_mut::<SpanData>() {
                data.add_link(SpanLink {
                    trace_id: target.trace_id,
                    span_id: target.span_id,
                });
            }
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        contain::callback((), || {
            let Some(span) = ctx.span(id) else { return };
            let ext = span.extensions();
            if let Some(data) = ext.get::<SpanData>() {
                data.fix();
            }
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let handed_over = contain::callback(false, || self.event(event, ctx));
        if !handed_over {
            // Readers must not take a context left from an earlier event for this one.
            crate::event_context::forget();
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Reading the extensions panics if another layer poisoned the span's lock; contained
        // here, that panic cannot escape the span's `Drop` and abort the process.
        contain::callback((), || {
            let Some(span) = ctx.span(&id) else { return };
            // The layers stacked after this one run their `on_close` after this returns and
            // find the span finished: one shared record for every exporter.
            if !self.shared.finishes() {
                if let Some(data) = span.extensions().get::<SpanData>() {
                    data.close_time();
                }
                return;
            }
            let mut ext = span.extensions_mut();
            if let Some(data) = ext.get_mut::<SpanData>() {
                crate::closed_span::remember(&id, data.close());
            }
        });
    }
}

impl CorrelationLayer {
    fn new_span<S>(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else { return };
        // The attributes are formatted before the extensions lock is taken.
        let mut record = SpanRecord::new(attrs.metadata().name(), attrs.metadata().fields().len());
        attrs.record(&mut record.first_recording());
        let parent = span
            .parent()
            .and_then(|parent| find_span_data(&parent, SpanData::inherit));
        let external = self.shared.id_source.as_ref().and_then(|source| {
            let ext = span.extensions();
            source
                .ids(&NewSpan {
                    metadata: attrs.metadata(),
                    extensions: &ext,
                    parent: parent.as_ref().map(Inherited::context),
                })
                .filter(|ids| ids.trace_id.is_valid() && ids.span_id.is_valid())
        });
        let data = match (external, parent) {
            (Some(ids), parent) => {
                SpanData::from_external(self.shared.clone(), ids, parent, record)
            }
            (None, Some(parent)) => SpanData::new_child(self.shared.clone(), parent, record),
            (None, None) => SpanData::new_root(self.shared.clone(), record),
        };
        let mut ext = span.extensions_mut();
        // Another correlation layer (a Vec of layers, a reload) may have got here first: its
        // ids stand, and `insert` would panic on a second value of the same type.
        if ext.get_mut::<SpanData>().is_none() {
            ext.insert(data);
        }
    }

    /// Notes the event in its span and hands its context over (with the event's shared
    /// record when exporters asked for one); `true` when handed over.
    fn event<S>(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let is_error = *event.metadata().level() == Level::ERROR;
        let share = self.shared.finishes_events();
        let span_records = share && self.shared.shares_event_span_records();
        let mut span_parts = None;
        let context = ctx.event_span(event).and_then(|span| {
            if span_records {
                // Write access: the span's record becomes a shared one at its first event.
                find_span_data_mut(&span, |d| {
                    d.note_event(is_error);
                    span_parts = Some((
                        Some(d.record_shared()),
                        d.resource_arc().clone(),
                        d.sample_rate(),
                    ));
                    d.context()
                })
            } else {
                find_span_data(&span, |d| {
                    d.note_event(is_error);
                    if share {
                        span_parts = Some((None, d.resource_arc().clone(), d.sample_rate()));
                    }
                    d.context()
                })
            }
        });
        // Layers after this one may have filters that hide the event's spans; they read
        // the real ids from here (see `event_context`). Hand over only what is certain: the
        // context found, or "outside any span"; if a filter on this layer hid every span
        // the event is in, readers fall back to their own walk.
        let certain = context.is_some()
            || (event.parent().is_none()
                && (!event.is_contextual() || ctx.current_span().id().is_none()));
        if !certain {
            return false;
        }
        // Recorded after the span's lock is released: the application's `Debug` runs here.
        let record = share.then(|| {
            let time = self.shared.clock.now();
            // The application's `Debug` runs in `make`, with this thread's block out of
            // its thread-local: an event it emits goes to a block of its own.
            crate::block::event(|| match span_parts {
                Some((record, resource, rate)) => {
                    FinishedEvent::new(event, time, context, rate).with_span_parts(record, resource)
                }
                None => FinishedEvent::new(event, time, context, 100.0),
            })
        });
        crate::event_context::remember(event, context, record);
        true
    }
}
