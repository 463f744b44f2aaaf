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
    /// Jobs (spans and events) waiting in the encoder queue.
    queued: AtomicUsize,
    /// Of those, per kind (an unsampled span, kept for the standard metrics only, is of
    /// none), and the bytes of their recorded values: [`ExportStats::pending`].
    pending: [AtomicU64; NAMES.len()],
    pending_bytes: [AtomicU64; NAMES.len()],
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
            queued: AtomicUsize::new(0),
            pending: Default::default(),
            pending_bytes: Default::default(),
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
        self.queued.load(Ordering::Acquire) < (self.capacity / 2).max(1)
    }

    /// A span or event job of `kind` holding `bytes` entered the encoder queue.
    pub(crate) fn entered(&self, kind: Option<Kind>, bytes: usize) {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if let Some(kind) = kind {
            self.pending[kind as usize].fetch_add(1, Ordering::Relaxed);
            self.pending_bytes[kind as usize].fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// A span or event job left the encoder queue (taken by the encoder thread, or not
    /// queued after all).
    pub(crate) fn left(&self, kind: Option<Kind>, bytes: usize) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        if let Some(kind) = kind {
            self.pending[kind as usize].fetch_sub(1, Ordering::Relaxed);
            self.pending_bytes[kind as usize].fetch_sub(bytes as u64, Ordering::Relaxed);
        }
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
            if let Some(k) = NAMES.iter().position(|n| n == name) {
                stats.pending = self.pending[k].load(Ordering::Relaxed);
                stats.pending_bytes = self.pending_bytes[k].load(Ordering::Relaxed);
            }
        }
        kinds
    }

    /// Jobs waiting in the encoder queue, of any kind (unsampled spans included).
    pub(crate) fn pending(&self) -> u64 {
        self.queued.load(Ordering::Relaxed) as u64
    }
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
