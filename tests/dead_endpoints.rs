//! Every exporter against a dead endpoint (a loopback port nobody listens on): `shutdown`
//! returns within its 1 s deadline with an error that carries the account (produced, sent,
//! dropped by reason, failed, spooled), and the numbers add up: nothing is lost silently.
#![cfg(all(feature = "appinsights", feature = "otlp"))]

use std::time::{Duration, Instant};
use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::correlation;
use tracing_insights::otlp::{EnvVars, OtlpLayer};
use tracing_insights::otlp::{ExportStats, ShutdownError};
use tracing_insights_testing::http::closed_port;
use tracing_subscriber::prelude::*;

const KEY: &str = "00000000-0000-4000-8000-00000000cafe";
const DEADLINE: Duration = Duration::from_secs(1);

fn emit(subscriber: impl tracing::Subscriber + Send + Sync) {
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            tracing::info_span!("request", otel.kind = "server", i)
                .in_scope(|| tracing::info!(i, "served"));
        }
    });
}

fn account(err: &ShutdownError) -> &ExportStats {
    err.stats()
        .unwrap_or_else(|| panic!("a shutdown that lost items carries its counters: {err:?}"))
}

#[test]
fn app_insights_shutdown_against_a_dead_endpoint_counts_every_item() {
    let port = closed_port();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
        ))
        .with_batch_delay(Duration::from_millis(10))
        .with_retries(10, Duration::from_millis(100))
        .with_offline_storage(false)
        .with_metrics(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    emit(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
    );
    let t0 = Instant::now();
    let err = guard.shutdown(DEADLINE).unwrap_err();
    assert!(
        t0.elapsed() < DEADLINE + Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    let s = account(&err);
    // 3 requests and 3 messages.
    assert_eq!(s.produced, 6, "{err}");
    assert_eq!(s.sent, 0, "{err}");
    assert_eq!(s.dropped() + s.spooled, s.produced, "{err}");
    assert_eq!(s.failed(), s.dropped(), "{err}");
    assert!(
        err.to_string().contains("6 of 6 items not delivered"),
        "{err}"
    );
}

#[test]
fn otlp_shutdown_against_a_dead_endpoint_counts_every_item_per_signal() {
    let port = closed_port();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_metrics(false)
        .with_batch_delay(Duration::from_millis(10))
        .with_retries(10, Duration::from_millis(100))
        .build()
        .unwrap();
    emit(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
    );
    let t0 = Instant::now();
    let err = guard.shutdown(DEADLINE).unwrap_err();
    assert!(
        t0.elapsed() < DEADLINE + Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    let s = account(&err);
    assert_eq!(s.produced, 6, "{err}");
    assert_eq!(s.sent, 0, "{err}");
    assert_eq!(s.dropped() + s.spooled, 6, "{err}");
    assert_eq!(s.kind("traces").map(|k| k.produced), Some(3), "{err}");
    assert_eq!(s.kind("logs").map(|k| k.produced), Some(3), "{err}");
    assert!(
        err.to_string().contains("6 of 6 items not delivered"),
        "{err}"
    );
}

#[test]
fn app_insights_queue_full_drops_are_in_the_shutdown_account() {
    let (port, _captured) = tracing_insights_testing::loopback_receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}/"
        ))
        .with_queue_capacity(1)
        .with_metrics(false)
        .with_standard_metrics(false)
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer),
        || {
            for i in 0..2000 {
                tracing::info!(i, "burst");
            }
        },
    );
    let live = guard.stats();
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    let s = account(&err);
    assert_eq!(s.produced, 2000, "{err}");
    assert!(
        s.dropped_by(tracing_insights::otlp::DropReason::QueueFull) > 0,
        "{err}"
    );
    assert!(
        s.dropped_by(tracing_insights::otlp::DropReason::QueueFull)
            >= live.dropped_by(tracing_insights::otlp::DropReason::QueueFull),
        "the account holds every drop the live counters saw: {err}"
    );
    assert_eq!(s.sent + s.dropped(), 2000, "{err}");
}
