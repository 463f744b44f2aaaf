//! Builds and encodes envelopes on a worker thread, so the application thread only hands a
//! closed span's shared record (the correlation layer's `SharedRecord<FinishedSpan>`) or what an
//! event says into a bounded queue.
//!
//! Measured (BENCHMARKS.md, the exporter rungs): mapping a request's five envelopes into
//! `serde_json` trees and encoding them on the application thread cost about 290k
//! instructions per request, 6.7 times `opentelemetry-application-insights`' request-thread
//! cost; the copy made here is a small fraction of that.

use crate::backlog::{Backlog, Kind};
use crate::main_agent::MainAgent;
use crate::mapping::{self, BaseData, Envelope, ErrorExtra, EventSpan, SpanInput};
use crate::shared::Shared;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tracing_core::Level;
use tracing_insights_correlation::{FieldValue, FinishedSpan, SharedRecord};
use tracing_insights_export::handoff::{self, Receiver, Sender};
use tracing_insights_export::{DropReason, Exporter};

/// The span an event happened in: its ids and the span fields event mapping reads.
pub(crate) struct EventSpanJob {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    pub(crate) sampler_rate: f64,
}

impl EventSpanJob {
    /// Copies only the span fields an event envelope uses (`session.id`, `_MS.*`).
    pub(crate) fn new(
        trace_id: String,
        span_id: String,
        span_fields: &[(&'static str, FieldValue)],
        sampler_rate: f64,
    ) -> Self {
        let fields = span_fields
            .iter()
            .filter(|(k, _)| *k == "session.id" || k.starts_with("_MS."))
            .cloned()
            .collect();
        Self {
            trace_id,
            span_id,
            fields,
            sampler_rate,
        }
    }
}

/// An event, with its fields already recorded.
pub(crate) struct EventJob {
    pub(crate) time: SystemTime,
    pub(crate) level: Level,
    pub(crate) target: &'static str,
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
    pub(crate) extra: Option<ErrorExtra>,
    pub(crate) span: Option<EventSpanJob>,
}

pub(crate) enum Job {
    /// A closed span: the record the correlation layer finished once for every exporter
    /// (no copy), and whether `&dyn Error` span fields also become exceptions (events on).
    Span {
        span: SharedRecord<FinishedSpan>,
        errors: bool,
        /// `false` for a span of a trace the sampler dropped: it only counts in the
        /// standard metrics.
        sampled: bool,
        /// The GenAI agent the span is attributed to.
        main_agent: Option<Arc<MainAgent>>,
    },
    Event(Box<EventJob>),
    /// An event as the correlation layer recorded it once for every exporter; made into an
    /// `Event` on this thread (`shared_event`).
    SharedEvent(crate::shared_event::SharedEventJob),
    /// Answered once everything sent before it is in the export queue.
    Barrier(SyncSender<()>),
    Stop,
}

impl Job {
    /// The kind of envelope the job stands for: a sampled span a span, an event a log line;
    /// an unsampled span (standard metrics only) and control jobs none.
    fn kind(&self) -> Option<Kind> {
        match self {
            Job::Span { sampled: true, .. } => Some(Kind::Span),
            Job::Event(_) | Job::SharedEvent(_) => Some(Kind::Log),
            _ => None,
        }
    }
}

/// The application side of the encoder: a bounded queue that never blocks.
#[derive(Clone)]
pub(crate) struct Encoder {
    tx: Sender<Job>,
    /// Jobs this queue drops are counted in the export pipeline's account (produced and
    /// dropped as a full queue), so the shutdown's error and statistics include them.
    lost: Exporter,
    /// The overload policy (spans before log lines), the counts per kind, and the jobs
    /// waiting and the bytes of their values (bounded by [`MAX_QUEUE_BYTES`] as well as
    /// the queue's item capacity).
    backlog: Arc<Backlog>,
}

/// The bound on the string values waiting in the encoder queue: 16 MiB (each value is
/// already cut to 256 KiB where it was recorded). One job always fits.
pub(crate) const MAX_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// What a job holds in string values (a field's name and framing counted as 16 bytes).
fn job_bytes(job: &Job) -> usize {
    fn fields(f: &[(&'static str, FieldValue)]) -> usize {
        f.iter().map(|(_, v)| v.held_bytes()).sum()
    }
    match job {
        Job::Span { span, .. } => span.record().held_bytes(),
        Job::Event(j) => fields(&j.fields) + j.span.as_ref().map_or(0, |s| fields(&s.fields)),
        Job::SharedEvent(j) => j.bytes(),
        _ => 0,
    }
}

impl Encoder {
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        exporter: Exporter,
        capacity: usize,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = handoff::bounded(capacity.max(1));
        let lost = exporter.clone();
        let backlog = Arc::new(Backlog::new(capacity));
        let policy = backlog.clone();
        let thread = std::thread::Builder::new()
            .name("tracing-insights-appinsights-encoder".into())
            .spawn(move || run(&rx, &shared, &exporter, &policy))?;
        Ok((Self { tx, lost, backlog }, thread))
    }

    /// The counters per kind (`spans`, `logs`, `metrics`): the export pipeline's and the
    /// jobs this queue dropped.
    #[cfg(test)]
    pub(crate) fn by_kind(&self) -> Vec<(String, tracing_insights_export::ExportStats)> {
        self.by_kind_with(&self.lost.stats().by_kind)
    }

    /// Jobs waiting to be encoded and the bytes of their recorded values (totals).
    pub(crate) fn pending(&self) -> (u64, u64) {
        self.backlog.pending()
    }

    /// As [`by_kind`](Self::by_kind), from a snapshot of the pipeline's `by_kind`.
    pub(crate) fn by_kind_with(
        &self,
        pipeline: &[(String, tracing_insights_export::ExportStats)],
    ) -> Vec<(String, tracing_insights_export::ExportStats)> {
        self.backlog.by_kind(pipeline)
    }

    /// Counts a job dropped before it was encoded.
    fn drop_job(&self, kind: Option<Kind>) {
        match kind {
            Some(kind) => self.backlog.lost(&self.lost, kind),
            // An unsampled span (standard metrics only): no envelope of any kind.
            None => self.lost.count_lost(DropReason::QueueFull, 1),
        }
    }

    /// Hands a metric envelope to the export queue as the overload policy says (it waits
    /// for room as a span does).
    pub(crate) fn send_metric(&self, bytes: Vec<u8>) {
        self.backlog.hand_over(&self.lost, Kind::Metric, bytes);
    }

    /// Hands a job over, or drops and counts it when the queue is full (or stopped).
    pub(crate) fn send(&self, job: Job) {
        let kind = job.kind();
        // Log lines enter only a queue less than half full: the rest stays for spans.
        if kind == Some(Kind::Log) && !self.backlog.admit_log() {
            self.drop_job(kind);
            return;
        }
        let counted = matches!(job, Job::Span { .. } | Job::Event(_) | Job::SharedEvent(_));
        let bytes = job_bytes(&job);
        if counted && !self.backlog.enter(kind, bytes, MAX_QUEUE_BYTES) {
            self.drop_job(kind);
            return;
        }
        let unqueue = || {
            if counted {
                self.backlog.left(kind, bytes);
            }
        };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                unqueue();
                self.drop_job(kind);
            }
            Err(TrySendError::Disconnected(_)) => {
                unqueue();
                self.drop_job(kind);
                // The guard stopped the encoder: say so once rather than lose everything
                // quietly (`let (layer, _) = ...build()?` drops the guard at once).
                static WARNED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "[tracing-insights] Application Insights: telemetry is being dropped: the exporter's guard was dropped or shut down while its layer is still in use. Keep the guard until the end of main (`let (layer, _guard) = ...`; `let (layer, _) = ...` drops it at once)."
                    );
                }
            }
        }
    }

    /// Waits (up to `timeout`) until every job sent so far is encoded and in the export queue.
    pub(crate) fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (done, wait) = mpsc::sync_channel(1);
        match self.hand_over(Job::Barrier(done), deadline) {
            HandOver::Sent => wait
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok(),
            HandOver::Stopped => true, // nothing is pending
            HandOver::TimedOut => false,
        }
    }

    /// Stops the encoder thread after the jobs already queued (waits at most 1 s for room).
    pub(crate) fn stop(&self) {
        let _ = self.hand_over(Job::Stop, Instant::now() + Duration::from_secs(1));
    }

    /// Queues a control job, waiting for room until `deadline` but never longer: a flush
    /// from a panic hook running on the encoder thread itself must not wait forever.
    fn hand_over(&self, job: Job, deadline: Instant) -> HandOver {
        match self.tx.send_until(job, deadline) {
            Ok(()) => HandOver::Sent,
            Err(TrySendError::Disconnected(_)) => HandOver::Stopped,
            Err(TrySendError::Full(_)) => HandOver::TimedOut,
        }
    }
}

enum HandOver {
    Sent,
    Stopped,
    TimedOut,
}

fn run(rx: &Receiver<Job>, shared: &Shared, exporter: &Exporter, backlog: &Backlog) {
    // Our own work is never telemetry.
    let _quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
    for job in rx.iter() {
        if matches!(job, Job::Span { .. } | Job::Event(_) | Job::SharedEvent(_)) {
            backlog.left(job.kind(), job_bytes(&job));
        }
        let Some(job) = crate::shared_event::own(shared, job) else {
            continue;
        };
        match job {
            Job::Span {
                span,
                errors,
                sampled,
                main_agent,
            } => {
                // A mapping bug loses one item, never the thread.
                shared.contain(|| {
                    encode_span(
                        shared,
                        &mut |b, kind| backlog.hand_over(exporter, kind, b),
                        &span,
                        errors,
                        sampled,
                        main_agent.as_deref(),
                    );
                });
            }
            Job::Event(j) => shared.contain(|| {
                encode_event(
                    shared,
                    &mut |b, kind| backlog.hand_over(exporter, kind, b),
                    &j,
                );
            }),
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Stop => return,
            // Made into an `Event` by `shared_event::own` above.
            Job::SharedEvent(_) => {}
        }
    }
}

/// Where encoded envelopes go: the export queue (a closure, so the encode bench can
/// measure this thread's work without a pipeline).
pub(crate) type Out<'a> = dyn FnMut(Vec<u8>, Kind) + 'a;

fn send(shared: &Shared, out: &mut Out<'_>, env: &Envelope<'_>) {
    shared.count_sent(env);
    let kind = match env.data.base_data {
        BaseData::Request(_) | BaseData::Dependency(_) => Kind::Span,
        BaseData::Metric(_) => Kind::Metric,
        _ => Kind::Log,
    };
    if let Some(bytes) = shared.finish(env) {
        out(bytes, kind);
    }
}

fn encode_span(
    shared: &Shared,
    out: &mut Out<'_>,
    span: &FinishedSpan,
    errors: bool,
    sampled: bool,
    main_agent: Option<&MainAgent>,
) {
    shared.set_resource(span.resource());
    let ctx = span.context();
    let fields = span.record().fields();
    let input = SpanInput {
        name: span.name(),
        kind: span.kind(),
        status: span.status(),
        fields,
        trace_id: ctx.trace_id.to_string(),
        span_id: ctx.span_id.to_string(),
        parent_id: ctx.parent_span_id.map(|p| p.to_string()),
        links: span.links(),
        start: span.start_time(),
        end: span.end_time(),
        sampler_rate: span.sample_rate(),
    };
    encode_span_input(shared, out, &input, errors, sampled, main_agent);
}

/// A closed span's envelopes (the span's, then an exception per `&dyn Error` field when
/// `errors`), from what was read off its shared record.
pub(crate) fn encode_span_input(
    shared: &Shared,
    out: &mut Out<'_>,
    input: &SpanInput<'_>,
    errors: bool,
    sampled: bool,
    main_agent: Option<&MainAgent>,
) {
    let mut env = mapping::span_envelope(shared.part_a(), &shared.ikey, input);
    if let (Some(agent), Some(props)) = (main_agent, env.properties_mut()) {
        agent.add_to(props);
    }
    // Standard metrics count every span, sampled or not, before the sampling decision.
    shared.count_standard(&mut env, sampled);
    if !sampled {
        // The exception rate counts the errors of dropped traces too.
        if errors {
            if let Some(perf) = &shared.perf {
                for _ in input
                    .fields
                    .iter()
                    .filter(|(_, v)| matches!(v, FieldValue::Error(_)))
                {
                    perf.exception();
                }
            }
        }
        return;
    }
    send(shared, out, &env);
    if !errors {
        return;
    }
    let j = input;
    // A span field holding a `&dyn Error` becomes an exception at the span's end, inside
    // the span, with its `source()` chain.
    for (name, value) in j.fields {
        if !matches!(value, FieldValue::Error(_)) {
            continue;
        }
        let mut fields: Vec<(&'static str, FieldValue)> = vec![(name, value.clone())];
        for key in ["exception.type", "error.type"] {
            if let Some((_, v)) = j.fields.iter().find(|(k, _)| *k == key) {
                fields.push((key, v.clone()));
            }
        }
        let span = EventSpan {
            trace_id: j.trace_id.clone(),
            span_id: j.span_id.clone(),
            fields: j.fields,
            sampler_rate: j.sampler_rate,
        };
        send(
            shared,
            out,
            &mapping::event_envelope(
                shared.part_a(),
                &shared.ikey,
                j.end,
                &Level::ERROR,
                "",
                &fields,
                Some(&span),
                None,
            ),
        );
    }
}

pub(crate) fn encode_event(shared: &Shared, out: &mut Out<'_>, j: &EventJob) {
    let span = j.span.as_ref().map(|s| EventSpan {
        trace_id: s.trace_id.clone(),
        span_id: s.span_id.clone(),
        fields: &s.fields,
        sampler_rate: s.sampler_rate,
    });
    send(
        shared,
        out,
        &mapping::event_envelope(
            shared.part_a(),
            &shared.ikey,
            j.time,
            &j.level,
            j.target,
            &j.fields,
            span.as_ref(),
            j.extra.as_ref(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_insights_export::{ExportBuilder, OfflineStorage};

    fn event(bytes: usize) -> Job {
        Job::Event(Box::new(EventJob {
            time: SystemTime::now(),
            level: Level::INFO,
            target: "t",
            fields: vec![("payload", FieldValue::Str("x".repeat(bytes).into()))],
            extra: None,
            span: None,
        }))
    }

    #[test]
    fn the_encoder_queue_is_bounded_in_bytes_and_counts_what_it_drops() {
        let (exporter, _guard) = ExportBuilder::new("enc-bytes", "http://127.0.0.1:9/")
            .with_offline_storage(OfflineStorage::Disabled)
            .spawn()
            .unwrap();
        // A queue nobody drains: room for 1000 jobs, so only the byte bound can refuse.
        let (tx, _rx) = handoff::bounded(1000);
        let encoder = Encoder {
            tx,
            lost: exporter.clone(),
            backlog: Arc::new(Backlog::new(1000)),
        };
        for _ in 0..100 {
            encoder.send(event(256 * 1024));
        }
        let queued = encoder.pending().1 as usize;
        assert!(queued <= MAX_QUEUE_BYTES, "{queued}");
        let kept = queued / (256 * 1024 + 16);
        assert_eq!(kept, MAX_QUEUE_BYTES / (256 * 1024 + 16));
        let stats = exporter.stats();
        assert_eq!(stats.dropped_by(DropReason::QueueFull), 100 - kept as u64);
        assert_eq!(
            stats.produced,
            100 - kept as u64,
            "only the lost ones so far"
        );
    }

    /// A span as the correlation layer finishes it.
    fn finished_span() -> SharedRecord<FinishedSpan> {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::registry::LookupSpan as _;
        let subscriber = tracing_subscriber::registry().with(tracing_insights_correlation::layer());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            span.with_subscriber(|(id, dispatch)| {
                let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
                let span = registry.span(id)?;
                tracing_insights_correlation::find_span_data(&span, |d| d.finished())
            })
            .flatten()
            .expect("the correlation layer's record")
        })
    }

    #[test]
    fn an_overloaded_queue_keeps_spans_and_drops_log_lines() {
        let (exporter, _guard) = ExportBuilder::new("enc-kinds", "http://127.0.0.1:9/")
            .with_offline_storage(OfflineStorage::Disabled)
            .spawn()
            .unwrap();
        // A queue of 16 nobody drains: the application outruns the exporter.
        let (tx, _rx) = handoff::bounded(16);
        let encoder = Encoder {
            tx,
            lost: exporter.clone(),
            backlog: Arc::new(Backlog::new(16)),
        };
        // A burst of log lines first: they take half the queue, no more.
        for _ in 0..100 {
            encoder.send(event(10));
        }
        // Then the request spans they belong to: every one still finds room.
        let span = finished_span();
        for _ in 0..8 {
            encoder.send(Job::Span {
                span: span.clone(),
                errors: false,
                sampled: true,
                main_agent: None,
            });
        }
        let kinds = encoder.by_kind();
        let (logs, spans) = (&kinds[1].1, &kinds[0].1);
        assert_eq!(
            (kinds[0].0.as_str(), kinds[1].0.as_str()),
            ("spans", "logs")
        );
        // What waits to be encoded, per kind and in total, with the bytes of its values (a
        // log line's one field: 10 bytes and 16 for its name and framing).
        assert_eq!((spans.pending, spans.pending_bytes), (8, 0));
        assert_eq!((logs.pending, logs.pending_bytes), (8, 8 * 26));
        assert_eq!(kinds[2].1.pending, 0, "metrics");
        assert_eq!(encoder.pending(), (16, 8 * 26));
        assert_eq!(logs.produced, 92, "the dropped ones so far");
        assert_eq!(logs.dropped_by(DropReason::QueueFull), 92);
        assert_eq!(spans.dropped(), 0, "no span was dropped");
        // The queue is full now (8 log lines, 8 spans): a ninth span is dropped, counted.
        encoder.send(Job::Span {
            span,
            errors: false,
            sampled: true,
            main_agent: None,
        });
        assert_eq!(encoder.by_kind()[0].1.dropped_by(DropReason::QueueFull), 1);
        assert_eq!(
            encoder.by_kind()[0].1.pending,
            8,
            "the dropped span never waited"
        );
        assert_eq!(exporter.stats().dropped_by(DropReason::QueueFull), 93);
    }
}
