//! One id source for a registry with both `tracing-opentelemetry`'s layer (0.34) and the
//! correlation layer: the log line's `operation_Id`, the App Insights envelope and the
//! OpenTelemetry SDK's exported span carry the same trace id.
//!
//! How: `tracing-opentelemetry` asks its tracer for a span builder when a `tracing` span is
//! made, and starts the OpenTelemetry span later (on first enter or read), when the SDK
//! draws ids from its provider's id generator. [`SharedIdTracer`] stamps fresh ids on each
//! builder and hands them to [`SharedIds`] (the correlation layer's [`IdSource`], asked in
//! the same `on_new_span`, right after), and [`SharedIdGenerator`] makes the SDK use those
//! ids when the span starts. A child takes its parent's trace id on both sides.

use crate::convert;
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracerProvider};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use tracing_insights_correlation::{ExternalIds, IdSource, NewSpan};

thread_local! {
    /// Ids stamped on the span builder just made on this thread, for the correlation layer's
    /// `on_new_span` that follows: (name, trace id, span id, remote parent).
    static PENDING: Cell<Option<Pending>> = const { Cell::new(None) };
    /// Ids the SDK's generator must hand out for the span being started on this thread.
    static STARTING: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

#[derive(Clone, Copy)]
struct Pending {
    name: *const u8,
    name_len: usize,
    trace_id: TraceId,
    span_id: SpanId,
    remote_parent: Option<(TraceId, SpanId, bool)>,
}

/// The SDK id generator for a tracer provider used through [`SharedIdTracer`]: hands out the
/// ids stamped on the span being started, else random ids. Install it with
/// `SdkTracerProvider::builder().with_id_generator(SharedIdGenerator::default())`.
#[derive(Debug, Default)]
pub struct SharedIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for SharedIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        STARTING
            .with(Cell::get)
            .map_or_else(|| self.random.new_trace_id(), |(t, _)| t)
    }

    fn new_span_id(&self) -> SpanId {
        STARTING
            .with(Cell::get)
            .map_or_else(|| self.random.new_span_id(), |(_, s)| s)
    }
}

/// Wraps the SDK tracer given to `tracing_opentelemetry::layer().with_tracer(..)` so that
/// its spans and the correlation layer's have the same ids. Made with [`shared_ids`].
#[derive(Clone, Debug)]
pub struct SharedIdTracer<T> {
    inner: T,
}

impl<T: Tracer> Tracer for SharedIdTracer<T> {
    type Span = T::Span;

    fn span_builder<N>(&self, name: N) -> SpanBuilder
    where
        N: Into<Cow<'static, str>>,
    {
        let name: Cow<'static, str> = name.into();
        let random = RandomIdGenerator::default();
        let (trace_id, span_id) = (random.new_trace_id(), random.new_span_id());
        // A root started under an OpenTelemetry context with a remote span (an extracted
        // `traceparent` made current) continues that trace, on both sides.
        let cx = Context::current();
        let span = cx.span();
        let sc = span.span_context();
        let remote_parent = sc
            .is_valid()
            .then(|| (sc.trace_id(), sc.span_id(), sc.is_sampled()));
        if let Cow::Borrowed(n) = name {
            PENDING.with(|p| {
                p.set(Some(Pending {
                    name: n.as_ptr(),
                    name_len: n.len(),
                    trace_id,
                    span_id,
                    remote_parent,
                }))
            });
        }
        // The ids travel with the builder (which `tracing-opentelemetry` keeps in the span
        // until it starts it, maybe on another thread) as a private attribute, taken out
        // again before the SDK sees the builder.
        SpanBuilder::from_name(name).with_attributes([KeyValue::new(
            IDS_KEY,
            format!("{trace_id:032x}{span_id:016x}"),
        )])
    }

    fn build_with_context(&self, mut builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        let ids = take_ids(&mut builder);
        STARTING.with(|s| s.set(ids));
        let span = self.inner.build_with_context(builder, parent_cx);
        STARTING.with(|s| s.set(None));
        span
    }
}

/// The private attribute carrying a builder's stamped ids.
const IDS_KEY: &str = "tracing_insights.ids";

/// Removes the stamped ids from `builder`'s attributes.
fn take_ids(builder: &mut SpanBuilder) -> Option<(TraceId, SpanId)> {
    let attrs = builder.attributes.as_mut()?;
    let i = attrs.iter().position(|kv| kv.key.as_str() == IDS_KEY)?;
    let kv = attrs.remove(i);
    let hex = kv.value.as_str();
    let (t, s) = (hex.get(..32)?, hex.get(32..)?);
    Some((TraceId::from_hex(t).ok()?, SpanId::from_hex(s).ok()?))
}

/// The correlation layer's [`IdSource`] for `tracing-opentelemetry`: adopts the ids that
/// [`SharedIdTracer`] stamped on the span's builder. Install with
/// `correlation::layer().with_id_source(ids)`, with the correlation layer stacked **after**
/// `tracing-opentelemetry`'s layer.
#[derive(Debug, Clone, Copy)]
pub struct SharedIds {
    _private: (),
}

impl IdSource for SharedIds {
    fn ids(&self, span: &NewSpan<'_>) -> Option<ExternalIds> {
        let p = PENDING.with(Cell::take)?;
        let name = span.metadata.name();
        if p.name != name.as_ptr() || p.name_len != name.len() {
            return None;
        }
        let span_id = convert::span_id(p.span_id)?;
        Some(match (span.parent, p.remote_parent) {
            (Some(parent), _) => ExternalIds {
                trace_id: parent.trace_id,
                span_id,
                parent_span_id: Some(parent.span_id),
                remote_parent: false,
                sampled: None,
            },
            (None, Some((t, s, sampled))) => ExternalIds {
                trace_id: convert::trace_id(t),
                span_id,
                parent_span_id: convert::span_id(s),
                remote_parent: true,
                sampled: Some(sampled),
            },
            (None, None) => ExternalIds {
                trace_id: convert::trace_id(p.trace_id),
                span_id,
                parent_span_id: None,
                remote_parent: false,
                sampled: None,
            },
        })
    }
}

/// The tracer's provider does not draw ids from [`SharedIdGenerator`]: its spans and the
/// correlation layer's would have two trace ids.
pub struct SharedIdsError;

impl fmt::Display for SharedIdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the tracer provider given to shared_ids does not use SharedIdGenerator: build it \
             with SdkTracerProvider::builder().with_id_generator(SharedIdGenerator::default()), \
             or the OpenTelemetry spans and the correlation layer would have different trace ids",
        )
    }
}

impl std::error::Error for SharedIdsError {}

/// The tracer for `tracing_opentelemetry::layer().with_tracer(..)` and the id source for
/// `correlation::layer().with_id_source(..)`, from a provider built with
/// [`SharedIdGenerator`]. Checks that at start-up (a probe span under an unsampled parent,
/// never exported) and returns [`SharedIdsError`] otherwise.
///
/// Stack `tracing-opentelemetry`'s layer before the correlation layer. A remote parent is
/// taken when it is OpenTelemetry's current context as the root span is made (extract the
/// `traceparent` with a propagator and `attach()` it); `OpenTelemetrySpanExt::set_parent` on a
/// made span would move only the OpenTelemetry side, so use the current context instead.
pub fn shared_ids(
    provider: &SdkTracerProvider,
    scope: impl Into<Cow<'static, str>>,
) -> Result<
    (
        SharedIdTracer<opentelemetry_sdk::trace::SdkTracer>,
        SharedIds,
    ),
    SharedIdsError,
> {
    use opentelemetry::trace::{Span as _, TracerProvider as _};
    let tracer = SharedIdTracer {
        inner: provider.tracer(scope),
    };
    let mut probe = tracer.span_builder("tracing-insights id check");
    // The span must take the stamped span id (its trace id is the parent's).
    let want = take_ids(&mut probe).map(|(_, s)| s);
    if let Some(s) = want {
        probe = probe.with_attributes([KeyValue::new(IDS_KEY, format!("{:032x}{s:016x}", 1u128))]);
    }
    PENDING.with(|p| p.set(None));
    let unsampled = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(1u128),
        SpanId::from(1u64),
        TraceFlags::default(),
        true,
        TraceState::default(),
    ));
    let mut span = tracer.build_with_context(probe, &unsampled);
    let got = span.span_context().span_id();
    span.end();
    if want != Some(got) {
        return Err(SharedIdsError);
    }
    Ok((tracer, SharedIds { _private: () }))
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for SharedIdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedIdsError({self})")
    }
}
