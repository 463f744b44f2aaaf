//! The counters every exporter reports: live atomics shared by the application side and the
//! worker, and [`ExportStats`], the snapshot the guards hand out.

use crate::answer::DropReason;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Counters shared by the handle, the guard and the worker.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) produced: AtomicU64,
    pub(crate) queued: AtomicUsize,
    /// Bytes of the queued items whose size is known ([`Encoder::item_len`](crate::Encoder::item_len)).
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) sent: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) sampled_out: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) warned_full: AtomicBool,
    /// The pipeline's name, for the diagnostics written from the application side.
    pub(crate) name: std::sync::OnceLock<String>,
    /// Set when a shutdown gave up waiting: the worker sends nothing more.
    pub(crate) halted: AtomicBool,
    /// The pipeline's name once its guard has stopped it: an item queued after that is
    /// lost, which [`Exporter::try_send`](crate::Exporter::try_send) says once.
    pub(crate) stopped: std::sync::OnceLock<String>,
    pub(crate) warned_stopped: AtomicBool,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Stats {
    pub(crate) fn drop_items(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// Drops that mean an export failure (everything but a full queue or oversize, which
    /// the layer side reports).
    pub(crate) fn failed_total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| r.is_failure())
            .map(|r| self.dropped[r.index()].load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn set_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|g| g.clone())
    }

    pub(crate) fn snapshot(&self) -> ExportStats {
        ExportStats {
            produced: self.produced.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            contained_panics: 0,
            dropped: std::array::from_fn(|i| self.dropped[i].load(Ordering::Relaxed)),
            last_error: self.last_error(),
            by_kind: Vec::new(),
        }
    }
}

/// A snapshot of an exporter's counters, the one statistics type every exporter reports.
///
/// Counts are items (spans, log records, envelopes, metric points), except `retried` and
/// `requests`, which count requests. An exporter with several kinds of item (OTLP's traces,
/// logs and metrics) reports their sum here and each kind in [`by_kind`](Self::by_kind).
/// Build one with `ExportStats::default()` and the setters when an exporter keeps its own
/// counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Items handed to the exporter by the application side (whether queued or dropped).
    pub produced: u64,
    /// Items accepted by the service.
    pub sent: u64,
    /// Requests sent again (retries of a batch or of a partial success's items).
    pub retried: u64,
    /// Items written to the offline spool.
    pub spooled: u64,
    /// Items read back from the spool and accepted.
    pub replayed: u64,
    /// Items the service dropped by its own ingestion sampling (not an error).
    pub sampled_out: u64,
    /// HTTP (or gRPC) requests made.
    pub requests: u64,
    /// Request body bytes (as sent, after compression) of requests that got an answer.
    pub bytes_sent: u64,
    /// Panics caught inside the exporter's layer callbacks (the callback's work is lost,
    /// the application goes on).
    pub contained_panics: u64,
    dropped: [u64; DropReason::ALL.len()],
    /// The last export error, if any (no secrets).
    pub last_error: Option<String>,
    /// The same counters per kind of item (e.g. `traces`, `logs`, `metrics`), when the
    /// exporter has several; empty otherwise.
    pub by_kind: Vec<(String, ExportStats)>,
}

impl ExportStats {
    /// Items dropped for `reason`.
    pub fn dropped_by(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Items dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Items given up after an export failure: every drop except a full queue or an
    /// oversized item (which never reached the worker).
    pub fn failed(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| r.is_failure())
            .map(|r| self.dropped[r.index()])
            .sum()
    }

    /// Counts `n` more items dropped for `reason` (for exporters that keep their own
    /// counters).
    pub fn add_dropped(&mut self, reason: DropReason, n: u64) {
        self.dropped[reason.index()] += n;
    }

    /// The counters of one kind of item, if the exporter reports kinds.
    pub fn kind(&self, kind: &str) -> Option<&ExportStats> {
        self.by_kind.iter().find(|(k, _)| k == kind).map(|(_, s)| s)
    }

    /// Adds `other`'s counters to these (its `last_error` wins when it has one; kinds are
    /// not merged).
    pub fn merge(&mut self, other: &ExportStats) {
        self.produced += other.produced;
        self.sent += other.sent;
        self.retried += other.retried;
        self.spooled += other.spooled;
        self.replayed += other.replayed;
        self.sampled_out += other.sampled_out;
        self.requests += other.requests;
        self.bytes_sent += other.bytes_sent;
        self.contained_panics += other.contained_panics;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}
