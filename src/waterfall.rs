//! The local trace waterfall: when a trace's root span closes, its spans as a timeline on
//! stderr.
//!
//! ```text
//! trace 00000000000000000000000000000001
//!   POST /chat             server      30.0 ms |████████████████████████████████████████| error
//!     SELECT kb.documents  client       4.0 ms | ██████                                 |
//!     chat gpt-4o          client      22.0 ms |        █████████████████████████████   | ◀ slowest, error: LLM provider rate-limited the request
//! ```
//!
//! The header line carries the trace id, the `operation_Id` of the trace's log lines; each
//! span line shows its name (indented under its parent), kind, duration and a bar placed
//! and sized in proportion to the root's time. The slowest span below the root is marked,
//! and a failed span says `error` (with its status message, if any). It reads the
//! correlation layer's span records, so stack it after `correlation::layer()`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tracing_core::span::Id;
use tracing_core::Subscriber;
use tracing_insights_correlation::{SpanData, SpanId, SpanStatus, TraceId};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Spans kept while their trace's root is open; beyond this, the pending spans are
/// forgotten (a root that never closes must not grow memory without end).
const MAX_PENDING_SPANS: usize = 10_000;
/// Width of the timeline bar, in characters.
const BAR_WIDTH: usize = 40;
/// Longest name column (indent included) before names are cut.
const MAX_NAME_WIDTH: usize = 40;

/// One closed span, as much of it as the waterfall shows.
#[derive(Debug)]
struct Closed {
    span_id: SpanId,
    parent: Option<SpanId>,
    remote_parent: bool,
    sampled: bool,
    name: String,
    kind: &'static str,
    start: SystemTime,
    duration: Duration,
    error: Option<Option<String>>,
}

impl Closed {
    fn end(&self) -> SystemTime {
        self.start + self.duration
    }
}

/// A layer that prints every trace as a waterfall on stderr (or its writer) when the trace's
/// root span closes. Every trace is shown, sampled out or not (its header says so).
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights::{correlation, waterfall::WaterfallLayer};
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(WaterfallLayer::new());
/// # drop(subscriber);
/// ```
pub struct WaterfallLayer<W = fn() -> std::io::Stderr> {
    pending: Mutex<Pending>,
    writer: W,
}

#[derive(Default)]
struct Pending {
    traces: HashMap<TraceId, Vec<Closed>>,
    spans: usize,
}

impl<W> std::fmt::Debug for WaterfallLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaterfallLayer").finish_non_exhaustive()
    }
}

impl Default for WaterfallLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl WaterfallLayer {
    /// A waterfall on stderr.
    pub fn new() -> Self {
        Self {
            pending: Mutex::default(),
            writer: std::io::stderr,
        }
    }
}

impl<W> WaterfallLayer<W> {
    /// Writes to `writer` instead (a `tracing_subscriber::fmt::MakeWriter`).
    pub fn with_writer<W2>(self, writer: W2) -> WaterfallLayer<W2>
    where
        W2: for<'a> MakeWriter<'a> + 'static,
    {
        WaterfallLayer {
            pending: self.pending,
            writer,
        }
    }
}

impl<S, W> Layer<S> for WaterfallLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let (trace_id, closed) = {
            let ext = span.extensions();
            let Some(d) = ext.get::<SpanData>() else {
                return;
            };
            let c = d.context();
            let error = match d.status() {
                SpanStatus::Error { message } => Some(message),
                _ => None,
            };
            let closed = Closed {
                span_id: c.span_id,
                parent: c.parent_span_id,
                remote_parent: c.remote_parent,
                sampled: c.sampled,
                name: d.name().to_owned(),
                kind: d.kind().as_str(),
                start: d.start_time(),
                duration: d.duration(),
                error,
            };
            (c.trace_id, closed)
        };
        let is_root = closed.parent.is_none() || closed.remote_parent;
        let spans = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if is_root {
                let mut spans = pending.traces.remove(&trace_id).unwrap_or_default();
                pending.spans -= spans.len();
                spans.push(closed);
                spans
            } else {
                // Children that outlive their root (detached tasks) are never shown; when
                // they pile up, forget what is pending rather than stop showing new traces.
                if pending.spans >= MAX_PENDING_SPANS {
                    *pending = Pending::default();
                }
                pending.spans += 1;
                pending.traces.entry(trace_id).or_default().push(closed);
                return;
            }
        };
        // Rendered and written without the lock: another thread's trace need not wait.
        let text = render(trace_id, &spans);
        let _ = self.writer.make_writer().write_all(text.as_bytes());
    }
}

/// The waterfall of one trace; the root is the last span.
fn render(trace_id: TraceId, spans: &[Closed]) -> String {
    let Some(root) = spans.last() else {
        return String::new();
    };
    let mut out = String::new();
    let _ = write!(out, "trace {trace_id}");
    if let (true, Some(parent)) = (root.remote_parent, root.parent) {
        let _ = write!(out, "  (continues remote parent {parent})");
    }
    if !root.sampled {
        out.push_str("  (sampled out: not exported)");
    }
    out.push('\n');

    // Depth-first, children by start time; a span whose parent is not here (hidden by a
    // filter) is shown under the root.
    let ids: Vec<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut rows: Vec<(usize, &Closed)> = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, &Closed)> = vec![(0, root)];
    while let Some((depth, span)) = stack.pop() {
        rows.push((depth, span));
        let mut children: Vec<&Closed> = spans
            .iter()
            .filter(|c| c.span_id != root.span_id)
            .filter(|c| match c.parent {
                Some(p) if ids.contains(&p) && p != c.span_id => p == span.span_id,
                _ => span.span_id == root.span_id,
            })
            .collect();
        children.sort_by_key(|c| std::cmp::Reverse(c.start));
        stack.extend(children.into_iter().map(|c| (depth + 1, c)));
    }

    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(root.start);
    let t1 = spans.iter().map(Closed::end).max().unwrap_or(root.end());
    let total = t1.duration_since(t0).unwrap_or_default();
    let slowest = rows
        .iter()
        .skip(1)
        .max_by(|a, b| {
            a.1.duration
                .cmp(&b.1.duration)
                .then(b.1.start.cmp(&a.1.start))
        })
        .map(|(_, s)| s.span_id);
    let names: Vec<String> = rows
        .iter()
        .map(|(depth, s)| cut(&format!("{:indent$}{}", "", s.name, indent = 2 + depth * 2)))
        .collect();
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for ((_, span), name) in rows.iter().zip(&names) {
        let pad = name_width - name.chars().count();
        let _ = write!(
            out,
            "{name}{:pad$}  {:<8} {:>10} |{}|",
            "",
            span.kind,
            duration(span.duration),
            bar(span, t0, total)
        );
        let mut marks = Vec::new();
        if Some(span.span_id) == slowest {
            marks.push("◀ slowest".to_owned());
        }
        match &span.error {
            Some(Some(message)) => marks.push(format!("error: {message}")),
            Some(None) => marks.push("error".to_owned()),
            None => {}
        }
        if !marks.is_empty() {
            let _ = write!(out, " {}", marks.join(", "));
        }
        out.push('\n');
    }
    out
}

fn cut(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_WIDTH {
        return name.to_owned();
    }
    let mut s: String = name.chars().take(MAX_NAME_WIDTH - 1).collect();
    s.push('…');
    s
}

fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// The span's place on the trace's timeline: at least one block, never past the end.
fn bar(span: &Closed, t0: SystemTime, total: Duration) -> String {
    let (from, len) = if total.is_zero() {
        (0, BAR_WIDTH)
    } else {
        let scale = BAR_WIDTH as f64 / total.as_secs_f64();
        let offset = span
            .start
            .duration_since(t0)
            .unwrap_or_default()
            .as_secs_f64();
        let from = ((offset * scale).round() as usize).min(BAR_WIDTH - 1);
        let to = (((offset + span.duration.as_secs_f64()) * scale).round() as usize)
            .clamp(from + 1, BAR_WIDTH);
        (from, to - from)
    };
    format!(
        "{}{}{}",
        " ".repeat(from),
        "█".repeat(len),
        " ".repeat(BAR_WIDTH - from - len)
    )
}
