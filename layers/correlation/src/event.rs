//! An event, recorded once by the correlation layer and shared by every exporter.
//!
//! Each exporter used to record an event's fields itself on the application's thread (typed
//! values, `Debug` formatting, ids as text), so a second exporter paid for the event again.
//! When an exporter asks for it ([`CorrelationLayer::share_finished_events`](crate::CorrelationLayer::share_finished_events)),
//! the correlation layer, whose `on_event` runs before the layers stacked after it, records
//! the event once into an immutable [`FinishedEvent`] (a [`SharedRecord`](crate::SharedRecord)) and leaves it for the
//! layers after it ([`finished_event`]); an exporter's share of the application thread is an
//! clone and a queue hand-off, and its mapping runs on its own thread.

use crate::block::SharedRecord;
use crate::data::{SpanContext, SpanData};
use crate::ids::{SpanId, TraceId};
use crate::record::{EventFields, FieldValue, SpanRecord};
use crate::resource::Resource;
use std::sync::Arc;
use std::time::SystemTime;
use tracing_core::{Event, Level, Metadata};

/// Everything an event says, fixed when it was emitted: time, metadata, its fields (typed,
/// cut at [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES) like span fields), the context of the
/// span it happened in and that span's record as it was then (shared, not copied).
///
/// Read it with [`finished_event`](crate::finished_event) from an exporter's `on_event` (stack the exporter after
/// the correlation layer) and send the record to a worker thread; without the correlation
/// layer's record, make one with [`FinishedEvent::new`].
#[derive(Debug)]
pub struct FinishedEvent {
    time: SystemTime,
    metadata: &'static Metadata<'static>,
    fields: Vec<(&'static str, FieldValue)>,
    bytes: usize,
    context: Option<SpanContext>,
    sample_rate: f64,
    span: Option<SharedRecord<SpanRecord>>,
    resource: Option<Arc<Resource>>,
}

impl FinishedEvent {
    /// Records `event`'s fields (the application's `Debug`/`Display` runs here, contained)
    /// with `time` and the context of the span it happened in (`None`: outside any span);
    /// `sample_rate` is Application Insights' percentage for that trace (100 outside one).
    pub fn new(
        event: &Event<'_>,
        time: SystemTime,
        context: Option<SpanContext>,
        sample_rate: f64,
    ) -> Self {
        let mut fields = EventFields {
            fields: Vec::with_capacity(event.fields().count()),
            bytes: 0,
        };
        event.record(&mut fields);
        Self {
            time,
            metadata: event.metadata(),
            fields: fields.fields,
            bytes: fields.bytes,
            context,
            sample_rate,
            span: None,
            resource: None,
        }
    }

    /// Takes the context, sampling percentage, record and resource of the span the event
    /// happened in.
    #[must_use]
    pub fn with_span(mut self, data: &SpanData) -> Self {
        self.context = Some(data.context());
        self.sample_rate = data.sample_rate();
        self.span = Some(data.record_snapshot());
        self.resource = Some(data.resource_arc().clone());
        self
    }

    pub(crate) fn with_span_parts(
        mut self,
        record: Option<SharedRecord<SpanRecord>>,
        resource: Arc<Resource>,
    ) -> Self {
        self.span = record;
        self.resource = Some(resource);
        self
    }

    /// When the event was emitted (the correlation layer's clock).
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// The event's callsite metadata (for a `log`-crate record, the bridge's; see
    /// [`target`](Self::target)).
    pub fn metadata(&self) -> &'static Metadata<'static> {
        self.metadata
    }

    /// The level.
    pub fn level(&self) -> &'static Level {
        self.metadata.level()
    }

    /// The target: a `log`-crate record's own (its `log.target` field), else the callsite's.
    pub fn target(&self) -> &str {
        if self.metadata.target() == "log" {
            if let Some(FieldValue::Str(t)) = self.field("log.target") {
                return t;
            }
        }
        self.metadata.target()
    }

    /// Every field, `message` included, in recording order.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// One field's value.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// About the bytes the fields hold ([`FieldValue::held_bytes`] of each), counted as they
    /// were recorded (the span's record is shared, not counted here).
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// The `message` field, when it is a string.
    pub fn message(&self) -> Option<&str> {
        self.field("message").and_then(FieldValue::as_str)
    }

    /// The context of the span the event happened in; `None` outside any span.
    pub fn context(&self) -> Option<SpanContext> {
        self.context
    }

    /// The trace id, inside a span.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.context.map(|c| c.trace_id)
    }

    /// The id of the span the event happened in.
    pub fn span_id(&self) -> Option<SpanId> {
        self.context.map(|c| c.span_id)
    }

    /// Whether the trace is kept (`true` outside any span).
    pub fn is_sampled(&self) -> bool {
        self.context.is_none_or(|c| c.sampled)
    }

    /// Application Insights' `sampleRate` of the event's trace.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The record (name, kind, fields) of the span the event happened in, as it was when the
    /// event was emitted; `None` outside a span, when that span was not visible, or when no
    /// exporter asked the correlation layer for span records with events
    /// ([`CorrelationLayer::share_event_span_records`](crate::CorrelationLayer::share_event_span_records)).
    pub fn span_record(&self) -> Option<&SpanRecord> {
        self.span.as_deref()
    }

    /// The resource of the correlation layer that made the event's span.
    pub fn resource(&self) -> Option<&Arc<Resource>> {
        self.resource.as_ref()
    }
}
