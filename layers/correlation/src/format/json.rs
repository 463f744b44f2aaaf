use super::write::{json_clean_prefix, write_decimal, write_json_str};
use super::UtcTime;
use crate::contain;
use crate::data::SpanData;
use crate::log_bridge::{is_log_field, normalized_metadata};
use crate::record::FieldValue;
use std::cell::Cell;
use std::error::Error;
use std::fmt;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// One JSON object per line, shaped like `tracing_subscriber::fmt().json()`, plus
/// `operation_Id` and `operation_ParentId`:
///
/// ```json
/// {"timestamp":"2026-11-22T10:00:00.000000Z","level":"INFO","fields":{"message":"retrieved","docs":4},
///  "target":"ai_service","span":{"name":"retrieval","db.system.name":"qdrant"},
///  "spans":[{"name":"POST /chat"},{"name":"retrieval","db.system.name":"qdrant"}],
///  "operation_Id":"0af7651916cd43dd8448eb211c80319c","operation_ParentId":"b7ad6b7169203331"}
/// ```
///
/// Span fields come from the correlation layer's one shared record, so the fmt layer need
/// not format them again: pair it with [`NoSpanFields`], or use [`JsonFormat::layer`] (a
/// layer of this crate's own that keeps nothing per span).
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(tracing_subscriber::fmt::layer().event_format(correlation::json()));
/// ```
#[derive(Debug, Clone)]
pub struct JsonFormat<T = UtcTime> {
    timer: T,
    current_span: bool,
    span_list: bool,
    flatten_event: bool,
    target: bool,
    file: bool,
    line_number: bool,
}

/// The JSON format with `fmt().json()`'s defaults: timestamp, level, fields, target, current
/// span and span list.
pub fn json() -> JsonFormat {
    JsonFormat {
        timer: UtcTime,
        current_span: true,
        span_list: true,
        flatten_event: false,
        target: true,
        file: false,
        line_number: false,
    }
}

impl<T> JsonFormat<T> {
    /// Use another timer for `timestamp` (any `tracing_subscriber::fmt::time::FormatTime`).
    pub fn with_timer<T2>(self, timer: T2) -> JsonFormat<T2> {
        JsonFormat {
            timer,
            current_span: self.current_span,
            span_list: self.span_list,
            flatten_event: self.flatten_event,
            target: self.target,
            file: self.file,
            line_number: self.line_number,
        }
    }

    /// Write the `span` object (the current span and its fields). Default `true`.
    #[must_use]
    pub fn with_current_span(mut self, yes: bool) -> Self {
        self.current_span = yes;
        self
    }

    /// Write the `spans` list (root to current). Default `true`.
    #[must_use]
    pub fn with_span_list(mut self, yes: bool) -> Self {
        self.span_list = yes;
        self
    }

    /// Write event fields at the top level instead of under `fields`. Default `false`.
    #[must_use]
    pub fn flatten_event(mut self, yes: bool) -> Self {
        self.flatten_event = yes;
        self
    }

    /// Write `target`. Default `true`.
    #[must_use]
    pub fn with_target(mut self, yes: bool) -> Self {
        self.target = yes;
        self
    }

    /// Write `filename`. Default `false`.
    #[must_use]
    pub fn with_file(mut self, yes: bool) -> Self {
        self.file = yes;
        self
    }

    /// Write `line_number`. Default `false`.
    #[must_use]
    pub fn with_line_number(mut self, yes: bool) -> Self {
        self.line_number = yes;
        self
    }

    /// A ready layer with this format, writing to stdout
    /// ([`JsonLayer::with_writer`](super::JsonLayer::with_writer) for another writer).
    ///
    /// It is this crate's own layer, not a `tracing_subscriber::fmt::Layer`: it formats
    /// events only, and keeps nothing per span (span fields come from the correlation
    /// layer's record), so a span costs it nothing. For `fmt::Layer`'s other options, use
    /// `fmt::layer().fmt_fields(NoSpanFields).event_format(json())`.
    pub fn layer(self) -> super::JsonLayer<T>
    where
        T: FormatTime + 'static,
    {
        super::JsonLayer::new(self)
    }
}

/// A `FormatFields` that writes nothing: span fields are already in the correlation
/// layer's record, so the fmt layer need not format them into its own extension.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSpanFields;

impl<'w> FormatFields<'w> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'w>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

/// [`write_json_str`] into a `String`: escape-free text (nearly all names and values) is
/// copied with one capacity check.
fn push_json_str(s: &mut String, v: &str) {
    if json_clean_prefix(v.as_bytes()) == v.len() {
        s.reserve(v.len() + 2);
        s.push('"');
        s.push_str(v);
        s.push('"');
    } else {
        // Writing to a `String` cannot fail.
        let _ = write_json_str(s, v);
    }
}

fn write_value(w: &mut impl fmt::Write, v: &FieldValue) -> fmt::Result {
    match v {
        FieldValue::Bool(b) => w.write_str(if *b { "true" } else { "false" }),
        FieldValue::I64(n) => {
            if *n < 0 {
                w.write_char('-')?;
            }
            write_decimal(w, n.unsigned_abs())
        }
        FieldValue::U64(n) => write_decimal(w, *n),
        FieldValue::I128(n) => write!(w, "{n}"),
        FieldValue::U128(n) => write!(w, "{n}"),
        FieldValue::F64(n) if n.is_finite() => write!(w, "{n}"),
        FieldValue::F64(n) => write_json_str(w, &n.to_string()),
        FieldValue::Str(s) => write_json_str(w, s),
        FieldValue::Error(e) => write_json_str(w, &e.message),
    }
}

/// Writes `"key":value` pairs, a comma before each but the first.
struct JsonFields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
    /// A bridged `log` record: its `log.*` fields are the line's metadata, not fields.
    skip_log_fields: bool,
}

impl JsonFields<'_, '_> {
    fn key(&mut self, name: &str) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .w
            .write_str(sep)
            .and_then(|_| write_json_str(self.w, name))
            .and_then(|_| self.w.write_char(':'));
    }

    fn skip(&self, f: &Field) -> bool {
        self.skip_log_fields && is_log_field(f.name())
    }

    fn put(&mut self, name: &str, value: &FieldValue) {
        self.key(name);
        if self.result.is_ok() {
            self.result = write_value(self.w, value);
        }
    }
}

impl Visit for JsonFields<'_, '_> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.put(f.name(), &FieldValue::F64(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.put(f.name(), &FieldValue::I64(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        if !self.skip(f) {
            self.put(f.name(), &FieldValue::U64(v));
        }
    }
    fn record_i128(&mut self, f: &Field, v: i128) {
        self.put(f.name(), &FieldValue::I128(v));
    }
    fn record_u128(&mut self, f: &Field, v: u128) {
        self.put(f.name(), &FieldValue::U128(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.put(f.name(), &FieldValue::Bool(v));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        if self.skip(f) {
            return;
        }
        self.key(f.name());
        if self.result.is_ok() {
            self.result = write_json_str(self.w, v);
        }
    }
    fn record_error(&mut self, f: &Field, v: &(dyn Error + 'static)) {
        self.key(f.name());
        if self.result.is_ok() {
            self.result = write_json_str(self.w, &contain::display_string(v));
        }
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.key(f.name());
        if self.result.is_ok() {
            // `message` is usually `format_args!`, whose Debug is its Display. A value
            // whose formatting panics is written as a placeholder, the line kept.
            let w = &mut *self.w;
            self.result = with_scratch(|s| {
                contain::write_debug(s, v);
                write_json_str(w, s)
            });
        }
    }
}

thread_local! {
    /// A reused buffer for values that must be formatted before they are escaped (the
    /// `message`, every `?` field): one allocation per thread instead of one per value.
    static SCRATCH: Cell<String> = const { Cell::new(String::new()) };
}

/// Runs `f` with an empty scratch buffer. The buffer is taken out while in use, so a value
/// whose `Debug` logs (a nested line on this thread) gets its own and nothing is shared.
fn with_scratch<R>(f: impl FnOnce(&mut String) -> R) -> R {
    let mut s = SCRATCH.try_with(Cell::take).unwrap_or_default();
    s.clear();
    let r = f(&mut s);
    // A huge value's buffer is not kept.
    if s.capacity() <= 4096 {
        let _ = SCRATCH.try_with(|c| c.set(s));
    }
    r
}

/// Writes `{"name":<name>,<fields>}`. A span's object is formatted once, by the first line
/// that shows it, and kept in its `SpanData` (as `fmt` keeps `FormattedFields`): every
/// event shows all its ancestors, and formatting their fields again for each one was most
/// of a line's cost (BENCHMARKS.md).
fn write_span_object(w: &mut Writer<'_>, name: &str, data: Option<&SpanData>) -> fmt::Result {
    match data {
        Some(d) => w.write_str(d.json_object(|record| span_object(name, record.fields()))),
        None => {
            w.write_str("{\"name\":")?;
            write_json_str(w, name)?;
            w.write_char('}')
        }
    }
}

/// A span's JSON object as text (writing to a `String` cannot fail).
fn span_object(name: &str, fields: &[(&'static str, FieldValue)]) -> String {
    // Sized so that escape-free text fits without growing.
    let size = fields.iter().fold(12 + name.len(), |n, (k, v)| {
        n + k.len()
            + 4
            + match v {
                FieldValue::Str(s) => s.len() + 2,
                FieldValue::Error(e) => e.message.len() + 2,
                _ => 24,
            }
    });
    let mut s = String::with_capacity(size);
    let _ = write_span_fields(&mut s, name, fields);
    // Kept as it is: shrinking it to a `Box<str>` would cost a reallocation per span.
    s
}

fn write_span_fields(
    s: &mut String,
    name: &str,
    fields: &[(&'static str, FieldValue)],
) -> fmt::Result {
    s.push_str("{\"name\":");
    push_json_str(s, name);
    for (k, v) in fields {
        s.push(',');
        push_json_str(s, k);
        s.push(':');
        match v {
            FieldValue::Str(v) => push_json_str(s, v),
            v => write_value(s, v)?,
        }
    }
    s.push('}');
    Ok(())
}

/// Writes the span objects from the root down to `current`, comma-separated. The usual
/// depth is walked on the stack (`scope().from_root()` collects a `Vec` for every line);
/// deeper stacks take that path.
fn write_span_list<'a, R: LookupSpan<'a> + 'a>(
    w: &mut Writer<'_>,
    current: SpanRef<'a, R>,
) -> fmt::Result {
    const DEPTH: usize = 16;
    let mut path: [Option<SpanRef<'a, R>>; DEPTH] = [const { None }; DEPTH];
    let mut next = Some(current);
    let mut depth = 0;
    while let Some(span) = next {
        if depth == DEPTH {
            // Deeper than the array: the allocating walk, from the span we started at.
            let leaf = path[0].take().unwrap_or(span);
            return write_spans(w, leaf.scope().from_root());
        }
        next = span.parent();
        path[depth] = Some(span);
        depth += 1;
    }
    write_spans(w, path[..depth].iter_mut().rev().filter_map(Option::take))
}

fn write_spans<'a, R: LookupSpan<'a> + 'a>(
    w: &mut Writer<'_>,
    spans: impl Iterator<Item = SpanRef<'a, R>>,
) -> fmt::Result {
    for (i, span) in spans.enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        let ext = span.extensions();
        write_span_object(w, span.name(), ext.get::<SpanData>())?;
    }
    Ok(())
}

impl<S, N, T> FormatEvent<S, N> for JsonFormat<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let current = match event.parent() {
            Some(id) => ctx.span(id),
            None if event.is_contextual() => ctx.lookup_current(),
            None => None,
        };
        self.format_line(current, w, event)
    }
}

impl<T: FormatTime> JsonFormat<T> {
    /// Writes `event`'s line, `current` being the span it happened in as the calling layer
    /// sees it. Values are contained one by one; this catches the rest (a lock poisoned by
    /// another layer, say): the event's line is lost, nothing unwinds further.
    pub(super) fn format_line<'a, R: LookupSpan<'a> + 'a>(
        &self,
        current: Option<SpanRef<'a, R>>,
        w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        contain::callback(Err(fmt::Error), || self.write_line(current, w, event))
    }

    fn write_line<'a, R: LookupSpan<'a> + 'a>(
        &self,
        current: Option<SpanRef<'a, R>>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // A `log` record shows its own target, file and line, not the bridge's.
        let normalized = normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let skip_log_fields = normalized.is_some();
        w.write_str("{\"timestamp\":\"")?;
        // A timer that fails leaves an empty timestamp rather than losing the line.
        let _ = self.timer.format_time(&mut w);
        w.write_str("\",\"level\":\"")?;
        w.write_str(meta.level().as_str())?;
        w.write_char('"')?;

        if self.flatten_event {
            let mut fields = JsonFields {
                w: &mut w,
                first: false,
                result: Ok(()),
                skip_log_fields,
            };
            event.record(&mut fields);
            fields.result?;
        } else {
            w.write_str(",\"fields\":{")?;
            let mut fields = JsonFields {
                w: &mut w,
                first: true,
                result: Ok(()),
                skip_log_fields,
            };
            event.record(&mut fields);
            fields.result?;
            w.write_char('}')?;
        }
        if self.target {
            w.write_str(",\"target\":")?;
            write_json_str(&mut w, meta.target())?;
        }
        if self.file {
            if let Some(file) = meta.file() {
                w.write_str(",\"filename\":")?;
                write_json_str(&mut w, file)?;
            }
        }
        if self.line_number {
            if let Some(line) = meta.line() {
                write!(w, ",\"line_number\":{line}")?;
            }
        }
        // The ids of the span the event happened in: as the correlation layer handed them
        // over for this event, else from the nearest ancestor this layer can see.
        let ids = match crate::event_context::event_context(event) {
            Some(seen) => seen,
            None => current.as_ref().and_then(crate::data::span_context),
        };
        if let Some(current) = current {
            if self.current_span {
                w.write_str(",\"span\":")?;
                let ext = current.extensions();
                write_span_object(&mut w, current.name(), ext.get::<SpanData>())?;
            }
            if self.span_list {
                w.write_str(",\"spans\":[")?;
                write_span_list(&mut w, current)?;
                w.write_char(']')?;
            }
        }
        if let Some(c) = ids {
            let mut t = [0u8; 32];
            let mut s = [0u8; 16];
            // Written piece by piece: `write!` costs more than the pieces.
            w.write_str(",\"operation_Id\":\"")?;
            w.write_str(c.trace_id.encode_hex(&mut t))?;
            w.write_str("\",\"operation_ParentId\":\"")?;
            w.write_str(c.span_id.encode_hex(&mut s))?;
            w.write_char('"')?;
        }
        w.write_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn integers_are_written_like_display(n in any::<i64>(), u in any::<u64>()) {
            let mut ours = String::new();
            super::write_value(&mut ours, &crate::FieldValue::I64(n)).unwrap();
            super::write_value(&mut ours, &crate::FieldValue::U64(u)).unwrap();
            prop_assert_eq!(ours, format!("{n}{u}"));
        }
    }
}
