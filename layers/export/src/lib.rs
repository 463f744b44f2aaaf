//! # tracing-insights-export
//!
//! The export machinery every `tracing-insights` exporter shares. The application thread
//! only ever calls [`Exporter::try_send`]: a size check and a push onto a **bounded queue**
//! (full: drop, count, warn once). Everything else happens on a **named worker OS thread**
//! (`tracing-insights-<name>`) whose own spans and events go nowhere (its default dispatcher
//! is [`Dispatch::none`](tracing::Dispatch::none), which changes no callsite's interest),
//! with no async runtime:
//!
//! - **batching** by item count, by bytes and by time, encoded by the exporter's encoder;
//! - **answers** classified as in the table below: partial successes re-send only the
//!   retryable items, retries back off exponentially with jitter and honour `Retry-After`
//!   (seconds or HTTP date) *without blocking the worker* (new items keep being batched
//!   while a batch waits), 307/308 are followed within the same host or an allowed domain
//!   (Azure's by default);
//! - an **offline spool** ([`OfflineStorage`], on by default like Microsoft's exporters:
//!   50 MiB, 48 h) keeps batches that exhausted their attempts, written atomically, leased,
//!   replayed when the service answers again and after a restart;
//! - optional **authorization** ([`RequestAuth`], e.g. Entra ID bearer tokens from
//!   `tracing-insights-azure`), refreshed on the worker thread, refreshed once on a 401;
//! - **statistics** ([`ExportStats`]: produced, sent, retried, spooled, dropped by
//!   [`DropReason`], failed, last error, what waits in the queue in items and bytes; the
//!   same per kind of item for a pipeline given kinds, [`ExportBuilder::with_kinds`]) and a `#[must_use]` [`ExportGuard`] whose
//!   [`shutdown`](ExportGuard::shutdown) flushes, replays what it can and, whenever anything
//!   was lost, returns [`ShutdownError::Lost`] with those numbers (the same line on stderr);
//!   its `Drop` is bounded (2 s), and after it returns the worker sends nothing more;
//! - **bounded memory**: the queue is bounded in items and in bytes
//!   ([`ExportBuilder::with_queue_bytes`]); values were cut at the door (256 KiB, the
//!   correlation crate's `MAX_VALUE_BYTES`) before they reached it;
//! - **diagnostics** ([`diagnostics`]): the pipeline's own problems, rate-limited, on stderr
//!   or wherever [`diagnostics::set_sink`] says, never through `tracing`.
//!
//! Each exporter plugs in three parts:
//!
//! - an [`Encoder`]: items → request body and content type. [`JsonArray`] (encoded JSON
//!   values, one gzipped JSON array per request) is the default, Application Insights'
//!   framing; OTLP's protobuf and JSON encoders live in `tracing-insights-otlp`. An encoder
//!   may also produce items of its own every collect interval (metric aggregates);
//! - a [`Classify`]: what an answer means. [`AppInsightsAnswers`] (the table below) is
//!   the default; OTLP's lives in `tracing-insights-otlp`;
//! - a [`Transport`]: HTTP through the client the crate's features pick
//!   ([`transport::http_transport`]: `reqwest`, the default, or `ureq`, the lean option;
//!   TLS with `rustls`, the default, `rustls-ring` or `native-tls`); OTLP adds gRPC.
//!
//! Without the `reqwest` and `ureq` features there is no HTTP client: every request fails
//! with that reason in words (the `tracing-insights` facade turns `reqwest` and `rustls` on
//! by default).
//!
//! TLS and the application's own `reqwest`: cargo unifies reqwest 0.13's features across
//! the build. `rustls` (the default) turns on reqwest's own `rustls` (its aws-lc-rs provider,
//! chosen per client), so every reqwest client of the application keeps working. The lean
//! `rustls-ring` hands our client a ring configuration and turns on reqwest's
//! `rustls-no-provider` instead: an application that built plain-HTTP reqwest clients with
//! no TLS feature of its own then gets rustls as their backend, and `Client::new()` wants a
//! process-wide provider (`rustls::crypto::ring::default_provider().install_default()`) or
//! one of reqwest's TLS features in the application's manifest. Neither installs a provider.
//!
//! The queue, batching, retries, redirects, spool, authorization, statistics, guard and
//! [`diagnostics`] (the exporters' own problems, rate-limited on stderr by default) are the
//! same for all of them.
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
//! oldest first whenever a stored batch's lease has passed, and at once, leases or not,
//! for the batches this process spooled as soon as a send succeeds (a lease only keeps
//! other processes away); a stored batch is deleted only once accepted (or refused for
//! good). A batch that has been failing for [`DEFAULT_SPOOL_AFTER`]
//! ([`ExportBuilder::with_spool_after`]) goes to the spool even if attempts remain, which
//! bounds what a crash loses. If the spool cannot take a batch (full,
//! read-only or failing disk), the batch stays in a bounded in-memory retry buffer
//! ([`ExportBuilder::with_memory_retry_bytes`]); what does not fit is dropped and counted
//! ([`DropReason::SpoolUnavailable`]). Nothing panics.

pub mod answer;
pub mod chain;
mod deliver;
pub mod diagnostics;
pub mod encode;
pub mod endpoint;
mod handle;
pub mod handoff;
mod loss;
pub mod redact;
pub mod redirect;
pub mod spool;
mod stats;
pub mod transport;
mod worker;
mod worker_spool;

pub use answer::{AppInsightsAnswers, Classify, DropReason};
pub use encode::{Body, Encoder, JsonArray};
pub use handle::{ExportError, ExportGuard, Exporter, ShutdownError, DROP_TIMEOUT};
pub use loss::{reason_name, Loss};
pub use stats::{ExportStats, KindOf, MAX_KINDS};
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;
#[cfg(feature = "ureq")]
pub use transport::UreqTransport;
pub use transport::{http_transport, HttpOptions, Method, Response, Transport};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
/// Queue bytes: 16 MiB of items whose size is known on the application side (encoded JSON
/// items; OTLP log records), so a burst of large items cannot hold 2048 × 64 KiB.
pub const DEFAULT_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// How long a failing batch is retried in memory before it is written to the spool
/// whatever attempts remain: 5 s. With the spool on, a crash (`kill -9`) loses at most the
/// batches that have been failing for less than this, plus what is still queued.
pub const DEFAULT_SPOOL_AFTER: Duration = Duration::from_secs(5);
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

/// Makes the pipeline's transport, on the worker thread before its first request.
pub type TransportFactory = Arc<dyn Fn() -> Box<dyn Transport> + Send + Sync>;

/// Where undeliverable batches are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfflineStorage {
    /// The default: a directory under the OS temp dir, `tracing-insights-<hash>`, keyed by a
    /// hash of the endpoint, the pipeline name and the user (like Microsoft's
    /// `Microsoft-AzureMonitor-<sha256>`). Off for loopback endpoints (`127.0.0.1`,
    /// `localhost`, `[::1]`, `[::ffff:127.0.0.1]`): those are test servers and local collectors whose ports are
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
    pub(crate) queue_bytes: usize,
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
    pub(crate) spool_after: Option<Duration>,
    pub(crate) auth: Option<Arc<dyn RequestAuth>>,
    pub(crate) spool_io: Option<Arc<dyn spool::SpoolIo>>,
    pub(crate) batch_prefix: Option<encode::BatchPrefix>,
    pub(crate) classifier: Arc<dyn Classify>,
    pub(crate) transport: Option<TransportFactory>,
    pub(crate) redirect_suffixes: &'static [&'static str],
    pub(crate) collect_interval: Option<Duration>,
    pub(crate) kinds: Option<(&'static [&'static str], KindOf)>,
}

impl fmt::Debug for ExportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may carry secrets (API keys): only their names are shown.
        f.debug_struct("ExportBuilder")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("headers", &transport::HeaderNames(&self.headers))
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
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
            .field("redirect_suffixes", &self.redirect_suffixes)
            .field("collect_interval", &self.collect_interval)
            .field("kinds", &self.kinds.map(|k| k.0))
            .finish_non_exhaustive()
    }
}

impl ExportBuilder {
    /// A pipeline named `name` (its thread is `tracing-insights-<name>`) that POSTs batches
    /// to `url`. Defaults: queue 2048 items and 16 MiB; batches of at most 512 items, 1 MiB or 5 s;
    /// items up to 64 KiB; request timeout 10 s; 4 attempts per batch backing off from
    /// 0.8 s (×2, jittered, ≤ 30 s); then the offline spool ([`OfflineStorage::Auto`]),
    /// retried every 30 s; gzip on; Application Insights' answers table
    /// ([`AppInsightsAnswers`]); redirects within [`redirect::ALLOWED_REDIRECT_SUFFIXES`];
    /// HTTP through [`transport::http_transport`] (reqwest or ureq, by feature).
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            headers: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
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
            spool_after: Some(DEFAULT_SPOOL_AFTER),
            auth: None,
            spool_io: None,
            batch_prefix: None,
            classifier: Arc::new(AppInsightsAnswers),
            transport: None,
            redirect_suffixes: &redirect::ALLOWED_REDIRECT_SUFFIXES,
            collect_interval: None,
            kinds: None,
        }
    }

    /// Adds a request header (sent with every batch). Values never appear in `Debug`.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How many items may wait in the queue; beyond that [`Exporter::try_send`] drops. The
    /// queue's slots are allocated once, when the pipeline starts (a slot holds one item
    /// value, e.g. a pointer and a few words; the item's own data is allocated as it comes).
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many bytes of items (those whose size the encoder knows on the application
    /// side, [`Encoder::item_len`]) may wait in the queue (default [`DEFAULT_QUEUE_BYTES`]);
    /// beyond that [`Exporter::try_send`] drops ([`DropReason::QueueFull`]). One item
    /// always fits.
    #[must_use]
    pub fn with_queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
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

    /// The timeout of one HTTP request (`Duration::ZERO`: none).
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

    /// How long a failing batch is retried in memory before it goes to the offline spool
    /// even if attempts remain (default [`DEFAULT_SPOOL_AFTER`], 5 s; `None`: only when its
    /// attempts are exhausted). What a crash can lose is bounded by it: batches failing
    /// for less than this, and the queue. Without a spool it has no effect.
    #[must_use]
    pub fn with_spool_after(mut self, after: Option<Duration>) -> Self {
        self.spool_after = after;
        self
    }

    /// Authorization for every request (e.g. Entra ID); see [`RequestAuth`].
    #[must_use]
    pub fn with_auth(mut self, auth: Arc<dyn RequestAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Whether to gzip request bodies (`Content-Encoding: gzip`). Default on. Read by
    /// [`spawn`](Self::spawn)'s JSON encoder; an encoder given to
    /// [`spawn_with`](Self::spawn_with) decides for itself.
    #[must_use]
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// An item put first in every request (Application Insights' `_OTELRESOURCE_` metric),
    /// made when the request is sent. Called on the worker thread. It is not spooled: a
    /// replayed batch gets a fresh one. Read by [`spawn`](Self::spawn)'s JSON encoder.
    #[must_use]
    pub fn with_batch_prefix(
        mut self,
        prefix: impl Fn() -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.batch_prefix = Some(Arc::new(prefix));
        self
    }

    /// What the service's answers mean (default [`AppInsightsAnswers`]).
    #[must_use]
    pub fn with_classifier(mut self, classifier: impl Classify) -> Self {
        self.classifier = Arc::new(classifier);
        self
    }

    /// What carries the requests (default [`transport::http_transport`] with no TLS
    /// customisation). `make` runs once, on the worker thread when the pipeline starts.
    #[must_use]
    pub fn with_transport(
        mut self,
        make: impl Fn() -> Box<dyn Transport> + Send + Sync + 'static,
    ) -> Self {
        self.transport = Some(Arc::new(make));
        self
    }

    /// The host suffixes within which a 307/308 may move the endpoint to another host
    /// (default [`redirect::ALLOWED_REDIRECT_SUFFIXES`], Azure's; empty: only redirects to
    /// the same host are followed).
    #[must_use]
    pub fn with_redirect_suffixes(mut self, suffixes: &'static [&'static str]) -> Self {
        self.redirect_suffixes = suffixes;
        self
    }

    /// Calls the encoder's [`collect`](Encoder::collect) this often (metric collection) and
    /// sends what it returns at once. Default: never (only on flush and shutdown).
    #[must_use]
    pub fn with_collect_interval(mut self, interval: Duration) -> Self {
        self.collect_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Counts items of several kinds apart (at most [`MAX_KINDS`]): every counter of
    /// [`ExportStats`] that counts items, and the queue's occupancy, is also kept per kind in
    /// [`ExportStats::by_kind`], under these `names`. An item's kind is the one given to
    /// [`Exporter::try_send_kind`]; for an item queued with [`Exporter::try_send`] (its
    /// bytes read through [`Encoder::item_bytes`]), made by the encoder's
    /// [`collect`](Encoder::collect) or read back from the offline spool, it is
    /// `kind_of(bytes)`. The kind travels with the item through batching, retries, the
    /// per-item results of a partial success and the spool.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tracing_insights_export::{DropReason, ExportBuilder};
    ///
    /// // Items are JSON values; those with a `"level"` key are logs, the rest spans.
    /// fn kind_of(item: &[u8]) -> usize {
    ///     usize::from(item.windows(8).any(|w| w == b"\"level\":"))
    /// }
    /// let (exporter, guard) = ExportBuilder::new("mine", "https://collector.example/ingest")
    ///     .with_kinds(&["spans", "logs"], kind_of)
    ///     .spawn()
    ///     .expect("the worker thread starts");
    /// exporter.try_send_kind(br#"{"name":"GET /"}"#.to_vec(), 0);
    /// exporter.try_send(br#"{"level":"info"}"#.to_vec()); // kind read by kind_of
    /// guard.flush(Duration::from_secs(5)).ok();
    /// let stats = guard.stats();
    /// let logs = stats.kind("logs").expect("a kind of this pipeline");
    /// println!(
    ///     "logs: {} produced, {} sent, {} refused, {} queued ({} bytes)",
    ///     logs.produced,
    ///     logs.sent,
    ///     logs.dropped_by(DropReason::Rejected),
    ///     logs.queued,
    ///     logs.queued_bytes
    /// );
    /// ```
    #[must_use]
    pub fn with_kinds(mut self, names: &'static [&'static str], kind_of: KindOf) -> Self {
        self.kinds = Some((names, kind_of));
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
                if endpoint::is_loopback_host(&host) {
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

    /// Starts the worker thread with the JSON array encoder ([`JsonArray`], with this
    /// builder's gzip and batch prefix). A spool directory that cannot be created is not an
    /// error: the pipeline runs without it (reported once on stderr and in
    /// [`ExportStats::last_error`]).
    pub fn spawn(mut self) -> Result<(Exporter, ExportGuard), ExportError> {
        let encoder = JsonArray::new(self.gzip, self.batch_prefix.clone());
        self.headers
            .insert(0, ("Accept".into(), "application/json".into()));
        self.spawn_with(encoder)
    }

    /// Starts the worker thread with `encoder`, whose items the returned [`Exporter`] takes.
    pub fn spawn_with<E: Encoder>(
        self,
        encoder: E,
    ) -> Result<(Exporter<E::Item>, ExportGuard<E::Item>), ExportError> {
        // Bounded (its buffer made once; an unbounded channel allocated a block every 31
        // items on the application's thread, which the worker then freed on its own), and
        // lock-free with a wake-up only for a sleeping worker (`handoff`).
        let (tx, rx) = handoff::bounded(self.queue_capacity.saturating_add(handle::CONTROL_ROOM));
        let stats = Arc::new(stats::Stats {
            kinds: self
                .kinds
                .map(|(names, kind_of)| stats::Kinds::new(names, kind_of)),
            ..stats::Stats::default()
        });
        let _ = stats.name.set(self.name.clone());
        // The transport is made on the worker: an HTTP client may start a runtime of its
        // own, which must never live on (or be dropped by) the application's thread.
        let make = self.transport.clone();
        let placeholder = Box::new(transport::Unavailable("not started".into()));
        let mut worker = worker::Worker::new(rx, stats.clone(), self.clone(), encoder, placeholder);
        let thread = std::thread::Builder::new()
            .name(format!("tracing-insights-{}", self.name))
            .spawn(move || {
                worker.transport = match make {
                    Some(make) => make(),
                    None => transport::http_transport_or_reason(&HttpOptions::default()),
                };
                worker.run()
            })
            .map_err(ExportError::Spawn)?;
        let exporter = Exporter {
            tx: tx.clone(),
            stats: stats.clone(),
            capacity: self.queue_capacity,
            max_queue_bytes: self.queue_bytes,
            max_item_bytes: self.max_item_bytes,
            item_len: E::item_len,
            item_bytes: E::item_bytes,
            cuts_oversized: E::CUTS_OVERSIZED,
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

/// Gzips `data` at the fastest level (what request bodies go through when gzip is on,
/// except [`JsonArray`]'s: [`encode::JSON_GZIP_LEVEL`]).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_level(data, 1)
}

/// Gzips `data` at `level` (0 stores, 1 is the fastest, 9 the smallest).
pub fn gzip_level(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write as _;
    let level = Compression::new(level.min(9));
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), level);
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests;
