//! Log line formats for `tracing_subscriber::fmt` that carry Azure's correlation ids.
//!
//! Both formats write `operation_Id` (the trace id, 32 hex) and `operation_ParentId` (the
//! current span's id, 16 hex) into every line emitted inside a span, and leave them out of
//! lines emitted outside any span, so a log query joins with Application Insights and with
//! any OTLP backend on the same ids.

mod json;
mod json_layer;
mod text;
mod time;
mod write;

pub use json::{json, JsonFormat, NoSpanFields};
pub use json_layer::JsonLayer;
pub use text::{text, TextFields, TextFieldsVisitor, TextFormat};
pub use time::{utc_rfc3339_micros, write_zero_padded, UtcTime};
pub use write::{write_decimal, write_json_str};

use crate::data::{span_context, SpanContext};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// The ids of the span an event happened in (its explicit parent, or the current span): as
/// the correlation layer handed them over for this event, else from the nearest ancestor
/// this formatter's layer can see.
pub(crate) fn event_context<S, N>(
    ctx: &FmtContext<'_, S, N>,
    event: &Event<'_>,
) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static,
{
    if let Some(seen) = crate::event_context::event_context(event) {
        return seen;
    }
    let span = match event.parent() {
        Some(id) => ctx.span(id),
        None if event.is_contextual() => ctx.lookup_current(),
        None => None,
    }?;
    span_context(&span)
}
