//! The panic hook reports a panic as a Critical exception, correlated to the span current on
//! the panicking thread, and flushes before the thread unwinds (its own test binary: the hook
//! is process-wide).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_insights_appinsights::{install_panic_hook, AppInsightsLayer};
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
use tracing_subscriber::prelude::*;

type Captured = Arc<Mutex<Vec<Vec<u8>>>>;

fn receiver() -> (u16, Captured) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let captured: Captured = Arc::new(Mutex::new(Vec::new()));
    let c = captured.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end().to_ascii_lowercase();
                        if h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let mut plain = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                    c.lock().unwrap().push(plain);
                    w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
    (port, captured)
}

#[test]
fn a_panic_is_a_critical_exception_in_its_span_delivered_before_the_thread_unwinds() {
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey=0123abcd-0000-4000-8000-000000000000;IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_resource_metric(false)
        .build()
        .unwrap();
    install_panic_hook(guard.flush_handle(), Duration::from_secs(5));
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let ids = Arc::new(Mutex::new(None));
    let ids2 = ids.clone();
    let seen_before_unwinding = Arc::new(Mutex::new(0usize));
    let seen = seen_before_unwinding.clone();
    let c = captured.clone();
    let result = std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("GET /boom", otel.kind = "server");
            *ids2.lock().unwrap() = Some((span.trace_id().unwrap(), span.span_id().unwrap()));
            let _enter = span.enter();
            struct Check(Captured, Arc<Mutex<usize>>);
            impl Drop for Check {
                fn drop(&mut self) {
                    // Runs while unwinding, after the hook: the exception is already delivered.
                    *self.1.lock().unwrap() = self.0.lock().unwrap().len();
                }
            }
            let _check = Check(c, seen);
            panic!("boom at {}", 42);
        })
    })
    .join();
    assert!(result.is_err());
    assert_eq!(
        *seen_before_unwinding.lock().unwrap(),
        1,
        "flushed by the hook"
    );
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let envs: Vec<Value> = captured
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| serde_json::from_slice::<Vec<Value>>(b).unwrap())
        .collect();
    let ex = envs
        .iter()
        .find(|e| e["data"]["baseType"] == "ExceptionData")
        .unwrap_or_else(|| panic!("{envs:#?}"));
    let (trace_id, span_id) = ids.lock().unwrap().unwrap();
    assert_eq!(ex["tags"]["ai.operation.id"], trace_id.to_string());
    assert_eq!(ex["tags"]["ai.operation.parentId"], span_id.to_string());
    let bd = &ex["data"]["baseData"];
    assert_eq!(bd["severityLevel"], 4);
    assert_eq!(bd["exceptions"][0]["typeName"], "panic");
    assert_eq!(bd["exceptions"][0]["message"], "boom at 42");
    assert_eq!(bd["exceptions"][0]["hasFullStack"], true);
    assert!(bd["properties"]["code.file.path"]
        .as_str()
        .unwrap()
        .ends_with("panic_hook.rs"));
}
