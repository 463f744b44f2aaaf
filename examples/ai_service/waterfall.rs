//! A layer that keeps every closed span's record and renders a short trace waterfall: what the
//! example shows locally when no exporter is configured.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tracing::span::Id;
use tracing::Subscriber;
use tracing_insights::correlation::{SpanData, SpanId, SpanStatus, TraceId};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// One closed span.
struct Closed {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<SpanId>,
    name: String,
    kind: &'static str,
    start: SystemTime,
    duration: Duration,
    failed: bool,
}

/// Collects closed spans (bounded, so a long run cannot grow without end).
pub(crate) struct WaterfallLayer {
    spans: Arc<Mutex<Vec<Closed>>>,
}

/// Renders what a [`WaterfallLayer`] collected.
pub(crate) struct Report {
    spans: Arc<Mutex<Vec<Closed>>>,
}

const MAX_SPANS: usize = 100_000;
const TRACES_SHOWN: usize = 3;

impl WaterfallLayer {
    pub(crate) fn new() -> Self {
        Self {
            spans: Arc::default(),
        }
    }

    pub(crate) fn report(&self) -> Report {
        Report {
            spans: self.spans.clone(),
        }
    }
}

impl<S> Layer<S> for WaterfallLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(d) = ext.get::<SpanData>() else {
            return;
        };
        let c = d.context();
        let closed = Closed {
            trace_id: c.trace_id,
            span_id: c.span_id,
            parent: c.parent_span_id,
            name: d.name().to_owned(),
            kind: d.kind().as_str(),
            start: d.start_time(),
            duration: d.duration(),
            failed: matches!(d.status(), SpanStatus::Error { .. }),
        };
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if spans.len() < MAX_SPANS {
            spans.push(closed);
        }
    }
}

impl Report {
    pub(crate) fn render(&self) -> String {
        let spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let mut traces: BTreeMap<TraceId, Vec<&Closed>> = BTreeMap::new();
        let mut order: Vec<TraceId> = Vec::new();
        for s in spans.iter() {
            let entry = traces.entry(s.trace_id).or_default();
            if entry.is_empty() {
                order.push(s.trace_id);
            }
            entry.push(s);
        }
        // Oldest trace first.
        order.sort_by_key(|t| traces[t].iter().map(|s| s.start).min());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n── traces ({} spans in {} traces) ──",
            spans.len(),
            order.len()
        );
        let mut roots: Vec<&Closed> = Vec::new();
        for (n, trace_id) in order.iter().enumerate() {
            let members = &traces[trace_id];
            let ids: Vec<SpanId> = members.iter().map(|s| s.span_id).collect();
            let top: Vec<&Closed> = members
                .iter()
                .copied()
                .filter(|s| !s.parent.is_some_and(|p| ids.contains(&p)))
                .collect();
            roots.extend(top.iter().copied());
            if n < TRACES_SHOWN {
                let _ = write!(out, "trace {trace_id}");
                match top.first().and_then(|r| r.parent) {
                    Some(remote) => {
                        let _ = writeln!(out, "  (continues remote parent {remote})");
                    }
                    None => out.push('\n'),
                }
                for root in top {
                    tree(&mut out, members, root, root.start, 1);
                }
            }
        }
        if order.len() > TRACES_SHOWN {
            let _ = writeln!(out, "… {} more traces", order.len() - TRACES_SHOWN);
        }
        let mut durations: Vec<Duration> = roots.iter().map(|r| r.duration).collect();
        durations.sort();
        let failed = roots.iter().filter(|r| r.failed).count();
        if !durations.is_empty() {
            let pct = |p: f64| durations[((durations.len() - 1) as f64 * p).round() as usize];
            let _ = writeln!(
                out,
                "requests: {}  failed: {}  p50: {:.1} ms  p95: {:.1} ms",
                durations.len(),
                failed,
                ms(pct(0.5)),
                ms(pct(0.95))
            );
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn tree(out: &mut String, members: &[&Closed], span: &Closed, t0: SystemTime, depth: usize) {
    let offset = span.start.duration_since(t0).unwrap_or_default();
    let _ = writeln!(
        out,
        "{:indent$}{} [{}] +{:.1} ms {:.1} ms{}  span {}",
        "",
        span.name,
        span.kind,
        ms(offset),
        ms(span.duration),
        if span.failed { "  ✗ error" } else { "" },
        span.span_id,
        indent = depth * 2
    );
    let mut children: Vec<&&Closed> = members
        .iter()
        .filter(|c| c.parent == Some(span.span_id))
        .collect();
    children.sort_by_key(|c| c.start);
    for c in children {
        tree(out, members, c, t0, depth + 1);
    }
}
