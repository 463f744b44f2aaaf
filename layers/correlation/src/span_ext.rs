//! Reading and setting a span's W3C context from application code.

use crate::data::{span_context, SpanContext, SpanData};
use crate::ids::{SpanId, TraceId};
use crate::record::SpanLink;
use crate::traceparent::{valid_tracestate, TraceParent};
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

/// W3C Trace Context on `tracing::Span`: continue a caller's trace, read ids for an outgoing
/// request, link spans. In the style of `tracing-opentelemetry`'s `OpenTelemetrySpanExt`.
///
/// Every method does nothing (and returns `None` or `false`) when the span is disabled or
/// the subscriber has no correlation layer over a `tracing_subscriber::Registry`.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
///
/// let subscriber = tracing_subscriber::registry().with(correlation::layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("POST /chat");
///     span.set_parent_from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
///     assert_eq!(span.trace_id().unwrap().to_string(), "0af7651916cd43dd8448eb211c80319c");
///     // Inject into an outgoing call:
///     let header = span.traceparent().unwrap();
///     assert!(header.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
/// });
/// ```
pub trait CorrelationSpanExt {
    /// Makes this span continue the remote trace in `traceparent`. Honoured until the span's
    /// ids are fixed (it is entered, gets a child or an event, or its ids are read); after
    /// that it is a no-op. A malformed value (any W3C rule broken) is ignored and the span
    /// keeps its fresh trace. Returns whether the parent was taken.
    fn set_parent_from_traceparent(&self, traceparent: &str) -> bool;

    /// Carries a remote `tracestate` through unchanged (to children and to outgoing calls).
    /// Same timing rule as [`Self::set_parent_from_traceparent`]; a value with non-ASCII
    /// characters or over 512 characters is ignored. Returns whether it was taken.
    fn set_tracestate(&self, tracestate: &str) -> bool;

    /// The `traceparent` to send with an outgoing request made inside this span.
    fn traceparent(&self) -> Option<String>;

    /// The `tracestate` to send with an outgoing request, if the trace carries one.
    fn tracestate(&self) -> Option<String>;

    /// Links this span to another span given by its `traceparent` (a batch job to the
    /// messages it processes, say). Returns whether the value was valid.
    fn add_link(&self, traceparent: &str) -> bool;

    /// The trace id (`operation_Id`).
    fn trace_id(&self) -> Option<TraceId>;

    /// The span id (`operation_ParentId` of what happens inside it).
    fn span_id(&self) -> Option<SpanId>;

    /// Trace id, span id, parent id and sampling decision together.
    fn span_context(&self) -> Option<SpanContext>;
}

fn with_span<T>(
    span: &tracing::Span,
    f: impl FnOnce(SpanRef<'_, Registry>) -> Option<T>,
) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        f(span)
    })
    .flatten()
}

fn with_data_mut<T>(span: &tracing::Span, f: impl FnOnce(&mut SpanData) -> T) -> Option<T> {
    with_span(span, |s| {
        let mut ext = s.extensions_mut();
        ext.get_mut::<SpanData>().map(f)
    })
}

impl CorrelationSpanExt for tracing::Span {
    fn set_parent_from_traceparent(&self, traceparent: &str) -> bool {
        let Some(parent) = TraceParent::parse(traceparent) else {
            return false;
        };
        with_data_mut(self, |d| d.set_remote_parent(parent)).unwrap_or(false)
    }

    fn set_tracestate(&self, tracestate: &str) -> bool {
        let Some(value) = valid_tracestate(tracestate) else {
            return false;
        };
        with_data_mut(self, |d| d.set_tracestate(value)).unwrap_or(false)
    }

    fn traceparent(&self) -> Option<String> {
        self.span_context().map(|c| c.traceparent())
    }

    fn tracestate(&self) -> Option<String> {
        with_span(self, |s| {
            s.extensions()
                .get::<SpanData>()
                .and_then(|d| d.tracestate().map(str::to_owned))
        })
    }

    fn add_link(&self, traceparent: &str) -> bool {
        let Some(tp) = TraceParent::parse(traceparent) else {
            return false;
        };
        with_data_mut(self, |d| {
            d.add_link(SpanLink {
                trace_id: tp.trace_id,
                span_id: tp.parent_id,
            })
        })
        .is_some()
    }

    fn trace_id(&self) -> Option<TraceId> {
        self.span_context().map(|c| c.trace_id)
    }

    fn span_id(&self) -> Option<SpanId> {
        self.span_context().map(|c| c.span_id)
    }

    fn span_context(&self) -> Option<SpanContext> {
        with_span(self, |s| span_context(&s))
    }
}
