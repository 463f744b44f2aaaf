//! The layer behind a real subscriber and its worker thread, against a loopback
//! fake QuickPulse service that subscribes. Only 127.0.0.1 is contacted.

mod common;

use common::{metric, FakeQuickPulse};
use serde_json::Value;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::{Env, LiveMetricsLayer, LIVE_METRICS_ENABLED_ENV};
use tracing_subscriber::prelude::*;

#[test]
fn subscribed_stream_shows_request_and_dependency_rates() {
    stream_shows_rates(false);
}

/// Another exporter in the stack asks the correlation layer for shared span and event
/// records: Live Metrics reads those instead of recording again, and shows the same.
#[test]
fn subscribed_stream_reads_the_records_another_exporter_asked_for() {
    stream_shows_rates(true);
}

/// Asks the correlation layer for shared records, as an exporter does, when `.0`.
struct Asking(bool);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Asking {
    fn on_layer(&mut self, subscriber: &mut S) {
        let subscriber: &dyn tracing::Subscriber = subscriber;
        if let (true, Some(c)) = (
            self.0,
            subscriber.downcast_ref::<correlation::CorrelationLayer>(),
        ) {
            c.share_finished_spans();
            c.share_finished_events();
        }
    }
}

fn stream_shows_rates(shared: bool) {
    // The first answer also offers a redirect to another loopback port, which the client
    // must refuse.
    let service = FakeQuickPulse::with_redirect(Some("http://127.0.0.1:9/"));
    let cs = service.connection_string();
    let (layer, guard) = LiveMetricsLayer::builder()
        .with_connection_string(cs)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(Asking(shared))
        .with(layer.clone());
    let _d = tracing::subscriber::set_default(subscriber);

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut pings = 0;
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        // The application: a request with a backend call, over and over.
        tracing::info_span!(
            "GET /chat",
            otel.kind = "server",
            http.request.method = "GET",
            url.full = "http://localhost/chat",
            http.response.status_code = 200
        )
        .in_scope(|| {
            tracing::info_span!(
                "POST",
                otel.kind = "client",
                http.request.method = "POST",
                url.full = "http://llm.local/v1/chat",
                http.response.status_code = 200
            )
            .in_scope(|| {});
            tracing::info!("answered");
            let err = std::io::Error::other("backend down");
            tracing::error!(error = &err as &(dyn std::error::Error + 'static), "failed");
        });
        while let Ok(call) = service.calls.recv_timeout(Duration::from_millis(20)) {
            assert!(call
                .path
                .contains("ikey=00000000-0000-0000-0000-000000000000"));
            if call.path.starts_with("/QuickPulseService.svc/ping") {
                pings += 1;
                let body: Value = serde_json::from_slice(&call.body).unwrap();
                assert_eq!(body["InvariantVersion"], 5);
                assert_eq!(call.header("x-ms-qps-invariant-version"), Some("5"));
                continue;
            }
            assert!(call
                .path
                .starts_with("/QuickPulseService.svc/post?api-version=2024-04-01-preview"));
            let body: Value = serde_json::from_slice(&call.body).unwrap();
            let p = body[0].clone();
            if metric(&p, "\\ApplicationInsights\\Requests/Sec") > 0.0
                && metric(&p, "\\ApplicationInsights\\Dependency Calls/Sec") > 0.0
            {
                found = Some(p);
                break;
            }
        }
    }
    assert_eq!(
        pings, 1,
        "one ping, then posts (the redirect to another port was refused)"
    );
    let p = found.expect("a post with non-zero request and dependency rates");
    assert!(layer.is_collecting());
    assert!(metric(&p, "\\ApplicationInsights\\Request Duration") >= 0.0);
    let docs = p["Documents"].as_array().unwrap();
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Request" && d["Name"] == "GET /chat"));
    assert!(docs.iter().any(|d| d["DocumentType"] == "RemoteDependency"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Trace" && d["Message"] == "answered"));
    assert!(
        docs.iter().any(|d| d["DocumentType"] == "Exception"),
        "the error event as an exception document: {docs:?}"
    );
    assert!(metric(&p, "\\ApplicationInsights\\Exceptions/Sec") > 0.0);
    // The shared statistics type: the ping and at least one post (the worker publishes its
    // counters after each step, so allow it the step after the post we saw).
    let deadline = Instant::now() + Duration::from_secs(10);
    while guard.stats().sent == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = guard.stats();
    assert!(stats.sent >= 1 && stats.requests > stats.sent, "{stats:?}");
    assert_eq!(stats.contained_panics, 0);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(!layer.is_collecting());
}

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

#[test]
fn enabled_explicitly_it_connects() {
    // The control case of `disabled.rs`: with the variable `true` the endpoint is reached.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cs = format!("InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{port}/");
    let (layer, guard) = LiveMetricsLayer::builder()
        .with_env(Env::from_pairs([
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str()),
            (LIVE_METRICS_ENABLED_ENV, "true"),
        ]))
        .with_request_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(layer.is_enabled());
    let until = Instant::now() + Duration::from_secs(10);
    let mut connected = false;
    while Instant::now() < until && !connected {
        connected = listener.accept().is_ok();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(connected, "the enabled layer never pinged");
    drop(listener);
    let _ = guard.shutdown(Duration::from_secs(5));
}
