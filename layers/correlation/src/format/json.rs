use super::event_context;
use crate::contain;
use crate::data::SpanData;
use crate::log_bridge::{is_log_field, normalized_metadata};
use crate::record::FieldValue;
use std::error::Error;
use std::fmt;
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
/// not format them again: pair it with [`NoSpanFields`] (as [`JsonFormat::layer`] does).
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
pub struct JsonFormat<T = SystemTime> {
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
        timer: SystemTime,
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

    /// A ready `fmt` layer with this format, writing to stdout, that does not format span
    /// fields a second time.
    pub fn layer<S>(self) -> tracing_subscriber::fmt::Layer<S, NoSpanFields, Self>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        T: FormatTime + 'static,
    {
        tracing_subscriber::fmt::layer()
            .fmt_fields(NoSpanFields)
            .event_format(self)
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

/// Writes `s` as a JSON string literal, escaped exactly as `serde_json` escapes it (`"`, `\`
/// and control characters; the short forms where JSON has them). Written straight into the
/// line rather than through `serde_json`'s `io::Write` output: that bridge re-validated every
/// chunk as UTF-8 and cost about 17% of a JSON line (BENCHMARKS.md).
pub(crate) fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    w.write_char('"')?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        w.write_str(&s[start..i])?;
        if short.is_empty() {
            w.write_str("\\u00")?;
            w.write_char(char::from(HEX[usize::from(b >> 4)]))?;
            w.write_char(char::from(HEX[usize::from(b & 0xf)]))?;
        } else {
            w.write_str(short)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

fn write_value(w: &mut impl fmt::Write, v: &FieldValue) -> fmt::Result {
    match v {
        FieldValue::Bool(b) => w.write_str(if *b { "true" } else { "false" }),
        FieldValue::I64(n) => write!(w, "{n}"),
        FieldValue::U64(n) => write!(w, "{n}"),
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
            self.result = write_json_str(self.w, &contain::debug_string(v));
        }
    }
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
fn span_object(name: &str, fields: &[(&'static str, FieldValue)]) -> Box<str> {
    let mut s = String::with_capacity(16 + name.len() + 24 * fields.len());
    let _ = write_span_fields(&mut s, name, fields);
    s.into_boxed_str()
}

fn write_span_fields(
    s: &mut String,
    name: &str,
    fields: &[(&'static str, FieldValue)],
) -> fmt::Result {
    s.push_str("{\"name\":");
    write_json_str(s, name)?;
    for (k, v) in fields {
        s.push(',');
        write_json_str(s, k)?;
        s.push(':');
        write_value(s, v)?;
    }
    s.push('}');
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
        // Values are contained one by one; this catches the rest (a lock poisoned by
        // another layer, say): the event's line is lost, nothing unwinds further.
        contain::callback(Err(fmt::Error), || self.write_line(ctx, w, event))
    }
}

impl<T: FormatTime> JsonFormat<T> {
    fn write_line<S, N>(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'w> FormatFields<'w> + 'static,
    {
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
        let current = match event.parent() {
            Some(id) => ctx.span(id),
            None if event.is_contextual() => ctx.lookup_current(),
            None => None,
        };
        if let Some(current) = current {
            if self.current_span {
                w.write_str(",\"span\":")?;
                let ext = current.extensions();
                write_span_object(&mut w, current.name(), ext.get::<SpanData>())?;
            }
            if self.span_list {
                w.write_str(",\"spans\":[")?;
                for (i, span) in current.scope().from_root().enumerate() {
                    if i > 0 {
                        w.write_char(',')?;
                    }
                    let ext = span.extensions();
                    write_span_object(&mut w, span.name(), ext.get::<SpanData>())?;
                }
                w.write_char(']')?;
            }
        }
        if let Some(c) = event_context(ctx, event) {
            let mut t = [0u8; 32];
            let mut s = [0u8; 16];
            write!(
                w,
                ",\"operation_Id\":\"{}\",\"operation_ParentId\":\"{}\"",
                c.trace_id.encode_hex(&mut t),
                c.span_id.encode_hex(&mut s)
            )?;
        }
        w.write_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::write_json_str;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn escapes_exactly_like_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut ours = String::new();
            write_json_str(&mut ours, &s).unwrap();
            prop_assert_eq!(ours, serde_json::to_string(&s).unwrap());
        }
    }
}
