//! What the exporter drops when it cannot keep up, and the counts per kind of item.
//!
//! Two bounded queues stand between the application and the service: the encoder queue
//! (jobs: closed spans and events, on the application's thread) and the export queue
//! (encoded envelopes, on the encoder thread), each holding `with_queue_capacity` items
//! (2048 by default). When telemetry comes faster than it can be sent, something must go,
//! and a request or dependency span is worth more than any one of its log lines:
//!
//! - a log line (event) enters the encoder queue only while the queue is less than half
//!   full; past that it is dropped and spans still have the other half (under a sustained
//!   overload the queue stays full, so log lines go first and spans get all the room);
//! - on the encoder thread, a log envelope is dropped when the export queue is three
//!   quarters full, and a span envelope waits for room (up to [`SPAN_WAIT`], once per
//!   stall, so a stuck export never holds the encoder for longer) before it is dropped;
//! - a metric envelope (one per series and interval, each standing for many
//!   measurements, handed over by the metric timer, a flush or the shutdown) waits for
//!   room as a span does.
//!
//! Every drop is counted as [`DropReason::QueueFull`] in the exporter's statistics, and per
//! kind in [`ExportStats::by_kind`]: `spans` (request and dependency envelopes), `logs`
//! (messages, exceptions, custom events, availability results) and `metrics` (metric
//! envelopes: custom and standard metrics, performance counters). The export pipeline
//! keeps every other counter per kind too ([`NAMES`], told apart by [`kind_of`] or named
//! where an envelope is handed over), so that for each kind
//! `produced = sent + sampled_out + dropped() + queued` once nothing is in flight (without
//! an offline spool). The `_OTELRESOURCE_` metric made for each request is not an item of
//! the queue and counts in no kind, as in the totals.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tracing_insights_export::{DropReason, ExportStats, Exporter};

/// The longest a span envelope waits for room in the export queue, per stall.
pub(crate) const SPAN_WAIT: Duration = Duration::from_millis(200);

/// The kind of an item, for the overload policy and the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A request or dependency.
    Span = 0,
    /// A log line: a message, exception, custom event or availability result.
    Log = 1,
    /// A metric: custom or standard metric, performance counter.
    Metric = 2,
}

/// The kinds' names in [`ExportStats::by_kind`], in the order of [`Kind`].
pub(crate) const NAMES: [&str; 3] = ["spans", "logs", "metrics"];

/// The kind of an encoded envelope, from its `baseType`: the key that follows the
/// `baseData` object (our writer and `serde_json` both put `data`'s `baseData` first and
/// `baseType` after it, and nothing after it holds an object, so the last `},"baseType":"`
/// is the envelope's own). What the export pipeline reads for an envelope queued without a
/// kind, or read back from the offline spool.
pub(crate) fn kind_of(envelope: &[u8]) -> usize {
    const KEY: &[u8] = br#"},"baseType":""#;
    let at = envelope
        .windows(KEY.len())
        .rposition(|w| w == KEY)
        .map_or(envelope.len(), |i| i + KEY.len());
    let base = &envelope[at..];
    let kind = if base.starts_with(b"RequestData\"") || base.starts_with(b"RemoteDependencyData\"")
    {
        Kind::Span
    } else if base.starts_with(b"MetricData\"") {
        Kind::Metric
    } else {
        Kind::Log
    };
    kind as usize
}

/// The overload policy's state, shared by the application side and the encoder thread.
#[derive(Debug)]
pub(crate) struct Backlog {
    capacity: usize,
    /// Jobs waiting in the encoder queue, and the bytes of their recorded values, by slot:
    /// [`Kind::Span`], [`Kind::Log`], and, in the metrics slot (no job is a metric),
    /// unsampled spans, kept for the standard metrics only. One counter per job on each
    /// side, as a single total was; the totals are sums.
    waiting: [AtomicUsize; NAMES.len()],
    waiting_bytes: [AtomicUsize; NAMES.len()],
    /// A span waited [`SPAN_WAIT`] in vain: the next ones do not wait until one fits again.
    stalled: AtomicBool,
    /// Items lost before they reached the export queue, per kind: counted by the export
    /// pipeline too, and read from here only when the pipeline has no kinds of its own.
    lost: [AtomicU64; NAMES.len()],
}

impl Backlog {
    /// The policy for queues of `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            waiting: Default::default(),
            waiting_bytes: Default::default(),
            stalled: AtomicBool::new(false),
            lost: Default::default(),
        }
    }

    /// An item of `kind` was produced and dropped for lack of room before the export
    /// queue: counted in the pipeline's totals and under its kind.
    pub(crate) fn lost(&self, exporter: &Exporter, kind: Kind) {
        exporter.count_lost_kind(kind as usize, DropReason::QueueFull, 1);
        self.lost[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Application side: whether a log job may enter the encoder queue (the queue is less
    /// than half full).
    pub(crate) fn admit_log(&self) -> bool {
        let queued: usize = self.waiting.iter().map(|w| w.load(Ordering::Acquire)).sum();
        queued < (self.capacity / 2).max(1)
    }

    /// A span or event job of `kind` (`None`: an unsampled span) holding `bytes` enters
    /// the encoder queue, unless the jobs already waiting hold `max_bytes` with it (one
    /// job always fits); `false` when refused.
    pub(crate) fn enter(&self, kind: Option<Kind>, bytes: usize, max_bytes: usize) -> bool {
        let slot = slot(kind);
        let mine = self.waiting_bytes[slot].fetch_add(bytes, Ordering::AcqRel);
        let before = mine
            + (0..NAMES.len())
                .filter(|&s| s != slot)
                .map(|s| self.waiting_bytes[s].load(Ordering::Acquire))
                .sum::<usize>();
        if before > 0 && before + bytes > max_bytes {
            self.waiting_bytes[slot].fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        self.waiting[slot].fetch_add(1, Ordering::AcqRel);
        true
    }

    /// A job that [`enter`](Self::enter)ed left the encoder queue (taken by the encoder
    /// thread, or not queued after all).
    pub(crate) fn left(&self, kind: Option<Kind>, bytes: usize) {
        let slot = slot(kind);
        self.waiting[slot].fetch_sub(1, Ordering::AcqRel);
        self.waiting_bytes[slot].fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Encoder thread: hands an envelope of `kind` to the export queue, or drops it (and
    /// counts it) as the policy says.
    pub(crate) fn hand_over(&self, exporter: &Exporter, kind: Kind, bytes: Vec<u8>) {
        let full = self.capacity;
        match kind {
            Kind::Log if exporter.queue_len() >= full - full / 4 => {
                self.lost(exporter, kind);
                return;
            }
            Kind::Span | Kind::Metric
                if exporter.queue_len() >= full && !self.stalled.load(Ordering::Relaxed) =>
            {
                let deadline = Instant::now() + SPAN_WAIT;
                while exporter.queue_len() >= full && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                self.stalled
                    .store(exporter.queue_len() >= full, Ordering::Relaxed);
            }
            Kind::Span | Kind::Metric if exporter.queue_len() < full => {
                self.stalled.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
        // Counted per kind by the pipeline, queued or dropped.
        exporter.try_send_kind(bytes, kind as usize);
    }

    /// The counters per kind: the export pipeline's `by_kind`, or, for a pipeline built
    /// without kinds, the items lost before its queue, for each of [`NAMES`]; with the jobs
    /// of each kind still in the encoder queue as `pending`.
    pub(crate) fn by_kind(&self, pipeline: &[(String, ExportStats)]) -> Vec<(String, ExportStats)> {
        let mut kinds = if pipeline.is_empty() {
            NAMES
                .iter()
                .zip(&self.lost)
                .map(|(name, lost)| {
                    let lost = lost.load(Ordering::Relaxed);
                    let mut s = ExportStats::default();
                    s.produced = lost;
                    s.add_dropped(DropReason::QueueFull, lost);
                    ((*name).to_owned(), s)
                })
                .collect()
        } else {
            pipeline.to_vec()
        };
        for (name, stats) in &mut kinds {
            for kind in [Kind::Span, Kind::Log] {
                if name == NAMES[kind as usize] {
                    stats.pending = self.waiting[kind as usize].load(Ordering::Relaxed) as u64;
                    stats.pending_bytes =
                        self.waiting_bytes[kind as usize].load(Ordering::Relaxed) as u64;
                }
            }
        }
        kinds
    }

    /// Jobs waiting in the encoder queue and the bytes of their values, of any kind
    /// (unsampled spans included).
    pub(crate) fn pending(&self) -> (u64, u64) {
        let sum = |a: &[AtomicUsize]| a.iter().map(|w| w.load(Ordering::Relaxed) as u64).sum();
        (sum(&self.waiting), sum(&self.waiting_bytes))
    }
}

/// The [`Backlog::waiting`] slot of a job of `kind`.
fn slot(kind: Option<Kind>) -> usize {
    // An unsampled span (no kind) takes the metrics slot: no job is a metric.
    kind.unwrap_or(Kind::Metric) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_from_the_envelope_base_type() {
        let env = |data: &str, rest: &str| {
            format!(
                r#"{{"data":{{"baseData":{data},"baseType":"{rest}"}},"iKey":"k","name":"n","tags":{{"baseType":"MetricData"}}}}"#
            )
        };
        let spans = ["RequestData", "RemoteDependencyData"];
        for t in spans {
            assert_eq!(kind_of(env("{}", t).as_bytes()), Kind::Span as usize, "{t}");
        }
        for t in [
            "MessageData",
            "ExceptionData",
            "EventData",
            "AvailabilityData",
        ] {
            assert_eq!(kind_of(env("{}", t).as_bytes()), Kind::Log as usize, "{t}");
        }
        assert_eq!(
            kind_of(env("{}", "MetricData").as_bytes()),
            Kind::Metric as usize
        );
        // A property named `baseType` inside baseData does not fool it.
        let nested = r#"{"properties":{"x":{"a":1},"baseType":"MetricData"}}"#;
        assert_eq!(
            kind_of(env(nested, "RequestData").as_bytes()),
            Kind::Span as usize
        );
        assert_eq!(kind_of(b"not json"), Kind::Log as usize);
    }
}
