//! Ids: the JSON log line, the span extension trait and children agree; remote parents are
//! honoured until the ids are fixed.

use tracing::subscriber::with_default;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, Sampler, TraceParent};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::prelude::*;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn json_subscriber(out: &CaptureWriter) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(correlation::layer())
        .with(correlation::json().layer().with_writer(out.clone()))
}

#[test]
fn log_line_ids_equal_the_extension_trait_ids() {
    let out = CaptureWriter::new();
    let (trace, span_id) = with_default(json_subscriber(&out), || {
        let span = tracing::info_span!("request", user = "ada");
        let _e = span.enter();
        tracing::info!(answer = 42, "inside");
        (span.trace_id().unwrap(), span.span_id().unwrap())
    });
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["operation_Id"], trace.to_string());
    assert_eq!(lines[0]["operation_ParentId"], span_id.to_string());
    assert_eq!(lines[0]["fields"]["answer"], 42);
    assert_eq!(lines[0]["fields"]["message"], "inside");
    assert_eq!(lines[0]["span"]["name"], "request");
    assert_eq!(lines[0]["span"]["user"], "ada");
}

#[test]
fn lines_outside_spans_have_no_ids() {
    let out = CaptureWriter::new();
    with_default(json_subscriber(&out), || tracing::warn!("outside"));
    let line = &out.json_lines()[0];
    assert!(line.get("operation_Id").is_none());
    assert!(line.get("operation_ParentId").is_none());
    assert_eq!(line["level"], "WARN");
}

#[test]
fn children_share_the_trace_and_point_at_their_parent() {
    with_default(
        tracing_subscriber::registry().with(correlation::layer()),
        || {
            let root = tracing::info_span!("root");
            let child = tracing::info_span!(parent: &root, "child");
            let grandchild = tracing::info_span!(parent: &child, "grandchild");
            let (r, c, g) = (
                root.span_context().unwrap(),
                child.span_context().unwrap(),
                grandchild.span_context().unwrap(),
            );
            assert_eq!(r.trace_id, c.trace_id);
            assert_eq!(c.trace_id, g.trace_id);
            assert_eq!(r.parent_span_id, None);
            assert_eq!(c.parent_span_id, Some(r.span_id));
            assert_eq!(g.parent_span_id, Some(c.span_id));
            assert_ne!(r.span_id, c.span_id);
            // A second root starts a new trace.
            let other = tracing::info_span!(parent: None, "other");
            assert_ne!(other.trace_id().unwrap(), r.trace_id);
        },
    );
}

#[test]
fn traceparent_round_trips_and_continues_the_remote_trace() {
    let out = CaptureWriter::new();
    with_default(json_subscriber(&out), || {
        let span = tracing::info_span!("request");
        assert!(span.set_parent_from_traceparent(TP));
        assert!(span.set_tracestate("congo=t61rcWkgMzE"));
        let ctx = span.span_context().unwrap();
        assert_eq!(ctx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(ctx.parent_span_id.unwrap().to_string(), "b7ad6b7169203331");
        assert!(ctx.remote_parent);
        let out_header = span.traceparent().unwrap();
        let parsed = TraceParent::parse(&out_header).unwrap();
        assert_eq!(parsed.trace_id, ctx.trace_id);
        assert_eq!(parsed.parent_id, ctx.span_id);
        assert!(parsed.sampled());
        span.in_scope(|| {
            let child = tracing::info_span!("llm");
            assert_eq!(child.tracestate().as_deref(), Some("congo=t61rcWkgMzE"));
            child.in_scope(|| tracing::info!("in child"));
        });
    });
    let line = &out.json_lines()[0];
    assert_eq!(line["operation_Id"], "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn a_parent_set_after_the_ids_are_fixed_is_a_no_op() {
    with_default(
        tracing_subscriber::registry().with(correlation::layer()),
        || {
            let entered = tracing::info_span!("entered");
            entered.in_scope(|| {});
            let before = entered.trace_id().unwrap();
            assert!(!entered.set_parent_from_traceparent(TP));
            assert_eq!(entered.trace_id().unwrap(), before);

            let with_child = tracing::info_span!("parent");
            let _child = tracing::info_span!(parent: &with_child, "child");
            assert!(!with_child.set_parent_from_traceparent(TP));

            let read = tracing::info_span!("read");
            let _ = read.trace_id();
            assert!(!read.set_parent_from_traceparent(TP));

            let with_event = tracing::info_span!("event");
            tracing::info!(parent: &with_event, "e");
            assert!(!with_event.set_parent_from_traceparent(TP));
        },
    );
}

#[test]
fn malformed_traceparent_starts_a_fresh_trace() {
    with_default(
        tracing_subscriber::registry().with(correlation::layer()),
        || {
            let span = tracing::info_span!("request");
            assert!(!span.set_parent_from_traceparent(
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"
            ));
            let ctx = span.span_context().unwrap();
            assert!(ctx.trace_id.is_valid());
            assert_ne!(ctx.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
            assert!(!ctx.remote_parent);
        },
    );
}

#[test]
fn links_from_traceparent_and_follows_from() {
    use tracing_insights_correlation::SpanData;
    use tracing_subscriber::registry::LookupSpan;
    let subscriber = tracing_subscriber::registry().with(correlation::layer());
    with_default(subscriber, || {
        let batch = tracing::info_span!("batch");
        let earlier = tracing::info_span!("earlier");
        assert!(batch.add_link(TP));
        batch.follows_from(&earlier);
        assert!(!batch.add_link("nonsense"));
        let links = batch
            .with_subscriber(|(id, d)| {
                let reg = d.downcast_ref::<tracing_subscriber::Registry>()?;
                let span = reg.span(id)?;
                let ext = span.extensions();
                ext.get::<SpanData>().map(|d| d.links().to_vec())
            })
            .flatten()
            .unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(
            links[0].trace_id.to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(links[1].span_id, earlier.span_id().unwrap());
    });
}

#[test]
fn sampling_is_decided_once_at_the_root_and_inherited() {
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::always_off()));
    with_default(subscriber, || {
        let root = tracing::info_span!("root");
        let child = tracing::info_span!(parent: &root, "child");
        assert!(!root.span_context().unwrap().sampled);
        assert!(!child.span_context().unwrap().sampled);
        assert!(root.traceparent().unwrap().ends_with("-00"));
    });
    // A ratio sampler keeps exactly the traces whose Application Insights score is below it.
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_sampler(Sampler::ratio(0.5).unwrap()));
    with_default(subscriber, || {
        for tp in [
            (
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                false,
            ), // 0.5279
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00",
                true,
            ), // 0.3346
        ] {
            let span = tracing::info_span!("request");
            span.set_parent_from_traceparent(tp.0);
            assert_eq!(span.span_context().unwrap().sampled, tp.1, "{}", tp.0);
        }
    });
}

#[test]
fn remote_sampled_flag_is_honoured_only_when_asked() {
    let off_flag = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00";
    with_default(
        tracing_subscriber::registry().with(correlation::layer()),
        || {
            let span = tracing::info_span!("request");
            span.set_parent_from_traceparent(off_flag);
            assert!(span.span_context().unwrap().sampled);
        },
    );
    let sampler = Sampler::always_on().respect_remote_parent(true);
    with_default(
        tracing_subscriber::registry().with(correlation::layer().with_sampler(sampler)),
        || {
            let span = tracing::info_span!("request");
            span.set_parent_from_traceparent(off_flag);
            assert!(!span.span_context().unwrap().sampled);
        },
    );
}

#[test]
fn span_record_holds_typed_fields_kind_and_status() {
    use tracing_insights_correlation::{FieldValue, SpanData, SpanKind, SpanStatus};
    use tracing_subscriber::registry::LookupSpan;
    with_default(
        tracing_subscriber::registry().with(correlation::layer()),
        || {
            let err = std::io::Error::other("disk on fire");
            let span = tracing::info_span!(
                "db",
                otel.name = "SELECT docs",
                otel.kind = "client",
                db.system.name = "postgresql",
                rows = tracing::field::Empty,
                ratio = 0.5f64,
                ok = true,
                error = tracing::field::Empty,
            );
            span.record("rows", 7u64);
            span.record("error", &err as &(dyn std::error::Error + 'static));
            span.in_scope(|| tracing::error!("failed"));
            span.with_subscriber(|(id, d)| {
            let reg = d.downcast_ref::<tracing_subscriber::Registry>().unwrap();
            let s = reg.span(id).unwrap();
            let ext = s.extensions();
            let data = ext.get::<SpanData>().unwrap();
            assert_eq!(data.name(), "SELECT docs");
            assert_eq!(data.kind(), SpanKind::Client);
            assert_eq!(data.status(), SpanStatus::Error { message: None });
            assert_eq!(data.event_count(), 1);
            let r = data.record();
            assert_eq!(r.field("db.system.name"), Some(&FieldValue::Str("postgresql".into())));
            assert_eq!(r.field("rows"), Some(&FieldValue::U64(7)));
            assert_eq!(r.field("ratio"), Some(&FieldValue::F64(0.5)));
            assert_eq!(r.field("ok"), Some(&FieldValue::Bool(true)));
            assert!(matches!(r.field("error"), Some(FieldValue::Error(e)) if e.message == "disk on fire"));
            assert!(r.field("otel.kind").is_none());
        });
        },
    );
}

#[test]
fn injected_ids_and_clock_are_used() {
    use std::time::{Duration, UNIX_EPOCH};
    use tracing_insights_correlation::testing::{ManualClock, ScriptedIds};
    use tracing_insights_correlation::{SpanData, SpanId, TraceId};
    use tracing_subscriber::registry::LookupSpan;
    let ids = ScriptedIds::new();
    ids.push_trace_id(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap());
    ids.push_span_id(SpanId::from_hex("00f067aa0ba902b7").unwrap());
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let subscriber = tracing_subscriber::registry().with(
        correlation::layer()
            .with_id_generator(ids.clone())
            .with_clock(clock.clone()),
    );
    with_default(subscriber, || {
        let span = tracing::info_span!("scripted");
        clock.advance(Duration::from_millis(250));
        let ctx = span.span_context().unwrap();
        assert_eq!(ctx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id.to_string(), "00f067aa0ba902b7");
        span.with_subscriber(|(id, d)| {
            let reg = d.downcast_ref::<tracing_subscriber::Registry>().unwrap();
            let s = reg.span(id).unwrap();
            let ext = s.extensions();
            let data = ext.get::<SpanData>().unwrap();
            assert_eq!(data.duration(), Duration::from_millis(250));
        });
    });
}

#[test]
fn a_rate_limited_sampler_keeps_by_score_below_its_adaptive_percentage() {
    use std::sync::{Arc, Mutex};
    use tracing_insights_correlation::{sampler::score, SpanData};
    use tracing_subscriber::layer::Context;

    /// (score, sampled, sampleRate) of each closed root.
    #[derive(Clone, Default)]
    struct Roots(Arc<Mutex<Vec<(f64, bool, f64)>>>);
    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
        tracing_subscriber::Layer<S> for Roots
    {
        fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
            let span = ctx.span(&id).unwrap();
            let ext = span.extensions();
            let d = ext.get::<SpanData>().unwrap();
            let row = (score(d.trace_id()), d.is_sampled(), d.sample_rate());
            self.0.lock().unwrap().push(row);
        }
    }

    for (limit, requests) in [(0.0, 20), (1e12, 20), (5.0, 300)] {
        let roots = Roots::default();
        let subscriber = tracing_subscriber::registry()
            .with(correlation::layer().with_sampler(Sampler::rate_limited(limit).unwrap()))
            .with(roots.clone());
        with_default(subscriber, || {
            for _ in 0..requests {
                let span = tracing::info_span!("request");
                // A remote parent set after creation is decided at the same percentage.
                span.set_parent_from_traceparent(TP);
                drop(span);
            }
        });
        let roots = roots.0.lock().unwrap().clone();
        assert_eq!(roots.len(), requests);
        for (score, sampled, rate) in &roots {
            // A whole fraction, 100 / n (or 0), and the score decides against it.
            let n = 100.0 / rate;
            assert!(*rate == 0.0 || (n - n.round()).abs() < 1e-6, "{rate}");
            assert_eq!(*sampled, score * 100.0 < *rate, "{score} {rate}");
        }
        let kept = roots.iter().filter(|r| r.1).count();
        match limit {
            0.0 => assert!(roots.iter().all(|r| r.2 == 0.0 && !r.1)),
            l if l > 1e9 => assert!(roots.iter().all(|r| r.2 == 100.0 && r.1)),
            // A burst far above 5 per second: the percentage falls, most are dropped.
            _ => assert!(kept < requests / 2, "{kept} of {requests} kept"),
        }
    }
}
