//! Per-layer filters, `reload`, `Option<Layer>`, stacking twice and layer order leave ids
//! unchanged.

use tracing::subscriber::with_default;
use tracing_insights_correlation::{self as correlation, testing::ScriptedIds, CorrelationSpanExt};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::filter::{filter_fn, EnvFilter, LevelFilter};
use tracing_subscriber::{prelude::*, reload};

/// The ids of a fixed workload: one root, one child, one event in the child.
fn workload() -> (String, String, String) {
    let root = tracing::info_span!("root");
    let _r = root.enter();
    let child = tracing::debug_span!("child");
    let _c = child.enter();
    tracing::info!("event");
    (
        root.trace_id().map(|t| t.to_string()).unwrap_or_default(),
        root.span_id().map(|t| t.to_string()).unwrap_or_default(),
        child.span_id().map(|t| t.to_string()).unwrap_or_default(),
    )
}

fn scripted() -> correlation::CorrelationLayer {
    correlation::layer().with_id_generator(ScriptedIds::new())
}

#[test]
fn same_ids_through_any_stack() {
    let baseline = with_default(tracing_subscriber::registry().with(scripted()), workload);
    assert_eq!(baseline.0, "00000000000000000000000000000001");

    // Per-layer filter on another layer.
    let out = CaptureWriter::new();
    let filtered = tracing_subscriber::registry().with(scripted()).with(
        correlation::json()
            .layer()
            .with_writer(out.clone())
            .with_filter(LevelFilter::WARN),
    );
    assert_eq!(with_default(filtered, workload), baseline);

    // Global EnvFilter that allows everything, as a reload layer.
    let (env, _handle) = reload::Layer::new(EnvFilter::new("trace"));
    let reloaded = tracing_subscriber::registry().with(env).with(scripted());
    assert_eq!(with_default(reloaded, workload), baseline);

    // The correlation layer itself behind reload and Option.
    let (inner, _h) = reload::Layer::new(scripted());
    let reload_corr = tracing_subscriber::registry().with(inner);
    assert_eq!(with_default(reload_corr, workload), baseline);
    let optional = tracing_subscriber::registry().with(Some(scripted()));
    assert_eq!(with_default(optional, workload), baseline);

    // Stacked twice: the first layer's ids stand, nothing panics.
    let twice = tracing_subscriber::registry()
        .with(scripted())
        .with(scripted());
    assert_eq!(with_default(twice, workload), baseline);

    // Order: formatting layer first, correlation after.
    let out2 = CaptureWriter::new();
    let fmt_first = tracing_subscriber::registry()
        .with(correlation::json().layer().with_writer(out2.clone()))
        .with(scripted());
    assert_eq!(with_default(fmt_first, workload), baseline);
    let line = &out2.json_lines()[0];
    assert_eq!(line["operation_Id"], baseline.0);
    assert_eq!(line["operation_ParentId"], baseline.2);
}

#[test]
fn a_span_hidden_from_a_formatter_still_gets_the_real_ids() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry().with(scripted()).with(
        correlation::json()
            .layer()
            .with_writer(out.clone())
            .with_filter(filter_fn(|m| m.is_event() || m.name() != "child")),
    );
    let ids = with_default(subscriber, workload);
    let line = &out.json_lines()[0];
    assert_eq!(line["operation_Id"], ids.0);
    // The formatter cannot see `child`, but the correlation layer handed over the event's
    // real context: the line points at `child`, as an unfiltered sink's line would.
    assert_eq!(line["operation_ParentId"], ids.2);
    // Only the span list is filtered: it shows what the formatter may see.
    assert_eq!(line["span"]["name"], "root");
}

#[test]
fn without_the_handover_a_formatter_falls_back_to_the_nearest_visible_ancestor() {
    // The formatter is stacked before the correlation layer, so it formats each event
    // before the correlation layer has seen it: it walks the spans it can see.
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::json()
                .layer()
                .with_writer(out.clone())
                .with_filter(filter_fn(|m| m.is_event() || m.name() != "child")),
        )
        .with(scripted());
    let ids = with_default(subscriber, workload);
    let line = &out.json_lines()[0];
    assert_eq!(line["operation_Id"], ids.0);
    assert_eq!(line["operation_ParentId"], ids.1);
}

#[test]
fn a_filter_on_the_correlation_layer_falls_back_to_ancestor_ids() {
    // A second, unfiltered layer keeps `child` alive; only the correlation layer cannot see it.
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(scripted().with_filter(filter_fn(|m| m.name() != "child")))
        .with(correlation::json().layer().with_writer(out.clone()));
    with_default(subscriber, || {
        let root = tracing::info_span!("root");
        let child = tracing::info_span!(parent: &root, "child");
        let grandchild = tracing::info_span!(parent: &child, "grandchild");
        let r = root.span_context().unwrap();
        assert_eq!(grandchild.trace_id(), Some(r.trace_id));
        assert_eq!(
            grandchild.span_context().unwrap().parent_span_id,
            Some(r.span_id)
        );
        // Inside the hidden span, lines carry the nearest visible ancestor's ids.
        child.in_scope(|| tracing::info!("in hidden child"));
        assert!(child.span_id().is_none() || child.span_id() == Some(r.span_id));
    });
    let line = &out.json_lines()[0];
    assert_eq!(line["operation_Id"], "00000000000000000000000000000001");
    assert_eq!(line["operation_ParentId"], "0000000000000002");
}

#[test]
fn no_correlation_layer_means_no_ids_and_no_panic() {
    with_default(tracing_subscriber::registry(), || {
        let span = tracing::info_span!("x");
        assert!(span.trace_id().is_none());
        assert!(!span.set_parent_from_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
    });
    let disabled = tracing::Span::none();
    assert!(disabled.traceparent().is_none());
}
