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
//!   stall, so a stuck export never holds the encoder for longer) before it is dropped.
//!
//! Every drop is counted as [`DropReason::QueueFull`] in the exporter's statistics, and per
//! kind (`spans`, `logs`) in [`ExportStats::by_kind`].

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
}

const KINDS: [(Kind, &str); 2] = [(Kind::Span, "spans"), (Kind::Log, "logs")];

/// The overload policy's state and the per-kind counters, shared by the application side
/// and the encoder thread.
#[derive(Debug)]
pub(crate) struct Backlog {
    capacity: usize,
    /// Jobs (spans and events) waiting in the encoder queue.
    queued: AtomicUsize,
    /// A span waited [`SPAN_WAIT`] in vain: the next ones do not wait until one fits again.
    stalled: AtomicBool,
    produced: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
}

impl Backlog {
    /// The policy for queues of `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            queued: AtomicUsize::new(0),
            stalled: AtomicBool::new(false),
            produced: Default::default(),
            dropped: Default::default(),
        }
    }

    /// An item of `kind` was handed to the exporter.
    pub(crate) fn produced(&self, kind: Kind) {
        self.produced[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// An item of `kind` was dropped for lack of room.
    pub(crate) fn dropped(&self, kind: Kind) {
        self.dropped[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Application side: whether a log job may enter the encoder queue (the queue is less
    /// than half full).
    pub(crate) fn admit_log(&self) -> bool {
        self.queued.load(Ordering::Acquire) < (self.capacity / 2).max(1)
    }

    /// A span or event job entered the encoder queue.
    pub(crate) fn entered(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// A span or event job left the encoder queue (taken by the encoder thread).
    pub(crate) fn left(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Encoder thread: hands an envelope of `kind` to the export queue, or drops it (and
    /// counts it) as the policy says.
    pub(crate) fn hand_over(&self, exporter: &Exporter, kind: Kind, bytes: Vec<u8>) {
        self.produced(kind);
        let full = self.capacity;
        match kind {
            Kind::Log if exporter.queue_len() >= full - full / 4 => {
                exporter.count_lost(DropReason::QueueFull, 1);
                self.dropped(kind);
                return;
            }
            Kind::Span if exporter.queue_len() >= full && !self.stalled.load(Ordering::Relaxed) => {
                let deadline = Instant::now() + SPAN_WAIT;
                while exporter.queue_len() >= full && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                self.stalled
                    .store(exporter.queue_len() >= full, Ordering::Relaxed);
            }
            Kind::Span if exporter.queue_len() < full => {
                self.stalled.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
        if !exporter.try_send(bytes) {
            self.dropped(kind);
        }
    }

    /// Items produced and dropped for lack of room, per kind (`spans`, `logs`).
    pub(crate) fn by_kind(&self) -> Vec<(String, ExportStats)> {
        KINDS
            .iter()
            .map(|&(kind, name)| {
                let mut s = ExportStats::default();
                s.produced = self.produced[kind as usize].load(Ordering::Relaxed);
                s.add_dropped(
                    DropReason::QueueFull,
                    self.dropped[kind as usize].load(Ordering::Relaxed),
                );
                (name.to_owned(), s)
            })
            .collect()
    }
}
