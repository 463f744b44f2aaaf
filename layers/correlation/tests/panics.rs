//! A value whose `Display`/`Debug` panics never reaches the application through the
//! correlation layer or its formats, never poisons a span's lock and never aborts the
//! process: it is recorded as a placeholder, counted, and the layer keeps working.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::{Arc, Mutex};
use tracing::field::display;
use tracing::Subscriber;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, FieldValue, SpanData};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display of Boom")
    }
}

/// Every closed span's record fields, read from the correlation layer's `SpanData`.
#[derive(Clone, Default)]
struct Closed(Arc<Mutex<Vec<ClosedSpan>>>);

type ClosedSpan = (String, Vec<(&'static str, FieldValue)>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Closed {
    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).expect("span");
        let ext = span.extensions();
        let data = ext.get::<SpanData>().expect("span data");
        self.0
            .lock()
            .unwrap()
            .push((data.name().to_owned(), data.record().fields().to_vec()));
    }
}

impl Closed {
    fn field(&self, span: &str, name: &str) -> Option<FieldValue> {
        let closed = self.0.lock().unwrap();
        let (_, fields) = closed.iter().find(|(n, _)| n == span)?;
        fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

#[derive(Clone, Copy, Debug)]
enum Case {
    Record,
    EventField,
    SpanField,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    None,
    Json,
    Text,
    /// The text format as the event format of a stock `fmt` layer (its default field
    /// formatter runs the value: that line is lost, nothing else).
    StockText,
}

/// Runs `case` under catch_unwind, then a healthy span and event; returns whether the case
/// let a panic out, what was written, and the closed spans.
fn run(case: Case, format: Format) -> (bool, String, Closed, String) {
    let out = CaptureWriter::new();
    let closed = Closed::default();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(closed.clone())
        .with(
            matches!(format, Format::Json)
                .then(|| correlation::json().layer().with_writer(out.clone())),
        )
        .with(
            matches!(format, Format::Text)
                .then(|| correlation::text().layer().with_writer(out.clone())),
        )
        .with(matches!(format, Format::StockText).then(|| {
            tracing_subscriber::fmt::layer()
                .event_format(correlation::text())
                .with_writer(out.clone())
        }));
    tracing::subscriber::with_default(subscriber, || {
        let escaped = catch_unwind(AssertUnwindSafe(|| match case {
            Case::Record => {
                let span = tracing::info_span!("recorded", p = tracing::field::Empty, ok = 1);
                span.record("p", display(Boom));
                span.in_scope(|| tracing::info!("inside recorded"));
            }
            Case::EventField => {
                let span = tracing::info_span!("event_span");
                span.in_scope(|| tracing::info!(bad = %Boom, good = 2, "event with bad field"));
            }
            Case::SpanField => {
                let span = tracing::info_span!("spanfield", bad = %Boom, good = 3);
                span.in_scope(|| tracing::info!("inside spanfield"));
            }
        }))
        .is_err();
        let after = tracing::info_span!("after", otel.kind = "server");
        let trace = after.trace_id().expect("ids after the panic").to_string();
        after.in_scope(|| tracing::info!("after event"));
        drop(after);
        (escaped, out.contents(), closed, trace)
    })
}

#[test]
fn no_panic_reaches_the_application_alone_or_with_a_format() {
    for format in [Format::None, Format::Json, Format::Text] {
        for case in [Case::Record, Case::EventField, Case::SpanField] {
            let before = correlation::contained_panics();
            let (escaped, out, closed, trace) = run(case, format);
            let what = format!("{case:?} with {format:?}: {out}");
            assert!(!escaped, "a panic reached the application: {what}");
            // With no format, nothing of ours formats an event's fields.
            if !matches!((case, format), (Case::EventField, Format::None)) {
                assert!(correlation::contained_panics() > before, "{what}");
            }
            // The layer's state is consistent: the spans closed with their records.
            assert!(closed.field("after", "otel.kind").is_none(), "{what}");
            match case {
                Case::Record => {
                    assert_eq!(
                        closed.field("recorded", "p"),
                        Some(FieldValue::Str(correlation::DEBUG_PANICKED.into())),
                        "{what}"
                    );
                    assert_eq!(closed.field("recorded", "ok"), Some(FieldValue::I64(1)));
                }
                Case::SpanField => {
                    assert_eq!(
                        closed.field("spanfield", "bad"),
                        Some(FieldValue::Str(correlation::DEBUG_PANICKED.into())),
                        "{what}"
                    );
                    assert_eq!(closed.field("spanfield", "good"), Some(FieldValue::I64(3)));
                }
                Case::EventField => assert!(closed.field("event_span", "x").is_none()),
            }
            let lines: Vec<&str> = out.lines().collect();
            match format {
                Format::None => assert!(out.is_empty()),
                Format::Json | Format::Text => {
                    assert_eq!(lines.len(), 2, "{what}");
                    assert!(lines[0].contains(correlation::DEBUG_PANICKED), "{what}");
                    assert!(lines[1].contains(&trace), "{what}");
                }
                Format::StockText => unreachable!(),
            }
            if let Format::Json = format {
                let json: Vec<serde_json::Value> = lines
                    .iter()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                match case {
                    Case::Record => assert_eq!(json[0]["span"]["p"], correlation::DEBUG_PANICKED),
                    Case::SpanField => {
                        assert_eq!(json[0]["span"]["bad"], correlation::DEBUG_PANICKED);
                        assert_eq!(json[0]["span"]["good"], 3);
                    }
                    Case::EventField => {
                        assert_eq!(json[0]["fields"]["bad"], correlation::DEBUG_PANICKED);
                        assert_eq!(json[0]["fields"]["good"], 2);
                    }
                }
                assert_eq!(json[1]["operation_Id"], trace);
            }
        }
    }
}

#[test]
fn under_a_stock_fmt_layer_an_event_field_loses_only_its_line() {
    // The stock field formatter runs the event's value inside the text format, which
    // contains the panic: the line is lost (the fmt layer reports it), the next one is not.
    let (escaped, out, _, trace) = run(Case::EventField, Format::StockText);
    assert!(!escaped, "{out}");
    assert!(!out.contains("event with bad field"), "{out}");
    assert!(
        out.contains(&format!("after event operation_Id={trace}")),
        "{out}"
    );
}

/// The case that aborted the process (SIGABRT, "panic in a destructor during cleanup"):
/// `span.record` with a panicking `Display` under a layer that lets the panic out, so the
/// span is dropped while it unwinds and the correlation layer's `on_close` runs then. Here
/// the panic comes from a layer that records fields with the stock formatter while holding
/// the span's lock (it poisons the lock); the correlation layer's `on_close` must still not
/// panic out of the destructor. Run in a child process: an abort would kill the harness.
#[test]
fn a_poisoned_span_lock_never_aborts_the_process() {
    if std::env::var_os("CORRELATION_PANIC_CHILD").is_some() {
        return poisoned_child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_poisoned_span_lock_never_aborts_the_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORRELATION_PANIC_CHILD", "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child exited {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(stdout.contains("CHILD DONE"), "{stdout}\n{stderr}");
}

fn poisoned_child() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(correlation::json().layer().with_writer(out.clone()))
        // The stock fmt layer formats recorded span fields with the stock formatter while
        // it holds the span's extensions lock: a panicking value poisons that lock.
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            let span = tracing::info_span!("poisoned", p = tracing::field::Empty);
            let _entered = span.enter();
            span.record("p", display(Boom));
        }));
        assert!(caught.is_err(), "the stock fmt layer lets the panic out");
    });
    // The span was dropped while the panic unwound; the correlation layer's `on_close`
    // found its lock poisoned and contained that (the registry slot stays poisoned: stock
    // layers that take it again will panic, which is theirs to contain).
    assert!(correlation::contained_panics() > 0);
    drop(out);
    println!("CHILD DONE");
}
