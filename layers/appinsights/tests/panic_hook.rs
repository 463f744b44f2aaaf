//! The panic hook reports a panic as a Critical exception, correlated to the span current on
//! the panicking thread, and flushes before the thread unwinds (its own test binary: the hook
//! is process-wide).

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_insights_appinsights::{install_panic_hook, AppInsightsLayer};
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
use tracing_subscriber::prelude::*;

use tracing_insights_testing::{loopback_receiver as receiver, Captured};

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
        .flat_map(|r| serde_json::from_slice::<Vec<Value>>(&r.body).unwrap())
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
