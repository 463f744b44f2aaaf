//! Settings that cannot work are refused when the exporter is built, by an error that names
//! the variable or setting the user wrote (and never shows a secret): endpoints with an
//! unclosed IPv6 bracket or a port beyond 65535, an OTLP header value with a malformed
//! `%` escape, OpenTelemetry limits that are not numbers, a Sentry DSN with host `[bad`.
#![cfg(all(feature = "appinsights", feature = "otlp", feature = "presets"))]

use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::otlp::{EnvVars, OtlpLayer};
use tracing_insights::presets::Sentry;

const KEY: &str = "00000000-0000-4000-8000-00000000cafe";

fn otlp_error(vars: &[(&str, &str)]) -> String {
    match OtlpLayer::builder()
        .with_env(EnvVars::from_vars(vars.iter().copied()))
        .build()
    {
        Ok(_) => panic!("{vars:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn otlp_endpoints_with_bad_brackets_or_ports_name_their_variable() {
    for (var, value, says) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1", "closing `]`"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:99999",
            "65535",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:0/v1/traces",
            "65535",
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://[::1]:99999/v1/logs",
            "65535",
        ),
    ] {
        let e = otlp_error(&[(var, value)]);
        assert!(e.contains(var), "{var}={value}: {e}");
        assert!(e.contains(says), "{var}={value}: {e}");
    }
    let e = match OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint("http://[::1")
        .build()
    {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("with_endpoint"), "{e}");
}

#[test]
fn otlp_header_values_with_a_malformed_percent_escape_are_refused_without_the_value() {
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        let e = otlp_error(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            (var, "api-key=secret%zz"),
        ]);
        assert!(e.contains(var), "{e}");
        assert!(e.contains("%XX"), "{e}");
        assert!(!e.contains("secret"), "the value is never shown: {e}");
    }
    // A well-formed escape is decoded and accepted.
    assert!(OtlpLayer::builder()
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b"),
        ]))
        .build()
        .is_ok());
}

#[test]
fn otlp_limits_that_are_not_numbers_name_their_variable() {
    for var in [
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_EVENT_COUNT_LIMIT",
        "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    ] {
        let e = otlp_error(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            (var, "lots"),
        ]);
        assert!(e.contains(var), "{e}");
    }
}

#[test]
fn a_sentry_dsn_with_a_bad_host_names_sentry_dsn() {
    for dsn in [
        "https://abc@[bad/42",
        "https://abc@[::1/42",
        "https://abc@o1.ingest.sentry.io:99999/42",
    ] {
        let e = Sentry::from_env_with(&EnvVars::from_vars([("SENTRY_DSN", dsn)]))
            .expect_err(dsn)
            .to_string();
        assert!(e.contains("SENTRY_DSN"), "{dsn}: {e}");
        assert!(!e.contains("with_signal_endpoint"), "{dsn}: {e}");
        assert!(!e.contains("abc"), "the key is never shown: {e}");
    }
}

#[test]
fn app_insights_ingestion_endpoints_with_bad_brackets_or_ports_are_refused() {
    for endpoint in ["http://[::1", "http://127.0.0.1:99999/", "http://[::1]:0/"] {
        let cs = format!("InstrumentationKey={KEY};IngestionEndpoint={endpoint}");
        let e = match AppInsightsLayer::builder()
            .with_connection_string(cs)
            .build()
        {
            Ok(_) => panic!("{endpoint} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("IngestionEndpoint"), "{endpoint}: {e}");
        assert!(e.contains("65535"), "{endpoint}: {e}");
    }
}
