//! OpenTelemetry's limits on the wire: `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`,
//! `OTEL_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT` cut what a loopback receiver
//! gets (values cut, not dropped; removals counted in `dropped_*_count`), and requests are
//! split at `with_max_request_bytes`.

mod common;

use common::{attr, Receiver};
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::proto::common::v1::any_value::Value;
use tracing_insights_otlp::{EnvVars, OtlpLayer};
use tracing_subscriber::prelude::*;

#[test]
fn attribute_value_and_count_limits_and_event_limit_apply_on_the_wire() {
    let rx = Receiver::start();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "2"),
        ]))
        .with_endpoint(rx.base.clone())
        .with_metrics(false)
        .with_span_events(true)
        .with_batch_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "limited",
            a = "0123456789abcdef",
            b = 1,
            c = 2,
            d = 3,
            e = 4
        )
        .in_scope(|| {
            for i in 0..5 {
                tracing::info!(i, text = "0123456789abcdef", "event");
            }
        });
    });
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let spans = rx.spans();
    let span = spans
        .iter()
        .find(|s| s.name == "limited")
        .expect("the span");
    assert_eq!(span.attributes.len(), 3, "{:?}", span.attributes);
    assert!(span.dropped_attributes_count >= 2, "{span:?}");
    assert_eq!(
        attr(&span.attributes, "a"),
        Some(&Value::StringValue("01234567".into())),
        "cut to 8 bytes, not dropped"
    );
    assert_eq!(span.events.len(), 2);
    assert_eq!(span.dropped_events_count, 3);
    // Log records: the general value limit applies to their attributes and body too.
    let logs = rx.logs();
    assert_eq!(logs.len(), 5);
    for l in &logs {
        assert_eq!(
            attr(&l.attributes, "text"),
            Some(&Value::StringValue("01234567".into()))
        );
    }
}

#[test]
fn requests_are_split_below_the_configured_size() {
    let rx = Receiver::start();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(rx.base.clone())
        .with_metrics(false)
        .with_traces(false)
        .with_batch_delay(Duration::from_secs(1))
        .with_max_request_bytes(256 * 1024)
        .build()
        .unwrap();
    let value = "x".repeat(20_000);
    tracing::subscriber::with_default(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
        || {
            for i in 0..100 {
                tracing::info!(i, payload = value.as_str(), "big");
            }
        },
    );
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let requests = rx.on("/v1/logs");
    assert!(requests.len() >= 8, "2 MB in requests of at most 256 KiB");
    for r in &requests {
        assert!(r.body.len() <= 256 * 1024, "{} bytes", r.body.len());
    }
    assert_eq!(rx.logs().len(), 100, "nothing dropped");
}

#[cfg(feature = "http-json")]
#[test]
fn json_requests_are_split_below_the_configured_size_too() {
    let rx = Receiver::start();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(rx.base.clone())
        .with_protocol(tracing_insights_otlp::Protocol::HttpJson)
        .with_metrics(false)
        .with_batch_delay(Duration::from_secs(1))
        .with_max_request_bytes(128 * 1024)
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
        || {
            // Many small attributes: JSON's worst case against protobuf.
            for i in 0..2000u64 {
                tracing::info_span!("s", a = i, b = i, c = i, d = i, e = i, f = i, g = i)
                    .in_scope(|| tracing::info!(i, j = i, k = i, l = i, "small"));
            }
        },
    );
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let requests = rx.requests();
    assert!(requests.len() > 2, "{}", requests.len());
    for r in &requests {
        assert!(
            r.body.len() <= 128 * 1024,
            "{} {} bytes",
            r.path,
            r.body.len()
        );
    }
}
