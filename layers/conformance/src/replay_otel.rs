//! Replays one scenario through the OpenTelemetry SDK (`opentelemetry_sdk` 0.33): tracer,
//! logger and meter providers with `tracing-insights-opentelemetry`'s `AppInsightsExporter`,
//! exporting to the loopback receiver. Ids come from a scripted SDK id generator, times are
//! given explicitly (start/end/event/log timestamps), so nothing here bypasses the SDK.
//!
//! Conventions where the SDK differs from the scenario format (see README.md):
//! - a map log body: Python-style JSON text (the Rust API's `AnyValue::Map` is a hash map
//!   and would lose the key order the recording has);
//! - arrays of mixed types and maps as attribute values: JSON text (the Rust API has
//!   homogeneous arrays only); homogeneous arrays are native arrays;
//! - integers above `i64::MAX`: floats (the API has no unsigned integers);
//! - observable instruments: an observable gauge reporting each attribute set's last value
//!   (one collection, as the tracing path).

use crate::ordered::J;
use crate::replay::IKEY;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{IdGenerator, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing_insights_opentelemetry::AppInsightsExporter;

const DEFAULT_SCOPE: &str = "oracle.app";

/// What the replay used from outside the OpenTelemetry SDK, for the report.
pub(crate) const BYPASSES: &[&str] =
    &["none: ids from a scripted SDK IdGenerator, every time given to the SDK API"];

/// The SDK id generator: the scenario's ids in the order spans start.
#[derive(Debug, Default, Clone)]
struct ScriptedIds {
    traces: Arc<Mutex<VecDeque<opentelemetry::trace::TraceId>>>,
    spans: Arc<Mutex<VecDeque<opentelemetry::trace::SpanId>>>,
}

impl IdGenerator for ScriptedIds {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        let next = self.traces.lock().ok().and_then(|mut q| q.pop_front());
        next.unwrap_or(TraceId::from(0x1234u128))
    }
    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        let next = self.spans.lock().ok().and_then(|mut q| q.pop_front());
        next.unwrap_or(opentelemetry::trace::SpanId::from(0x1234u64))
    }
}

fn at(base: SystemTime, ms: f64) -> SystemTime {
    base + Duration::from_nanos((ms * 1_000_000.0).round().max(0.0) as u64)
}

/// A scenario value as an OpenTelemetry attribute value; `None` for null.
fn value(v: &J) -> Option<Value> {
    Some(match v {
        J::Null => return None,
        J::Bool(b) => Value::Bool(*b),
        J::I64(i) => Value::I64(*i),
        J::U64(u) => match i64::try_from(*u) {
            Ok(i) => Value::I64(i),
            Err(_) => Value::F64(*u as f64),
        },
        J::F64(f) => Value::F64(*f),
        J::Str(s) => Value::String(s.clone().into()),
        J::Arr(items) => array(items).unwrap_or_else(|| Value::String(json_text(v).into())),
        J::Obj(_) => Value::String(json_text(v).into()),
    })
}

/// A homogeneous array as a native array.
fn array(items: &[J]) -> Option<Value> {
    if items.iter().all(|i| matches!(i, J::Str(_))) {
        let v: Vec<StringValue> = items
            .iter()
            .filter_map(|i| i.str().map(|s| s.to_owned().into()))
            .collect();
        return Some(Value::Array(Array::String(v)));
    }
    if items.iter().all(|i| matches!(i, J::Bool(_))) {
        let v = items.iter().map(|i| matches!(i, J::Bool(true))).collect();
        return Some(Value::Array(Array::Bool(v)));
    }
    if items.iter().all(|i| matches!(i, J::I64(_))) {
        let v = items
            .iter()
            .filter_map(|i| match i {
                J::I64(x) => Some(*x),
                _ => None,
            })
            .collect();
        return Some(Value::Array(Array::I64(v)));
    }
    if items.iter().all(|i| matches!(i, J::F64(_))) {
        let v = items.iter().filter_map(J::f64).collect();
        return Some(Value::Array(Array::F64(v)));
    }
    None
}

/// Arrays and maps as compact JSON text (the tracing path's convention).
fn json_text(v: &J) -> String {
    match v {
        J::Arr(items) => format!(
            "[{}]",
            items.iter().map(json_text).collect::<Vec<_>>().join(",")
        ),
        J::Obj(items) => format!(
            "{{{}}}",
            items
                .iter()
                .map(|(k, v)| format!(
                    "{}:{}",
                    serde_json::to_string(k).unwrap_or_default(),
                    json_text(v)
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_python_json(),
    }
}

fn attributes(j: Option<&J>) -> Vec<KeyValue> {
    j.map(J::obj)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some(KeyValue::new(k.clone(), value(v)?)))
        .collect()
}

fn scope_of(j: &J) -> InstrumentationScope {
    let scope = j.get("scope");
    let name = scope
        .and_then(|s| s.get("name"))
        .and_then(J::str)
        .unwrap_or(DEFAULT_SCOPE)
        .to_owned();
    let mut b = InstrumentationScope::builder(name);
    if let Some(v) = scope.and_then(|s| s.get("version")).and_then(J::str) {
        b = b.with_version(v.to_owned());
    }
    b.build()
}

fn python_str(v: &J) -> String {
    match v {
        J::Str(s) => s.clone(),
        J::Bool(true) => "True".into(),
        J::Bool(false) => "False".into(),
        other => other.to_python_json(),
    }
}

fn span_kind(k: Option<&str>) -> SpanKind {
    match k {
        Some("server") => SpanKind::Server,
        Some("client") => SpanKind::Client,
        Some("producer") => SpanKind::Producer,
        Some("consumer") => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

fn severity(n: i64) -> Option<Severity> {
    use Severity::*;
    const ALL: [Severity; 24] = [
        Trace, Trace2, Trace3, Trace4, Debug, Debug2, Debug3, Debug4, Info, Info2, Info3, Info4,
        Warn, Warn2, Warn3, Warn4, Error, Error2, Error3, Error4, Fatal, Fatal2, Fatal3, Fatal4,
    ];
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| ALL.get(i).copied())
}

enum Action<'a> {
    Start {
        span: &'a J,
        parent: Option<String>,
        trace: &'a J,
        first_root: bool,
    },
    Event {
        span_id: String,
        event: &'a J,
    },
    Log {
        log: &'a J,
    },
    End {
        span_id: String,
        end: f64,
    },
}

type Timeline<'a> = Vec<(f64, u8, i64, usize, Action<'a>)>;

fn walk<'a>(
    span: &'a J,
    parent: Option<String>,
    trace: &'a J,
    first_root: bool,
    depth: i64,
    actions: &mut Timeline<'a>,
    seq: &mut usize,
) {
    let id = span
        .get("span_id")
        .and_then(J::str)
        .unwrap_or_default()
        .to_owned();
    let start = span.get("start_ms").and_then(J::f64).unwrap_or(0.0);
    let end = span.get("end_ms").and_then(J::f64).unwrap_or(start);
    *seq += 1;
    actions.push((
        start,
        0,
        depth,
        *seq,
        Action::Start {
            span,
            parent,
            trace,
            first_root,
        },
    ));
    for ev in span.get("events").map(J::arr).unwrap_or_default() {
        *seq += 1;
        let t = ev.get("time_ms").and_then(J::f64).unwrap_or(start);
        actions.push((
            t,
            1,
            0,
            *seq,
            Action::Event {
                span_id: id.clone(),
                event: ev,
            },
        ));
    }
    for child in span.get("children").map(J::arr).unwrap_or_default() {
        walk(
            child,
            Some(id.clone()),
            trace,
            false,
            depth + 1,
            actions,
            seq,
        );
    }
    *seq += 1;
    actions.push((end, 2, -depth, *seq, Action::End { span_id: id, end }));
}

/// Runs `scenario` through the SDK providers and shuts the exporter's pipeline down.
pub(crate) fn run(scenario: &J, port: u16, base: SystemTime) -> Result<(), String> {
    let mut attrs: Vec<KeyValue> = scenario
        .get("resource")
        .map(|r| {
            r.obj()
                .iter()
                .filter(|(_, v)| *v != J::Null)
                .map(|(k, v)| KeyValue::new(k.clone(), python_str(v)))
                .collect()
        })
        .unwrap_or_default();
    if !attrs.iter().any(|kv| kv.key.as_str() == "service.name") {
        attrs.push(KeyValue::new("service.name", "unknown_service"));
    }
    let resource = Resource::builder_empty().with_attributes(attrs).build();
    let builder = AppInsightsExporter::builder()
        .with_connection_string(format!(
            "InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_metric_interval(Duration::from_secs(3600))
        .with_max_batch(100_000)
        .with_queue_capacity(100_000)
        .with_batch_delay(Duration::from_secs(600));
    let (exporter, guard) = AppInsightsExporter::build(builder).map_err(|e| e.to_string())?;
    let ids = ScriptedIds::default();
    let tracers = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_id_generator(ids.clone())
        .with_max_attributes_per_span(100_000)
        .with_max_events_per_span(100_000)
        .with_max_links_per_span(100_000)
        .with_max_attributes_per_event(100_000)
        .with_max_attributes_per_link(100_000)
        .with_simple_exporter(exporter.clone())
        .build();
    let loggers = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(exporter.clone())
        .build();
    let meters = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(exporter)
        .build();

    let mut actions: Timeline<'_> = Vec::new();
    let mut seq = 0usize;
    for trace in scenario.get("traces").map(J::arr).unwrap_or_default() {
        for (i, span) in trace
            .get("spans")
            .map(J::arr)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            walk(span, None, trace, i == 0, 0, &mut actions, &mut seq);
        }
    }
    for log in scenario.get("logs").map(J::arr).unwrap_or_default() {
        seq += 1;
        let t = log
            .get("time_ms")
            .or_else(|| log.get("observed_time_ms"))
            .and_then(J::f64)
            .unwrap_or(0.0);
        actions.push((t, 1, 0, seq, Action::Log { log }));
    }
    actions.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });

    let mut live: HashMap<String, Context> = HashMap::new();
    for (t, _, _, _, action) in &actions {
        match action {
            Action::Start {
                span,
                parent,
                trace,
                first_root,
            } => start_span(
                &tracers,
                &ids,
                base,
                *t,
                span,
                parent.as_deref(),
                trace,
                *first_root,
                &mut live,
            ),
            Action::Event { span_id, event } => {
                if let Some(cx) = live.get(span_id) {
                    let name = event
                        .get("name")
                        .and_then(J::str)
                        .unwrap_or("event")
                        .to_owned();
                    cx.span().add_event_with_timestamp(
                        name,
                        at(base, *t),
                        attributes(event.get("attributes")),
                    );
                }
            }
            Action::Log { log } => emit_log(&loggers, base, log, &live),
            Action::End { span_id, end } => {
                if let Some(cx) = live.remove(span_id) {
                    cx.span().end_with_timestamp(at(base, *end));
                }
            }
        }
    }
    record_metrics(&meters, scenario);
    let errors: Vec<String> = [
        tracers.shutdown().err(),
        loggers.shutdown().err(),
        meters.shutdown().err(),
    ]
    .into_iter()
    .flatten()
    .map(|e| e.to_string())
    .collect();
    guard
        .shutdown(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[allow(clippy::too_many_arguments)]
fn start_span(
    tracers: &SdkTracerProvider,
    ids: &ScriptedIds,
    base: SystemTime,
    t: f64,
    span: &J,
    parent: Option<&str>,
    trace: &J,
    first_root: bool,
    live: &mut HashMap<String, Context>,
) {
    let trace_hex = trace.get("trace_id").and_then(J::str).unwrap_or_default();
    let span_hex = span.get("span_id").and_then(J::str).unwrap_or_default();
    let trace_id = TraceId::from_hex(trace_hex).unwrap_or(TraceId::INVALID);
    let remote = trace
        .get("remote_parent_span_id")
        .and_then(J::str)
        .filter(|_| parent.is_none() && first_root)
        .and_then(|s| opentelemetry::trace::SpanId::from_hex(s).ok());
    let parent_cx = match (parent.and_then(|p| live.get(p)), remote) {
        (Some(cx), _) => cx.clone(),
        (None, Some(remote)) => Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            remote,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        (None, None) => {
            if let Ok(mut q) = ids.traces.lock() {
                q.push_back(trace_id);
            }
            Context::new()
        }
    };
    if let (Ok(mut q), Ok(s)) = (
        ids.spans.lock(),
        opentelemetry::trace::SpanId::from_hex(span_hex),
    ) {
        q.push_back(s);
    }
    let tracer = tracers.tracer_with_scope(scope_of(span));
    let links: Vec<Link> = span
        .get("links")
        .map(J::arr)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let t = TraceId::from_hex(l.get("trace_id").and_then(J::str)?).ok()?;
            let s =
                opentelemetry::trace::SpanId::from_hex(l.get("span_id").and_then(J::str)?).ok()?;
            let sc = SpanContext::new(t, s, TraceFlags::SAMPLED, true, TraceState::default());
            Some(Link::new(sc, attributes(l.get("attributes")), 0))
        })
        .collect();
    let mut s = tracer
        .span_builder(
            span.get("name")
                .and_then(J::str)
                .unwrap_or("span")
                .to_owned(),
        )
        .with_kind(span_kind(span.get("kind").and_then(J::str)))
        .with_start_time(at(base, t))
        .with_attributes(attributes(span.get("attributes")))
        .with_links(links)
        .start_with_context(&tracer, &parent_cx);
    if let Some(status) = span.get("status") {
        let description = status
            .get("description")
            .and_then(J::str)
            .unwrap_or_default()
            .to_owned();
        match status.get("code").and_then(J::str) {
            Some("ok") => s.set_status(Status::Ok),
            Some("error") => s.set_status(Status::error(description)),
            _ => {}
        }
    }
    live.insert(span_hex.to_owned(), Context::new().with_span(s));
}

fn emit_log(
    loggers: &SdkLoggerProvider,
    base: SystemTime,
    log: &J,
    live: &HashMap<String, Context>,
) {
    let logger = loggers.logger_with_scope(scope_of(log));
    let mut r = logger.create_log_record();
    match log.get("body") {
        Some(J::Str(s)) => r.set_body(AnyValue::from(s.clone())),
        Some(J::Null) | None => {}
        Some(other) => r.set_body(AnyValue::from(other.to_python_json())),
    }
    let n = log.get("severity_number").and_then(J::f64).unwrap_or(0.0) as i64;
    if let Some(s) = severity(n) {
        r.set_severity_number(s);
    }
    if let Some(t) = log.get("time_ms").and_then(J::f64) {
        r.set_timestamp(at(base, t));
    }
    if let Some(t) = log.get("observed_time_ms").and_then(J::f64) {
        r.set_observed_timestamp(at(base, t));
    }
    for (k, v) in log.get("attributes").map(J::obj).unwrap_or_default() {
        let Some(v) = value(v) else { continue };
        let any = match v {
            Value::Bool(b) => AnyValue::Boolean(b),
            Value::I64(i) => AnyValue::Int(i),
            Value::F64(f) => AnyValue::Double(f),
            Value::String(s) => AnyValue::String(s),
            other => AnyValue::String(other.to_string().into()),
        };
        r.add_attribute(k.clone(), any);
    }
    let span_id = log.get("span_id").and_then(J::str);
    let in_span = span_id
        .and_then(|s| live.get(s))
        .map(|cx| cx.span().span_context().clone());
    match (in_span, span_id, log.get("trace_id").and_then(J::str)) {
        (Some(sc), _, _) => {
            r.set_trace_context(sc.trace_id(), sc.span_id(), Some(sc.trace_flags()))
        }
        (None, Some(s), Some(t)) => {
            if let (Ok(t), Ok(s)) = (
                TraceId::from_hex(t),
                opentelemetry::trace::SpanId::from_hex(s),
            ) {
                r.set_trace_context(t, s, Some(TraceFlags::SAMPLED));
            }
        }
        _ => {}
    }
    logger.emit(r);
}

/// Records every measurement with the SDK's instruments; the providers' shutdown collects
/// once and exports.
fn record_metrics(meters: &SdkMeterProvider, scenario: &J) {
    for metric in scenario.get("metrics").map(J::arr).unwrap_or_default() {
        let name = metric
            .get("name")
            .and_then(J::str)
            .unwrap_or("metric")
            .to_owned();
        let kind = metric.get("kind").and_then(J::str).unwrap_or_default();
        let meter = meters.meter_with_scope(scope_of(metric));
        let points: Vec<(f64, Vec<KeyValue>)> = metric
            .get("measurements")
            .map(J::arr)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| Some((m.get("value")?.f64()?, attributes(m.get("attributes")))))
            .collect();
        match kind {
            "counter" => {
                let c = meter.f64_counter(name).build();
                points.iter().for_each(|(v, a)| c.add(*v, a));
            }
            "up_down_counter" => {
                let c = meter.f64_up_down_counter(name).build();
                points.iter().for_each(|(v, a)| c.add(*v, a));
            }
            "histogram" => {
                let h = meter.f64_histogram(name).build();
                points.iter().for_each(|(v, a)| h.record(*v, a));
            }
            "gauge" => {
                let g = meter.f64_gauge(name).build();
                points.iter().for_each(|(v, a)| g.record(*v, a));
            }
            "observable_gauge" | "observable_up_down_counter" | "observable_counter" => {
                // The last observation per attribute set, reported at the one collection.
                let mut last: Vec<(f64, Vec<KeyValue>)> = Vec::new();
                for (v, a) in points {
                    match last.iter_mut().find(|(_, b)| *b == a) {
                        Some(slot) => slot.0 = v,
                        None => last.push((v, a)),
                    }
                }
                let _gauge = meter
                    .f64_observable_gauge(name)
                    .with_callback(move |o| {
                        for (v, a) in &last {
                            o.observe(*v, a);
                        }
                    })
                    .build();
            }
            other => eprintln!("metric kind {other:?} is not replayed"),
        }
    }
}
