//! The local trace waterfall, snapshot-tested on the example's failing request shape:
//! `POST /chat` (server) → `SELECT kb.documents` (client) → `chat gpt-4o` (client, fails).

use std::time::{Duration, UNIX_EPOCH};
use tracing::field::Empty;
use tracing_insights::correlation::testing::{ManualClock, ScriptedIds};
use tracing_insights::correlation::{self, CorrelationSpanExt, TraceId};
use tracing_insights::waterfall::WaterfallLayer;
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::prelude::*;

fn stack(clock: &ManualClock, out: &CaptureWriter) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(
            correlation::layer()
                .with_clock(clock.clone())
                .with_id_generator(ScriptedIds::new()),
        )
        .with(WaterfallLayer::new().with_writer(out.clone()))
}

/// One request as ai_service makes it; `fail` makes the LLM call fail.
fn request(clock: &ManualClock, fail: bool, traceparent: Option<&str>) {
    let ms = |n| clock.advance(Duration::from_millis(n));
    let request = tracing::info_span!("POST /chat", otel.kind = "server", otel.status_code = Empty);
    if let Some(tp) = traceparent {
        assert!(request.set_parent_from_traceparent(tp));
    }
    let _r = request.enter();
    ms(1);
    tracing::info_span!("SELECT kb.documents", otel.kind = "client").in_scope(|| ms(4));
    ms(1);
    let llm = tracing::info_span!(
        "chat gpt-4o",
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_message = Empty
    );
    llm.in_scope(|| ms(22));
    if fail {
        llm.record("otel.status_code", "error");
        llm.record(
            "otel.status_message",
            "LLM provider rate-limited the request",
        );
        request.record("otel.status_code", "error");
    }
    drop(llm);
    ms(2);
}

#[test]
fn a_failing_request_shows_its_timeline_the_slowest_span_and_the_error() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let out = CaptureWriter::new();
    tracing::subscriber::with_default(stack(&clock, &out), || request(&clock, true, None));
    let expected = "\
trace 00000000000000000000000000000001
  POST /chat             server      30.0 ms |████████████████████████████████████████| error
    SELECT kb.documents  client       4.0 ms | ██████                                 |
    chat gpt-4o          client      22.0 ms |        █████████████████████████████   | ◀ slowest, error: LLM provider rate-limited the request
";
    assert_eq!(out.contents(), expected, "\n{}", out.contents());
}

#[test]
fn every_trace_is_shown_when_its_root_closes() {
    let clock = ManualClock::new(UNIX_EPOCH);
    let out = CaptureWriter::new();
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    tracing::subscriber::with_default(stack(&clock, &out), || {
        for i in 0..20 {
            request(&clock, i % 10 == 9, (i == 0).then_some(tp));
        }
    });
    let text = out.contents();
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("trace ")).collect();
    assert_eq!(headers.len(), 20, "{text}");
    assert_eq!(
        headers[0],
        "trace 0af7651916cd43dd8448eb211c80319c  (continues remote parent b7ad6b7169203331)"
    );
    // Each block: its header, then the request and its two calls.
    assert_eq!(text.lines().count(), 20 * 4);
    let failed = text.lines().filter(|l| l.ends_with("| error")).count();
    assert_eq!(failed, 2, "{text}");
}

#[test]
fn a_trace_is_shown_once_even_when_spans_close_on_other_threads() {
    let clock = ManualClock::new(UNIX_EPOCH);
    let out = CaptureWriter::new();
    let trace = tracing::subscriber::with_default(stack(&clock, &out), || {
        let root = tracing::info_span!("batch", otel.kind = "consumer");
        let trace = root.trace_id().unwrap();
        let children: Vec<_> = (0..4)
            .map(|i| tracing::info_span!(parent: &root, "item", i))
            .collect();
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        std::thread::scope(|s| {
            for child in children {
                let dispatch = dispatch.clone();
                s.spawn(move || tracing::dispatcher::with_default(&dispatch, || drop(child)));
            }
        });
        drop(root);
        trace
    });
    let text = out.contents();
    assert_eq!(text.lines().next(), Some(format!("trace {trace}").as_str()));
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("item"))
            .count(),
        4
    );
    let _: TraceId = trace;
}
