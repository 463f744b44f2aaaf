use super::event_context;
use std::cell::RefCell;
use std::fmt;
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A human-readable line (by default `tracing_subscriber`'s full format) followed by
/// `operation_Id=… operation_ParentId=…` when the event happened inside a span:
///
/// ```text
/// 2026-11-22T10:00:00.000000Z  INFO POST /chat:llm: ai_service: answered tokens=46 operation_Id=0af7651916cd43dd8448eb211c80319c operation_ParentId=b7ad6b7169203331
/// ```
///
/// The inner format writes into a buffer first, so it never writes ANSI colours.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation as correlation;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(correlation::layer())
///     .with(tracing_subscriber::fmt::layer().event_format(correlation::text()));
/// ```
#[derive(Debug, Clone)]
pub struct TextFormat<F = Format<Full, SystemTime>> {
    inner: F,
}

/// The text format around `tracing_subscriber`'s default full format.
pub fn text() -> TextFormat {
    TextFormat {
        inner: Format::default().with_ansi(false),
    }
}

impl<F> TextFormat<F> {
    /// Wraps another event format (compact, pretty, your own) and appends the ids to it.
    pub fn wrap<F2>(inner: F2) -> TextFormat<F2> {
        TextFormat { inner }
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
            self.inner.format_event(ctx, Writer::new(buf), event)?;
            let line = buf.trim_end_matches('\n');
            writer.write_str(line)?;
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
