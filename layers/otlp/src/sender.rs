//! The OTLP sender: a bounded queue the layer feeds with `try_send`, a named worker thread
//! under `NoSubscriber` that batches per signal, encodes (protobuf or JSON), gzips and POSTs
//! with retries on OTLP's retryable answers, and a guard that flushes and stops it.
//!
//! This duplicates the shape of `tracing_insights_export` (whose batches are JSON arrays of
//! opaque items, which cannot carry protobuf or an OTLP/JSON request); only its `gzip` is
//! reused. Fold it into the export crate once that crate can take a per-batch encoder.

use crate::config::{mask_userinfo, Compression, Protocol, Signal, Temporality};
use crate::convert::{self, Measurement};
use crate::metrics::Aggregator;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The instrumentation scope of spans and metrics.
pub(crate) const SCOPE: &str = "tracing-insights-otlp";
/// How long `Drop` of the guard waits for the final flush.
const DROP_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a `Retry-After` is honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// One signal's destination.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) signal: Signal,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocol: Protocol,
    pub(crate) compression: Compression,
    pub(crate) timeout: Option<Duration>,
    pub(crate) agent: ureq::Agent,
    #[cfg(feature = "grpc")]
    pub(crate) grpc: Option<Arc<std::sync::Mutex<crate::grpc::GrpcClient>>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are secrets (API keys): names only.
        f.debug_struct("Endpoint")
            .field("signal", &self.signal)
            .field("url", &mask_userinfo(&self.url))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    pub(crate) fn agent_for(
        timeout: Option<Duration>,
        tls: Option<ureq::tls::TlsConfig>,
    ) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder();
        if let Some(tls) = tls {
            config = config.tls_config(tls);
        }
        config
            .timeout_global(timeout)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("tracing-insights-otlp/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }
}

/// What goes through the queue.
pub(crate) enum Msg {
    Span(Box<Span>),
    Log(Box<(&'static str, LogRecord)>),
    Metric(Box<Measurement>),
    Flush(mpsc::SyncSender<Result<(), String>>),
    Shutdown(mpsc::SyncSender<Result<(), String>>),
}

/// Counters shared by the layer, the guard and the worker.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) queued: AtomicUsize,
    pub(crate) dropped: AtomicU64,
    pub(crate) exported: [AtomicU64; 3],
    pub(crate) failed: [AtomicU64; 3],
    pub(crate) rejected: AtomicU64,
    warned_full: AtomicBool,
}

/// The layer's side of the queue: never blocks.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    tx: Sender<Msg>,
    pub(crate) stats: Arc<Stats>,
    capacity: usize,
    name: Arc<str>,
}

impl Queue {
    /// Queues `msg`, or drops and counts it when the queue is full or the worker gone.
    pub(crate) fn try_send(&self, msg: Msg) -> bool {
        let before = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        if before >= self.capacity || self.tx.send(msg).is_err() {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.stats.warned_full.swap(true, Ordering::Relaxed) {
                // Our own diagnostics never go through `tracing` (no telemetry loops).
                eprintln!(
                    "[tracing-insights] otlp {}: export queue full or closed: dropping telemetry (counted in OtlpGuard::dropped)",
                    self.name
                );
            }
            return false;
        }
        true
    }
}

/// The worker's settings.
#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub(crate) name: String,
    pub(crate) endpoints: [Option<Endpoint>; 3],
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    /// Batch delay per signal (traces, logs); metrics use `metric_interval`.
    pub(crate) delays: [Duration; 2],
    pub(crate) metric_interval: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) retry_base: Duration,
    pub(crate) temporality: Temporality,
    pub(crate) bounds: HashMap<String, Vec<f64>>,
    pub(crate) fallback_resource: ProtoResource,
}

/// Starts the worker; returns the queue and the guard's parts.
pub(crate) fn spawn(
    config: WorkerConfig,
    resource: Arc<OnceLock<ProtoResource>>,
) -> Result<(Queue, Handle), std::io::Error> {
    let (tx, rx) = mpsc::channel();
    let stats = Arc::new(Stats::default());
    let name: Arc<str> = Arc::from(config.name.as_str());
    let endpoints = config.endpoints.clone();
    let capacity = config.queue_capacity.max(1);
    let worker = Worker {
        rx,
        stats: stats.clone(),
        traces: Vec::new(),
        logs: Vec::new(),
        started: [None, None],
        aggregator: Aggregator::new(
            config.temporality,
            config.bounds.clone(),
            convert::unix_nanos(SystemTime::now()),
        ),
        next_collect: Instant::now() + config.metric_interval,
        resource,
        config,
    };
    let thread = std::thread::Builder::new()
        .name(format!("tracing-insights-otlp-{name}"))
        .spawn(move || worker.run())?;
    let queue = Queue {
        tx: tx.clone(),
        stats: stats.clone(),
        capacity,
        name: name.clone(),
    };
    Ok((
        queue,
        Handle {
            tx,
            stats,
            thread: Some(thread),
            name,
            endpoints,
        },
    ))
}

/// The guard's parts.
pub(crate) struct Handle {
    tx: Sender<Msg>,
    pub(crate) stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
    pub(crate) name: Arc<str>,
    pub(crate) endpoints: [Option<Endpoint>; 3],
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn control(
    tx: &Sender<Msg>,
    make: impl FnOnce(mpsc::SyncSender<Result<(), String>>) -> Msg,
    timeout: Duration,
) -> Result<(), crate::ShutdownError> {
    let (ack_tx, ack_rx) = mpsc::sync_channel(1);
    tx.send(make(ack_tx))
        .map_err(|_| crate::ShutdownError::WorkerGone)?;
    match ack_rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(crate::ShutdownError::Export(e)),
        Err(RecvTimeoutError::Timeout) => Err(crate::ShutdownError::Timeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(crate::ShutdownError::WorkerGone),
    }
}

impl Handle {
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), crate::ShutdownError> {
        if self.thread.is_none() {
            return Ok(());
        }
        control(&self.tx, Msg::Flush, timeout)
    }

    pub(crate) fn stop(&mut self, timeout: Duration) -> Result<(), crate::ShutdownError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let result = control(&self.tx, Msg::Shutdown, timeout);
        if result.is_ok() {
            let _ = thread.join();
        }
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            eprintln!(
                "[tracing-insights] otlp {}: {dropped} telemetry items were dropped (queue full)",
                self.name
            );
        }
        result?;
        let failed: u64 = self
            .stats
            .failed
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum();
        if failed > 0 {
            return Err(crate::ShutdownError::Export(format!(
                "{failed} items could not be delivered"
            )));
        }
        Ok(())
    }

    pub(crate) fn is_running(&self) -> bool {
        self.thread.is_some()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.stop(DROP_TIMEOUT) {
                eprintln!(
                    "[tracing-insights] otlp {}: shutdown on drop: {e}",
                    self.name
                );
            }
        }
    }
}

struct Worker {
    rx: Receiver<Msg>,
    stats: Arc<Stats>,
    config: WorkerConfig,
    traces: Vec<Span>,
    logs: Vec<(&'static str, LogRecord)>,
    started: [Option<Instant>; 2],
    aggregator: Aggregator,
    next_collect: Instant,
    resource: Arc<OnceLock<ProtoResource>>,
}

impl Worker {
    fn run(self) {
        // Nothing this thread does (ureq, h2, our own code, dropping the worker's state at
        // the end) may become telemetry.
        let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        self.run_loop();
    }

    fn run_loop(mut self) {
        let metrics_on = self.config.endpoints[Signal::Metrics.index()].is_some();
        loop {
            let mut deadline: Option<Instant> = None;
            for (i, started) in self.started.iter().enumerate() {
                if let Some(s) = started {
                    let d = *s + self.config.delays[i];
                    deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
                }
            }
            if metrics_on {
                deadline = Some(deadline.map_or(self.next_collect, |x| x.min(self.next_collect)));
            }
            let msg = match deadline {
                Some(d) => match self
                    .rx
                    .recv_timeout(d.saturating_duration_since(Instant::now()))
                {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        let _ = self.export_all(true);
                        return;
                    }
                },
                None => match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            };
            match msg {
                None => self.on_timer(),
                Some(Msg::Flush(ack)) => {
                    let r = self.export_all(false);
                    let _ = ack.try_send(r);
                }
                Some(Msg::Shutdown(ack)) => {
                    while let Ok(m) = self.rx.try_recv() {
                        match m {
                            Msg::Flush(a) | Msg::Shutdown(a) => {
                                let _ = a.try_send(Ok(()));
                            }
                            item => self.take(item),
                        }
                    }
                    let r = self.export_all(true);
                    let _ = ack.try_send(r);
                    return;
                }
                Some(item) => self.take(item),
            }
        }
    }

    fn take(&mut self, msg: Msg) {
        self.stats.queued.fetch_sub(1, Ordering::AcqRel);
        let now = Instant::now();
        match msg {
            Msg::Span(span) => {
                self.traces.push(*span);
                self.started[0].get_or_insert(now);
                if self.traces.len() >= self.config.max_batch {
                    let _ = self.export_traces();
                }
            }
            Msg::Log(log) => {
                self.logs.push(*log);
                self.started[1].get_or_insert(now);
                if self.logs.len() >= self.config.max_batch {
                    let _ = self.export_logs();
                }
            }
            Msg::Metric(m) => self
                .aggregator
                .record(*m, convert::unix_nanos(SystemTime::now())),
            Msg::Flush(_) | Msg::Shutdown(_) => {}
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.started[0].is_some_and(|s| now >= s + self.config.delays[0]) {
            let _ = self.export_traces();
        }
        if self.started[1].is_some_and(|s| now >= s + self.config.delays[1]) {
            let _ = self.export_logs();
        }
        if now >= self.next_collect {
            let _ = self.export_metrics();
        }
    }

    fn export_all(&mut self, _final: bool) -> Result<(), String> {
        let results = [
            self.export_traces(),
            self.export_logs(),
            self.export_metrics(),
        ];
        let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn resource(&self) -> ProtoResource {
        self.resource
            .get()
            .cloned()
            .unwrap_or_else(|| self.config.fallback_resource.clone())
    }

    fn export_traces(&mut self) -> Result<(), String> {
        self.started[0] = None;
        if self.traces.is_empty() {
            return Ok(());
        }
        let spans = std::mem::take(&mut self.traces);
        let Some(ep) = self.config.endpoints[0].clone() else {
            return Ok(());
        };
        let mut result = Ok(());
        let mut spans = spans.into_iter().peekable();
        while spans.peek().is_some() {
            let chunk: Vec<Span> = spans.by_ref().take(self.config.max_batch).collect();
            let n = chunk.len() as u64;
            let req = traces_request(self.resource(), chunk);
            let r = encode(&ep, &req).and_then(|body| {
                self.post(&ep, body).map(|resp| {
                    if let Some((rejected, msg)) = partial_traces(&ep, &resp) {
                        self.note_rejected(&ep, rejected, &msg);
                    }
                })
            });
            self.count(&ep, n, r, &mut result);
        }
        result
    }

    fn export_logs(&mut self) -> Result<(), String> {
        self.started[1] = None;
        if self.logs.is_empty() {
            return Ok(());
        }
        let logs = std::mem::take(&mut self.logs);
        let Some(ep) = self.config.endpoints[1].clone() else {
            return Ok(());
        };
        let mut result = Ok(());
        let mut logs = logs.into_iter().peekable();
        while logs.peek().is_some() {
            let chunk: Vec<_> = logs.by_ref().take(self.config.max_batch).collect();
            let n = chunk.len() as u64;
            let req = logs_request(self.resource(), chunk);
            let r = encode(&ep, &req).and_then(|body| {
                self.post(&ep, body).map(|resp| {
                    if let Some((rejected, msg)) = partial_logs(&ep, &resp) {
                        self.note_rejected(&ep, rejected, &msg);
                    }
                })
            });
            self.count(&ep, n, r, &mut result);
        }
        result
    }

    fn export_metrics(&mut self) -> Result<(), String> {
        self.next_collect = Instant::now() + self.config.metric_interval;
        let Some(ep) = self.config.endpoints[2].clone() else {
            return Ok(());
        };
        let metrics = self
            .aggregator
            .collect(convert::unix_nanos(SystemTime::now()));
        if metrics.is_empty() {
            return Ok(());
        }
        let n = metrics.len() as u64;
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(convert::scope(SCOPE)),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let r = encode(&ep, &req).and_then(|body| {
            self.post(&ep, body).map(|resp| {
                if let Some((rejected, msg)) = partial_metrics(&ep, &resp) {
                    self.note_rejected(&ep, rejected, &msg);
                }
            })
        });
        let mut result = Ok(());
        self.count(&ep, n, r, &mut result);
        result
    }

    fn count(&self, ep: &Endpoint, n: u64, r: Result<(), String>, result: &mut Result<(), String>) {
        let i = ep.signal.index();
        match r {
            Ok(()) => {
                self.stats.exported[i].fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.failed[i].fetch_add(n, Ordering::Relaxed);
                eprintln!("[tracing-insights] otlp {}: {e}", self.config.name);
                *result = Err(e);
            }
        }
    }

    fn note_rejected(&self, ep: &Endpoint, rejected: i64, message: &str) {
        if rejected > 0 {
            self.stats
                .rejected
                .fetch_add(rejected as u64, Ordering::Relaxed);
        }
        eprintln!(
            "[tracing-insights] otlp {}: {} partially rejected by {} ({rejected} rejected): {message}",
            self.config.name,
            ep.signal,
            mask_userinfo(&ep.url)
        );
    }

    fn post(&self, ep: &Endpoint, body: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (retryable, retry_after, err) = match send_once(ep, &body) {
                Ok(answer) if answer.ok => return Ok(answer.body),
                Ok(answer) => (
                    answer.retryable,
                    answer.retry_after,
                    format!(
                        "{}: {} from {}",
                        ep.signal,
                        answer.words,
                        mask_userinfo(&ep.url)
                    ),
                ),
                Err(e) => (true, None, e),
            };
            if !retryable || attempt >= self.config.max_attempts {
                return Err(err);
            }
            let backoff = retry_after.unwrap_or_else(|| {
                let base = self.config.retry_base * 2u32.saturating_pow(attempt - 1);
                // Up to 25 % jitter, from the clock's nanoseconds (no RNG dependency).
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
            });
            std::thread::sleep(backoff.min(MAX_RETRY_AFTER));
        }
    }
}

/// What one export request got back.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Delivered (2xx; gRPC status OK).
    pub(crate) ok: bool,
    /// One of OTLP's retryable answers.
    pub(crate) retryable: bool,
    /// `Retry-After`, when given (capped at 30 s).
    pub(crate) retry_after: Option<Duration>,
    /// The HTTP status (gRPC errors come with 200).
    pub(crate) status: u16,
    /// The answer in words, with a hint.
    pub(crate) words: String,
    /// The response body (the `Export*ServiceResponse` when protobuf or gRPC).
    pub(crate) body: Vec<u8>,
}

/// One request: an [`Answer`], or a transport error in words.
pub(crate) fn send_once(ep: &Endpoint, body: &[u8]) -> Result<Answer, String> {
    #[cfg(feature = "grpc")]
    if let Some(client) = &ep.grpc {
        let mut client = client
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let a = client
            .call(
                crate::grpc::method_path(ep.signal),
                body,
                ep.compression == Compression::Gzip,
                &ep.headers,
                ep.timeout,
            )
            .map_err(|e| format!("{}: {e}", ep.signal))?;
        let words = if a.code == 0 {
            format!("gRPC status 0 OK (HTTP {})", a.http_status)
        } else {
            let hint = match a.code {
                12 => " (this server does not offer the OTLP service for this signal)",
                16 | 7 => " (check the authentication headers)",
                _ if crate::grpc::retryable(a.code) => " (retryable)",
                _ => "",
            };
            let msg = if a.message.is_empty() {
                String::new()
            } else {
                format!(": {}", a.message)
            };
            format!(
                "gRPC status {} {}{msg}{hint}",
                a.code,
                crate::grpc::code_name(a.code)
            )
        };
        return Ok(Answer {
            ok: a.code == 0,
            retryable: crate::grpc::retryable(a.code),
            retry_after: None,
            status: a.http_status,
            words,
            body: a.body,
        });
    }
    let mut req = ep
        .agent
        .post(&ep.url)
        .header("Content-Type", ep.protocol.content_type());
    for (k, v) in &ep.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if ep.compression == Compression::Gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    match req.send(body) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
                .map(|d| d.min(MAX_RETRY_AFTER));
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()
                .unwrap_or_default();
            Ok(Answer {
                ok: (200..300).contains(&status),
                retryable: matches!(status, 429 | 502 | 503 | 504),
                retry_after,
                status,
                words: status_words(status),
                body,
            })
        }
        Err(e) => Err(format!(
            "{}: request to {} failed: {e}",
            ep.signal,
            mask_userinfo(&ep.url)
        )),
    }
}

/// An HTTP status in words, with a hint for the usual mistakes.
pub(crate) fn status_words(status: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let hint = match status {
        200..=299 => "",
        301 | 302 | 303 | 307 | 308 => {
            " (a redirect: set the endpoint to the URL it points to; redirects are not followed)"
        }
        400 => " (the receiver could not decode the request: check the protocol)",
        401 | 403 => " (check the authentication headers)",
        404 => " (wrong path? a signal endpoint is used exactly as given, while OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/<signal> appended)",
        405 => " (the receiver does not accept this signal here)",
        413 => " (the batch is too large: lower the batch size)",
        415 => " (the receiver does not accept this content type: try http/protobuf)",
        429 | 502 | 503 | 504 => " (retryable)",
        _ => "",
    };
    format!("HTTP {status} {reason}{hint}").replace("  ", " ")
}

/// Encodes a request for the endpoint's protocol and compression.
pub(crate) fn encode<M>(ep: &Endpoint, msg: &M) -> Result<Vec<u8>, String>
where
    M: prost::Message + MaybeSerialize,
{
    let raw = match ep.protocol {
        Protocol::HttpProtobuf => msg.encode_to_vec(),
        Protocol::HttpJson => msg.to_json()?,
        // gRPC compresses inside its own framing.
        Protocol::Grpc => return Ok(msg.encode_to_vec()),
    };
    match ep.compression {
        Compression::Gzip => {
            tracing_insights_export::gzip(&raw).map_err(|e| format!("gzip failed: {e}"))
        }
        Compression::None => Ok(raw),
    }
}

/// JSON encoding, when the `http-json` feature is on.
pub(crate) trait MaybeSerialize {
    fn to_json(&self) -> Result<Vec<u8>, String>;
}

#[cfg(feature = "http-json")]
impl<T: serde::Serialize> MaybeSerialize for T {
    fn to_json(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| format!("JSON encoding failed: {e}"))
    }
}

#[cfg(not(feature = "http-json"))]
impl<T> MaybeSerialize for T {
    fn to_json(&self) -> Result<Vec<u8>, String> {
        Err("http/json needs the `http-json` cargo feature".into())
    }
}

pub(crate) fn traces_request(
    resource: ProtoResource,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(convert::scope(SCOPE)),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Log records grouped by their event's target, which becomes the instrumentation scope (as
/// `opentelemetry-appender-tracing` does).
pub(crate) fn logs_request(
    resource: ProtoResource,
    logs: Vec<(&'static str, LogRecord)>,
) -> ExportLogsServiceRequest {
    let mut scopes: Vec<ScopeLogs> = Vec::new();
    for (target, record) in logs {
        match scopes
            .iter_mut()
            .find(|s| s.scope.as_ref().is_some_and(|sc| sc.name == target))
        {
            Some(s) => s.log_records.push(record),
            None => scopes.push(ScopeLogs {
                scope: Some(convert::scope(target)),
                log_records: vec![record],
                ..Default::default()
            }),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: scopes,
            ..Default::default()
        }],
    }
}

fn partial_traces(ep: &Endpoint, body: &[u8]) -> Option<(i64, String)> {
    if ep.protocol == Protocol::HttpJson || body.is_empty() {
        return None;
    }
    let p = ExportTraceServiceResponse::decode(body)
        .ok()?
        .partial_success?;
    (p.rejected_spans > 0 || !p.error_message.is_empty())
        .then_some((p.rejected_spans, p.error_message))
}

fn partial_logs(ep: &Endpoint, body: &[u8]) -> Option<(i64, String)> {
    if ep.protocol == Protocol::HttpJson || body.is_empty() {
        return None;
    }
    let p = ExportLogsServiceResponse::decode(body)
        .ok()?
        .partial_success?;
    (p.rejected_log_records > 0 || !p.error_message.is_empty())
        .then_some((p.rejected_log_records, p.error_message))
}

fn partial_metrics(ep: &Endpoint, body: &[u8]) -> Option<(i64, String)> {
    if ep.protocol == Protocol::HttpJson || body.is_empty() {
        return None;
    }
    let p = ExportMetricsServiceResponse::decode(body)
        .ok()?
        .partial_success?;
    (p.rejected_data_points > 0 || !p.error_message.is_empty())
        .then_some((p.rejected_data_points, p.error_message))
}

/// `Retry-After`: delay-seconds, or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) from
/// which the wait until then is taken (zero if it has passed).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = tracing_insights_export::answer::parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Foo 1994 08:49:47 GMT", now),
            None
        );
    }
}
