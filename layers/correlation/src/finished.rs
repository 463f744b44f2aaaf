//! A closed span, finished once by the correlation layer and shared by every exporter.
//!
//! Each exporter used to copy a closed span's record onto its own queue (fields, links, ids
//! as text) on the application's thread, so a second exporter cost as much again. Now the
//! correlation layer, whose `on_close` runs before the layers stacked after it, moves the
//! record into one immutable [`FinishedSpan`] (a [`SharedRecord`](crate::SharedRecord),
//! made in a block of them: see `block`); an exporter's share of the application thread is
//! a clone and a queue hand-off, and its mapping and encoding run on its own thread.

use crate::block::SharedRecord;
use crate::data::{RecordCell, SpanContext};
use crate::event::FinishedEvent;
use crate::ids::{SpanId, TraceId};
use crate::kept_events::KeptEvents;
use crate::record::{SpanKind, SpanLink, SpanRecord, SpanStatus};
use crate::resource::Resource;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Everything a closed span says, fixed when it closed: ids, sampling, the record (name,
/// kind, fields), the effective status, links, times and the resource.
///
/// Made once per span by the correlation layer's `on_close`; read it with
/// [`SpanData::finished`](crate::SpanData::finished) from an exporter's `on_close` (stack
/// the exporter after the correlation layer) and send the record to a worker thread.
#[derive(Debug)]
pub struct FinishedSpan {
    pub(crate) ctx: SpanContext,
    pub(crate) tracestate: Option<Arc<str>>,
    pub(crate) sample_rate: f64,
    pub(crate) record: RecordCell,
    /// Whether an ERROR-level event happened inside the span (its status is `Error` then,
    /// unless one was set).
    pub(crate) error_events: bool,
    pub(crate) links: Vec<SpanLink>,
    pub(crate) kept: KeptEvents,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) events: u32,
    pub(crate) resource: Arc<Resource>,
}

impl FinishedSpan {
    /// The span's ids and sampling decision.
    pub fn context(&self) -> SpanContext {
        self.ctx
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.ctx.trace_id
    }

    /// The span's id.
    pub fn span_id(&self) -> SpanId {
        self.ctx.span_id
    }

    /// Whether every exporter keeps this span.
    pub fn is_sampled(&self) -> bool {
        self.ctx.sampled
    }

    /// Application Insights' `sampleRate`: the percentage of traces the sampler keeps.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// The W3C `tracestate` carried with this trace, unchanged.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The recorded name, kind, explicit status and fields.
    pub fn record(&self) -> &SpanRecord {
        self.record.get()
    }

    /// The name (`otel.name` or the span's name).
    pub fn name(&self) -> &str {
        self.record.get().name()
    }

    /// The kind (`otel.kind`).
    pub fn kind(&self) -> SpanKind {
        self.record.get().kind()
    }

    /// The status: the explicit one, or `Error` when an ERROR-level event happened inside
    /// the span and none was set (as [`SpanData::status`](crate::SpanData::status)).
    pub fn status(&self) -> SpanStatus {
        match self.record.get().status() {
            SpanStatus::Unset if self.error_events => SpanStatus::Error { message: None },
            s => s,
        }
    }

    /// Links to other spans.
    pub fn links(&self) -> &[SpanLink] {
        &self.links
    }

    /// The events the exporter identified by `key` kept on the span while it was open
    /// ([`SpanData::keep_event`](crate::SpanData::keep_event)), in order.
    pub fn kept_events(&self, key: usize) -> impl Iterator<Item = &SharedRecord<FinishedEvent>> {
        self.kept.events(key)
    }

    /// Whether any exporter kept events on the span.
    pub fn has_kept_events(&self) -> bool {
        !self.kept.is_empty()
    }

    /// How many events the exporter identified by `key` could not keep (over its limit).
    pub fn kept_events_dropped(&self, key: usize) -> u32 {
        self.kept.dropped(key)
    }

    /// When the span was created.
    pub fn start_time(&self) -> SystemTime {
        self.start
    }

    /// When the span closed.
    pub fn end_time(&self) -> SystemTime {
        self.end
    }

    /// `end_time - start_time` (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }

    /// How many events were emitted directly inside the span.
    pub fn event_count(&self) -> u32 {
        self.events
    }

    /// The resource of the correlation layer that made the span.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The resource, shared.
    pub fn resource_arc(&self) -> &Arc<Resource> {
        &self.resource
    }
}
