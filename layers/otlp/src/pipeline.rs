//! OTLP on the shared export pipeline: one `tracing-insights-export` pipeline per enabled
//! signal, each with its encoder (protobuf or JSON, gzip), OTLP's answer classifier and an
//! HTTP or gRPC transport.
//!
//! An item is stored (batched, spooled) as the protobuf encoding of its own message: a
//! `Span`, a `ScopeLogs` holding one record under its event's target, or a `Metric`. A
//! batch is decoded back and wrapped in its `Export*ServiceRequest` with the resource known
//! when it is sent, so a batch replayed from the offline spool is as valid as a fresh one.

use crate::answers::OtlpAnswers;
use crate::config::{content_type, signal_name, Aggregation, Compression, Protocol, Signal};
use crate::convert::{self, Measurement};
use crate::limits::Limits;
use crate::metrics::Aggregator;
use crate::processor::{Processors, Telemetry, TelemetryKind};
use crate::tls::TlsFiles;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_insights_correlation::{FinishedSpan, SharedRecord};
use tracing_insights_export::encode::maybe_gzip;
use tracing_insights_export::redirect::mask_url;
use tracing_insights_export::transport::{HeaderNames, Unavailable};
use tracing_insights_export::{
    http_transport, Body, Encoder, ExportBuilder, ExportError, ExportGuard, Exporter,
    OfflineStorage, RequestAuth, Transport,
};

/// The instrumentation scope of spans and metrics.
pub(crate) const SCOPE: &str = "tracing-insights-otlp";
/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("tracing-insights-otlp/", env!("CARGO_PKG_VERSION"));

/// The largest span, log record or metric sent (protobuf bytes): spans and log records
/// over it have their values cut further until they fit (see [`Limits`]).
const MAX_ITEM_BYTES: usize = 1024 * 1024;
/// The default bound on one request body before compression: 4 MiB, what a collector's
/// gRPC server takes by default.
pub(crate) const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Room kept in every request for what wraps the batched items (resource, scope, framing).
const ENVELOPE_BYTES: usize = 64 * 1024;

/// An event to send as a log record, as the layer hands it over: the correlation layer's
/// shared record (a [`SharedRecord`] clone, converted to the `LogRecord` here on the worker), the ids
/// of the span it happened in and its target (its instrumentation scope).
pub(crate) struct LogItem {
    pub(crate) event:
        tracing_insights_correlation::SharedRecord<tracing_insights_correlation::FinishedEvent>,
    pub(crate) span_ctx: Option<tracing_insights_correlation::SpanContext>,
    pub(crate) target: std::borrow::Cow<'static, str>,
}

/// The resource every request carries: the correlation layer's once it is known, else the
/// builder's fallback.
#[derive(Debug)]
pub(crate) struct ResourceCell {
    adopted: OnceLock<ProtoResource>,
    fallback: ProtoResource,
}

impl ResourceCell {
    pub(crate) fn new(fallback: ProtoResource) -> Self {
        Self {
            adopted: OnceLock::new(),
            fallback,
        }
    }

    /// Takes `resource` unless one was adopted already (the first wins).
    pub(crate) fn adopt(&self, resource: impl FnOnce() -> ProtoResource) {
        if self.adopted.get().is_none() {
            let _ = self.adopted.set(resource());
        }
    }

    pub(crate) fn get(&self) -> ProtoResource {
        self.adopted.get().unwrap_or(&self.fallback).clone()
    }
}

/// One signal's destination.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) signal: Signal,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocol: Protocol,
    pub(crate) compression: Compression,
    pub(crate) timeout: Option<Duration>,
    pub(crate) tls: Arc<TlsFiles>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are secrets (API keys): names only.
        f.debug_struct("Endpoint")
            .field("signal", &self.signal)
            .field("url", &mask_url(&self.url))
            .field("headers", &HeaderNames(&self.headers))
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    /// A transport for this endpoint: HTTP through the export crate's client (reqwest or
    /// ureq, by feature) or, for `grpc`, gRPC.
    pub(crate) fn transport(&self) -> Result<Box<dyn Transport>, String> {
        #[cfg(feature = "grpc")]
        if self.protocol == Protocol::Grpc {
            return Ok(Box::new(crate::grpc::GrpcTransport::new(self)?));
        }
        http_transport(&self.tls.http_options(USER_AGENT))
    }

    fn gzip(&self) -> bool {
        self.compression == Compression::Gzip
    }

    /// The empty export request of this signal (the connectivity check's body).
    pub(crate) fn empty_body(&self) -> Result<Body, String> {
        match self.signal {
            Signal::Traces => body(self, &ExportTraceServiceRequest::default()),
            Signal::Logs => body(self, &ExportLogsServiceRequest::default()),
            Signal::Metrics => body(self, &ExportMetricsServiceRequest::default()),
        }
    }
}

/// Encodes a request for the endpoint's protocol and compression (gRPC compresses inside
/// its own framing, in the transport).
pub(crate) fn body<M>(ep: &Endpoint, msg: &M) -> Result<Body, String>
where
    M: Message + MaybeSerialize,
{
    Ok(match ep.protocol {
        Protocol::HttpProtobuf => {
            maybe_gzip(msg.encode_to_vec(), ep.gzip(), content_type(ep.protocol), 0)
        }
        Protocol::HttpJson => maybe_gzip(msg.to_json()?, ep.gzip(), content_type(ep.protocol), 0),
        Protocol::Grpc => Body {
            bytes: msg.encode_to_vec(),
            content_type: content_type(ep.protocol),
            content_encoding: None,
            leading: 0,
        },
    })
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

fn decode_all<M: Message + Default>(items: &[Vec<u8>]) -> Result<Vec<M>, String> {
    items
        .iter()
        .map(|i| M::decode(&i[..]).map_err(|e| format!("a stored item does not decode: {e}")))
        .collect()
}

/// A closed span as the layer hands it over: the correlation layer's shared record (a
/// clone, converted to the protobuf `Span` here on the worker), which carries the span
/// events this layer kept on it while it was open, under `key` (the correlation layer's
/// shared event records, converted here too).
pub(crate) struct SpanItem {
    pub(crate) span: SharedRecord<FinishedSpan>,
    /// This layer's key for the span events it kept on the span's `SpanData`.
    pub(crate) key: usize,
}

/// Spans.
pub(crate) struct TracesEncoder {
    ep: Endpoint,
    resource: Arc<ResourceCell>,
    limits: Limits,
    max_item: usize,
    processors: Arc<Processors>,
}

impl Encoder for TracesEncoder {
    type Item = SpanItem;

    // `prepare` cuts a span over the item limit until it fits.
    const CUTS_OVERSIZED: bool = true;

    // Counted against the queue's byte bound: the string values the span record and the
    // events collected for it hold (cut at the door).
    fn item_len(item: &SpanItem) -> Option<usize> {
        let record = item.span.record().held_bytes();
        // Most spans have no events: no iterator on the application's thread for them.
        if !item.span.has_kept_events() {
            return Some(record);
        }
        let events: usize = item
            .span
            .kept_events(item.key)
            .map(|e| e.held_bytes())
            .sum();
        Some(record + events)
    }

    fn prepare(&mut self, item: SpanItem) -> Option<Vec<u8>> {
        let mut span = crate::convert::span(&item.span);
        let dropped = item.span.kept_events_dropped(item.key);
        let mut events = item.span.kept_events(item.key).peekable();
        if events.peek().is_some() || dropped > 0 {
            // The events seen while the span was open come before its exception events.
            let mut events: Vec<_> = events.map(|e| crate::convert::span_event(e)).collect();
            events.append(&mut span.events);
            span.events = events;
            span.dropped_events_count = dropped;
        }
        // Processors see this exporter's own converted span, never the shared record.
        if !self.processors.is_empty() {
            let mut view = Telemetry::new(
                TelemetryKind::Span,
                Some(&span.name),
                &mut span.attributes,
                None,
            );
            if !self.processors.run(Signal::Traces, &mut view) {
                return None;
            }
        }
        self.limits.apply_span(&mut span, self.max_item);
        Some(span.encode_to_vec())
    }

    fn encode(&mut self, items: &[Vec<u8>]) -> Result<Body, String> {
        if self.ep.protocol == Protocol::HttpJson {
            let spans: Vec<Span> = decode_all(items)?;
            return body(&self.ep, &traces_request(self.resource.get(), spans));
        }
        // Protobuf: the stored spans are already the bytes of `Span` messages; only the
        // envelope around them is written.
        let raw = traces_request_bytes(&self.resource.get(), items);
        Ok(match self.ep.protocol {
            Protocol::Grpc => Body {
                bytes: raw,
                content_type: content_type(Protocol::Grpc),
                content_encoding: None,
                leading: 0,
            },
            p => maybe_gzip(raw, self.ep.gzip(), content_type(p), 0),
        })
    }
}

/// Log records.
pub(crate) struct LogsEncoder {
    ep: Endpoint,
    resource: Arc<ResourceCell>,
    limits: Limits,
    max_item: usize,
    processors: Arc<Processors>,
}

impl Encoder for LogsEncoder {
    type Item = LogItem;

    // `prepare` cuts a record over the item limit until it fits.
    const CUTS_OVERSIZED: bool = true;

    // Counted against the queue's byte bound: the event's string values (cut at the door).
    fn item_len(item: &LogItem) -> Option<usize> {
        Some(item.event.held_bytes() + item.target.len())
    }

    fn prepare(&mut self, item: LogItem) -> Option<Vec<u8>> {
        let LogItem {
            event,
            span_ctx,
            target,
        } = item;
        let mut record = convert::EventVisitor::of_fields(event.fields(), false).into_log(
            event.level(),
            event.time(),
            span_ctx,
        );
        if !self.processors.is_empty() {
            let mut view = Telemetry::new(
                TelemetryKind::Log,
                None,
                &mut record.attributes,
                Some(&mut record.body),
            );
            if !self.processors.run(Signal::Logs, &mut view) {
                return None;
            }
        }
        self.limits.apply_log(&mut record, self.max_item);
        let scope = ScopeLogs {
            scope: Some(convert::scope(&target)),
            log_records: vec![record],
            ..Default::default()
        };
        Some(scope.encode_to_vec())
    }

    fn encode(&mut self, items: &[Vec<u8>]) -> Result<Body, String> {
        let scopes: Vec<ScopeLogs> = decode_all(items)?;
        body(&self.ep, &logs_request(self.resource.get(), scopes))
    }
}

/// An event with metric fields as the layer hands it over: the correlation layer's shared
/// record (a clone), one queue item per event however many metric fields it has. Its
/// measurements and their attribute set are taken from it here on the worker.
pub(crate) type MetricItem =
    tracing_insights_correlation::SharedRecord<tracing_insights_correlation::FinishedEvent>;

/// Metric measurements, taken from the events' records and aggregated per attribute set on
/// the worker, collected every export interval.
pub(crate) struct MetricsEncoder {
    ep: Endpoint,
    resource: Arc<ResourceCell>,
    aggregator: Aggregator,
    processors: Arc<Processors>,
}

impl Encoder for MetricsEncoder {
    type Item = MetricItem;

    // An event is folded into aggregates, never stored as it is: the item limit does not
    // apply to it, and its size only counts against the queue's byte bound.
    const CUTS_OVERSIZED: bool = true;

    // Counted against the queue's byte bound: the event's string values (cut at the door).
    fn item_len(event: &MetricItem) -> Option<usize> {
        Some(event.held_bytes())
    }

    fn prepare(&mut self, event: MetricItem) -> Option<Vec<u8>> {
        let now = convert::unix_nanos(SystemTime::now());
        let mut fields = convert::EventVisitor::of_fields(event.fields(), true);
        let mut attributes = fields.metric_attributes();
        let last = fields.metrics.len().saturating_sub(1);
        for (i, (kind, name, value)) in fields.metrics.drain(..).enumerate() {
            let mut m = Measurement {
                kind,
                name: name.to_owned(),
                value,
                // Each measurement its own copy (a processor may change it); the last one
                // takes the set itself.
                attributes: if i == last {
                    std::mem::take(&mut attributes)
                } else {
                    attributes.clone()
                },
            };
            if !self.processors.is_empty()
                && !crate::processor::measurement(&self.processors, &mut m)
            {
                continue;
            }
            self.aggregator.record(m, now);
        }
        None
    }

    fn collect(&mut self) -> Vec<Vec<u8>> {
        self.aggregator
            .collect(convert::unix_nanos(SystemTime::now()))
            .into_iter()
            .map(|m| m.encode_to_vec())
            .collect()
    }

    fn encode(&mut self, items: &[Vec<u8>]) -> Result<Body, String> {
        let metrics: Vec<Metric> = decode_all(items)?;
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.get()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(convert::scope(SCOPE)),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        body(&self.ep, &req)
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

/// The protobuf encoding of [`traces_request`] for spans already encoded one by one:
/// `ExportTraceServiceRequest { resource_spans: [ResourceSpans { resource, scope_spans:
/// [ScopeSpans { scope, spans }] }] }`, written field by field (1 = resource_spans;
/// 1 = resource, 2 = scope_spans; 1 = scope, 2 = spans).
pub(crate) fn traces_request_bytes(resource: &ProtoResource, spans: &[Vec<u8>]) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
    fn field(tag: u32, len: usize, out: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(len as u64, out);
    }
    fn field_len(tag: u32, len: usize) -> usize {
        prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
    }
    let scope = convert::scope(SCOPE);
    let scope_len = scope.encoded_len();
    let scope_spans_len =
        field_len(1, scope_len) + spans.iter().map(|s| field_len(2, s.len())).sum::<usize>();
    let resource_len = resource.encoded_len();
    let resource_spans_len = field_len(1, resource_len) + field_len(2, scope_spans_len);
    let mut out = Vec::with_capacity(field_len(1, resource_spans_len));
    field(1, resource_spans_len, &mut out);
    field(1, resource_len, &mut out);
    out.extend_from_slice(&resource.encode_to_vec());
    field(2, scope_spans_len, &mut out);
    field(1, scope_len, &mut out);
    out.extend_from_slice(&scope.encode_to_vec());
    for s in spans {
        field(2, s.len(), &mut out);
        out.extend_from_slice(s);
    }
    out
}

/// Log records grouped by their event's target, which becomes the instrumentation scope (as
/// `opentelemetry-appender-tracing` does).
pub(crate) fn logs_request(
    resource: ProtoResource,
    items: Vec<ScopeLogs>,
) -> ExportLogsServiceRequest {
    let mut scopes: Vec<ScopeLogs> = Vec::new();
    for item in items {
        let name = item
            .scope
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        match scopes
            .iter_mut()
            .find(|s| s.scope.as_ref().is_some_and(|sc| sc.name == name))
        {
            Some(s) => s.log_records.extend(item.log_records),
            None => scopes.push(item),
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

/// The settings every signal's pipeline shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) name: String,
    pub(crate) span_limits: Limits,
    pub(crate) log_limits: Limits,
    /// The bound on one request body before compression.
    pub(crate) max_request_bytes: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch: usize,
    /// Batch delay of spans and of log records.
    pub(crate) delays: [Duration; 2],
    pub(crate) metric_interval: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) retry_base: Duration,
    pub(crate) temporality: Aggregation,
    pub(crate) bounds: HashMap<String, Vec<f64>>,
    pub(crate) storage: OfflineStorage,
    pub(crate) retry_interval: Option<Duration>,
    pub(crate) auth: Option<Arc<dyn RequestAuth>>,
    /// The telemetry processors, run in each encoder's `prepare` (on the worker).
    pub(crate) processors: Arc<Processors>,
}

/// The running pipelines, one per enabled signal.
#[derive(Default)]
pub(crate) struct Pipelines {
    pub(crate) traces: Option<(Exporter<SpanItem>, ExportGuard<SpanItem>)>,
    pub(crate) logs: Option<(Exporter<LogItem>, ExportGuard<LogItem>)>,
    pub(crate) metrics: Option<(Exporter<MetricItem>, ExportGuard<MetricItem>)>,
}

fn pipeline(s: &Settings, ep: &Endpoint, delay: Duration) -> ExportBuilder {
    let storage = match &s.storage {
        // The signals share the user's directory: each keeps its batches in its own.
        OfflineStorage::At(dir) => OfflineStorage::At(dir.join(signal_name(ep.signal))),
        other => other.clone(),
    };
    let mut b = ExportBuilder::new(
        format!("otlp-{}-{}", s.name, signal_name(ep.signal)),
        ep.url.clone(),
    )
    .with_queue_capacity(s.queue_capacity)
    .with_max_item_bytes(max_item_bytes(s, ep))
    .with_max_request_bytes(batch_bytes(s, ep))
    .with_max_batch(s.max_batch)
    .with_max_delay(delay)
    .with_request_timeout(ep.timeout.unwrap_or(Duration::ZERO))
    .with_retries(s.max_attempts, s.retry_base)
    .with_offline_storage(storage)
    .with_classifier(OtlpAnswers {
        signal: ep.signal,
        protocol: ep.protocol,
        auth: s.auth.is_some(),
    })
    // Only redirects to the same host: an OTLP endpoint has no domain list to trust.
    .with_redirect_suffixes(&[]);
    for (k, v) in &ep.headers {
        b = b.with_header(k.clone(), v.clone());
    }
    if let Some(auth) = &s.auth {
        b = b.with_auth(auth.clone());
    }
    if let Some(interval) = s.retry_interval {
        b = b.with_retry_interval(interval);
    }
    let ep = ep.clone();
    b.with_transport(move || {
        ep.transport()
            .unwrap_or_else(|e| Box::new(Unavailable(e)) as Box<dyn Transport>)
    })
}

/// How much larger OTLP/JSON is than the protobuf bytes items are stored as, at most:
/// hex ids, quoted 64-bit integers and field names cost up to about three times the
/// protobuf size of small attributes (long strings cost the same in both).
const JSON_GROWTH: usize = 3;

/// The bytes of stored items one request may carry: the request bound less the envelope
/// (for `http/json`, divided by how much larger JSON can be).
fn batch_bytes(s: &Settings, ep: &Endpoint) -> usize {
    let room = s.max_request_bytes.saturating_sub(ENVELOPE_BYTES);
    let room = if ep.protocol == Protocol::HttpJson {
        room / JSON_GROWTH
    } else {
        room
    };
    room.max(1024)
}

/// The largest stored item: no larger than a request's share for items.
fn max_item_bytes(s: &Settings, ep: &Endpoint) -> usize {
    MAX_ITEM_BYTES.min(batch_bytes(s, ep))
}

/// Starts one pipeline per endpoint.
pub(crate) fn spawn(
    s: &Settings,
    endpoints: &[Endpoint],
    resource: &Arc<ResourceCell>,
) -> Result<Pipelines, ExportError> {
    let mut p = Pipelines::default();
    for ep in endpoints {
        let resource = resource.clone();
        match ep.signal {
            Signal::Traces => {
                let enc = TracesEncoder {
                    ep: ep.clone(),
                    resource,
                    limits: s.span_limits,
                    // The item's own framing inside the request (tag and length).
                    max_item: max_item_bytes(s, ep) - 16,
                    processors: s.processors.clone(),
                };
                p.traces = Some(pipeline(s, ep, s.delays[0]).spawn_with(enc)?);
            }
            Signal::Logs => {
                let enc = LogsEncoder {
                    ep: ep.clone(),
                    resource,
                    limits: s.log_limits,
                    // The scope and framing around the record.
                    max_item: max_item_bytes(s, ep) - 1024,
                    processors: s.processors.clone(),
                };
                p.logs = Some(pipeline(s, ep, s.delays[1]).spawn_with(enc)?);
            }
            Signal::Metrics => {
                let enc = MetricsEncoder {
                    ep: ep.clone(),
                    resource,
                    aggregator: Aggregator::new(
                        s.temporality,
                        s.bounds.clone(),
                        convert::unix_nanos(SystemTime::now()),
                    ),
                    processors: s.processors.clone(),
                };
                p.metrics = Some(
                    pipeline(s, ep, s.metric_interval)
                        .with_collect_interval(s.metric_interval)
                        .spawn_with(enc)?,
                );
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_bytes_wrapped_by_hand_equal_prosts_encoding() {
        let resource =
            convert::resource(&tracing_insights_correlation::Resource::from_attributes([
                ("service.name", "svc"),
            ]));
        let spans: Vec<Span> = (0..3u8)
            .map(|i| Span {
                trace_id: vec![i; 16],
                span_id: vec![i; 8],
                name: format!("span {i}"),
                ..Default::default()
            })
            .collect();
        let items: Vec<Vec<u8>> = spans.iter().map(Message::encode_to_vec).collect();
        assert_eq!(
            traces_request_bytes(&resource, &items),
            traces_request(resource.clone(), spans).encode_to_vec()
        );
        assert_eq!(
            traces_request_bytes(&resource, &[]),
            traces_request(resource, Vec::new()).encode_to_vec()
        );
    }
}
