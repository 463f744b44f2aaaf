//! The two handles on a running pipeline: [`Exporter`] (the application side: queue an
//! item, never block) and [`ExportGuard`] (flush, shutdown, bounded `Drop`), and their
//! errors.

use crate::answer::DropReason;
use crate::handoff::Sender;
use crate::loss::Loss;
use crate::stats::{Counter, ExportStats, Stats, NO_KIND};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `Drop` of an [`ExportGuard`] waits for the final flush.
pub const DROP_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) type Ack = mpsc::SyncSender<Result<(), String>>;

/// Room in the queue for flush and shutdown messages beyond its item capacity: items are
/// bounded by the queue's counter, so a bounded channel of `capacity + CONTROL_ROOM`
/// never refuses an item for want of room and always has some for a flush.
pub(crate) const CONTROL_ROOM: usize = 16;

pub(crate) enum Msg<T> {
    /// An item and its kind ([`NO_KIND`] when the pipeline has none).
    Item(T, u8),
    /// Send what is batched and wait out pending retries; the answer is due at the deadline.
    Flush(Ack, Instant),
    /// Drain, send, replay, spool what is left and stop; the answer is due at the deadline.
    Shutdown(Ack, Instant),
}

/// The layer's handle on the pipeline: cheap to clone, never blocks. `T` is the item type
/// of the pipeline's [`Encoder`](crate::Encoder) (encoded JSON values by default).
pub struct Exporter<T = Vec<u8>> {
    pub(crate) tx: Sender<Msg<T>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) capacity: usize,
    pub(crate) max_queue_bytes: usize,
    pub(crate) max_item_bytes: usize,
    pub(crate) item_len: fn(&T) -> Option<usize>,
    pub(crate) item_bytes: fn(&T) -> Option<&[u8]>,
    pub(crate) cuts_oversized: bool,
}

impl<T> Clone for Exporter<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
            capacity: self.capacity,
            max_queue_bytes: self.max_queue_bytes,
            max_item_bytes: self.max_item_bytes,
            item_len: self.item_len,
            item_bytes: self.item_bytes,
            cuts_oversized: self.cuts_oversized,
        }
    }
}

impl<T> fmt::Debug for Exporter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("capacity", &self.capacity)
            .field("queued", &self.stats.queued.load(Ordering::Relaxed))
            .field("dropped", &self.dropped())
            .field("sent", &self.sent())
            .finish()
    }
}

impl<T> Exporter<T> {
    /// Queues one item. Returns `false` (and counts a drop) when the item is known to be
    /// larger than the item limit, the queue is full (in items, or in bytes for items whose
    /// size is known) or the worker is gone; never blocks, never does I/O.
    ///
    /// When the pipeline has kinds ([`ExportBuilder::with_kinds`](crate::ExportBuilder::with_kinds)),
    /// the item's kind is read from its bytes ([`Encoder::item_bytes`](crate::Encoder::item_bytes));
    /// [`try_send_kind`](Self::try_send_kind) names it instead, at no cost.
    pub fn try_send(&self, item: T) -> bool {
        let kind = if self.stats.has_kinds() {
            (self.item_bytes)(&item).map_or(NO_KIND, |b| self.stats.kind_of(b))
        } else {
            NO_KIND
        };
        self.send_as(item, kind)
    }

    /// As [`try_send`](Self::try_send), for an item of the pipeline's kind `kind` (an index
    /// into the names given to [`ExportBuilder::with_kinds`](crate::ExportBuilder::with_kinds);
    /// any other value counts in the totals only).
    pub fn try_send_kind(&self, item: T, kind: usize) -> bool {
        self.send_as(item, self.stats.known_kind(kind))
    }

    fn send_as(&self, item: T, kind: u8) -> bool {
        self.stats.produced.fetch_add(1, Ordering::Relaxed);
        self.stats.count_kind(Counter::Produced, kind, 1);
        let len = (self.item_len)(&item).unwrap_or(0);
        if len > self.max_item_bytes && !self.cuts_oversized {
            self.stats.drop_kinds(DropReason::Oversized, &[kind]);
            self.warn_once("an item larger than the item limit was dropped (counted in dropped())");
            return false;
        }
        if let Some(name) = self.stats.stopped.get() {
            self.stats.drop_kinds(DropReason::QueueFull, &[kind]);
            if !self.stats.warned_stopped.swap(true, Ordering::Relaxed) {
                // Our own diagnostics never go through `tracing` (no telemetry loops).
                eprintln!(
                    "[tracing-insights] {name}: telemetry is being dropped: this exporter's guard was dropped or shut down while its layer is still in use. Keep the guard until the end of main (`let (layer, _guard) = ...`; `let (layer, _) = ...` drops it at once)."
                );
            }
            return false;
        }
        let before = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        let bytes_before = self.stats.queued_bytes.fetch_add(len, Ordering::AcqRel);
        // One item always fits, whatever its size (it is below the item limit).
        let over_bytes = bytes_before > 0 && bytes_before + len > self.max_queue_bytes;
        // Counted per kind before it is sent: the worker may take it at once.
        self.stats.kind_queued(kind, len, true);
        if before >= self.capacity || over_bytes || self.tx.try_send(Msg::Item(item, kind)).is_err()
        {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            self.stats.kind_queued(kind, len, false);
            self.stats.drop_kinds(DropReason::QueueFull, &[kind]);
            self.warn_once(
                "export queue full or closed: dropping telemetry (counted in dropped())",
            );
            return false;
        }
        true
    }

    /// Counts `n` items produced and lost before they reached this queue (an exporter's
    /// own queue in front of it was full, say), so that the shutdown's account and
    /// [`stats`](Self::stats) include them.
    pub fn count_lost(&self, reason: DropReason, n: u64) {
        self.stats.produced.fetch_add(n, Ordering::Relaxed);
        self.stats.drop_items(reason, n);
    }

    /// As [`count_lost`](Self::count_lost), for items of the pipeline's kind `kind` (see
    /// [`try_send_kind`](Self::try_send_kind)): counted in the totals and under that kind.
    pub fn count_lost_kind(&self, kind: usize, reason: DropReason, n: u64) {
        let kind = self.stats.known_kind(kind);
        self.stats.produced.fetch_add(n, Ordering::Relaxed);
        self.stats.count_kind(Counter::Produced, kind, n);
        self.stats.drop_items(reason, n);
        self.stats.count_kind(Counter::Dropped(reason), kind, n);
    }

    /// Counts `n` items dropped for `reason` on the application side (e.g. a panic caught
    /// in a layer callback lost its item).
    pub fn count_dropped(&self, reason: DropReason, n: u64) {
        self.stats.drop_items(reason, n);
    }

    fn warn_once(&self, what: &str) {
        if !self.stats.warned_full.swap(true, Ordering::Relaxed) {
            // Our own diagnostics never go through `tracing` (no telemetry loops).
            let name = self.stats.name.get().map_or("export", String::as_str);
            crate::diagnostics::report(name, "queue", "items dropped", what);
        }
    }

    /// Items dropped, for any [`DropReason`] (queue full, oversized, refused, ...).
    pub fn dropped(&self) -> u64 {
        self.stats.dropped_total()
    }

    /// Items delivered (accepted by the service).
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    /// Items waiting in the queue (not yet taken by the worker).
    pub fn queue_len(&self) -> usize {
        self.stats.queued.load(Ordering::Relaxed)
    }

    /// Bytes of the items waiting in the queue, counting those whose size the encoder
    /// knows on the application side ([`Encoder::item_len`](crate::Encoder::item_len)).
    pub fn queue_bytes(&self) -> usize {
        self.stats.queued_bytes.load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn stats(&self) -> ExportStats {
        self.stats.snapshot()
    }

    /// Sends everything queued so far and waits up to `timeout` for the answer.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        control(&self.tx, Msg::Flush, timeout)
    }
}

/// The worker answers a little before the caller stops waiting.
fn worker_deadline(timeout: Duration) -> Instant {
    let margin = (timeout / 10).min(Duration::from_millis(200));
    Instant::now() + timeout.saturating_sub(margin)
}

fn control<T>(
    tx: &Sender<Msg<T>>,
    make: impl FnOnce(Ack, Instant) -> Msg<T>,
    timeout: Duration,
) -> Result<(), ShutdownError> {
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    // The queue keeps room for control messages beyond its items (`CONTROL_ROOM`); should
    // that room be taken by other flushes, wait for it, but never past the timeout.
    match tx.send_until(
        make(ack_tx, worker_deadline(timeout)),
        Instant::now() + timeout,
    ) {
        Ok(()) => {}
        Err(TrySendError::Disconnected(_)) => return Err(ShutdownError::WorkerGone),
        Err(TrySendError::Full(_)) => return Err(ShutdownError::Timeout(timeout)),
    }
    match ack_rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ShutdownError::Export(e)),
        Err(RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(ShutdownError::WorkerGone),
    }
}

/// Keeps the worker alive; [`shutdown`](Self::shutdown) flushes and stops it.
///
/// Dropping it without `shutdown` flushes as a best effort for at most 2 s
/// ([`DROP_TIMEOUT`]). An item [`Exporter::try_send`] gets after the guard stopped the
/// worker is dropped and counted, and the first one prints one line on stderr naming the
/// pipeline and the fix (keep the guard until the end of `main`).
#[must_use = "dropping the guard stops the exporter; keep it until the end of main and call shutdown()"]
pub struct ExportGuard<T = Vec<u8>> {
    pub(crate) tx: Sender<Msg<T>>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) name: String,
}

impl<T> fmt::Debug for ExportGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportGuard")
            .field("name", &self.name)
            .field("dropped", &self.dropped())
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

impl<T> ExportGuard<T> {
    /// Sends everything queued so far and waits up to `timeout`, including retries that
    /// fall due within it. An error says what was dropped or spooled meanwhile.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.thread.is_none() {
            return Err(ShutdownError::WorkerGone);
        }
        control(&self.tx, Msg::Flush, timeout)
    }

    /// Flushes, replays what it can from the spool, spools what is still undelivered,
    /// stops the worker and waits for it, up to `timeout` in all. Whenever anything was
    /// dropped or spooled during the pipeline's life, or the worker did not finish in time,
    /// the error is [`ShutdownError::Lost`] with the counters (the same line goes to
    /// stderr). After it returns the worker sends nothing more: on a timeout it is told to
    /// stop, and at most the request already in flight completes.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    /// As [`shutdown`](Self::shutdown), for owners that keep the guard in a field.
    /// A second call returns `Ok(())` at once.
    pub fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.stats.stopped.set(self.name.clone());
        let result = control(&self.tx, Msg::Shutdown, timeout);
        let timed_out = match &result {
            Err(ShutdownError::Timeout(t)) => Some(*t),
            _ => None,
        };
        if timed_out.is_some() {
            // The worker may be inside a request: it sends nothing more once it sees this,
            // and keeps (spool) or counts what it still holds.
            self.stats.halted.store(true, Ordering::Release);
        } else {
            let _ = thread.join();
        }
        let stats = self.stats.snapshot();
        if timed_out.is_none() && !Loss::counts_loss(&stats) {
            return result;
        }
        let loss = Loss {
            name: self.name.clone(),
            cause: stats.last_error.clone(),
            stats,
            timed_out,
        };
        // The same account as the error the caller gets: a guard dropped without
        // `shutdown` has no other way to say it.
        eprintln!("[tracing-insights] {loss}");
        Err(ShutdownError::Lost(Box::new(loss)))
    }

    /// Whether the worker is still running (not yet shut down).
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Items dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped_total()
    }

    /// Items delivered.
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn stats(&self) -> ExportStats {
        self.stats.snapshot()
    }
}

impl<T> Drop for ExportGuard<T> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // `stop` writes the account of anything lost to stderr itself.
            let _ = self.stop(DROP_TIMEOUT);
        }
    }
}

/// Why the pipeline could not start.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The worker thread could not be spawned.
    #[error("could not start the export worker thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Why a flush or shutdown did not complete cleanly. Every exporter reports this one type.
#[derive(Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The worker did not answer in time (a slow or unreachable endpoint).
    #[error("export did not finish within {0:?}")]
    Timeout(Duration),
    /// The worker thread has already stopped.
    #[error("the export worker has stopped")]
    WorkerGone,
    /// Items were dropped or spooled (the message counts them and gives the last error).
    #[error("export failed: {0}")]
    Export(String),
    /// A shutdown that did not deliver everything, or did not finish in time: the
    /// pipeline's counters (produced, sent, dropped by reason, failed, spooled) and why.
    /// The same numbers are written to stderr.
    #[error("{0}")]
    Lost(Box<Loss>),
}

impl ShutdownError {
    /// The counters carried by a [`Lost`](Self::Lost) error.
    pub fn stats(&self) -> Option<&ExportStats> {
        match self {
            ShutdownError::Lost(l) => Some(&l.stats),
            _ => None,
        }
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExportError({self})")
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShutdownError({self})")
    }
}
