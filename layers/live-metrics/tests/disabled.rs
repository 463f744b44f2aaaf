//! `OTEL_SDK_DISABLED=true` and `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false` turn Live
//! Metrics off: `build()` is `Ok`, no thread starts, a loopback QuickPulse endpoint sees no
//! connection, and the guard's `shutdown` is `Ok`. A malformed value is an error naming it.
//! (This binary builds only disabled layers, so the thread count is its own; the enabled
//! control case is in `wire.rs`.)

use std::net::TcpListener;
use std::time::{Duration, Instant};
use tracing_insights_live_metrics::{Env, LiveMetricsLayer, LIVE_METRICS_ENABLED_ENV};
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

/// Threads of this process named by this project (`tracing-insights-*`).
fn our_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with("tracing-insigh"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn switched_off_by_the_environment_it_connects_nowhere() {
    for var in [
        ("OTEL_SDK_DISABLED", "true"),
        (LIVE_METRICS_ENABLED_ENV, "FALSE"),
    ] {
        // Any connection attempt, even one that never sends a byte, is accepted here.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cs = format!("InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{port}/");
        let before = our_threads();
        let (layer, guard) = LiveMetricsLayer::builder()
            .with_env(Env::from_pairs([
                ("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str()),
                var,
            ]))
            .build()
            .unwrap();
        assert!(!layer.is_enabled(), "{var:?}");
        assert_eq!(our_threads(), before, "{var:?}: no thread");
        let subscriber = tracing_subscriber::registry()
            .with(tracing_insights_correlation::layer())
            .with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("GET /x", otel.kind = "server").in_scope(|| tracing::warn!("w"));
        });
        // The real layer pings at once; give it far longer than that.
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            assert!(listener.accept().is_err(), "{var:?}: a connection was made");
            std::thread::sleep(Duration::from_millis(50));
        }
        guard.flush(Duration::from_secs(1)).unwrap();
        guard.shutdown(Duration::from_secs(1)).unwrap();
    }
}

#[test]
fn malformed_switches_are_errors_naming_the_variable() {
    for name in ["OTEL_SDK_DISABLED", LIVE_METRICS_ENABLED_ENV] {
        let e = LiveMetricsLayer::builder()
            .with_connection_string(format!("InstrumentationKey={KEY}"))
            .with_env(Env::from_pairs([(name, "off")]))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}
