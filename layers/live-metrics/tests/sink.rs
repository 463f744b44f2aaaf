//! `LiveMetricsSink`: spans and records handed in without a `tracing` subscriber reach a
//! subscribed stream (a loopback fake QuickPulse service, only 127.0.0.1) as rates and
//! documents; switched off by the environment it does nothing.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tracing_insights_correlation::{FieldValue, SpanKind, SpanStatus};
use tracing_insights_live_metrics::{Env, LiveMetricsBuilder, LiveSpan, LIVE_METRICS_ENABLED_ENV};

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

/// One request's path and body.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut len = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        if k.trim().eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((path, body))
}

/// A QuickPulse service on 127.0.0.1:0 that always subscribes; sends the posts' bodies.
fn fake_service() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                while let Some((path, body)) = read_request(&mut r) {
                    let resp = "HTTP/1.1 200 OK\r\nx-ms-qps-subscribed: true\r\nx-ms-qps-configuration-etag: \r\nContent-Length: 0\r\n\r\n";
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                    if path.starts_with("/QuickPulseService.svc/post") && tx.send(body).is_err() {
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
        .into_iter()
        .flatten()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Value"].as_f64())
        .unwrap_or(0.0)
}

#[test]
fn spans_and_logs_handed_to_the_sink_show_in_a_subscribed_stream() {
    let (port, posts) = fake_service();
    let (sink, guard) = LiveMetricsBuilder::default()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{port}"
        ))
        .build_sink()
        .unwrap();
    assert!(sink.is_enabled());
    let ok = SpanStatus::Unset;
    let failed = SpanStatus::Error { message: None };
    let request_fields = [
        ("http.request.method", FieldValue::Str("GET".into())),
        ("http.response.status_code", FieldValue::I64(200)),
    ];
    let db_fields = [("db.system.name", FieldValue::Str("postgresql".into()))];
    let exception = [
        ("exception.type", FieldValue::Str("Timeout".into())),
        ("exception.message", FieldValue::Str("db slow".into())),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = None;
    let mut docs = Vec::new();
    while Instant::now() < deadline && found.is_none() {
        sink.record_span(&LiveSpan {
            name: "GET /items",
            kind: SpanKind::Server,
            status: &ok,
            fields: &request_fields,
            duration: Duration::from_millis(12),
        });
        sink.record_span(&LiveSpan {
            name: "SELECT items",
            kind: SpanKind::Client,
            status: &failed,
            fields: &db_fields,
            duration: Duration::from_millis(3),
        });
        sink.record_log(&exception);
        sink.record_log(&[("message", FieldValue::Str("served".into()))]);
        while let Ok(body) = posts.recv_timeout(Duration::from_millis(20)) {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let p = body[0].clone();
            docs.extend(p["Documents"].as_array().cloned().unwrap_or_default());
            if metric(&p, "\\ApplicationInsights\\Requests/Sec") > 0.0
                && metric(&p, "\\ApplicationInsights\\Dependency Calls Failed/Sec") > 0.0
                && metric(&p, "\\ApplicationInsights\\Exceptions/Sec") > 0.0
            {
                found = Some(p);
            }
        }
    }
    let p = found.expect("a post with request, failed dependency and exception rates");
    assert_eq!(
        metric(&p, "\\ApplicationInsights\\Requests Failed/Sec"),
        0.0
    );
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Request" && d["Name"] == "GET /items"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "RemoteDependency" && d["Name"] == "SELECT items"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Exception" && d["ExceptionType"] == "Timeout"));
    assert!(docs
        .iter()
        .any(|d| d["DocumentType"] == "Trace" && d["Message"] == "served"));
    assert_eq!(guard.stats().contained_panics, 0);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    assert!(!sink.is_collecting());
}

#[test]
fn switched_off_by_the_environment_the_sink_does_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cs = format!("InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:{port}/");
    let (sink, guard) = LiveMetricsBuilder::default()
        .with_env(Env::from_pairs([
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", cs.as_str()),
            (LIVE_METRICS_ENABLED_ENV, "false"),
        ]))
        .build_sink()
        .unwrap();
    assert!(!sink.is_enabled());
    sink.record_log(&[("message", FieldValue::Str("ignored".into()))]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(listener.accept().is_err(), "no connection was made");
    guard.shutdown(Duration::from_secs(1)).unwrap();
}
