//! Statistics per kind of item (`spans`, `logs`, `metrics`) on the wire: a loopback
//! ingestion endpoint that answers 206 with per-index errors for envelopes of every kind in
//! the same requests, and an overloaded pipeline with small queues.

use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_insights_appinsights::{AppInsightsLayer, DropReason, ExportStats};
use tracing_insights_testing::http::{LoopbackServer, Reply};
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

fn kind_of(env: &Value) -> &'static str {
    match env["data"]["baseType"].as_str() {
        Some("RequestData" | "RemoteDependencyData") => "spans",
        Some("MetricData") => "metrics",
        _ => "logs",
    }
}

/// Checks each kind's account (`produced = sent + dropped + queued`, nothing queued after
/// the shutdown) and that the kinds add up to the totals.
fn assert_accounts(stats: &ExportStats) {
    let names: Vec<&str> = stats.by_kind.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["spans", "logs", "metrics"]);
    for (name, k) in &stats.by_kind {
        assert_eq!(k.queued, 0, "{name}");
        assert_eq!(
            k.produced,
            k.sent + k.sampled_out + k.dropped(),
            "{name}: {k:?}"
        );
    }
    let sum =
        |f: &dyn Fn(&ExportStats) -> u64| stats.by_kind.iter().map(|(_, k)| f(k)).sum::<u64>();
    assert_eq!(sum(&|k| k.produced), stats.produced, "{stats:?}");
    assert_eq!(sum(&|k| k.sent), stats.sent, "{stats:?}");
    assert_eq!(sum(&ExportStats::dropped), stats.dropped(), "{stats:?}");
    for r in DropReason::ALL {
        assert_eq!(sum(&|k| k.dropped_by(r)), stats.dropped_by(r), "{r:?}");
    }
}

/// Requests as the endpoint received them: each envelope's kind and `verdict` property.
type Seen = Arc<Mutex<Vec<Vec<(&'static str, String)>>>>;

/// An endpoint that refuses for good (400) every envelope whose `verdict` property is
/// `reject`, refuses once with a retryable 503 those whose `verdict` is `retry` (accepted
/// when sent again), always with a 503 those whose `verdict` is `doomed`, drops by its own
/// sampling those whose `verdict` is `sampled`, and accepts the rest: 206 with `itemsReceived`, `itemsAccepted` and
/// `errors[{index, statusCode, message}]`, indices counted in the request as sent (the
/// `_OTELRESOURCE_` metric first).
fn judge() -> (LoopbackServer, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let retried = Mutex::new(HashSet::<String>::new());
    let server = LoopbackServer::start(move |r| {
        let envs: Vec<Value> = serde_json::from_slice(&r.body).expect("a JSON array");
        let mut errors = Vec::new();
        let mut request = Vec::new();
        for (i, env) in envs.iter().enumerate() {
            let verdict = env["data"]["baseData"]["properties"]["verdict"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            match verdict.as_str() {
                "reject" => errors.push(serde_json::json!({
                    "index": i, "statusCode": 400, "message": "Field 'x' is invalid"
                })),
                "retry" if retried.lock().unwrap().insert(env.to_string()) => {
                    errors.push(serde_json::json!({
                        "index": i, "statusCode": 503, "message": "busy"
                    }))
                }
                "doomed" => errors.push(serde_json::json!({
                    "index": i, "statusCode": 503, "message": "busy"
                })),
                "sampled" => errors.push(serde_json::json!({
                    "index": i, "statusCode": 206, "message": "Telemetry sampled out."
                })),
                _ => {}
            }
            request.push((kind_of(env), verdict));
        }
        s.lock().unwrap().push(request);
        let body = serde_json::json!({
            "itemsReceived": envs.len(),
            "itemsAccepted": envs.len() - errors.len(),
            "errors": errors,
        });
        Reply::status(if errors.is_empty() { 200 } else { 206 }).body(body.to_string())
    });
    (server, seen)
}

#[test]
fn a_partial_success_is_counted_per_kind_by_index() {
    let (server, seen) = judge();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint={}",
            server.origin
        ))
        .with_standard_metrics(false)
        .with_performance_counters(false)
        .with_metric_interval(Duration::from_secs(3600))
        .with_max_batch(9)
        .with_batch_delay(Duration::from_secs(60))
        .with_retries(4, Duration::from_millis(1))
        .with_offline_storage(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    // metrics: 6 series (3 accepted, 1 refused, 1 retried, 1 doomed); logs: 10 lines
    // (4, 3, 1, 1, and 1 sampled out by the service); spans: 8 requests (3, 2, 1, 1, 1).
    let metrics = ["ok", "ok", "ok", "reject", "retry", "doomed"];
    let logs = [
        "ok", "reject", "ok", "retry", "reject", "ok", "reject", "doomed", "sampled", "ok",
    ];
    let spans = [
        "ok", "reject", "retry", "ok", "reject", "doomed", "ok", "sampled",
    ];
    tracing::subscriber::with_default(subscriber, || {
        for (n, verdict) in metrics.iter().enumerate() {
            tracing::info!(monotonic_counter.hits = 1_u64, verdict, n);
        }
        // The metric envelopes are queued first, so the first request (9 envelopes) holds
        // them, the first span's two log lines and the span.
        guard.flush_handle().collect_metrics();
        let mut logs = logs.iter();
        for verdict in spans {
            let span = tracing::info_span!("GET /", otel.kind = "server", verdict);
            span.in_scope(|| {
                // Two log lines in each of the first five requests, none in the rest.
                for verdict in logs.by_ref().take(2) {
                    tracing::info!(verdict, "handled");
                }
            });
        }
    });
    let stats = match guard.shutdown(Duration::from_secs(20)) {
        Err(e) => e.stats().expect("the account").clone(),
        Ok(()) => panic!("refused envelopes are a loss"),
    };
    assert_accounts(&stats);
    let kind = |k: &str| stats.kind(k).unwrap().clone();
    let (s, l, m) = (kind("spans"), kind("logs"), kind("metrics"));
    let account = |k: &ExportStats| {
        (
            k.produced,
            k.sent,
            k.dropped_by(DropReason::Rejected),
            k.dropped_by(DropReason::RetriesExhausted),
            k.sampled_out,
        )
    };
    assert_eq!(account(&s), (8, 4, 2, 1, 1), "{s:?}");
    assert_eq!(account(&l), (10, 5, 3, 1, 1), "{l:?}");
    assert_eq!(account(&m), (6, 4, 1, 1, 0), "{m:?}");
    assert_eq!(account(&stats), (24, 13, 6, 3, 2));
    // What the endpoint saw: every kind in one request, the refused never sent again, the
    // retried ones twice.
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|req| ["spans", "logs", "metrics"]
            .iter()
            .all(|k| req.iter().any(|(kind, v)| kind == k && !v.is_empty()))),
        "{seen:?}"
    );
    let count = |verdict: &str| seen.iter().flatten().filter(|(_, v)| v == verdict).count();
    assert_eq!(count("reject"), 6, "{seen:?}");
    assert_eq!(count("retry"), 6, "{seen:?}");
    assert_eq!(count("doomed"), 3 * 4, "4 attempts each: {seen:?}");
    assert_eq!(count("sampled"), 2, "{seen:?}");
    assert_eq!(count("ok"), 10, "{seen:?}");
}

#[test]
fn an_overload_drops_log_lines_before_spans_and_counts_each_kind() {
    // A slow endpoint (8 envelopes per 20 ms at most) and queues of 16: the application
    // (5 envelopes a millisecond) outruns the exporter.
    let server = LoopbackServer::start(|_| Reply::status(200).delayed(Duration::from_millis(20)));
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint={}",
            server.origin
        ))
        .with_standard_metrics(false)
        .with_performance_counters(false)
        .with_metric_interval(Duration::from_secs(3600))
        .with_queue_capacity(16)
        .with_max_batch(8)
        .with_offline_storage(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    let mut max_queued_bytes = 0;
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..300 {
            let span = tracing::info_span!("GET /", otel.kind = "server", i);
            span.in_scope(|| {
                for _ in 0..4 {
                    tracing::info!(i, "a log line of the request");
                }
            });
            std::thread::sleep(Duration::from_millis(1));
            if i % 10 == 0 {
                tracing::info!(monotonic_counter.hits = 1_u64, i);
                let stats = guard.stats();
                max_queued_bytes = max_queued_bytes.max(
                    stats
                        .by_kind
                        .iter()
                        .map(|(_, k)| k.queued_bytes)
                        .sum::<u64>(),
                );
            }
        }
    });
    // Everything handed over is encoded by the end of a flush: nothing is left pending, in
    // total or of any kind (the encoder queue's per-kind count goes down as jobs leave it).
    let _ = guard.flush(Duration::from_secs(30));
    let flushed = guard.stats();
    assert_eq!((flushed.pending, flushed.pending_bytes), (0, 0));
    for (name, k) in &flushed.by_kind {
        assert_eq!((k.pending, k.pending_bytes), (0, 0), "{name}");
    }
    let stats = match guard.shutdown(Duration::from_secs(30)) {
        Err(e) => e.stats().expect("the account").clone(),
        Ok(()) => panic!("an overload loses telemetry"),
    };
    eprintln!("{stats:#?}");
    assert_accounts(&stats);
    let kind = |k: &str| stats.kind(k).unwrap().clone();
    let (s, l, m) = (kind("spans"), kind("logs"), kind("metrics"));
    assert_eq!(s.produced, 300);
    assert_eq!(l.produced, 1200);
    assert_eq!(m.produced, 30, "one series per i, sent at shutdown");
    assert!(l.dropped_by(DropReason::QueueFull) > 0, "{l:?}");
    // The policy: a log line goes before a span (spans may still go when the queue is
    // full for long, but far fewer).
    assert!(
        s.dropped() * 4 < l.dropped(),
        "spans dropped {} vs logs {}",
        s.dropped(),
        l.dropped()
    );
    assert_eq!(s.dropped(), s.dropped_by(DropReason::QueueFull));
    // Metric envelopes (handed over at shutdown, into a full queue) wait for room as spans
    // do: a smaller share of them is lost than of log lines (here none at all).
    assert!(
        m.dropped() * 40 < l.dropped(),
        "metrics dropped {}",
        m.dropped()
    );
    assert!(
        max_queued_bytes > 0,
        "the export queue was seen holding envelopes"
    );
}
