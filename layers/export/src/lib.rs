//! # tracing-insights-export
//!
//! The export machinery every `tracing-insights` exporter shares. The application thread
//! only ever calls [`Exporter::try_send`]: a size check and a push onto a **bounded queue**
//! (full: drop, count, warn once). Everything else happens on a **named worker OS thread**
//! (`tracing-insights-<name>`) running under
//! [`NoSubscriber`](tracing::subscriber::NoSubscriber), with no async runtime:
//!
//! - **batching** by item count, by bytes and by time, gzip, one JSON array per request;
//! - **answers** classified as in the table below: partial successes re-send only the
//!   retryable items, retries back off exponentially with jitter and honour `Retry-After`
//!   (seconds or HTTP date) *without blocking the worker* (new items keep being batched
//!   while a batch waits), 307/308 are followed within Azure's domains;
//! - an **offline spool** ([`OfflineStorage`], on by default like Microsoft's exporters:
//!   50 MiB, 48 h) keeps batches that exhausted their attempts, written atomically, leased,
//!   replayed when the service answers again and after a restart;
//! - optional **authorization** ([`RequestAuth`], e.g. Entra ID bearer tokens from
//!   `tracing-insights-azure`), refreshed on the worker thread, refreshed once on a 401;
//! - **statistics** ([`ExportStats`]: sent, retried, spooled, dropped by [`DropReason`], last
//!   error) and a `#[must_use]` [`ExportGuard`] whose [`shutdown`](ExportGuard::shutdown)
//!   flushes, replays what it can and reports, and whose `Drop` is bounded (2 s).
//!
//! Items are opaque, already-encoded JSON values (`Vec<u8>`).
//!
//! One request is in flight at a time, for at most the request timeout (10 s by default); the
//! queue keeps absorbing items meanwhile and drops (counted) only once it is full. The
//! benchmark `benches/backpressure.rs` measures `try_send` with the service healthy, slow and
//! down: the same few hundred nanoseconds in each case.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_insights_export::{ExportBuilder, OfflineStorage};
//!
//! let (exporter, guard) = ExportBuilder::new("appinsights", "https://dc.example/v2.1/track")
//!     .with_max_batch(512)
//!     .with_max_delay(Duration::from_secs(5))
//!     .with_offline_storage(OfflineStorage::Disabled)
//!     .spawn()
//!     .expect("the worker thread starts");
//! exporter.try_send(br#"{"name":"x"}"#.to_vec());
//! guard.shutdown(Duration::from_secs(5)).expect("delivered");
//! ```
//!
//! ## Answers
//!
//! Decided against the 29 recorded answers of Microsoft's exporter
//! (`conformance/expected/retry_behaviour.json`); `RETRY.md` in this crate has the row-by-row
//! comparison and the fault tests (`tests/faults.rs`) replay every row.
//!
//! | answer | what we do | Microsoft's exporter |
//! |---|---|---|
//! | 2xx, no `errors` | delivered; replay the spool if it holds batches | same |
//! | 200/206 with `errors` | re-send only items whose status is 401/403/408/429/500/502/503/504 (after `Retry-After` if given, else backoff); others dropped ([`DropReason::Rejected`]); "Telemetry sampled out." is counted as sampled, not an error | stores retryable items on disk, retried after the next success |
//! | 2xx with a non-JSON body | delivered | dropped (a Python exception) |
//! | 401 | refresh the token and re-send once at once, then as 503 | retryable (disk) |
//! | 403, 408, 429, 500, 502, 503, 504, network error | retry in memory with exponential backoff and jitter (base 0.8 s, ×2, ≤ 30 s, 4 attempts), or exactly after `Retry-After`; then spool | 500/503/504: 3 in-pipeline retries, then disk; 403/408/429/502: straight to disk |
//! | 402, 439 (quota) | no hot retry: dropped ([`DropReason::Quota`]); with `Retry-After`, retried after it | dropped |
//! | 400, 404, anything else | dropped ([`DropReason::Rejected`]) | dropped |
//! | 307/308 | follow at once if the new host equals the old one or both lie under the same allowed Azure suffix ([`redirect::ALLOWED_REDIRECT_SUFFIXES`]); the new origin is kept for later batches; no/invalid `Location`, cross-origin, or more than [`redirect::MAX_REDIRECTS`] in a row: dropped ([`DropReason::Redirect`]) | same, loop cut after 30 |
//!
//! ## Limits
//!
//! The service's exact limits are not verified (protocol reference section 2.1), so the
//! defaults are safe values: [`DEFAULT_MAX_ITEM_BYTES`] per item (an oversized item is
//! dropped and counted on the application thread, never sent to earn a 400),
//! [`DEFAULT_MAX_REQUEST_BYTES`] of JSON per request, [`DEFAULT_MAX_BATCH`] items per request.
//!
//! ## Offline spool
//!
//! See [`OfflineStorage`] and the [`spool`] module for the file format. A batch goes to the
//! spool when its in-memory attempts are exhausted (or at shutdown); the spool is replayed
//! oldest first whenever a stored batch's lease has passed, and a stored batch is deleted
//! only once accepted (or refused for good). If the spool cannot take a batch (full,
//! read-only or failing disk), the batch stays in a bounded in-memory retry buffer
//! ([`ExportBuilder::with_memory_retry_bytes`]); what does not fit is dropped and counted
//! ([`DropReason::SpoolUnavailable`]). Nothing panics.

pub mod answer;
pub mod redirect;
pub mod spool;
mod worker;

pub use answer::DropReason;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `Drop` of an [`ExportGuard`] waits for the final flush.
const DROP_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest item accepted: 64 KiB of JSON. Source: Azure Monitor's documented per-item limit
/// for Application Insights (64 KB), not verified against the service; an item above it would
/// earn a 400 for the whole request.
pub const DEFAULT_MAX_ITEM_BYTES: usize = 64 * 1024;
/// Largest request body before gzip: 1 MiB of JSON. Source: a safe value below the limits
/// other SDKs use (.NET buffers up to 500 items; Breeze limits are unverified), so one request
/// never carries more than a few seconds of upload on a slow link.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Items per request: 512, the OpenTelemetry SDK batch processor's `max_export_batch_size`.
pub const DEFAULT_MAX_BATCH: usize = 512;
/// Queue length: 2048, the OpenTelemetry SDK batch processor's `max_queue_size`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 2048;
/// In-memory retry buffer when the spool cannot take a batch: 8 MiB.
pub const DEFAULT_MEMORY_RETRY_BYTES: usize = 8 * 1024 * 1024;

/// Adds authorization to every request (e.g. an Entra ID bearer token). Called on the
/// worker thread only, never on the application thread.
pub trait RequestAuth: Send + Sync + 'static {
    /// The `Authorization` header value. The error message must not contain secrets.
    fn authorization(&self) -> Result<String, String>;
    /// The service answered 401: forget any cached credential so the next call refreshes.
    fn invalidate(&self);
}

/// Where undeliverable batches are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineStorage {
    /// The default: a directory under the OS temp dir, `tracing-insights-<hash>`, keyed by a
    /// hash of the endpoint, the pipeline name and the user (like Microsoft's
    /// `Microsoft-AzureMonitor-<sha256>`). Off for loopback endpoints (`127.0.0.1`,
    /// `localhost`, `[::1]`): those are test servers and local collectors whose ports are
    /// reused, and replaying a previous run's telemetry into them would be wrong.
    #[default]
    Auto,
    /// No spool: batches that exhaust their attempts are dropped and counted.
    Disabled,
    /// This directory (created if missing, mode 0700).
    At(PathBuf),
}

impl From<PathBuf> for OfflineStorage {
    fn from(p: PathBuf) -> Self {
        OfflineStorage::At(p)
    }
}

impl From<&Path> for OfflineStorage {
    fn from(p: &Path) -> Self {
        OfflineStorage::At(p.to_owned())
    }
}

impl From<&str> for OfflineStorage {
    fn from(p: &str) -> Self {
        OfflineStorage::At(p.into())
    }
}

/// Builds an export pipeline: queue, worker thread and HTTP client.
#[derive(Clone)]
pub struct ExportBuilder {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_item_bytes: usize,
    pub(crate) max_delay: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) retry_base: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) retry_interval: Duration,
    pub(crate) gzip: bool,
    pub(crate) storage: OfflineStorage,
    pub(crate) spool_max_bytes: u64,
    pub(crate) spool_retention: Duration,
    pub(crate) memory_retry_bytes: usize,
    pub(crate) auth: Option<Arc<dyn RequestAuth>>,
    pub(crate) spool_io: Option<Arc<dyn spool::SpoolIo>>,
    pub(crate) batch_prefix: Option<Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>>,
}

impl fmt::Debug for ExportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may carry secrets (API keys): only their names are shown.
        f.debug_struct("ExportBuilder")
            .field("name", &self.name)
            .field("url", &self.url)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_item_bytes", &self.max_item_bytes)
            .field("max_delay", &self.max_delay)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base", &self.retry_base)
            .field("retry_interval", &self.retry_interval)
            .field("gzip", &self.gzip)
            .field("storage", &self.storage)
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl ExportBuilder {
    /// A pipeline named `name` (its thread is `tracing-insights-<name>`) that POSTs batches
    /// to `url`. Defaults: queue 2048 items; batches of at most 512 items, 1 MiB or 5 s;
    /// items up to 64 KiB; request timeout 10 s; 4 attempts per batch backing off from
    /// 0.8 s (×2, jittered, ≤ 30 s); then the offline spool ([`OfflineStorage::Auto`]),
    /// retried every 30 s; gzip on.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Accept".into(), "application/json".into()),
            ],
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_attempts: 4,
            retry_base: Duration::from_millis(800),
            max_backoff: Duration::from_secs(30),
            retry_interval: Duration::from_secs(30),
            gzip: true,
            storage: OfflineStorage::Auto,
            spool_max_bytes: spool::DEFAULT_SPOOL_MAX_BYTES,
            spool_retention: spool::DEFAULT_SPOOL_RETENTION,
            memory_retry_bytes: DEFAULT_MEMORY_RETRY_BYTES,
            auth: None,
            spool_io: None,
            batch_prefix: None,
        }
    }

    /// Adds a request header (sent with every batch). Values never appear in `Debug`.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How many items may wait in the queue; beyond that [`Exporter::try_send`] drops.
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// The most items in one request.
    #[must_use]
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    /// The most JSON bytes (before gzip) in one request.
    #[must_use]
    pub fn with_max_request_bytes(mut self, max: usize) -> Self {
        self.max_request_bytes = max.max(64);
        self
    }

    /// The largest item accepted; larger ones are dropped and counted
    /// ([`DropReason::Oversized`]).
    #[must_use]
    pub fn with_max_item_bytes(mut self, max: usize) -> Self {
        self.max_item_bytes = max.max(1);
        self
    }

    /// The longest an item waits before its batch is sent.
    #[must_use]
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The timeout of one HTTP request.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Attempts per batch before it goes to the spool (at least 1); retries back off from
    /// `base` (doubling, jittered between 50 % and 100 %, at most 30 s), or wait what a
    /// `Retry-After` header says. Tests use a small base.
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, base: Duration) -> Self {
        self.max_attempts = attempts.max(1);
        self.retry_base = base;
        self
    }

    /// The longest backoff between two attempts (default 30 s).
    #[must_use]
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// How long a spooled batch waits before it is tried again (its lease; default 30 s,
    /// Microsoft's `storage_min_retry_interval` is 60 s). Also the pace of the in-memory
    /// buffer when the spool is unavailable. At least 100 ms (no hot loop against a down
    /// service).
    #[must_use]
    pub fn with_retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Where undeliverable batches are kept: a path, [`OfflineStorage::Disabled`], or
    /// [`OfflineStorage::Auto`] (the default).
    #[must_use]
    pub fn with_offline_storage(mut self, storage: impl Into<OfflineStorage>) -> Self {
        self.storage = storage.into();
        self
    }

    /// The spool's bounds: total bytes (default 50 MiB) and retention (default 48 h).
    #[must_use]
    pub fn with_spool_limits(mut self, max_bytes: u64, retention: Duration) -> Self {
        self.spool_max_bytes = max_bytes;
        self.spool_retention = retention;
        self
    }

    /// The bound on batches waiting in memory for a retry, and on the buffer used when the
    /// spool cannot take a batch (default 8 MiB). A failed batch that does not fit skips its
    /// remaining attempts and goes straight to the spool.
    #[must_use]
    pub fn with_memory_retry_bytes(mut self, max: usize) -> Self {
        self.memory_retry_bytes = max;
        self
    }

    /// Authorization for every request (e.g. Entra ID); see [`RequestAuth`].
    #[must_use]
    pub fn with_auth(mut self, auth: Arc<dyn RequestAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Whether to gzip request bodies (`Content-Encoding: gzip`). Default on.
    #[must_use]
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// An item put first in every request (Application Insights' `_OTELRESOURCE_` metric),
    /// made when the request is sent. Called on the worker thread. It is not spooled: a
    /// replayed batch gets a fresh one.
    #[must_use]
    pub fn with_batch_prefix(
        mut self,
        prefix: impl Fn() -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.batch_prefix = Some(Arc::new(prefix));
        self
    }

    #[cfg(test)]
    pub(crate) fn with_spool_io(mut self, io: Arc<dyn spool::SpoolIo>) -> Self {
        self.spool_io = Some(io);
        self
    }

    /// The spool directory this configuration uses, if any.
    pub fn offline_storage_dir(&self) -> Option<PathBuf> {
        match &self.storage {
            OfflineStorage::Disabled => None,
            OfflineStorage::At(p) => Some(p.clone()),
            OfflineStorage::Auto => {
                let host = redirect::split_url(&self.url).map(|(o, _)| o.host)?;
                if host == "localhost" || host == "::1" || host.starts_with("127.") {
                    return None;
                }
                let user = std::env::var("USER")
                    .or_else(|_| std::env::var("USERNAME"))
                    .unwrap_or_default();
                let key = format!("{}\n{}\n{}", self.url, self.name, user);
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in key.bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                Some(std::env::temp_dir().join(format!("tracing-insights-{h:016x}")))
            }
        }
    }

    /// Starts the worker thread. A spool directory that cannot be created is not an error:
    /// the pipeline runs without it (reported once on stderr and in
    /// [`ExportStats::last_error`]).
    pub fn spawn(self) -> Result<(Exporter, ExportGuard), ExportError> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let worker = worker::Worker::new(rx, stats.clone(), self.clone());
        let thread = std::thread::Builder::new()
            .name(format!("tracing-insights-{}", self.name))
            .spawn(move || worker.run())
            .map_err(ExportError::Spawn)?;
        let exporter = Exporter {
            tx: tx.clone(),
            stats: stats.clone(),
            capacity: self.queue_capacity,
            max_item_bytes: self.max_item_bytes,
        };
        let guard = ExportGuard {
            tx,
            stats,
            thread: Some(thread),
            name: self.name,
        };
        Ok((exporter, guard))
    }
}

/// Counters shared by the handle, the guard and the worker.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) queued: AtomicUsize,
    pub(crate) sent: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) sampled_out: AtomicU64,
    pub(crate) dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) warned_full: AtomicBool,
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
            .filter(|r| !matches!(r, DropReason::QueueFull | DropReason::Oversized))
            .map(|r| self.dropped[r.index()].load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn set_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    fn snapshot(&self) -> ExportStats {
        ExportStats {
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            dropped: std::array::from_fn(|i| self.dropped[i].load(Ordering::Relaxed)),
            last_error: self.last_error.lock().ok().and_then(|g| g.clone()),
        }
    }
}

/// A snapshot of a pipeline's counters (items, not requests, except `retried`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportStats {
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
    dropped: [u64; DropReason::ALL.len()],
    /// The last export error, if any (no secrets).
    pub last_error: Option<String>,
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
}

type Ack = mpsc::SyncSender<Result<(), String>>;

pub(crate) enum Msg {
    Item(Vec<u8>),
    /// Send what is batched and wait out pending retries; the answer is due at the deadline.
    Flush(Ack, Instant),
    /// Drain, send, replay, spool what is left and stop; the answer is due at the deadline.
    Shutdown(Ack, Instant),
}

/// The layer's handle on the pipeline: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Exporter {
    tx: Sender<Msg>,
    stats: Arc<Stats>,
    capacity: usize,
    max_item_bytes: usize,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("capacity", &self.capacity)
            .field("queued", &self.stats.queued.load(Ordering::Relaxed))
            .field("dropped", &self.dropped())
            .field("sent", &self.sent())
            .finish()
    }
}

impl Exporter {
    /// Queues one encoded item. Returns `false` (and counts a drop) when the item is larger
    /// than the item limit, the queue is full or the worker is gone; never blocks, never
    /// does I/O.
    pub fn try_send(&self, item: Vec<u8>) -> bool {
        if item.len() > self.max_item_bytes {
            self.stats.drop_items(DropReason::Oversized, 1);
            self.warn_once("an item larger than the item limit was dropped (counted in dropped())");
            return false;
        }
        let before = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        if before >= self.capacity || self.tx.send(Msg::Item(item)).is_err() {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.drop_items(DropReason::QueueFull, 1);
            self.warn_once(
                "export queue full or closed: dropping telemetry (counted in dropped())",
            );
            return false;
        }
        true
    }

    fn warn_once(&self, what: &str) {
        if !self.stats.warned_full.swap(true, Ordering::Relaxed) {
            // Our own diagnostics never go through `tracing` (no telemetry loops).
            eprintln!("[tracing-insights] {what}");
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

fn control(
    tx: &Sender<Msg>,
    make: impl FnOnce(Ack, Instant) -> Msg,
    timeout: Duration,
) -> Result<(), ShutdownError> {
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    tx.send(make(ack_tx, worker_deadline(timeout)))
        .map_err(|_| ShutdownError::WorkerGone)?;
    match ack_rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ShutdownError::Export(e)),
        Err(RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(ShutdownError::WorkerGone),
    }
}

/// Keeps the worker alive; [`shutdown`](Self::shutdown) flushes and stops it.
///
/// Dropping it without `shutdown` flushes as a best effort for at most 2 s.
#[must_use = "dropping the guard stops the exporter; keep it until the end of main and call shutdown()"]
pub struct ExportGuard {
    tx: Sender<Msg>,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
    name: String,
}

impl fmt::Debug for ExportGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportGuard")
            .field("name", &self.name)
            .field("dropped", &self.dropped())
            .field("sent", &self.sent())
            .finish_non_exhaustive()
    }
}

impl ExportGuard {
    /// Sends everything queued so far and waits up to `timeout`, including retries that
    /// fall due within it. An error says what was dropped or spooled meanwhile.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        control(&self.tx, Msg::Flush, timeout)
    }

    /// Flushes, replays what it can from the spool, spools what is still undelivered,
    /// stops the worker and waits for it, up to `timeout` in all. An error reports items
    /// dropped or spooled during the pipeline's life, or a timeout.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let result = control(&self.tx, Msg::Shutdown, timeout);
        if result.is_ok() || matches!(result, Err(ShutdownError::Export(_))) {
            let _ = thread.join();
        }
        let queue_drops = self.stats.dropped[DropReason::QueueFull.index()].load(Ordering::Relaxed);
        if queue_drops > 0 {
            eprintln!(
                "[tracing-insights] {}: {queue_drops} telemetry items were dropped (queue full)",
                self.name
            );
        }
        result
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

impl Drop for ExportGuard {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.stop(DROP_TIMEOUT) {
                eprintln!("[tracing-insights] {}: shutdown on drop: {e}", self.name);
            }
        }
    }
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The worker thread could not be spawned.
    #[error("could not start the export worker thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Why a flush or shutdown did not complete cleanly.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
}

/// Gzips `data` (what every request body goes through when gzip is on).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write as _;
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests;
