use super::event_context;
use crate::contain::{self, Guarded};
use std::cell::RefCell;
use std::error::Error;
use std::fmt::{self, Write as _};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A human-readable line (by default `tracing_subscriber`'s full format) followed by
/// `operation_Id=… operation_ParentId=…` when the event happened inside a span:
///
/// ```text
/// 2026-11-22T10:00:00.000000Z  INFO POST /chat{user="ada"}:llm: ai_service: answered tokens=46 operation_Id=0af7651916cd43dd8448eb211c80319c operation_ParentId=b7ad6b7169203331
/// ```
///
/// **No ANSI escapes** unless asked with [`TextFormat::keep_ansi`]: the line is written to a
/// buffer first and any escape sequence in it is removed, including the ones a `fmt` layer
/// with colours on (tracing-subscriber's `ansi` feature, on by default) puts around span
/// fields when it formats them. Records from the `log` crate (through `tracing-log`'s
/// `LogTracer`) show the record's own target, not `log`.
///
/// The easiest set-up is [`TextFormat::layer`], which also formats span and event fields
/// with [`TextFields`] (plain, and a value whose `Display`/`Debug` panics is written as
/// `<Debug panicked>` instead of losing the line):
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(correlation::text().layer());
/// # drop(subscriber);
/// ```
///
/// Or as the event format of a `fmt` layer you configure yourself:
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(tracing_subscriber::fmt::layer().event_format(correlation::text()));
/// # drop(subscriber);
/// ```
#[derive(Debug, Clone)]
pub struct TextFormat<F = Format<Full, SystemTime>> {
    inner: F,
    keep_ansi: bool,
}

/// The text format around `tracing_subscriber`'s default full format.
pub fn text() -> TextFormat {
    TextFormat {
        inner: Format::default().with_ansi(false),
        keep_ansi: false,
    }
}

impl TextFormat {
    /// Wraps another event format (compact, pretty, your own) and appends the ids to it.
    ///
    /// ```
    /// use tracing_insights_correlation::TextFormat;
    /// let format = TextFormat::wrap(tracing_subscriber::fmt::format().compact());
    /// # drop(format);
    /// ```
    pub fn wrap<F>(inner: F) -> TextFormat<F> {
        TextFormat {
            inner,
            keep_ansi: false,
        }
    }
}

impl<F> TextFormat<F> {
    /// Keep the ANSI escapes the wrapped format writes (colours for a terminal). Default
    /// `false`: they are removed, so a line written to a pipe or a file is plain text.
    #[must_use]
    pub fn keep_ansi(mut self, keep: bool) -> Self {
        self.keep_ansi = keep;
        self
    }

    /// A ready `fmt` layer with this format, writing to stdout, that formats span and event
    /// fields with [`TextFields`] and without colours.
    pub fn layer<S>(self) -> tracing_subscriber::fmt::Layer<S, TextFields, Self>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        F: FormatEvent<S, TextFields> + 'static,
    {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(TextFields)
            .event_format(self)
    }
}

thread_local! {
    static BUF: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for TextFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let write = |buf: &mut String, writer: &mut Writer<'_>| -> fmt::Result {
            buf.clear();
            // The wrapped format runs the application's field formatting (with the fmt
            // layer's field formatter): a panic there loses this line only.
            contain::callback(Err(fmt::Error), || {
                self.inner.format_event(ctx, Writer::new(&mut *buf), event)
            })?;
            let line = buf.trim_end_matches('\n');
            if self.keep_ansi || !line.contains('\x1b') {
                writer.write_str(line)?;
            } else {
                write_without_ansi(writer, line)?;
            }
            if let Some(c) = event_context(ctx, event) {
                let mut t = [0u8; 32];
                let mut s = [0u8; 16];
                write!(
                    writer,
                    " operation_Id={} operation_ParentId={}",
                    c.trace_id.encode_hex(&mut t),
                    c.span_id.encode_hex(&mut s)
                )?;
            }
            writer.write_char('\n')
        };
        // A nested event (formatting that logs) finds the buffer taken: use a fresh one.
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => write(&mut buf, &mut writer),
            Err(_) => write(&mut String::new(), &mut writer),
        })
    }
}

/// Writes `line` without its ANSI escape sequences (CSI `ESC [ … final`, and any other
/// `ESC x` pair).
fn write_without_ansi(w: &mut impl fmt::Write, line: &str) -> fmt::Result {
    let mut rest = line;
    while let Some(i) = rest.find('\x1b') {
        w.write_str(&rest[..i])?;
        let after = &rest[i + 1..];
        rest = match after.strip_prefix('[') {
            // Parameters and intermediates are ASCII 0x20..=0x3f; the final byte 0x40..=0x7e.
            Some(csi) => match csi.find(|c: char| ('\x40'..='\x7e').contains(&c)) {
                Some(end) => &csi[end + 1..],
                None => "",
            },
            None => {
                let mut chars = after.chars();
                chars.next();
                chars.as_str()
            }
        };
    }
    w.write_str(rest)
}

/// The text format's field formatter: `message` first as written, then `name=value` with
/// `Debug` values (strings quoted), errors as `name=message name.sources=[…]`; no ANSI
/// styling, the escape character written as `\x1b`, `log.*` fields (a `log` record's
/// metadata, shown as the line's target) left out, as tracing-subscriber's default fields do.
///
/// Each value is formatted contained: one whose `Display`/`Debug` panics is written as
/// [`DEBUG_PANICKED`](crate::DEBUG_PANICKED) and the rest of the line is kept. The `fmt`
/// layer formats span fields with it while it holds the span's lock; since no panic leaves
/// the formatter, the lock is never poisoned.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextFields;

impl<'a> MakeVisitor<Writer<'a>> for TextFields {
    type Visitor = TextFieldsVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        TextFieldsVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

/// The visitor of [`TextFields`].
#[derive(Debug)]
pub struct TextFieldsVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

/// Writes through to `W`, the escape character as `\x1b`.
struct NoEscape<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for NoEscape<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find('\x1b') {
            self.0.write_str(&rest[..i])?;
            self.0.write_str("\\x1b")?;
            rest = &rest[i + 1..];
        }
        self.0.write_str(rest)
    }
}

impl TextFieldsVisitor<'_> {
    fn pad(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.result = self.writer.write_char(' ');
        }
    }
}

impl Visit for TextFieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let e = crate::ErrorValue::from_error(value);
        if e.sources.is_empty() {
            self.record_debug(field, &format_args!("{}", e.message));
        } else {
            let name = field.name().trim_start_matches("r#");
            self.record_debug(
                field,
                &format_args!("{} {name}.sources=[{}]", e.message, e.sources.join(", ")),
            );
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        self.pad();
        if self.result.is_err() {
            return;
        }
        let mut w = NoEscape(&mut self.writer);
        self.result = match name {
            "message" => write!(w, "{:?}", Guarded(value)),
            name => write!(w, "{}={:?}", name.trim_start_matches("r#"), Guarded(value)),
        };
    }
}

impl VisitOutput<fmt::Result> for TextFieldsVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for TextFieldsVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::write_without_ansi;

    #[test]
    fn ansi_sequences_are_removed() {
        let mut out = String::new();
        write_without_ansi(&mut out, "a\x1b[3mkey\x1b[0m\x1b[2m=\x1b[0m1 \x1bMx\x1b[").unwrap();
        assert_eq!(out, "akey=1 x");
    }
}
