//! The JSON line's own layer: events formatted with [`JsonFormat`], nothing kept per span.

use super::{JsonFormat, UtcTime};
use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write as _};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Writes one JSON line per event (see [`JsonFormat`]) to its writer; made by
/// [`JsonFormat::layer`].
///
/// Unlike `tracing_subscriber::fmt::Layer` it does nothing when a span opens, records or
/// closes: `fmt` keeps every span's fields formatted in an extension of its own, but this
/// line takes span fields from the correlation layer's record. Stack it after
/// [`layer()`](crate::layer()):
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(correlation::json().layer().with_writer(std::io::stderr));
/// ```
pub struct JsonLayer<T = UtcTime, W = fn() -> io::Stdout> {
    format: JsonFormat<T>,
    writer: W,
}

impl<T> JsonLayer<T> {
    pub(super) fn new(format: JsonFormat<T>) -> Self {
        Self {
            format,
            writer: io::stdout,
        }
    }
}

impl<T, W> JsonLayer<T, W> {
    /// Writes lines to `writer` (any `tracing_subscriber::fmt::MakeWriter`: `io::stderr`, a
    /// non-blocking writer, a test buffer) instead of stdout.
    pub fn with_writer<W2>(self, writer: W2) -> JsonLayer<T, W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLayer {
            format: self.format,
            writer,
        }
    }

    /// The format this layer writes.
    pub fn format(&self) -> &JsonFormat<T> {
        &self.format
    }
}

impl<T: fmt::Debug, W> fmt::Debug for JsonLayer<T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<S, T, W> Layer<S> for JsonLayer<T, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    T: FormatTime + 'static,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        thread_local! {
            // One line buffer per thread, reused (as `fmt` does).
            static BUF: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let write = |buf: &mut String| {
            let current = match event.parent() {
                Some(id) => ctx.span(id),
                None if event.is_contextual() => ctx.lookup_current(),
                None => None,
            };
            if self
                .format
                .format_line(current, Writer::new(buf), event)
                .is_ok()
            {
                // A writer that fails loses this line; nothing to report it to.
                let _ = self
                    .writer
                    .make_writer_for(event.metadata())
                    .write_all(buf.as_bytes());
            }
            buf.clear();
        };
        let reused = BUF.try_with(|buf| match buf.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                write(&mut buf);
                true
            }
            Err(_) => false,
        });
        // An event emitted while this thread is writing one (by the writer itself), or
        // during thread teardown: a buffer of its own.
        if !reused.unwrap_or(false) {
            write(&mut String::new());
        }
    }
}
