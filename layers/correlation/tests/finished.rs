//! A closed span is finished once: every layer stacked after the correlation layer gets the
//! same `SharedRecord<FinishedSpan>` in its `on_close`, and a JSON line formats each span's fields
//! once but shows a field recorded later.

use std::sync::{Arc, Mutex};
use tracing::subscriber::with_default;
use tracing_core::span::Id;
use tracing_core::Subscriber;
use tracing_insights_correlation::{
    self as correlation, CorrelationLayer, CorrelationSpanExt, FieldValue, FinishedSpan,
    SharedRecord, SpanData, SpanStatus,
};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Keeps what `SpanData::finished` gave in `on_close`, and whether the span was finished
/// already. With `ask`, it asks the correlation layer for shared finished spans, as an
/// exporter does.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Kept>>>, bool);

/// Whether the span was finished, `SpanData::finished`, and `correlation::finished_span(id)`.
type Kept = (
    bool,
    SharedRecord<FinishedSpan>,
    Option<SharedRecord<FinishedSpan>>,
);

impl Keep {
    fn asking() -> Self {
        Keep(Arc::default(), true)
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Keep {
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        if let (true, Some(c)) = (self.1, dispatch.downcast_ref::<CorrelationLayer>()) {
            c.share_finished_spans();
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).expect("span");
        let ext = span.extensions();
        let data = ext.get::<SpanData>().expect("correlation data");
        self.0.lock().unwrap().push((
            data.is_finished(),
            data.finished(),
            correlation::finished_span(&id),
        ));
    }
}

#[test]
fn every_exporter_after_the_correlation_layer_shares_one_finished_span() {
    let (a, b, before) = (Keep::asking(), Keep::default(), Keep::default());
    let subscriber = tracing_subscriber::registry()
        .with(before.clone())
        .with(correlation::layer())
        .with(a.clone())
        .with(b.clone());
    let (trace, link) = with_default(subscriber, || {
        let other = tracing::info_span!("other");
        let link = other.span_id().unwrap();
        let span = tracing::info_span!("request", otel.kind = "server", user = "ada", n = 3);
        span.follows_from(&other);
        span.record("n", 4);
        span.in_scope(|| tracing::error!("failed"));
        let trace = span.trace_id().unwrap();
        drop(span);
        (trace, link)
    });
    let a = a.0.lock().unwrap();
    let b = b.0.lock().unwrap();
    let before = before.0.lock().unwrap();
    assert_eq!((a.len(), b.len(), before.len()), (2, 2, 2));
    // "other" closes last; "request" first.
    let (finished, span, handed) = &a[0];
    assert!(finished);
    assert!(
        SharedRecord::ptr_eq(span, &b[0].1),
        "one record for every exporter"
    );
    // Handed over without a lookup, to every layer after the correlation layer.
    assert!(SharedRecord::ptr_eq(
        span,
        handed.as_ref().expect("handed over")
    ));
    assert!(SharedRecord::ptr_eq(
        span,
        b[0].2.as_ref().expect("handed over")
    ));
    assert!(SharedRecord::ptr_eq(
        &a[1].1,
        a[1].2.as_ref().expect("handed over")
    ));
    assert_eq!(span.name(), "request");
    assert_eq!(span.trace_id(), trace);
    assert_eq!(span.kind(), correlation::SpanKind::Server);
    assert_eq!(
        span.record().fields(),
        &[
            ("user", FieldValue::Str("ada".into())),
            ("n", FieldValue::I64(4))
        ]
    );
    assert_eq!(span.status(), SpanStatus::Error { message: None });
    assert_eq!(span.event_count(), 1);
    assert_eq!(span.links().len(), 1);
    assert_eq!(span.links()[0].span_id, link);
    assert!(span.end_time() >= span.start_time());
    // A layer stacked before the correlation layer runs its `on_close` first (inner layers
    // close first): it gets a copy made then, with the same content.
    let (finished, copy, handed) = &before[0];
    assert!(!finished);
    assert!(handed.is_none(), "not finished yet: nothing handed over");
    assert!(!SharedRecord::ptr_eq(copy, span));
    assert_eq!(copy.record().fields(), span.record().fields());
    assert_eq!(copy.context(), span.context());
    assert_eq!(copy.links(), span.links());
    assert_eq!(copy.status(), span.status());
}

#[test]
fn without_an_exporter_asking_spans_are_not_finished_and_readers_get_copies() {
    let (a, b) = (Keep::default(), Keep::default());
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(a.clone())
        .with(b.clone());
    with_default(subscriber, || drop(tracing::info_span!("request", n = 1)));
    let (a, b) = (a.0.lock().unwrap(), b.0.lock().unwrap());
    assert!(!a[0].0 && !b[0].0);
    assert!(
        a[0].2.is_none() && b[0].2.is_none(),
        "nothing finished, nothing handed over"
    );
    assert!(!SharedRecord::ptr_eq(&a[0].1, &b[0].1));
    assert_eq!(a[0].1.record().fields(), b[0].1.record().fields());
    assert_eq!(
        a[0].1.end_time(),
        b[0].1.end_time(),
        "the end time is fixed once"
    );
}

#[test]
fn a_span_read_before_it_closes_gets_a_copy_with_the_same_content() {
    let copy = Arc::new(Mutex::new(None));
    let subscriber = tracing_subscriber::registry().with(correlation::layer());
    let keep = copy.clone();
    with_default(subscriber, move || {
        let span = tracing::info_span!("open", a = 1);
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch
                .downcast_ref::<tracing_subscriber::Registry>()
                .expect("registry");
            let data = registry.span(id).expect("span");
            let ext = data.extensions();
            let data = ext.get::<SpanData>().expect("data");
            assert!(!data.is_finished());
            *keep.lock().unwrap() = Some(data.finished());
        });
    });
    let copy = copy.lock().unwrap().take().expect("read");
    assert_eq!(copy.name(), "open");
    assert_eq!(copy.record().fields(), &[("a", FieldValue::I64(1))]);
}

#[test]
fn a_json_line_shows_a_span_field_recorded_after_an_earlier_line() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(correlation::json().layer().with_writer(out.clone()));
    with_default(subscriber, || {
        let outer = tracing::info_span!("outer", user = "ada", status = tracing::field::Empty);
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", k = 1);
        let _i = inner.enter();
        tracing::info!("first");
        outer.record("status", 200);
        tracing::info!("second");
    });
    let lines: Vec<serde_json::Value> = out
        .contents()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["spans"][0],
        serde_json::json!({"name": "outer", "user": "ada"})
    );
    assert_eq!(
        lines[1]["spans"][0],
        serde_json::json!({"name": "outer", "user": "ada", "status": 200})
    );
    for line in &lines {
        assert_eq!(line["span"], serde_json::json!({"name": "inner", "k": 1}));
        assert_eq!(line["spans"][1], line["span"]);
    }
}

#[test]
fn the_json_span_list_runs_from_the_root_at_any_depth() {
    for depth in [1usize, 3, 16, 17, 40] {
        let out = CaptureWriter::new();
        let subscriber = tracing_subscriber::registry()
            .with(correlation::layer())
            .with(correlation::json().layer().with_writer(out.clone()));
        with_default(subscriber, || {
            let spans: Vec<_> = (0..depth)
                .map(|i| {
                    let span = tracing::info_span!("level", i);
                    let entered = span.clone().entered();
                    (span, entered)
                })
                .collect();
            tracing::info!("deep");
            drop(spans);
        });
        let line: serde_json::Value =
            serde_json::from_str(out.contents().lines().next().expect("a line")).unwrap();
        let list = line["spans"].as_array().expect("spans");
        let levels: Vec<_> = list.iter().map(|s| s["i"].as_u64().unwrap()).collect();
        assert_eq!(
            levels,
            (0..depth as u64).collect::<Vec<_>>(),
            "depth {depth}"
        );
        assert_eq!(line["span"]["i"].as_u64(), Some(depth as u64 - 1));
    }
}
