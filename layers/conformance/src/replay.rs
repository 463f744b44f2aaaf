//! Replays one scenario through real `tracing` spans and events: the correlation layer
//! (scripted ids, manual clock) + the App Insights layer, exporting to the loopback receiver.
//!
//! Conventions for what `tracing` cannot carry (see README.md):
//! - attribute keys known only at run time: a callsite built and leaked at run time;
//! - kind / status: the `otel.kind`, `otel.status_code`, `otel.status_message` fields;
//! - arrays and maps: JSON text in a string field; `null`: the field is left out;
//! - links: `CorrelationSpanExt::add_link` (a `traceparent`); link attributes: the
//!   `otel.link_attributes` field (a JSON array, one object per link);
//! - instrumentation scope: the callsite's target;
//! - span events and log records: `tracing` events (message = event name / body; a map body
//!   as Python-style JSON text), log severity in `otel.severity_number`;
//! - a span's end time: fixed by reading its `SpanData::end_time()` when the scenario says it
//!   ends (through the registry), then the handle is dropped. This is the one step that
//!   bypasses `tracing`.

use crate::ordered::J;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{FieldSet, Value};
use tracing_core::metadata::Kind;
use tracing_core::subscriber::Interest;
use tracing_core::{Level, Metadata};
use tracing_insights_appinsights::AppInsightsLayer;
use tracing_insights_correlation::testing::{ManualClock, ScriptedIds};
use tracing_insights_correlation::{
    self as correlation, CorrelationSpanExt, Resource, SpanData, SpanId, TraceId,
};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::{LookupSpan, Registry};

/// The ingestion key every scenario uses.
pub(crate) const IKEY: &str = "00000000-0000-0000-0000-000000000000";
const DEFAULT_SCOPE: &str = "oracle.app";

struct RuntimeCallsite {
    meta: OnceLock<Metadata<'static>>,
}

impl Callsite for RuntimeCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        self.meta
            .get()
            .expect("metadata is set before the callsite is registered")
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// A callsite with `fields`, made at run time and leaked (a replay makes a bounded number).
fn callsite(
    name: &str,
    target: &str,
    level: Level,
    kind: Kind,
    fields: &[String],
) -> &'static Metadata<'static> {
    let cs: &'static RuntimeCallsite = Box::leak(Box::new(RuntimeCallsite {
        meta: OnceLock::new(),
    }));
    let names: Vec<&'static str> = fields.iter().map(|f| leak(f)).collect();
    let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    let meta = Metadata::new(
        leak(name),
        leak(target),
        level,
        None,
        None,
        None,
        FieldSet::new(names, Identifier(cs)),
        kind,
    );
    let _ = cs.meta.set(meta);
    tracing_core::callsite::register(cs);
    cs.metadata()
}

/// A scenario attribute value as a `tracing` value; `None` for null.
fn value(v: &J) -> Option<Box<dyn Value>> {
    Some(match v {
        J::Null => return None,
        J::Bool(b) => Box::new(*b),
        J::I64(i) => Box::new(*i),
        J::U64(u) => Box::new(*u),
        J::F64(f) => Box::new(*f),
        J::Str(s) => Box::new(s.clone()),
        J::Arr(_) | J::Obj(_) => Box::new(v.to_python_json_compact()),
    })
}

impl J {
    /// Arrays and maps as attribute values: compact JSON text.
    fn to_python_json_compact(&self) -> String {
        match self {
            J::Arr(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(J::to_python_json_compact)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            J::Obj(items) => format!(
                "{{{}}}",
                items
                    .iter()
                    .map(|(k, v)| format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap_or_default(),
                        v.to_python_json_compact()
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            other => other.to_python_json(),
        }
    }
}

/// A resource value as Python's `str()` writes it.
fn python_str(v: &J) -> String {
    match v {
        J::Str(s) => s.clone(),
        J::Bool(true) => "True".into(),
        J::Bool(false) => "False".into(),
        other => other.to_python_json(),
    }
}

/// Field names + values, in callsite order.
struct Fields {
    names: Vec<String>,
    values: Vec<Option<Box<dyn Value>>>,
}

impl Fields {
    fn new() -> Self {
        Self {
            names: Vec::new(),
            values: Vec::new(),
        }
    }
    fn push(&mut self, name: &str, v: Option<Box<dyn Value>>) {
        if v.is_none() || self.names.iter().any(|n| n == name) {
            return;
        }
        self.names.push(name.to_owned());
        self.values.push(v);
    }
    fn refs(&self) -> Vec<Option<&dyn Value>> {
        self.values.iter().map(|v| v.as_deref()).collect()
    }
}

fn at(base: SystemTime, ms: f64) -> SystemTime {
    base + Duration::from_nanos((ms * 1_000_000.0).round().max(0.0) as u64)
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
    },
}

/// What the replay used from outside `tracing`, for the report.
pub(crate) const BYPASSES: &[&str] = &[
    "span end times are fixed by reading SpanData::end_time() through the registry at the scenario's end time (a span handle may outlive its end when children end later)",
];

/// Runs `scenario` and returns the App Insights layer's guard result.
pub(crate) fn run(scenario: &J, port: u16, base: SystemTime) -> Result<(), String> {
    let clock = ManualClock::new(base);
    let ids = ScriptedIds::new();
    let mut attrs: Vec<(String, String)> = scenario
        .get("resource")
        .map(|r| {
            r.obj()
                .iter()
                .filter(|(_, v)| *v != J::Null)
                .map(|(k, v)| (k.clone(), python_str(v)))
                .collect()
        })
        .unwrap_or_default();
    if !attrs.iter().any(|(k, _)| k == "service.name") {
        attrs.push(("service.name".into(), "unknown_service".into()));
    }
    let corr = correlation::layer()
        .with_resource(Resource::from_attributes(attrs))
        .with_clock(clock.clone())
        .with_id_generator(ids.clone());
    let (ai, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_metric_interval(Duration::from_secs(3600))
        .with_max_batch(100_000)
        .with_queue_capacity(100_000)
        .with_batch_delay(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let subscriber = tracing_subscriber::registry().with(corr).with(ai);

    // The timeline: (time, order, tiebreak, action).
    let mut actions: Vec<(f64, u8, i64, usize, Action<'_>)> = Vec::new();
    let mut seq = 0usize;
    fn walk<'a>(
        span: &'a J,
        parent: Option<String>,
        trace: &'a J,
        first_root: bool,
        depth: i64,
        actions: &mut Vec<(f64, u8, i64, usize, Action<'a>)>,
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
        actions.push((end, 2, -depth, *seq, Action::End { span_id: id }));
    }
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

    // Spans that a log record names after they end: their end time is fixed when they end,
    // but the handle (a `tracing` span can only be a parent while open) is kept until the
    // last such record is emitted.
    let named_by_logs: std::collections::HashSet<&str> = scenario
        .get("logs")
        .map(J::arr)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.get("span_id").and_then(J::str))
        .collect();
    tracing::subscriber::with_default(subscriber, || {
        let mut live: HashMap<String, tracing::Span> = HashMap::new();
        let mut ended: HashMap<String, tracing::Span> = HashMap::new();
        for (t, _, _, _, action) in &actions {
            clock.set(at(base, *t));
            match action {
                Action::Start {
                    span,
                    parent,
                    trace,
                    first_root,
                } => {
                    start_span(span, parent.as_deref(), trace, *first_root, &ids, &mut live);
                }
                Action::Event { span_id, event } => {
                    let parent = live.get(span_id).and_then(tracing::Span::id);
                    emit_event(event, parent, Level::INFO, None, DEFAULT_SCOPE);
                }
                Action::Log { log } => emit_log(log, &live, &ended),
                Action::End { span_id } => {
                    if let Some(span) = live.remove(span_id) {
                        fix_end_time(&span);
                        if named_by_logs.contains(span_id.as_str()) {
                            ended.insert(span_id.clone(), span);
                        } else {
                            drop(span);
                        }
                    }
                }
            }
        }
        drop(ended);
        clock.set(base);
        for metric in scenario.get("metrics").map(J::arr).unwrap_or_default() {
            emit_metric(metric);
        }
    });
    // Shutting down ends the metric interval: the aggregated points are sent with the rest.
    guard
        .shutdown(Duration::from_secs(30))
        .map_err(|e| e.to_string())
}

fn start_span(
    span: &J,
    parent: Option<&str>,
    trace: &J,
    first_root: bool,
    ids: &ScriptedIds,
    live: &mut HashMap<String, tracing::Span>,
) {
    let trace_id = trace.get("trace_id").and_then(J::str).unwrap_or_default();
    let span_id = span.get("span_id").and_then(J::str).unwrap_or_default();
    if parent.is_none() {
        if let Some(t) = TraceId::from_hex(trace_id) {
            ids.push_trace_id(t);
        }
    }
    if let Some(s) = SpanId::from_hex(span_id) {
        ids.push_span_id(s);
    }
    let mut fields = Fields::new();
    if let Some(kind) = span.get("kind").and_then(J::str) {
        fields.push("otel.kind", Some(Box::new(kind.to_owned())));
    }
    if let Some(status) = span.get("status") {
        if let Some(code @ ("ok" | "error")) = status.get("code").and_then(J::str) {
            fields.push("otel.status_code", Some(Box::new(code.to_owned())));
        }
        if let Some(d) = status.get("description").and_then(J::str) {
            fields.push("otel.status_message", Some(Box::new(d.to_owned())));
        }
    }
    for (k, v) in span.get("attributes").map(J::obj).unwrap_or_default() {
        fields.push(k, value(v));
    }
    let links = span.get("links").map(J::arr).unwrap_or_default();
    if links.iter().any(|l| l.get("attributes").is_some()) {
        let attrs = J::Arr(
            links
                .iter()
                .map(|l| l.get("attributes").cloned().unwrap_or(J::Obj(Vec::new())))
                .collect(),
        );
        fields.push(
            "otel.link_attributes",
            Some(Box::new(attrs.to_python_json_compact())),
        );
    }
    let scope = span
        .get("scope")
        .and_then(|s| s.get("name"))
        .and_then(J::str)
        .unwrap_or(DEFAULT_SCOPE);
    let name = span.get("name").and_then(J::str).unwrap_or("span");
    let meta = callsite(name, scope, Level::INFO, Kind::SPAN, &fields.names);
    let refs = fields.refs();
    let values = meta.fields().value_set_all(&refs);
    let parent_id = parent.and_then(|p| live.get(p)).and_then(tracing::Span::id);
    let s = match parent_id {
        Some(pid) => tracing::Span::child_of(pid, meta, &values),
        None => tracing::Span::new_root(meta, &values),
    };
    if parent.is_none() && first_root {
        if let Some(remote) = trace.get("remote_parent_span_id").and_then(J::str) {
            s.set_parent_from_traceparent(&format!("00-{trace_id}-{remote}-01"));
        }
    }
    for l in links {
        let (Some(t), Some(sid)) = (
            l.get("trace_id").and_then(J::str),
            l.get("span_id").and_then(J::str),
        ) else {
            continue;
        };
        s.add_link(&format!("00-{t}-{sid}-01"));
    }
    live.insert(span_id.to_owned(), s);
}

fn emit_event(
    event: &J,
    parent: Option<tracing::Id>,
    level: Level,
    severity_number: Option<i64>,
    target: &str,
) {
    let mut fields = Fields::new();
    match event.get("name").or_else(|| event.get("body")) {
        Some(J::Str(s)) => fields.push("message", Some(Box::new(s.clone()))),
        Some(J::Null) | None => {}
        Some(other) => fields.push("message", Some(Box::new(other.to_python_json()))),
    }
    if let Some(n) = severity_number {
        fields.push("otel.severity_number", Some(Box::new(n)));
    }
    for (k, v) in event.get("attributes").map(J::obj).unwrap_or_default() {
        fields.push(k, value(v));
    }
    let meta = callsite("event", target, level, Kind::EVENT, &fields.names);
    let refs = fields.refs();
    let values = meta.fields().value_set_all(&refs);
    match parent {
        Some(p) => tracing::Event::child_of(p, meta, &values),
        None => tracing::Event::child_of(None::<tracing::Id>, meta, &values),
    }
}

fn emit_log(
    log: &J,
    live: &HashMap<String, tracing::Span>,
    ended: &HashMap<String, tracing::Span>,
) {
    let n = log.get("severity_number").and_then(J::f64).unwrap_or(0.0) as i64;
    let level = match n {
        ..=4 => Level::TRACE,
        5..=8 => Level::DEBUG,
        9..=12 => Level::INFO,
        13..=16 => Level::WARN,
        _ => Level::ERROR,
    };
    let parent = log
        .get("span_id")
        .and_then(J::str)
        .and_then(|s| live.get(s).or_else(|| ended.get(s)))
        .and_then(tracing::Span::id);
    let target = log
        .get("scope")
        .and_then(|s| s.get("name"))
        .and_then(J::str)
        .unwrap_or(DEFAULT_SCOPE);
    emit_event(log, parent, level, Some(n), target);
}

/// The event field prefix of a metric kind (the `tracing-opentelemetry` `MetricsLayer`
/// convention, plus `gauge.`).
fn metric_prefix(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "counter" => "monotonic_counter.",
        "up_down_counter" => "counter.",
        "histogram" => "histogram.",
        "gauge" => "gauge.",
        // An observable instrument reports absolute values at collection time; a replay ends
        // with exactly one collection, where the last observation per attribute set is the
        // exported value for all three (gauge: last value; up-down counter: cumulative
        // total; counter: the delta since start, i.e. the total).
        "observable_gauge" | "observable_up_down_counter" | "observable_counter" => "gauge.",
        _ => return None,
    })
}

/// Each measurement of `metric` as one `tracing` event: the field `<prefix><name>` holds the
/// value, the other fields are the attributes.
fn emit_metric(metric: &J) {
    let name = metric.get("name").and_then(J::str).unwrap_or("metric");
    let kind = metric.get("kind").and_then(J::str).unwrap_or_default();
    let Some(prefix) = metric_prefix(kind) else {
        eprintln!("metric kind {kind:?} has no tracing field convention: not replayed");
        return;
    };
    let scope = metric
        .get("scope")
        .and_then(|s| s.get("name"))
        .and_then(J::str)
        .unwrap_or(DEFAULT_SCOPE);
    for m in metric.get("measurements").map(J::arr).unwrap_or_default() {
        let mut fields = Fields::new();
        fields.push(&format!("{prefix}{name}"), m.get("value").and_then(value));
        for (k, v) in m.get("attributes").map(J::obj).unwrap_or_default() {
            fields.push(k, value(v));
        }
        let meta = callsite("metric", scope, Level::INFO, Kind::EVENT, &fields.names);
        let refs = fields.refs();
        let values = meta.fields().value_set_all(&refs);
        tracing::Event::child_of(None::<tracing::Id>, meta, &values);
    }
}

/// Fixes the span's end time now (the manual clock shows the scenario's end time).
fn fix_end_time(span: &tracing::Span) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>() {
            if let Some(s) = registry.span(id) {
                if let Some(d) = s.extensions().get::<SpanData>() {
                    let _ = d.end_time();
                }
            }
        }
    });
}

/// The base time of the scenarios file (`conventions.base_time_unix_nano`).
pub(crate) fn base_time(file: &J) -> SystemTime {
    let ns = file
        .get("conventions")
        .and_then(|c| c.get("base_time_unix_nano"))
        .and_then(|v| match v {
            J::I64(i) => u64::try_from(*i).ok(),
            J::U64(u) => Some(*u),
            J::F64(f) => Some(*f as u64),
            _ => None,
        })
        .unwrap_or(1_704_067_200_000_000_000);
    UNIX_EPOCH + Duration::from_nanos(ns)
}
