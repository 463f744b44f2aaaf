//! The text format, and property tests: no input makes the layer or the formats panic, and
//! every JSON line stays valid JSON.

use proptest::prelude::*;
use tracing::subscriber::with_default;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, TraceParent};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::prelude::*;

#[test]
fn text_lines_end_with_the_ids() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(correlation::text())
                .with_writer(out.clone()),
        );
    let (t, s) = with_default(subscriber, || {
        tracing::info!("before");
        let span = tracing::info_span!("request", id = 3);
        let _e = span.enter();
        tracing::info!(tokens = 46, "answered");
        (span.trace_id().unwrap(), span.span_id().unwrap())
    });
    let text = out.contents();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(!lines[0].contains("operation_Id"));
    assert!(lines[1].contains("answered tokens=46"), "{}", lines[1]);
    assert!(
        lines[1].ends_with(&format!(" operation_Id={t} operation_ParentId={s}")),
        "{}",
        lines[1]
    );
}

#[test]
fn text_lines_have_no_ansi_even_when_the_fmt_layer_colours_span_fields() {
    // With tracing-subscriber's `ansi` feature on (as in its default features), a stock fmt
    // layer formats span fields with ANSI styling; the text format removes it.
    let stock = CaptureWriter::new();
    let ours = CaptureWriter::new();
    let layer = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(tracing_subscriber::fmt::layer().with_writer(stock.clone()))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(true)
                .event_format(correlation::text())
                .with_writer(ours.clone()),
        )
        .with(correlation::text().layer().with_writer(layer.clone()));
    with_default(subscriber, || {
        let span = tracing::info_span!("request", id = 3, user = "ada");
        span.in_scope(|| tracing::info!(tokens = 46, "answered"));
    });
    if std::env::var_os("NO_COLOR").is_none() {
        assert!(stock.contents().contains('\x1b'), "the stock layer colours");
    }
    for out in [ours.contents(), layer.contents()] {
        assert!(!out.contains('\x1b'), "{out:?}");
        assert!(
            out.contains("request{id=3 user=\"ada\"}: formats: answered tokens=46 operation_Id="),
            "{out}"
        );
    }
}

#[test]
fn wrap_takes_any_format_without_a_turbofish() {
    let out = CaptureWriter::new();
    let format = correlation::TextFormat::wrap(tracing_subscriber::fmt::format().compact());
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(format.layer().with_writer(out.clone()));
    let trace = with_default(subscriber, || {
        let span = tracing::info_span!("compact");
        span.in_scope(|| tracing::info!("inside"));
        span.trace_id().unwrap()
    });
    let text = out.contents();
    assert!(text.contains("inside"), "{text}");
    assert!(text.contains(&format!("operation_Id={trace}")), "{text}");
}

#[test]
fn json_escapes_and_flattens() {
    let out = CaptureWriter::new();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(
            correlation::json()
                .flatten_event(true)
                .with_span_list(false)
                .with_file(true)
                .with_line_number(true)
                .layer()
                .with_writer(out.clone()),
        );
    with_default(subscriber, || {
        let span = tracing::info_span!("q", text = "quote \" and \n newline");
        span.in_scope(|| tracing::info!(nan = f64::NAN, emoji = "€🦀", "msg"));
    });
    let line = &out.json_lines()[0];
    assert_eq!(line["message"], "msg");
    assert_eq!(line["nan"], "NaN");
    assert_eq!(line["emoji"], "€🦀");
    assert_eq!(line["span"]["text"], "quote \" and \n newline");
    assert!(line.get("spans").is_none());
    assert!(line["filename"].as_str().unwrap().ends_with("formats.rs"));
    assert!(line["line_number"].as_u64().is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn traceparent_parsing_never_panics(s in "\\PC{0,80}") {
        let _ = TraceParent::parse(&s);
        let _ = correlation::traceparent::valid_tracestate(&s);
    }

    #[test]
    fn near_valid_traceparents_never_panic(
        version in "[0-9a-fA-F]{0,3}",
        trace in "[0-9a-fA-F]{0,34}",
        parent in "[0-9a-fA-F]{0,18}",
        flags in "[0-9a-zA-Z]{0,3}",
    ) {
        let tp = format!("{version}-{trace}-{parent}-{flags}");
        if let Some(parsed) = TraceParent::parse(&tp) {
            prop_assert!(parsed.trace_id.is_valid() && parsed.parent_id.is_valid());
            prop_assert_eq!(TraceParent::parse(&parsed.to_string()).map(|p| p.trace_id), Some(parsed.trace_id));
        }
    }

    #[test]
    fn any_field_input_gives_valid_json(
        s in "\\PC{0,64}",
        ctrl in "[\\x00-\\x1f\"\\\\]{0,8}",
        n in any::<i64>(),
        f in any::<f64>(),
        tp in "\\PC{0,60}",
    ) {
        let out = CaptureWriter::new();
        let subscriber = tracing_subscriber::registry()
            .with(correlation::layer())
            .with(correlation::json().layer().with_writer(out.clone()));
        with_default(subscriber, || {
            let span = tracing::info_span!("p", s = %s, ctrl = %ctrl, n, f);
            span.set_parent_from_traceparent(&tp);
            span.set_tracestate(&tp);
            span.record("s", s.as_str());
            span.in_scope(|| tracing::info!(s = %s, ctrl = %ctrl, n, f, "{s}"));
        });
        let lines = out.json_lines();
        prop_assert_eq!(lines.len(), 1);
        prop_assert_eq!(lines[0]["fields"]["ctrl"].as_str(), Some(ctrl.as_str()));
        prop_assert_eq!(lines[0]["span"]["s"].as_str(), Some(s.as_str()));
    }
}
