//! A guard dropped early (`let (layer, _) = ...build()?`, the mistake `#[must_use]` does not
//! catch on a destructured tuple) never loses telemetry quietly:
//!
//! - App Insights and OTLP print one clear line on stderr at the first item after the guard
//!   is gone (checked in a child process: this test binary again, with `GUARD_CHILD` set);
//! - Live Metrics keeps running while its layer lives, and stops once the layer is dropped;
//! - dropping a guard (each exporter's, and `TelemetryGuard`) in front of an endpoint that
//!   never answers returns within its documented bound (the measured times are printed).
//!
//! Only 127.0.0.1 is contacted.
#![cfg(all(feature = "appinsights", feature = "otlp", feature = "live-metrics"))]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::live_metrics::LiveMetricsLayer;
use tracing_insights::otlp::OtlpLayer;
use tracing_insights_testing::http::{LoopbackServer, Reply};
use tracing_subscriber::prelude::*;

const CHILD: &str = "GUARD_CHILD";
const KEY: &str = "00000000-0000-4000-8000-00000000cafe";
const LINE: &str = "telemetry is being dropped: this exporter's guard was dropped";
const AI_LINE: &str = "Application Insights: telemetry is being dropped";

#[test]
fn app_insights_and_otlp_say_once_that_the_guard_is_gone() {
    if let Some(origin) = std::env::var_os(CHILD) {
        return child(&origin.to_string_lossy());
    }
    let server = LoopbackServer::start(|_| Reply::status(200));
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "app_insights_and_otlp_say_once_that_the_guard_is_gone",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &server.origin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}");
    let ai = stderr.lines().filter(|l| l.contains(AI_LINE)).count();
    assert_eq!(ai, 1, "App Insights' line once:\n{stderr}");
    let otlp: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("otlp-") && l.contains(LINE))
        .collect();
    assert_eq!(otlp.len(), 1, "OTLP's line once (traces only):\n{stderr}");
    assert!(
        otlp[0].contains("let (layer, _guard)"),
        "the line says how to fix it: {}",
        otlp[0]
    );
    assert!(server.requests().is_empty(), "nothing could be sent");
}

/// Builds both exporters the wrong way, then records 20 requests and 20 events.
fn child(origin: &str) {
    let (ai, _) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint={origin}/"
        ))
        .build()
        .expect("App Insights layer");
    let (otlp, _) = OtlpLayer::builder()
        .with_endpoint(origin)
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("OTLP layer");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights::correlation::CorrelationLayer::new())
        .with(ai)
        .with(otlp);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..20 {
            let span = tracing::info_span!("GET /dropped", otel.kind = "server", i);
            let _e = span.enter();
            tracing::warn!(i, "lost unless the guard is kept");
        }
    });
}

#[test]
fn live_metrics_keeps_running_while_its_layer_lives() {
    let server = LoopbackServer::start(|_| {
        Reply::status(200)
            .header("x-ms-qps-subscribed", "true")
            .header("x-ms-qps-configuration-etag", "")
    });
    let (layer, _) = LiveMetricsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};LiveEndpoint={}/",
            server.origin
        ))
        .build()
        .expect("Live Metrics layer");
    let dropped_at = Instant::now();
    let subscriber = tracing_subscriber::registry().with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let posts_after_drop = |reqs: &[tracing_insights_testing::http::Request]| {
        reqs.iter()
            .filter(|r| r.path.contains("post") && r.at > dropped_at + Duration::from_millis(1500))
            .count()
    };
    let reqs = server.wait_for(Duration::from_secs(15), |r| posts_after_drop(r) >= 2);
    assert!(
        posts_after_drop(&reqs) >= 2,
        "posts well after the guard was dropped: {:?}",
        reqs.iter().map(|r| &r.path).collect::<Vec<_>>()
    );

    // The layer gone too, the worker stops by itself: requests cease.
    drop(dispatch);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = server.requests().len();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        let n = server.requests().len();
        if n != last {
            last = n;
            quiet_since = Instant::now();
        }
    }
    assert!(
        quiet_since.elapsed() >= Duration::from_secs(3),
        "the worker still posts after the layer was dropped"
    );
}

#[test]
fn dropping_a_guard_before_a_silent_endpoint_returns_within_its_bound() {
    let server = LoopbackServer::start(|_| Reply::hang());
    let (ai, ai_guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint={}/",
            server.origin
        ))
        .build()
        .expect("App Insights layer");
    let (otlp, otlp_guard) = OtlpLayer::builder()
        .with_endpoint(&server.origin)
        .build()
        .expect("OTLP layer");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights::correlation::CorrelationLayer::new())
        .with(ai)
        .with(otlp);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..5 {
            let span = tracing::info_span!("GET /slow", otel.kind = "server", i);
            let _e = span.enter();
            tracing::info!(i, "queued");
        }
    });
    // App Insights documents about 3 s, OTLP 2 s; generous bounds for 2 shared cores.
    let t = Instant::now();
    drop(ai_guard);
    let ai = t.elapsed();
    let t = Instant::now();
    drop(otlp_guard);
    let otlp = t.elapsed();
    eprintln!("drop against a silent endpoint: App Insights {ai:?}, OTLP {otlp:?}");
    assert!(
        ai < Duration::from_secs(10),
        "App Insights drop took {ai:?}"
    );
    assert!(otlp < Duration::from_secs(10), "OTLP drop took {otlp:?}");
}

#[test]
fn dropping_the_telemetry_guard_before_a_silent_endpoint_returns_within_its_bound() {
    let server = LoopbackServer::start(|_| Reply::hang());
    let (ai, ai_guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint={}/",
            server.origin
        ))
        .build()
        .expect("App Insights layer");
    let (otlp, otlp_guard) = OtlpLayer::builder()
        .with_endpoint(&server.origin)
        .build()
        .expect("OTLP layer");
    let guard = tracing_insights::TelemetryGuard::new()
        .with("appinsights", ai_guard)
        .with("otlp", otlp_guard);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights::correlation::CorrelationLayer::new())
        .with(ai)
        .with(otlp);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("GET /slow", otel.kind = "server").in_scope(|| tracing::info!("q"));
    });
    // Both exporters stop at once: about the slower one's bound, within DROP_TIMEOUT (5 s).
    let t = Instant::now();
    drop(guard);
    let took = t.elapsed();
    eprintln!("TelemetryGuard drop against a silent endpoint: {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "TelemetryGuard drop took {took:?}"
    );
}
