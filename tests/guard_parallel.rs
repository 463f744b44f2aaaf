//! `TelemetryGuard` flushes and shuts its exporters down in parallel within one deadline: an
//! Application Insights endpoint that accepts connections and never answers (a black hole)
//! cannot starve a live OTLP receiver beside it; the live one delivers every span.

#![cfg(all(feature = "appinsights", feature = "otlp"))]

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tracing_insights::Telemetry;
use tracing_insights_testing::loopback_receiver;
use tracing_subscriber::prelude::*;

/// Accepts connections and reads whatever comes, never answering.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

#[test]
fn a_black_holed_app_insights_does_not_starve_a_live_otlp_receiver() {
    // This binary's only test: it may set the process environment.
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    // Spans wait a minute for their batch: only the guard's flush can deliver them in time.
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "60000");
    let dead = black_hole();
    let (live, got) = loopback_receiver();
    let (layer, guard) = Telemetry::builder()
        .with_connection_string(format!(
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:{dead}/"
        ))
        .with_live_metrics(false)
        .with_otlp_endpoint(format!("http://127.0.0.1:{live}"))
        .with_log_format(tracing_insights::LogFormat::None)
        .build::<tracing_subscriber::Registry>()
        .unwrap();
    // App Insights first: shut down one after another, it would use up the whole deadline.
    assert_eq!(guard.names(), ["appinsights", "otlp"]);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..50 {
            tracing::info_span!("request", otel.kind = "server", i).in_scope(|| {
                tracing::info!("handled");
            });
        }
    });

    let spans = || -> usize {
        got.lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == "/v1/traces")
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                body["resourceSpans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
                    .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
            })
            .sum()
    };

    // flush: the live exporter delivers at once, while the dead one uses up the deadline.
    // (One after another, the spans would arrive only after the dead exporter gave up.)
    let deadline = Duration::from_secs(10);
    let started = Instant::now();
    let delivered_at = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            while started.elapsed() < deadline * 2 {
                if spans() >= 50 {
                    return Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            None
        });
        let err = guard.flush(deadline).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].0, "appinsights", "{err}");
        watcher.join().unwrap()
    });
    let delivered_at = delivered_at.expect("the live receiver got every span");
    assert!(
        delivered_at < deadline / 2,
        "delivered after {delivered_at:?}"
    );
    assert_eq!(spans(), 50);
    let stats = guard.stats();
    assert_eq!(stats[1].0, "otlp");
    assert!(stats[1].1.sent >= 50, "{stats:?}");

    let started = Instant::now();
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    // Generous: the deadline plus thread start-up on a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().starts_with("appinsights: "), "{err}");
    assert!(!err.to_string().contains("otlp"), "{err}");
    assert!(spans() >= 50);
}
