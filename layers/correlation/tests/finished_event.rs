//! An event is recorded once: every layer stacked after the correlation layer gets the same
//! `SharedRecord<FinishedEvent>` in its `on_event`, with the event's typed fields, its span's context
//! and that span's record as it was when the event was emitted.

use std::sync::{Arc, Mutex};
use tracing::subscriber::with_default;
use tracing_core::{Event, Subscriber};
use tracing_insights_correlation::{
    self as correlation, finished_event, CorrelationLayer, CorrelationSpanExt, FieldValue,
    FinishedEvent, SharedRecord,
};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Keeps what `finished_event` gave in `on_event`. It asks the correlation layer for shared
/// event records as an exporter does: with `Ask::Events`, records; with `Ask::SpanRecords`,
/// records that also carry their span's record.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Option<SharedRecord<FinishedEvent>>>>>, Ask);

#[derive(Clone, Copy, Default, PartialEq)]
enum Ask {
    #[default]
    Nothing,
    Events,
    SpanRecords,
}

impl Keep {
    fn asking() -> Self {
        Keep(Arc::default(), Ask::SpanRecords)
    }

    fn got(&self) -> Vec<Option<SharedRecord<FinishedEvent>>> {
        self.0.lock().unwrap().clone()
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Keep {
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        if let Some(c) = dispatch.downcast_ref::<CorrelationLayer>() {
            match self.1 {
                Ask::Nothing => {}
                Ask::Events => c.share_finished_events(),
                Ask::SpanRecords => c.share_event_span_records(),
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        self.0.lock().unwrap().push(finished_event(event));
    }
}

#[test]
fn every_exporter_after_the_correlation_layer_shares_one_event_record() {
    let (a, b, before) = (Keep::asking(), Keep::default(), Keep::default());
    let subscriber = tracing_subscriber::registry()
        .with(before.clone())
        .with(correlation::layer())
        .with(a.clone())
        .with(b.clone());
    let (ctx, ctx_after) = with_default(subscriber, || {
        let span = tracing::info_span!("request", session.id = "s-1", n = tracing::field::Empty);
        let _e = span.enter();
        tracing::warn!(answer = 42u64, ok = true, who = %"ada", "inside {}", 7);
        // Recorded after the event: the event keeps the span's record as it was.
        span.record("n", 5);
        tracing::info!("second");
        let ctx = (span.trace_id().unwrap(), span.span_id().unwrap());
        drop(_e);
        tracing::info!("outside");
        (ctx, span.span_id().unwrap())
    });
    assert_eq!(ctx.1, ctx_after);
    let (a, b) = (a.got(), b.got());
    assert_eq!(a.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        let (x, y) = (x.as_ref().expect("a record"), y.as_ref().expect("a record"));
        assert!(SharedRecord::ptr_eq(x, y), "one record for every layer");
    }
    let first = a[0].as_ref().unwrap();
    assert_eq!(*first.level(), tracing::Level::WARN);
    assert_eq!(first.message(), Some("inside 7"));
    assert_eq!(first.field("answer"), Some(&FieldValue::U64(42)));
    assert_eq!(first.field("ok"), Some(&FieldValue::Bool(true)));
    assert_eq!(first.field("who"), Some(&FieldValue::Str("ada".into())));
    assert_eq!(first.trace_id(), Some(ctx.0));
    assert_eq!(first.span_id(), Some(ctx.1));
    assert!(first.is_sampled());
    assert_eq!(first.sample_rate(), 100.0);
    let span = first.span_record().expect("the span's record");
    assert_eq!(span.name(), "request");
    assert_eq!(
        span.field("session.id"),
        Some(&FieldValue::Str("s-1".into()))
    );
    assert_eq!(span.field("n"), None, "recorded after this event");
    let second = a[1].as_ref().unwrap();
    assert_eq!(
        second.span_record().unwrap().field("n"),
        Some(&FieldValue::I64(5))
    );
    let outside = a[2].as_ref().unwrap();
    assert_eq!(outside.context(), None);
    assert!(outside.span_record().is_none());
    assert_eq!(outside.message(), Some("outside"));
    // A layer before the correlation layer sees no record of the event being dispatched.
    assert!(before.got().iter().all(Option::is_none));
}

#[test]
fn span_records_travel_with_events_only_when_an_exporter_asks_for_them() {
    let keep = Keep(Arc::default(), Ask::Events);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(keep.clone());
    let ids = with_default(subscriber, || {
        let span = tracing::info_span!("request", session.id = "s-1");
        span.in_scope(|| tracing::info!("inside"));
        (span.trace_id().unwrap(), span.span_id().unwrap())
    });
    let got = keep.got();
    let ev = got[0].as_ref().expect("a record");
    assert_eq!((ev.trace_id(), ev.span_id()), (Some(ids.0), Some(ids.1)));
    assert!(ev.resource().is_some());
    assert!(ev.span_record().is_none(), "nobody asked for span records");
}

#[test]
fn without_an_exporter_asking_no_event_is_recorded() {
    let keep = Keep::default();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(keep.clone());
    with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| tracing::info!("inside"));
    });
    assert_eq!(keep.got().len(), 1);
    assert!(keep.got()[0].is_none());
}

#[test]
fn a_record_made_without_the_correlation_layer_has_the_fields() {
    struct Make(Arc<Mutex<Option<FinishedEvent>>>);
    impl<S: Subscriber> Layer<S> for Make {
        fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
            *self.0.lock().unwrap() = Some(FinishedEvent::new(
                event,
                std::time::SystemTime::UNIX_EPOCH,
                None,
                100.0,
            ));
        }
    }
    let got = Arc::default();
    let subscriber = tracing_subscriber::registry().with(Make(Arc::clone(&got)));
    with_default(subscriber, || tracing::error!(code = -3i64, "boom"));
    let ev = got.lock().unwrap().take().expect("recorded");
    assert_eq!(ev.message(), Some("boom"));
    assert_eq!(ev.field("code"), Some(&FieldValue::I64(-3)));
    assert_eq!(ev.target(), module_path!());
    assert!(ev.is_sampled() && ev.context().is_none());
}
