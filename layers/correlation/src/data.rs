//! The per-span extension every layer reads: W3C ids, the sampling decision and the record.

use crate::block::SharedRecord;
use crate::clock::Clock;
use crate::event::FinishedEvent;
use crate::finished::FinishedSpan;
use crate::id_source::{ExternalIds, IdSource};
use crate::ids::{IdGenerator, SpanId, TraceId};
use crate::kept_events::KeptEvents;
use crate::record::{SpanKind, SpanLink, SpanRecord, SpanStatus};
use crate::resource::Resource;
use crate::sampler::Sampler;
use crate::traceparent::TraceParent;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The configuration every span of one correlation layer shares (one `Arc` per span).
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) sampler: Sampler,
    pub(crate) ids: Arc<dyn IdGenerator>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) resource: Arc<Resource>,
    pub(crate) id_source: Option<Arc<dyn IdSource>>,
    /// Set by the first exporter that asks for shared finished spans
    /// ([`CorrelationLayer::share_finished_spans`](crate::CorrelationLayer::share_finished_spans)).
    pub(crate) finish: Arc<AtomicBool>,
    /// Set by the first exporter that asks for shared event records
    /// ([`CorrelationLayer::share_finished_events`](crate::CorrelationLayer::share_finished_events)).
    pub(crate) finish_events: Arc<AtomicBool>,
    /// Set by the first exporter that reads, from an event's record, the record of the span
    /// it happened in
    /// ([`CorrelationLayer::share_event_span_records`](crate::CorrelationLayer::share_event_span_records)).
    pub(crate) event_span_records: Arc<AtomicBool>,
}

impl Shared {
    /// Whether closed spans are finished into a shared record (an exporter asked for them).
    pub(crate) fn finishes(&self) -> bool {
        self.finish.load(Ordering::Relaxed)
    }

    /// Whether events are recorded into a shared record (an exporter asked for them).
    pub(crate) fn finishes_events(&self) -> bool {
        self.finish_events.load(Ordering::Relaxed)
    }

    /// Whether an event's record carries its span's record (an exporter asked for it).
    pub(crate) fn shares_event_span_records(&self) -> bool {
        self.event_span_records.load(Ordering::Relaxed)
    }
}

/// What a child span takes from its parent.
pub(crate) struct Inherited {
    ctx: SpanContext,
    tracestate: Option<Arc<str>>,
    sample_rate: f64,
}

impl Inherited {
    pub(crate) fn context(&self) -> SpanContext {
        self.ctx
    }
}

/// A span's W3C identity and sampling decision, as every exporter sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace (`operation_Id`).
    pub trace_id: TraceId,
    /// This span (`operation_ParentId` of what happens inside it).
    pub span_id: SpanId,
    /// The parent span, local or remote; `None` for a root.
    pub parent_span_id: Option<SpanId>,
    /// Whether the trace is kept by every exporter.
    pub sampled: bool,
    /// Whether the parent came from a remote `traceparent`.
    pub remote_parent: bool,
}

impl SpanContext {
    /// The `traceparent` header value that makes this span the parent of a remote call.
    pub fn traceparent(&self) -> String {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: u8::from(self.sampled),
        }
        .to_string()
    }
}

/// The span extension written by the correlation layer and read by every other layer: ids
/// (fixed at first use), sampling decision, `tracestate`, links, times and the [`SpanRecord`].
///
/// Get it from a span with [`find_span_data`] (which falls back to the nearest ancestor that
/// has one) or `span.extensions().get::<SpanData>()`.
#[derive(Debug)]
pub struct SpanData {
    shared: Arc<Shared>,
    ctx: SpanContext,
    fixed: AtomicBool,
    tracestate: Option<Arc<str>>,
    sample_rate: f64,
    /// Moved into the [`FinishedSpan`] at close; shared (a [`SharedRecord`]) with the
    /// [`FinishedEvent`](crate::FinishedEvent)s made inside the span.
    record: RecordCell,
    links: Vec<SpanLink>,
    /// Events exporters keep on this span until it closes (see `kept_events`).
    kept: KeptEvents,
    start: SystemTime,
    end: OnceLock<SystemTime>,
    events: AtomicU32,
    error_events: AtomicBool,
    /// Made by the correlation layer's `on_close`; the record and links move in here.
    finished: Option<SharedRecord<FinishedSpan>>,
    /// The span as a JSON object (`{"name":...,fields}`), written by the first JSON line
    /// that shows it and reused by every later one until a field is recorded again.
    json: OnceLock<String>,
}

impl SpanData {
    pub(crate) fn new_root(shared: Arc<Shared>, record: SpanRecord) -> Self {
        let trace_id = shared.ids.new_trace_id();
        let (sampled, sample_rate) = shared.sampler.decide(trace_id, None);
        let ctx = SpanContext {
            trace_id,
            span_id: shared.ids.new_span_id(),
            parent_span_id: None,
            sampled,
            remote_parent: false,
        };
        let mut data = Self::with_ctx(shared, ctx, None, record);
        data.sample_rate = sample_rate;
        data
    }

    pub(crate) fn new_child(shared: Arc<Shared>, parent: Inherited, record: SpanRecord) -> Self {
        let ctx = SpanContext {
            trace_id: parent.ctx.trace_id,
            span_id: shared.ids.new_span_id(),
            parent_span_id: Some(parent.ctx.span_id),
            sampled: parent.ctx.sampled,
            remote_parent: false,
        };
        let mut data = Self::with_ctx(shared, ctx, parent.tracestate, record);
        data.sample_rate = parent.sample_rate;
        data
    }

    /// A span whose ids an [`IdSource`] gave: fixed at once, so that no remote parent set
    /// later parts them from the source's.
    pub(crate) fn from_external(
        shared: Arc<Shared>,
        ids: ExternalIds,
        parent: Option<Inherited>,
        record: SpanRecord,
    ) -> Self {
        let same_trace = parent.as_ref().filter(|p| p.ctx.trace_id == ids.trace_id);
        let (sampled, sample_rate) = match (ids.sampled, same_trace) {
            (Some(sampled), Some(p)) => (sampled, p.sample_rate),
            (None, Some(p)) => (p.ctx.sampled, p.sample_rate),
            (Some(sampled), None) => (sampled, shared.sampler.sample_rate()),
            (None, None) => shared.sampler.decide(ids.trace_id, None),
        };
        let ctx = SpanContext {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
            sampled,
            remote_parent: ids.remote_parent,
        };
        let tracestate = same_trace.and_then(|p| p.tracestate.clone());
        let mut data = Self::with_ctx(shared, ctx, tracestate, record);
        data.sample_rate = sample_rate;
        data.fix();
        data
    }

    /// What a child takes from this span (and fixes this span's ids).
    pub(crate) fn inherit(&self) -> Inherited {
        Inherited {
            ctx: self.context(),
            tracestate: self.tracestate.clone(),
            sample_rate: self.sample_rate,
        }
    }

    fn with_ctx(
        shared: Arc<Shared>,
        ctx: SpanContext,
        tracestate: Option<Arc<str>>,
        record: SpanRecord,
    ) -> Self {
        Self {
            start: shared.clock.now(),
            // Set by the caller: decided at the root, inherited by children.
            sample_rate: 100.0,
            shared,
            ctx,
            fixed: AtomicBool::new(false),
            tracestate,
            record: RecordCell::Owned(record),
            links: Vec::new(),
            kept: KeptEvents::default(),
            end: OnceLock::new(),
            events: AtomicU32::new(0),
            error_events: AtomicBool::new(false),
            finished: None,
            json: OnceLock::new(),
        }
    }

    /// Fixes the ids (they can no longer be replaced by a remote parent) and returns them.
    /// Every read of the ids goes through here: reading is a first use.
    #[inline]
    pub fn context(&self) -> SpanContext {
        self.fix();
        self.ctx
    }

    /// The trace id (fixes the ids).
    pub fn trace_id(&self) -> TraceId {
        self.context().trace_id
    }

    /// This span's id (fixes the ids).
    pub fn span_id(&self) -> SpanId {
        self.context().span_id
    }

    #[inline]
    pub(crate) fn fix(&self) {
        if !self.fixed.load(Ordering::Relaxed) {
            self.fixed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the ids have been used and can no longer change.
    pub fn is_fixed(&self) -> bool {
        self.fixed.load(Ordering::Relaxed)
    }

    /// Whether every exporter keeps this span and what happens inside it.
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

    /// The recorded name, kind, status and fields.
    pub fn record(&self) -> &SpanRecord {
        match &self.finished {
            Some(f) => f.record.get(),
            None => self.record.get(),
        }
    }

    /// The name (`otel.name` or the span's name).
    pub fn name(&self) -> &str {
        self.record().name()
    }

    /// The kind (`otel.kind`).
    pub fn kind(&self) -> SpanKind {
        self.record().kind()
    }

    /// The explicit status, or `Error` when an ERROR-level event happened inside the span
    /// and no status was set (as `tracing-opentelemetry` does by default).
    pub fn status(&self) -> SpanStatus {
        match self.record().status() {
            SpanStatus::Unset if self.error_events.load(Ordering::Relaxed) => {
                SpanStatus::Error { message: None }
            }
            s => s,
        }
    }

    /// Links to other spans.
    pub fn links(&self) -> &[SpanLink] {
        match &self.finished {
            Some(f) => &f.links,
            None => &self.links,
        }
    }

    /// When the span was created.
    pub fn start_time(&self) -> SystemTime {
        self.start
    }

    /// When the span closed; the first reader after close (or the correlation layer's
    /// `on_close`) fixes it from the layer's clock.
    pub fn end_time(&self) -> SystemTime {
        *self.end.get_or_init(|| self.shared.clock.now())
    }

    /// `end_time - start_time` (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.end_time()
            .duration_since(self.start)
            .unwrap_or_default()
    }

    /// How many events were emitted directly inside this span.
    pub fn event_count(&self) -> u32 {
        self.events.load(Ordering::Relaxed)
    }

    /// The resource of the correlation layer that made this span.
    pub fn resource(&self) -> &Resource {
        &self.shared.resource
    }

    pub(crate) fn record_mut(&mut self) -> &mut SpanRecord {
        // The fields change: a JSON line written from now on formats them again.
        self.json = OnceLock::new();
        // Copied only while a finished event of this span still holds the old snapshot.
        self.record.get_mut()
    }

    /// The record as it is now, shared: what an event inside the span carries instead of
    /// copying the span's fields. The first event moves the record into a shared one (no
    /// copy); a span without events never pays for one.
    pub(crate) fn record_shared(&mut self) -> SharedRecord<SpanRecord> {
        match &self.finished {
            Some(f) => f.record.to_shared(),
            None => self.record.share(),
        }
    }

    /// The record as it is now, shared if it already is, else copied (for readers holding
    /// only a shared reference).
    pub(crate) fn record_snapshot(&self) -> SharedRecord<SpanRecord> {
        match &self.finished {
            Some(f) => f.record.to_shared(),
            None => self.record.to_shared(),
        }
    }

    /// The resource, shared.
    pub(crate) fn resource_arc(&self) -> &Arc<Resource> {
        &self.shared.resource
    }

    /// The span's JSON object, `{"name":<name>,<fields>}`, formatted by `format` the first
    /// time and reused until a field is recorded again.
    pub(crate) fn json_object(&self, format: impl FnOnce(&SpanRecord) -> String) -> &str {
        self.json.get_or_init(|| format(self.record()))
    }

    /// The closed span as one shared, immutable record for every exporter: the one the
    /// correlation layer made in its `on_close` (a clone), or, when asked before that
    /// (an exporter stacked before the correlation layer, or a span still open), a copy
    /// made now.
    pub fn finished(&self) -> SharedRecord<FinishedSpan> {
        match &self.finished {
            Some(f) => f.clone(),
            None => SharedRecord::new(self.build_finished(
                self.record.snapshot(),
                self.links.clone(),
                self.kept.clone(),
            )),
        }
    }

    /// Whether the correlation layer has finished this span (it has closed).
    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    // Inlined into the closure that writes the record into its block's slot, so that the
    // record is made there rather than on the stack and copied (about 30 instructions per
    // span, measured).
    #[inline(always)]
    fn build_finished(
        &self,
        record: RecordCell,
        links: Vec<SpanLink>,
        kept: KeptEvents,
    ) -> FinishedSpan {
        FinishedSpan {
            ctx: self.context(),
            tracestate: self.tracestate.clone(),
            sample_rate: self.sample_rate,
            // The status is read from the record handed in (`close` has already moved it
            // out of `self`) when asked for.
            error_events: self.error_events.load(Ordering::Relaxed),
            record,
            links,
            kept,
            start: self.start,
            end: self.end_time(),
            events: self.event_count(),
            resource: self.shared.resource.clone(),
        }
    }

    pub(crate) fn note_event(&self, is_error: bool) {
        self.fix();
        self.events.fetch_add(1, Ordering::Relaxed);
        if is_error {
            self.error_events.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_link(&mut self, link: SpanLink) {
        // Bounded like OpenTelemetry's default span limits, so a loop cannot grow a span
        // without end.
        if self.links.len() < 128 {
            self.links.push(link);
        }
    }

    /// Keeps `event` on this span for the exporter identified by `key` (any number unique
    /// to it, such as its address) until the span closes; the [`FinishedSpan`] then hands
    /// them over ([`FinishedSpan::kept_events`]). At most `max` per key (at least one);
    /// the rest are counted ([`FinishedSpan::kept_events_dropped`]). For an exporter's
    /// `on_event`, with the span it sees the event in: OTLP keeps span events here.
    pub fn keep_event(&mut self, key: usize, event: &SharedRecord<FinishedEvent>, max: usize) {
        self.kept.keep(key, event, max);
    }

    /// Continues a remote trace; refused once the ids are fixed.
    pub(crate) fn set_remote_parent(&mut self, parent: TraceParent) -> bool {
        if self.is_fixed() {
            return false;
        }
        self.ctx.trace_id = parent.trace_id;
        self.ctx.parent_span_id = Some(parent.parent_id);
        self.ctx.remote_parent = true;
        self.ctx.sampled =
            self.shared
                .sampler
                .redecide(parent.trace_id, Some(parent.sampled()), self.sample_rate);
        true
    }

    pub(crate) fn set_tracestate(&mut self, tracestate: &str) -> bool {
        if self.is_fixed() {
            return false;
        }
        self.tracestate = Some(Arc::from(tracestate));
        true
    }

    /// Fixes the end time (a read-only close, when no exporter wants finished spans).
    pub(crate) fn close_time(&self) {
        let _ = self.end_time();
    }

    /// Fixes the end time and moves the record into the shared [`FinishedSpan`] (once),
    /// which it returns.
    pub(crate) fn close(&mut self) -> &SharedRecord<FinishedSpan> {
        let finished = match self.finished.take() {
            Some(f) => f,
            None => {
                let record = std::mem::replace(&mut self.record, RecordCell::Moved);
                let links = std::mem::take(&mut self.links);
                let kept = std::mem::take(&mut self.kept);
                crate::block::span(|| self.build_finished(record, links, kept))
            }
        };
        self.finished.insert(finished)
    }
}

/// A span's record: owned, until the first event inside the span shares it.
#[derive(Debug)]
pub(crate) enum RecordCell {
    Owned(SpanRecord),
    Shared(SharedRecord<SpanRecord>),
    /// Moved into the span's [`FinishedSpan`] at close (read from there since): an empty
    /// record, without writing one into the span's data or dropping it again.
    Moved,
}

/// What a [`RecordCell::Moved`] reads as.
static EMPTY_RECORD: SpanRecord = SpanRecord {
    name: std::borrow::Cow::Borrowed(""),
    kind: SpanKind::Internal,
    status: SpanStatus::Unset,
    status_message: None,
    fields: Vec::new(),
    bytes: 0,
};

impl RecordCell {
    pub(crate) fn get(&self) -> &SpanRecord {
        match self {
            RecordCell::Owned(r) => r,
            RecordCell::Shared(r) => r,
            RecordCell::Moved => &EMPTY_RECORD,
        }
    }

    /// For a change: a shared record is copied first (the events that share it keep the
    /// record as it was when they were emitted).
    fn get_mut(&mut self) -> &mut SpanRecord {
        if let RecordCell::Shared(r) = self {
            *self = RecordCell::Owned(SpanRecord::clone(r));
        }
        match self {
            RecordCell::Owned(r) => r,
            // Moved: a change goes to a fresh record (shared: made owned just above).
            RecordCell::Shared(_) | RecordCell::Moved => {
                *self = RecordCell::Owned(SpanRecord::default());
                self.get_mut()
            }
        }
    }

    /// Moves an owned record into a shared one (once) and returns it.
    fn share(&mut self) -> SharedRecord<SpanRecord> {
        match self {
            RecordCell::Shared(r) => r.clone(),
            RecordCell::Owned(_) | RecordCell::Moved => {
                let r = match std::mem::replace(self, RecordCell::Moved) {
                    RecordCell::Owned(r) => r,
                    _ => SpanRecord::default(),
                };
                let shared = crate::block::span_record(|| r);
                *self = RecordCell::Shared(shared.clone());
                shared
            }
        }
    }

    fn to_shared(&self) -> SharedRecord<SpanRecord> {
        match self {
            RecordCell::Shared(r) => r.clone(),
            RecordCell::Owned(r) => SharedRecord::new(r.clone()),
            RecordCell::Moved => SharedRecord::new(SpanRecord::default()),
        }
    }

    /// A copy: the shared record when shared, else the record itself.
    fn snapshot(&self) -> Self {
        match self {
            RecordCell::Shared(r) => RecordCell::Shared(r.clone()),
            RecordCell::Owned(r) => RecordCell::Owned(r.clone()),
            RecordCell::Moved => RecordCell::Moved,
        }
    }
}

/// [`find_span_data`] with write access to the [`SpanData`] found.
pub(crate) fn find_span_data_mut<'a, R, T>(
    span: &SpanRef<'a, R>,
    f: impl FnOnce(&mut SpanData) -> T,
) -> Option<T>
where
    R: LookupSpan<'a>,
{
    let mut ext = span.extensions_mut();
    if let Some(data) = ext.get_mut::<SpanData>() {
        return Some(f(data));
    }
    drop(ext);
    let mut next = span.parent();
    while let Some(s) = next {
        let mut ext = s.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>() {
            return Some(f(data));
        }
        drop(ext);
        next = s.parent();
    }
    None
}

/// The [`SpanData`] of `span`, or of its nearest ancestor that has one (a per-layer filter
/// may hide spans from the correlation layer), passed to `f`.
pub fn find_span_data<'a, R, T>(span: &SpanRef<'a, R>, f: impl FnOnce(&SpanData) -> T) -> Option<T>
where
    R: LookupSpan<'a>,
{
    // The span itself first (the common case), then its parents: `span.scope()` would look
    // the span up in the registry a second time.
    let ext = span.extensions();
    if let Some(data) = ext.get::<SpanData>() {
        return Some(f(data));
    }
    drop(ext);
    let mut next = span.parent();
    while let Some(s) = next {
        let ext = s.extensions();
        if let Some(data) = ext.get::<SpanData>() {
            return Some(f(data));
        }
        drop(ext);
        next = s.parent();
    }
    None
}

/// The [`SpanContext`] of `span` or its nearest ancestor that has ids.
pub fn span_context<'a, R>(span: &SpanRef<'a, R>) -> Option<SpanContext>
where
    R: LookupSpan<'a>,
{
    find_span_data(span, SpanData::context)
}
