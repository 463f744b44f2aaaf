//! The layer behind a real subscriber, its worker thread and `ureq`, against a loopback
//! fake QuickPulse service that subscribes. Only 127.0.0.1 is contacted.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::{Env, LiveMetricsLayer, LIVE_METRICS_ENABLED_ENV};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct Call {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Call> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Call {
        path,
        headers,
        body,
    })
}

/// A QuickPulse service on 127.0.0.1:0 that always subscribes; the first ping's answer
/// also offers a redirect to another loopback port, which the client must refuse.
fn fake_service() -> (u16, mpsc::Receiver<Call>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = true;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            let offer_redirect = std::mem::take(&mut first);
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut offer_redirect = offer_redirect;
                while let Some(call) = read_request(&mut r) {
                    let redirect = if std::mem::take(&mut offer_redirect) {
                        "x-ms-qps-service-endpoint-redirect-v2: http://127.0.0.1:9/\r\n"
                    } else {
                        ""
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nx-ms-qps-subscribed: true\r\nx-ms-qps-configuration-etag: \r\n{redirect}Content-Length: 0\r\n\r\n"
                    );
                    if w.write_all(resp.as_bytes()).is_err() || tx.send(call).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

fn metric(p: &Value, name: &str) -> f64 {
    p["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Value"].as_f64())
        .unwrap_or(0.0)
}

#[test]
fn subscribed_stream_shows_request_and_dependency_rates() {
    let (port, calls) = fake_service();
    let cs = format!(
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;LiveEndpoint=http://127.0.0.1:{port}"
    );
    let (layer, guard) = LiveMetricsLayer::builder()
        .with_connection_string(cs)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
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
        });
        while let Ok(call) = calls.recv_timeout(Duration::from_millis(20)) {
            assert!(call
                .path
                .contains("ikey=00000000-0000-0000-0000-000000000000"));
            if call.path.starts_with("/QuickPulseService.svc/ping") {
                pings += 1;
                let body: Value = serde_json::from_slice(&call.body).unwrap();
                assert_eq!(body["InvariantVersion"], 5);
                assert!(call
                    .headers
                    .iter()
                    .any(|(k, v)| k == "x-ms-qps-invariant-version" && v == "5"));
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
