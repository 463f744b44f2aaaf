//! # tracing-insights-export
//!
//! The export machinery every `tracing-insights` exporter shares: a **bounded queue** the
//! layer feeds without ever blocking ([`Exporter::try_send`]: a full queue drops and counts),
//! a **named worker OS thread** (`tracing-insights-<name>`) that runs under
//! [`NoSubscriber`](tracing::subscriber::NoSubscriber) so the exporter's own work never
//! becomes telemetry, **batching** by count and by time, a gzip **HTTP POST** with a few
//! retries on 408/429/5xx and network errors, and a `#[must_use]` [`ExportGuard`] whose
//! [`shutdown`](ExportGuard::shutdown) flushes and reports, and whose `Drop` is a bounded
//! best effort.
//!
//! Items are opaque, already-encoded JSON values (`Vec<u8>`); a batch goes on the wire as
//! a JSON array of them (Application Insights' `/v2.1/track` body). No async runtime is
//! used or required.
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_insights_export::ExportBuilder;
//!
//! let (exporter, guard) = ExportBuilder::new("appinsights", "http://127.0.0.1:9/v2.1/track")
//!     .with_max_batch(512)
//!     .with_max_delay(Duration::from_secs(5))
//!     .spawn()
//!     .expect("the worker thread starts");
//! exporter.try_send(br#"{"name":"x"}"#.to_vec());
//! guard.shutdown(Duration::from_secs(5)).expect("delivered");
//! ```

use flate2::write::GzEncoder;
use flate2::Compression;
use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `Drop` of an [`ExportGuard`] waits for the final flush.
const DROP_TIMEOUT: Duration = Duration::from_secs(2);

/// Builds an export pipeline: queue, worker thread and HTTP client.
#[derive(Clone)]
pub struct ExportBuilder {
    name: String,
    url: String,
    headers: Vec<(String, String)>,
    queue_capacity: usize,
    max_batch: usize,
    max_delay: Duration,
    request_timeout: Duration,
    max_attempts: u32,
    retry_base: Duration,
    gzip: bool,
    batch_prefix: Option<Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>>,
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
            .field("max_delay", &self.max_delay)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl ExportBuilder {
    /// A pipeline named `name` (its thread is `tracing-insights-<name>`) that POSTs batches
    /// to `url`. Defaults: queue 2048 items, batches of at most 512 items or 5 s, request
    /// timeout 10 s, 3 attempts per batch, gzip on.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Accept".into(), "application/json".into()),
            ],
            queue_capacity: 2048,
            max_batch: 512,
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_attempts: 3,
            retry_base: Duration::from_millis(500),
            gzip: true,
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

    /// Attempts per batch (at least 1); retries back off from `base` (doubling), or wait
    /// what a `Retry-After` header says (capped at 30 s).
    #[must_use]
    pub fn with_retries(mut self, attempts: u32, base: Duration) -> Self {
        self.max_attempts = attempts.max(1);
        self.retry_base = base;
        self
    }

    /// Whether to gzip request bodies (`Content-Encoding: gzip`). Default on.
    #[must_use]
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// An item put first in every batch (Application Insights' `_OTELRESOURCE_` metric),
    /// made when the batch is sent. Called on the worker thread.
    #[must_use]
    pub fn with_batch_prefix(
        mut self,
        prefix: impl Fn() -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.batch_prefix = Some(Arc::new(prefix));
        self
    }

    /// Starts the worker thread.
    pub fn spawn(self) -> Result<(Exporter, ExportGuard), ExportError> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.request_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let worker = Worker {
            rx,
            stats: stats.clone(),
            agent,
            config: self.clone(),
            batch: Vec::new(),
            batch_started: None,
            deadline: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("tracing-insights-{}", self.name))
            .spawn(move || worker.run())
            .map_err(ExportError::Spawn)?;
        let exporter = Exporter {
            tx: tx.clone(),
            stats: stats.clone(),
            capacity: self.queue_capacity,
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
struct Stats {
    queued: AtomicUsize,
    dropped: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    warned_full: AtomicBool,
}

type Ack = mpsc::SyncSender<Result<(), String>>;

enum Msg {
    Item(Vec<u8>),
    /// Send what is batched; retries stop at the deadline.
    Flush(Ack, Instant),
    /// Drain, send and stop; retries stop at the deadline.
    Shutdown(Ack, Instant),
}

/// The layer's handle on the pipeline: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Exporter {
    tx: Sender<Msg>,
    stats: Arc<Stats>,
    capacity: usize,
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
    /// Queues one encoded item. Returns `false` (and counts a drop) when the queue is full
    /// or the worker is gone; never blocks.
    pub fn try_send(&self, item: Vec<u8>) -> bool {
        let before = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        if before >= self.capacity {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.note_drop();
            return false;
        }
        if self.tx.send(Msg::Item(item)).is_err() {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.note_drop();
            return false;
        }
        true
    }

    fn note_drop(&self) {
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        if !self.stats.warned_full.swap(true, Ordering::Relaxed) {
            // Our own diagnostics never go through `tracing` (no telemetry loops).
            eprintln!("[tracing-insights] export queue full or closed: dropping telemetry (counted in dropped())");
        }
    }

    /// Items dropped because the queue was full (or the worker gone).
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Items delivered (accepted with a 2xx answer).
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    /// Sends everything queued so far and waits up to `timeout` for the answer.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        control(&self.tx, Msg::Flush, timeout)
    }
}

fn control(
    tx: &Sender<Msg>,
    make: impl FnOnce(Ack, Instant) -> Msg,
    timeout: Duration,
) -> Result<(), ShutdownError> {
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    tx.send(make(ack_tx, Instant::now() + timeout))
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
    /// Sends everything queued so far and waits up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        control(&self.tx, Msg::Flush, timeout)
    }

    /// Flushes, stops the worker and waits for it, up to `timeout` in all. Reports an
    /// export failure (a batch that could not be delivered), a timeout, or drops.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let result = control(&self.tx, Msg::Shutdown, timeout);
        if result.is_ok() {
            let _ = thread.join();
        }
        let dropped = self.dropped();
        if dropped > 0 {
            eprintln!(
                "[tracing-insights] {}: {dropped} telemetry items were dropped (queue full)",
                self.name
            );
        }
        result?;
        if self.stats.failed.load(Ordering::Relaxed) > 0 {
            return Err(ShutdownError::Export(format!(
                "{} items could not be delivered",
                self.stats.failed.load(Ordering::Relaxed)
            )));
        }
        Ok(())
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Items delivered.
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
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
    /// A batch could not be delivered.
    #[error("export failed: {0}")]
    Export(String),
}

struct Worker {
    rx: Receiver<Msg>,
    stats: Arc<Stats>,
    agent: ureq::Agent,
    config: ExportBuilder,
    batch: Vec<Vec<u8>>,
    batch_started: Option<Instant>,
    /// While flushing or shutting down: when retries must stop.
    deadline: Option<Instant>,
}

impl Worker {
    fn run(mut self) {
        let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        loop {
            let msg = match self.batch_started {
                Some(started) => {
                    let wait = self.config.max_delay.saturating_sub(started.elapsed());
                    match self.rx.recv_timeout(wait) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = self.send_batch();
                            return;
                        }
                    }
                }
                None => match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            };
            match msg {
                None => {
                    let _ = self.send_batch();
                }
                Some(Msg::Item(item)) => {
                    self.stats.queued.fetch_sub(1, Ordering::AcqRel);
                    if self.batch.is_empty() {
                        self.batch_started = Some(Instant::now());
                    }
                    self.batch.push(item);
                    if self.batch.len() >= self.config.max_batch {
                        let _ = self.send_batch();
                    }
                }
                Some(Msg::Flush(ack, deadline)) => {
                    self.deadline = Some(deadline);
                    let r = self.send_batch();
                    self.deadline = None;
                    let _ = ack.try_send(r);
                }
                Some(Msg::Shutdown(ack, deadline)) => {
                    self.deadline = Some(deadline);
                    // Drain what is already queued, then stop.
                    while let Ok(m) = self.rx.try_recv() {
                        match m {
                            Msg::Item(item) => {
                                self.stats.queued.fetch_sub(1, Ordering::AcqRel);
                                self.batch.push(item);
                                if self.batch.len() >= self.config.max_batch {
                                    let _ = self.send_batch();
                                }
                            }
                            Msg::Flush(a, _) | Msg::Shutdown(a, _) => {
                                let _ = a.try_send(Ok(()));
                            }
                        }
                    }
                    let r = self.send_batch();
                    let _ = ack.try_send(r);
                    return;
                }
            }
        }
    }

    fn send_batch(&mut self) -> Result<(), String> {
        self.batch_started = None;
        if self.batch.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut self.batch);
        let count = items.len() as u64;
        let mut body = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 64);
        body.push(b'[');
        let mut first = true;
        if let Some(prefix) = self.config.batch_prefix.as_ref().and_then(|p| p()) {
            body.extend_from_slice(&prefix);
            first = false;
        }
        for item in &items {
            if !first {
                body.push(b',');
            }
            first = false;
            body.extend_from_slice(item);
        }
        body.push(b']');
        match self.post(&body) {
            Ok(()) => {
                self.stats.sent.fetch_add(count, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.failed.fetch_add(count, Ordering::Relaxed);
                eprintln!("[tracing-insights] {}: {e}", self.config.name);
                Err(e)
            }
        }
    }

    fn post(&self, json: &[u8]) -> Result<(), String> {
        let body = if self.config.gzip {
            gzip(json).map_err(|e| format!("gzip failed: {e}"))?
        } else {
            json.to_vec()
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.agent.post(&self.config.url);
            for (k, v) in &self.config.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if self.config.gzip {
                req = req.header("Content-Encoding", "gzip");
            }
            let (retryable, retry_after, err) = match req.send(&body[..]) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let retryable = matches!(status, 408 | 429 | 500 | 502 | 503 | 504);
                    (
                        retryable,
                        retry_after,
                        format!("HTTP {status} from {}", self.config.url),
                    )
                }
                Err(e) => (
                    true,
                    None,
                    format!("request to {} failed: {e}", self.config.url),
                ),
            };
            if !retryable || attempt >= self.config.max_attempts {
                return Err(err);
            }
            let backoff = retry_after.unwrap_or(self.config.retry_base * 2u32.pow(attempt - 1));
            if self.deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                return Err(format!("{err} (gave up at the flush deadline)"));
            }
            std::thread::sleep(backoff);
        }
    }
}

/// Gzips `data` (what every request body goes through when gzip is on).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;
    use std::sync::Mutex;

    /// A tiny HTTP/1.1 server on 127.0.0.1:0 answering `status` and recording bodies.
    fn server(status: u16) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    b.lock().unwrap().push(body);
                    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    use std::io::Write;
                    stream.write_all(resp.as_bytes()).unwrap();
                }
            }
        });
        (format!("http://{addr}/v2.1/track"), bodies)
    }

    fn gunzip(data: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(data)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn batches_are_json_arrays_gzipped_and_counted() {
        let (url, bodies) = server(200);
        let (exp, guard) = ExportBuilder::new("test", url)
            .with_batch_prefix(|| Some(b"0".to_vec()))
            .spawn()
            .unwrap();
        assert!(exp.try_send(b"1".to_vec()));
        assert!(exp.try_send(b"2".to_vec()));
        guard.flush(Duration::from_secs(5)).unwrap();
        assert_eq!(exp.sent(), 2);
        guard.shutdown(Duration::from_secs(5)).unwrap();
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(gunzip(&bodies[0]), "[0,1,2]");
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let (url, _) = server(200);
        let (exp, guard) = ExportBuilder::new("full", url)
            .with_queue_capacity(1)
            .spawn()
            .unwrap();
        // The worker may or may not have taken the first item yet; send many.
        let accepted = (0..1000).filter(|_| exp.try_send(b"1".to_vec())).count() as u64;
        assert_eq!(accepted + exp.dropped(), 1000);
        assert!(exp.dropped() > 0);
        guard.shutdown(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn failing_endpoint_is_reported_at_shutdown() {
        let (url, bodies) = server(400);
        let (exp, guard) = ExportBuilder::new("fail", url).spawn().unwrap();
        exp.try_send(b"1".to_vec());
        let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, ShutdownError::Export(_)), "{err}");
        assert_eq!(bodies.lock().unwrap().len(), 1, "400 is not retried");
    }

    #[test]
    fn retries_503_then_gives_up() {
        let (url, bodies) = server(503);
        let (exp, guard) = ExportBuilder::new("retry", url)
            .with_retries(3, Duration::from_millis(1))
            .spawn()
            .unwrap();
        exp.try_send(b"1".to_vec());
        assert!(guard.shutdown(Duration::from_secs(5)).is_err());
        assert_eq!(bodies.lock().unwrap().len(), 3);
    }

    #[test]
    fn drop_is_bounded_when_the_endpoint_is_down() {
        // A port nobody listens on: connection refused, retried, then given up.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (exp, guard) = ExportBuilder::new("down", format!("http://127.0.0.1:{port}/"))
            .with_retries(10, Duration::from_millis(500))
            .spawn()
            .unwrap();
        exp.try_send(b"1".to_vec());
        let t0 = Instant::now();
        drop(guard);
        assert!(t0.elapsed() < DROP_TIMEOUT + Duration::from_millis(500));
        // The application thread never blocks either.
        let t0 = Instant::now();
        for _ in 0..10_000 {
            exp.try_send(b"1".to_vec());
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn shutdown_stops_retrying_at_its_deadline() {
        let (url, bodies) = server(503);
        let (exp, guard) = ExportBuilder::new("deadline", url)
            .with_retries(10, Duration::from_millis(300))
            .spawn()
            .unwrap();
        exp.try_send(b"1".to_vec());
        let t0 = Instant::now();
        let err = guard.shutdown(Duration::from_secs(1)).unwrap_err();
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "{:?}",
            t0.elapsed()
        );
        assert!(matches!(err, ShutdownError::Export(_)), "{err}");
        assert!(bodies.lock().unwrap().len() < 10);
    }

    #[test]
    fn worker_thread_is_named() {
        let (url, _) = server(200);
        let (_exp, guard) = ExportBuilder::new("named", url).spawn().unwrap();
        assert_eq!(
            guard.thread.as_ref().unwrap().thread().name(),
            Some("tracing-insights-named")
        );
        guard.shutdown(Duration::from_secs(1)).unwrap();
    }
}
