//! An external id source: the correlation layer adopts the ids another layer (stacked before
//! it) gave a span, so that log lines, exporters and the other system share one trace id.

use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Subscriber;
use tracing_insights_correlation::{
    self as correlation, CorrelationSpanExt, ExternalIds, IdSource, NewSpan, Sampler, SpanId,
    TraceId,
};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// The other system's ids for a span, in the span's extensions.
#[derive(Clone, Copy, Debug)]
struct TheirIds {
    trace: TraceId,
    span: SpanId,
    parent: Option<SpanId>,
    sampled: Option<bool>,
}

/// The other system: a layer that numbers spans itself (trace ids from 0xA000…, span ids
/// from 0xB000…), children in their parent's trace; spans named `untracked` get nothing.
struct TheirLayer {
    next: AtomicU64,
    sampled: Option<bool>,
}

impl TheirLayer {
    fn new(sampled: Option<bool>) -> Self {
        Self {
            next: AtomicU64::new(1),
            sampled,
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for TheirLayer {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() == "untracked" {
            return;
        }
        let span = ctx.span(id).unwrap();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<TheirIds>().copied());
        let ids = TheirIds {
            trace: parent.map(|p| p.trace).unwrap_or_else(|| {
                TraceId::from_bytes(
                    (0xA000_0000_0000_0000_0000_0000_0000_0000 + u128::from(n)).to_be_bytes(),
                )
            }),
            span: SpanId::from_bytes((0xB000_0000_0000_0000 + n).to_be_bytes()),
            parent: parent.map(|p| p.span),
            sampled: self.sampled,
        };
        span.extensions_mut().insert(ids);
    }
}

#[derive(Debug)]
struct Theirs;

impl IdSource for Theirs {
    fn ids(&self, span: &NewSpan<'_>) -> Option<ExternalIds> {
        let ids = span.extensions.get::<TheirIds>()?;
        Some(ExternalIds {
            trace_id: ids.trace,
            span_id: ids.span,
            parent_span_id: ids.parent,
            remote_parent: false,
            sampled: ids.sampled,
        })
    }
}

#[test]
fn spans_take_the_sources_ids_and_log_lines_show_them() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(TheirLayer::new(None))
        .with(correlation::layer().with_id_source(Theirs))
        .with(correlation::json().layer().with_writer(out.clone()));
    let (root, child, own) = tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("request");
        // The source owns these ids: a remote parent set here would part the two systems.
        assert!(!root.set_parent_from_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        let _r = root.enter();
        let child = tracing::info_span!("db");
        child.in_scope(|| tracing::info!("query"));
        // A span the source does not know gets the layer's own span id, in the same trace.
        let own = tracing::info_span!("untracked");
        (
            root.span_context().unwrap(),
            child.span_context().unwrap(),
            own.span_context().unwrap(),
        )
    });
    let their_trace = TraceId::from_hex("a0000000000000000000000000000001").unwrap();
    assert_eq!(root.trace_id, their_trace);
    assert_eq!(root.span_id.to_string(), "b000000000000001");
    assert_eq!(root.parent_span_id, None);
    assert!(root.sampled, "the layer's sampler (keep all) decided");
    assert_eq!(child.trace_id, their_trace);
    assert_eq!(child.span_id.to_string(), "b000000000000002");
    assert_eq!(child.parent_span_id, Some(root.span_id));
    assert_eq!(own.trace_id, their_trace);
    assert_eq!(own.parent_span_id, Some(root.span_id));
    assert!(!own.span_id.to_string().starts_with("b0000000"));
    let line = &out.json_lines()[0];
    assert_eq!(line["operation_Id"], their_trace.to_string());
    assert_eq!(line["operation_ParentId"], "b000000000000002");
}

#[test]
fn the_sources_sampling_decision_wins_else_the_sampler_decides() {
    for (theirs, sampler, want) in [
        (Some(true), Sampler::always_off(), true),
        (Some(false), Sampler::always_on(), false),
        (None, Sampler::always_off(), false),
        (None, Sampler::always_on(), true),
    ] {
        let subscriber = tracing_subscriber::registry()
            .with(TheirLayer::new(theirs))
            .with(
                correlation::layer()
                    .with_sampler(sampler.clone())
                    .with_id_source(Theirs),
            );
        let (root, child) = tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("request");
            let child = root.in_scope(|| tracing::info_span!("child"));
            (root.span_context().unwrap(), child.span_context().unwrap())
        });
        assert_eq!(root.sampled, want, "{theirs:?} {sampler:?}");
        assert_eq!(child.sampled, want, "{theirs:?} {sampler:?}");
    }
}

#[test]
fn invalid_ids_from_the_source_are_ignored() {
    #[derive(Debug)]
    struct Zero;
    impl IdSource for Zero {
        fn ids(&self, _: &NewSpan<'_>) -> Option<ExternalIds> {
            Some(ExternalIds {
                trace_id: TraceId::INVALID,
                span_id: SpanId::INVALID,
                parent_span_id: None,
                remote_parent: false,
                sampled: Some(false),
            })
        }
    }
    let subscriber = tracing_subscriber::registry().with(correlation::layer().with_id_source(Zero));
    let ctx = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        assert!(span.set_parent_from_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        span.span_context().unwrap()
    });
    assert_eq!(ctx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert!(ctx.sampled);
}
