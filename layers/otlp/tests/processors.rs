//! Telemetry processors on the wire: each ready-made processor's effect on the spans, log
//! records and metric points a loopback receiver decodes, a dropping closure, and a
//! panicking processor that loses only its item (counted).

mod common;

use common::{attr_str, Receiver};
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::processors::{
    AddAttributes, RedactGenAiContent, RedactMatching, RedactUrlQuery, REDACTED,
};
use tracing_insights_otlp::proto::common::v1::any_value::Value;
use tracing_insights_otlp::proto::metrics::v1::metric::Data;
use tracing_insights_otlp::{
    DropReason, EnvVars, ExportStats, OtlpBuilder, OtlpLayer, Telemetry, TelemetryKind,
};
use tracing_subscriber::prelude::*;

/// Runs `app` under a layer built by `configure` against a fresh receiver, shuts down and
/// returns the receiver and the final stats.
fn run(
    configure: impl FnOnce(OtlpBuilder) -> OtlpBuilder,
    app: impl FnOnce(),
) -> (Receiver, ExportStats) {
    let rx = Receiver::start();
    let builder = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(rx.base.clone())
        .with_batch_delay(Duration::from_millis(20));
    let (layer, guard) = configure(builder).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, app);
    guard.flush(Duration::from_secs(5)).unwrap();
    let stats = guard.stats();
    guard.shutdown(Duration::from_secs(5)).unwrap();
    (rx, stats)
}

fn body(l: &tracing_insights_otlp::proto::logs::v1::LogRecord) -> Option<&str> {
    match l.body.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[test]
fn add_attributes_reaches_spans_logs_and_metric_points() {
    let (rx, _) = run(
        |b| b.with_processor(AddAttributes::new([("deployment", "blue"), ("kept", "no")])),
        || {
            tracing::info_span!("work", kept = "yes").in_scope(|| {
                tracing::info!(monotonic_counter.jobs = 1_u64, "did a job");
            });
        },
    );
    let spans = rx.spans();
    let span = spans.iter().find(|s| s.name == "work").expect("the span");
    assert_eq!(attr_str(&span.attributes, "deployment"), Some("blue"));
    assert_eq!(
        attr_str(&span.attributes, "kept"),
        Some("yes"),
        "an existing attribute wins"
    );
    let logs = rx.logs();
    let log = logs
        .iter()
        .find(|l| body(l) == Some("did a job"))
        .expect("the log");
    assert_eq!(attr_str(&log.attributes, "deployment"), Some("blue"));
    let metrics = rx.metrics();
    let jobs = metrics
        .iter()
        .find(|m| m.name == "jobs")
        .expect("the metric");
    let Some(Data::Sum(sum)) = &jobs.data else {
        panic!("a sum: {jobs:?}")
    };
    assert_eq!(
        attr_str(&sum.data_points[0].attributes, "deployment"),
        Some("blue")
    );
}

#[test]
fn genai_content_is_redacted_and_the_rest_of_the_span_kept() {
    let (rx, _) = run(
        |b| b.with_processor(RedactGenAiContent),
        || {
            tracing::info_span!(
                "chat gpt-4o",
                gen_ai.request.model = "gpt-4o",
                gen_ai.input.messages = r#"[{"role":"user","content":"my secret"}]"#,
                gen_ai.output.messages = "the answer",
            )
            .in_scope(|| {
                tracing::info!(gen_ai.system_instructions = "be nice", "prompted");
            });
        },
    );
    let spans = rx.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "chat gpt-4o")
        .expect("the span");
    assert_eq!(
        attr_str(&span.attributes, "gen_ai.input.messages"),
        Some(REDACTED)
    );
    assert_eq!(
        attr_str(&span.attributes, "gen_ai.output.messages"),
        Some(REDACTED)
    );
    assert_eq!(
        attr_str(&span.attributes, "gen_ai.request.model"),
        Some("gpt-4o")
    );
    let logs = rx.logs();
    let log = logs
        .iter()
        .find(|l| body(l) == Some("prompted"))
        .expect("the log");
    assert_eq!(
        attr_str(&log.attributes, "gen_ai.system_instructions"),
        Some(REDACTED)
    );
    let raw: Vec<u8> = rx.requests().into_iter().flat_map(|r| r.body).collect();
    assert!(!String::from_utf8_lossy(&raw).contains("my secret"));
}

#[test]
fn url_query_values_are_redacted() {
    let (rx, _) = run(
        |b| b.with_processor(RedactUrlQuery),
        || {
            tracing::info_span!(
                "GET /search",
                url.full = "https://api.example.com/search?q=bob&token=abc#top",
                url.query = "q=bob&flag",
                url.path = "/search",
            )
            .in_scope(|| {});
        },
    );
    let spans = rx.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "GET /search")
        .expect("the span");
    assert_eq!(
        attr_str(&span.attributes, "url.full"),
        Some("https://api.example.com/search?q=REDACTED&token=REDACTED#top")
    );
    assert_eq!(
        attr_str(&span.attributes, "url.query"),
        Some("q=REDACTED&flag")
    );
    assert_eq!(attr_str(&span.attributes, "url.path"), Some("/search"));
}

#[test]
fn values_matching_a_glob_are_redacted_in_attributes_and_log_bodies() {
    let (rx, _) = run(
        |b| b.with_processor(RedactMatching::glob("*@*.*")),
        || {
            tracing::info_span!("signup", user.email = "bob@example.com", plan = "pro").in_scope(
                || {
                    tracing::info!("welcome mail sent to bob@example.com");
                    tracing::info!("no address here");
                },
            );
        },
    );
    let spans = rx.spans();
    let span = spans.iter().find(|s| s.name == "signup").expect("the span");
    assert_eq!(attr_str(&span.attributes, "user.email"), Some(REDACTED));
    assert_eq!(attr_str(&span.attributes, "plan"), Some("pro"));
    let bodies: Vec<String> = rx
        .logs()
        .iter()
        .filter_map(|l| body(l).map(str::to_owned))
        .collect();
    assert!(bodies.contains(&REDACTED.to_owned()), "{bodies:?}");
    assert!(bodies.contains(&"no address here".to_owned()), "{bodies:?}");
    assert!(!bodies.iter().any(|b| b.contains("bob@")), "{bodies:?}");
}

#[test]
fn a_panicking_processor_drops_only_its_item_and_is_counted() {
    let (rx, stats) = run(
        |b| {
            b.with_processor(|item: &mut Telemetry<'_>| {
                if item.name() == Some("boom") {
                    panic!("a processor bug");
                }
                true
            })
            // Dropping by choice: health checks and one metric.
            .with_processor(|item: &mut Telemetry<'_>| {
                !(item.kind() == TelemetryKind::Span
                    && item.str_attribute("url.path") == Some("/health")
                    || item.kind() == TelemetryKind::Metric && item.name() == Some("hidden"))
            })
            // Editing: removes an attribute, renames another.
            .with_processor(|item: &mut Telemetry<'_>| {
                if let Some(v) = item.remove_attribute("internal.id") {
                    item.set_attribute("public.id", v);
                }
                true
            })
        },
        || {
            tracing::info_span!("boom").in_scope(|| {});
            tracing::info_span!("health", url.path = "/health").in_scope(|| {});
            tracing::info_span!("fine", internal.id = 7_i64).in_scope(|| {});
            tracing::info!(
                monotonic_counter.hidden = 1_u64,
                monotonic_counter.shown = 1_u64
            );
        },
    );
    let spans = rx.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fine"], "only the kept span arrives");
    assert_eq!(
        spans[0]
            .attributes
            .iter()
            .find(|kv| kv.key == "internal.id"),
        None
    );
    assert_eq!(
        common::attr(&spans[0].attributes, "public.id"),
        Some(&Value::IntValue(7))
    );
    let metric_names: Vec<String> = rx.metrics().into_iter().map(|m| m.name).collect();
    assert!(
        metric_names.contains(&"shown".to_owned()),
        "{metric_names:?}"
    );
    assert!(
        !metric_names.contains(&"hidden".to_owned()),
        "{metric_names:?}"
    );
    assert_eq!(stats.contained_panics, 1);
    assert_eq!(stats.dropped_by(DropReason::Processor), 3, "{stats:?}");
    let traces = stats.kind("traces").expect("per-signal stats");
    assert_eq!(traces.dropped_by(DropReason::Processor), 2);
}
