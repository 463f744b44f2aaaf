//! One trace with code that speaks the OpenTelemetry API: our current span as an
//! `opentelemetry::Context`, a layer that makes it OpenTelemetry's current context while a
//! span is entered, and a `TextMapPropagator` that injects and extracts our ids.

use crate::convert::{otel_span_id, otel_trace_id};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::{Context, ContextGuard};
use std::cell::RefCell;
use std::str::FromStr;
use tracing_core::span::Id;
use tracing_core::Subscriber;
use tracing_insights_correlation::{
    find_span_data, CorrelationSpanExt, SpanContext as CorrelationContext, TraceParent,
};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The ids of `span` (a `tracing` span with ids from the correlation layer) as an
/// OpenTelemetry span context; `None` when it has none (disabled, or no correlation layer).
pub fn span_context_of(span: &tracing::Span) -> Option<SpanContext> {
    Some(otel_span_context(span.span_context()?, span.tracestate()))
}

/// OpenTelemetry's current context with `span`'s ids as its span: spans started with it
/// (`tracer.start_with_context(name, &cx)`) are children of `span`, in its trace.
pub fn context_of(span: &tracing::Span) -> Context {
    let cx = Context::current();
    match span_context_of(span) {
        Some(sc) => cx.with_remote_span_context(sc),
        None => cx,
    }
}

/// [`context_of`] the current `tracing` span. Attach it (`current_context().attach()`)
/// before calling code that starts spans through the OpenTelemetry API, or stack
/// [`ContextLayer`] to have that done on every enter.
pub fn current_context() -> Context {
    context_of(&tracing::Span::current())
}

thread_local! {
    /// The OpenTelemetry contexts attached by [`ContextLayer`] on this thread, innermost last.
    static ATTACHED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// Makes each entered `tracing` span OpenTelemetry's current context on that thread (and
/// restores the previous one on exit), so that code using only the OpenTelemetry API
/// (`global::tracer(..).in_span(..)`, the Azure SDK's OpenTelemetry bridge) starts children
/// of our spans and its propagator forwards our `traceparent`. Stack it after the
/// correlation layer. Spans that OpenTelemetry code starts and makes current on top of it
/// are left alone: only the contexts this layer attached are detached, innermost first.
///
/// Not needed beside `tracing-opentelemetry`'s layer, whose context activation does the same
/// for its own spans (see [`shared_ids`](crate#beside-tracing-opentelemetry)).
#[derive(Debug, Default, Clone, Copy)]
pub struct ContextLayer;

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(sc) = ctx.span(id).and_then(|span| {
            find_span_data(&span, |d| {
                otel_span_context(d.context(), d.tracestate().map(str::to_owned))
            })
        }) else {
            return;
        };
        let guard = Context::current().with_remote_span_context(sc).attach();
        ATTACHED.with(|a| {
            if let Ok(mut a) = a.try_borrow_mut() {
                a.push((id.clone(), guard));
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        ATTACHED.with(|a| {
            let Ok(mut a) = a.try_borrow_mut() else {
                return;
            };
            // Innermost first; OpenTelemetry's context stack also takes out-of-order exits.
            if let Some(i) = a.iter().rposition(|(entered, _)| entered == id) {
                // Dropping the guard restores the context that was current before.
                let popped = a.remove(i);
                drop(a);
                drop(popped);
            }
        });
    }
}

/// Our ids as an OpenTelemetry span context (local: it is ours, in this process).
fn otel_span_context(c: CorrelationContext, tracestate: Option<String>) -> SpanContext {
    let state = tracestate
        .and_then(|s| TraceState::from_str(&s).ok())
        .unwrap_or_default();
    let flags = if c.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        otel_trace_id(c.trace_id),
        otel_span_id(c.span_id),
        flags,
        false,
        state,
    )
}

/// A W3C Trace Context propagator that knows our spans: `inject` writes the context's
/// OpenTelemetry span when it has one, else the current `tracing` span's ids (so
/// OpenTelemetry API code inside our span forwards our `traceparent`); `extract` reads
/// `traceparent` / `tracestate` into a remote span context. Install it with
/// `opentelemetry::global::set_text_map_propagator(InsightsPropagator::new())`.
#[derive(Debug, Default, Clone, Copy)]
pub struct InsightsPropagator {
    _private: (),
}

impl InsightsPropagator {
    /// The propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for InsightsPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let sc = cx.span().span_context().clone();
        let sc = if sc.is_valid() {
            sc
        } else {
            match span_context_of(&tracing::Span::current()) {
                Some(sc) => sc,
                None => return,
            }
        };
        injector.set(
            TRACEPARENT,
            format!(
                "00-{}-{}-{:02x}",
                sc.trace_id(),
                sc.span_id(),
                sc.trace_flags().to_u8() & 0x01
            ),
        );
        let state = sc.trace_state().header();
        if !state.is_empty() {
            injector.set(TRACESTATE, state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(tp) = extractor.get(TRACEPARENT).and_then(TraceParent::parse) else {
            return cx.clone();
        };
        let state = extractor
            .get(TRACESTATE)
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default();
        let sc = SpanContext::new(
            otel_trace_id(tp.trace_id),
            otel_span_id(tp.parent_id),
            TraceFlags::new(tp.flags & 0x01),
            true,
            state,
        );
        cx.with_remote_span_context(sc)
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        opentelemetry::propagation::text_map_propagator::FieldIter::new(fields())
    }
}

fn fields() -> &'static [String] {
    static NAMES: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()])
}

/// Makes the remote span of `cx` (from [`InsightsPropagator`]'s `extract`, or any
/// OpenTelemetry context) the parent of the `tracing` span `span`, as
/// [`CorrelationSpanExt::set_parent_from_traceparent`] does: before its ids are fixed.
/// Returns whether it was taken.
pub fn set_parent(span: &tracing::Span, cx: &Context) -> bool {
    let binding = cx.span();
    let sc = binding.span_context();
    if !sc.is_valid() {
        return false;
    }
    let ok = span.set_parent_from_traceparent(&format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8() & 0x01
    ));
    let state = sc.trace_state().header();
    if ok && !state.is_empty() {
        span.set_tracestate(&state);
    }
    ok
}
