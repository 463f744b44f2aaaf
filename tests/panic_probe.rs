//! The panic probe: a process that stacks the correlation layer, the JSON format, App
//! Insights and OTLP (both configured only from the environment, at loopback receivers),
//! feeds them values whose `Display` panics (a `span.record`, an event field, a span field),
//! each inside `catch_unwind`, and then serves 5 requests. It must exit 0, and every request
//! must reach App Insights and OTLP. The probe runs as a child process (this test binary
//! again, with `PANIC_PROBE_CHILD` set): an abort there must fail the test, not kill it.
#![cfg(all(feature = "appinsights", feature = "otlp"))]

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tracing::field::display;
use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::correlation;
use tracing_insights::otlp::OtlpLayer;
use tracing_insights_testing::{loopback_receiver, Captured};
use tracing_subscriber::prelude::*;

const CHILD: &str = "PANIC_PROBE_CHILD";
const KEY: &str = "00000000-0000-4000-8000-00000000cafe";

struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display of Boom")
    }
}

#[test]
fn panicking_values_never_abort_and_later_requests_still_arrive() {
    if std::env::var_os(CHILD).is_some() {
        return probe();
    }
    let (ai_port, ai) = loopback_receiver();
    let (otlp_port, otlp) = loopback_receiver();
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--exact",
        "panicking_values_never_abort_and_later_requests_still_arrive",
        "--nocapture",
        "--test-threads=1",
    ]);
    // Only what this test sets: nothing from the environment it runs in.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("OTEL_") || name.starts_with("APPLICATIONINSIGHTS_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env(CHILD, "1")
        .env(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{ai_port}/"),
        )
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the probe");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the probe") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the probe did not exit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("probe output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "the probe exited {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("PROBE DONE"), "{stdout}\n{stderr}");

    // The guards were dropped before exit: what they flushed is here, or arrives shortly.
    let requests = wait_for(|| app_insights_requests(&ai), 5);
    assert_eq!(
        requests, 5,
        "App Insights got {requests} of 5 requests\n{stderr}"
    );
    let spans = wait_for(|| otlp_spans_named(&otlp, b"GET /after"), 5);
    assert_eq!(spans, 5, "OTLP got {spans} of 5 spans\n{stderr}");
}

fn wait_for(count: impl Fn() -> usize, want: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = count();
        if n >= want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `RequestData` envelopes named `GET /after` the ingestion receiver decoded.
fn app_insights_requests(captured: &Captured) -> usize {
    let received = captured.lock().unwrap();
    received
        .iter()
        .filter(|r| r.path.ends_with("/v2.1/track"))
        .flat_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).unwrap_or_default())
        .filter(|e| {
            e["data"]["baseType"] == "RequestData" && e["data"]["baseData"]["name"] == "GET /after"
        })
        .count()
}

/// How often `name` occurs in the OTLP trace requests (a span's name is a length-delimited
/// protobuf string, so it appears verbatim once per span).
fn otlp_spans_named(captured: &Captured, name: &[u8]) -> usize {
    let received = captured.lock().unwrap();
    received
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .map(|r| r.body.windows(name.len()).filter(|w| *w == name).count())
        .sum()
}

fn probe() {
    let (ai_layer, _ai_guard) = AppInsightsLayer::builder()
        .build()
        .expect("App Insights from APPLICATIONINSIGHTS_CONNECTION_STRING");
    let (otlp_layer, _otlp_guard) = OtlpLayer::builder()
        .build()
        .expect("OTLP from OTEL_EXPORTER_OTLP_ENDPOINT");
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(correlation::json().layer().with_writer(std::io::sink))
        .with(ai_layer)
        .with(otlp_layer);
    tracing::subscriber::with_default(subscriber, || {
        let record = catch_unwind(AssertUnwindSafe(|| {
            let span = tracing::info_span!("record", p = tracing::field::Empty);
            let _entered = span.enter();
            span.record("p", display(Boom));
            tracing::info!("after the record");
        }));
        let event = catch_unwind(AssertUnwindSafe(|| {
            let span = tracing::info_span!("event");
            span.in_scope(|| tracing::info!(bad = %Boom, "event field"));
        }));
        let span_field = catch_unwind(AssertUnwindSafe(|| {
            let span = tracing::info_span!("span field", bad = %Boom);
            span.in_scope(|| tracing::info!("inside"));
        }));
        println!(
            "panics let out: record {}, event field {}, span field {}",
            record.is_err(),
            event.is_err(),
            span_field.is_err()
        );
        for i in 0..5 {
            let span =
                tracing::info_span!("request", otel.name = "GET /after", otel.kind = "server", i);
            span.in_scope(|| tracing::info!(i, "served"));
        }
    });
    println!("contained: {}", correlation::contained_panics());
    println!("PROBE DONE");
}
