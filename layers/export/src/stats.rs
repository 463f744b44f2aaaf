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
    /// The counters per kind of item, when the pipeline was given kinds
    /// ([`ExportBuilder::with_kinds`](crate::ExportBuilder::with_kinds)).
    pub(crate) kinds: Option<Kinds>,
}

/// The most kinds a pipeline can count apart.
pub const MAX_KINDS: usize = 8;

/// The kind of an item that belongs to none of the pipeline's kinds (or of a pipeline
/// without kinds): counted in the totals only.
pub(crate) const NO_KIND: u8 = u8::MAX;

/// Names an item's kind from its stored form (the bytes the worker batches and spools):
/// an index into the names given to
/// [`ExportBuilder::with_kinds`](crate::ExportBuilder::with_kinds); anything out of range
/// is counted in the totals only.
pub type KindOf = fn(&[u8]) -> usize;

/// The counters of one kind of item.
#[derive(Debug, Default)]
pub(crate) struct KindCounters {
    produced: AtomicU64,
    sent: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    sampled_out: AtomicU64,
    queued: AtomicUsize,
    queued_bytes: AtomicUsize,
    dropped: [AtomicU64; DropReason::ALL.len()],
}

/// The names of a pipeline's kinds, how to tell an item's kind from its bytes, and the
/// counters of each.
#[derive(Debug)]
pub(crate) struct Kinds {
    names: &'static [&'static str],
    kind_of: KindOf,
    counters: [KindCounters; MAX_KINDS],
}

impl Kinds {
    pub(crate) fn new(names: &'static [&'static str], kind_of: KindOf) -> Self {
        Self {
            names: &names[..names.len().min(MAX_KINDS)],
            kind_of,
            counters: Default::default(),
        }
    }
}

/// A counter of [`Stats`] that is also kept per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    Produced,
    Sent,
    Spooled,
    Replayed,
    SampledOut,
    Dropped(DropReason),
}

impl KindCounters {
    fn get(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Produced => &self.produced,
            Counter::Sent => &self.sent,
            Counter::Spooled => &self.spooled,
            Counter::Replayed => &self.replayed,
            Counter::SampledOut => &self.sampled_out,
            Counter::Dropped(r) => &self.dropped[r.index()],
        }
    }
}

impl Stats {
    /// The counters of the pipeline's kind `kind`, if it has kinds and `kind` is one.
    fn kind(&self, kind: u8) -> Option<&KindCounters> {
        let k = self.kinds.as_ref()?;
        (usize::from(kind) < k.names.len()).then(|| &k.counters[usize::from(kind)])
    }

    /// The kind of an item from its stored form ([`NO_KIND`] without kinds).
    pub(crate) fn kind_of(&self, item: &[u8]) -> u8 {
        match &self.kinds {
            Some(k) => u8::try_from((k.kind_of)(item)).unwrap_or(NO_KIND),
            None => NO_KIND,
        }
    }

    /// A kind index as given by the application side ([`NO_KIND`] when out of range).
    pub(crate) fn known_kind(&self, kind: usize) -> u8 {
        match &self.kinds {
            Some(k) if kind < k.names.len() => kind as u8,
            _ => NO_KIND,
        }
    }

    /// Whether the pipeline counts kinds apart (else the per-kind work is skipped).
    pub(crate) fn has_kinds(&self) -> bool {
        self.kinds.is_some()
    }

    /// Counts `n` items of `kind` under the per-kind counter `c` only (the caller counts
    /// the total).
    pub(crate) fn count_kind(&self, c: Counter, kind: u8, n: u64) {
        if let Some(k) = self.kind(kind) {
            k.get(c).fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts the items whose kinds are `kinds` under `c`, per kind only.
    pub(crate) fn count_kinds(&self, c: Counter, kinds: &[u8]) {
        if self.kinds.is_none() {
            return;
        }
        for &k in kinds {
            self.count_kind(c, k, 1);
        }
    }

    /// Counts the items whose kinds are `kinds` dropped for `reason`: the total and each
    /// kind.
    pub(crate) fn drop_kinds(&self, reason: DropReason, kinds: &[u8]) {
        self.drop_items(reason, kinds.len() as u64);
        self.count_kinds(Counter::Dropped(reason), kinds);
    }

    /// An item of `kind` (`len` bytes) entered (`true`) or left the queue.
    pub(crate) fn kind_queued(&self, kind: u8, len: usize, entered: bool) {
        if let Some(k) = self.kind(kind) {
            if entered {
                k.queued.fetch_add(1, Ordering::Relaxed);
                k.queued_bytes.fetch_add(len, Ordering::Relaxed);
            } else {
                k.queued.fetch_sub(1, Ordering::Relaxed);
                k.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            }
        }
    }

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
            queued: self.queued.load(Ordering::Relaxed) as u64,
            queued_bytes: self.queued_bytes.load(Ordering::Relaxed) as u64,
            // Filled in by an exporter with a stage before this queue.
            pending: 0,
            pending_bytes: 0,
            by_kind: self.kinds_snapshot(),
        }
    }

    fn kinds_snapshot(&self) -> Vec<(String, ExportStats)> {
        let Some(kinds) = &self.kinds else {
            return Vec::new();
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        kinds
            .names
            .iter()
            .zip(&kinds.counters)
            .map(|(name, k)| {
                let s = ExportStats {
                    produced: load(&k.produced),
                    sent: load(&k.sent),
                    spooled: load(&k.spooled),
                    replayed: load(&k.replayed),
                    sampled_out: load(&k.sampled_out),
                    dropped: std::array::from_fn(|i| load(&k.dropped[i])),
                    queued: k.queued.load(Ordering::Relaxed) as u64,
                    queued_bytes: k.queued_bytes.load(Ordering::Relaxed) as u64,
                    ..ExportStats::default()
                };
                ((*name).to_owned(), s)
            })
            .collect()
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
    /// Items waiting in the export queue (not yet taken by the worker) when the snapshot
    /// was taken.
    pub queued: u64,
    /// Bytes of the items waiting in the export queue, counting those whose size is known
    /// on the application side ([`Encoder::item_len`](crate::Encoder::item_len)).
    pub queued_bytes: u64,
    /// Items an exporter holds in a stage before its export queue when the snapshot was
    /// taken, not yet counted in `produced` (Application Insights: closed spans and events
    /// waiting on its encoder thread to become envelopes); 0 for an exporter that hands
    /// items straight to the export queue. `pending + queued` is everything waiting.
    pub pending: u64,
    /// Bytes of the recorded values (field strings) of the `pending` items.
    pub pending_bytes: u64,
    /// The same counters per kind of item (e.g. `traces`, `logs`, `metrics`), when the
    /// exporter has several; empty otherwise. `retried`, `requests`, `bytes_sent` and
    /// `contained_panics` count requests or the whole pipeline and stay zero here. For
    /// each kind, `produced = sent + sampled_out + dropped() + spooled - replayed +
    /// queued` once nothing is in flight (the spool terms only with an offline spool:
    /// a replayed item counts as `replayed` and as `sent` again).
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
        self.queued += other.queued;
        self.queued_bytes += other.queued_bytes;
        self.pending += other.pending;
        self.pending_bytes += other.pending_bytes;
        for (a, b) in self.dropped.iter_mut().zip(other.dropped) {
            *a += b;
        }
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}
