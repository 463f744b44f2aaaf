//! The huge-values probe: a process that stacks the correlation layer, the JSON format
//! (writing to `io::sink`), App Insights and OTLP (both configured only from the
//! environment, at loopback receivers), logs 20 events each with a 10 MiB field, opens a
//! SERVER span with that field and one event inside, serves 5 requests, and drops its guards
//! without calling `shutdown`. Memory must stay bounded (peak RSS, `VmHWM`, at most 96 MiB),
//! every App Insights item at most 65,536 bytes of compact JSON, every OTLP request body at
//! most 4 MiB before compression, and nothing may be lost: values are cut, never dropped.
//! The probe runs as a child process (this test binary again, with `HUGE_VALUES_CHILD` set)
//! so that its peak RSS is its own.
#![cfg(all(feature = "appinsights", feature = "otlp", target_os = "linux"))]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tracing_insights::appinsights::AppInsightsLayer;
use tracing_insights::correlation;
use tracing_insights::otlp::OtlpLayer;
use tracing_insights_testing::{loopback_receiver, Captured};
use tracing_subscriber::prelude::*;

const CHILD: &str = "HUGE_VALUES_CHILD";
const KEY: &str = "00000000-0000-4000-8000-00000000cafe";
const TEN_MIB: usize = 10 * 1024 * 1024;

#[test]
fn huge_values_keep_memory_and_requests_bounded_and_nothing_is_lost() {
    if std::env::var_os(CHILD).is_some() {
        return probe();
    }
    let (ai_port, ai) = loopback_receiver();
    let (otlp_port, otlp) = loopback_receiver();
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--exact",
        "huge_values_keep_memory_and_requests_bounded_and_nothing_is_lost",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("OTEL_") || name.starts_with("APPLICATIONINSIGHTS_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .env(CHILD, "1")
        .env(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!("InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{ai_port}/"),
        )
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the probe");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the probe") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the probe did not exit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("probe output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success() && stdout.contains("PROBE DONE"),
        "the probe exited {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let hwm_kib: u64 = stdout
        .lines()
        .find_map(|l| l.split("VmHWM kB ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM line\n{stdout}"));
    println!("probe peak RSS: {hwm_kib} KiB");
    assert!(
        hwm_kib <= 96 * 1024,
        "peak RSS {hwm_kib} KiB is over 96 MiB\n{stderr}"
    );

    // App Insights: every item at most 64 KiB of compact JSON; all 26 items arrived.
    let ai_items = wait_for_ai(&ai, |items| {
        count(items, "MessageData", "huge event") >= 20
            && count(items, "RequestData", "huge span") >= 1
            && count(items, "RequestData", "GET /after") >= 5
    });
    for item in &ai_items {
        let len = serde_json::to_vec(item).expect("JSON").len();
        assert!(len <= 65_536, "an App Insights item of {len} bytes");
    }
    assert_eq!(
        count(&ai_items, "MessageData", "huge event"),
        20,
        "{stderr}"
    );
    assert_eq!(count(&ai_items, "RequestData", "huge span"), 1, "{stderr}");
    assert_eq!(count(&ai_items, "RequestData", "GET /after"), 5, "{stderr}");
    let cut = ai_items
        .iter()
        .find(|e| e["data"]["baseData"]["message"] == "huge event")
        .and_then(|e| e["data"]["baseData"]["properties"]["payload"].as_str())
        .map_or(0, str::len);
    assert!(
        cut > 1024,
        "the huge field is cut, not dropped: {cut} bytes"
    );

    // OTLP: every body at most 4 MiB before compression; 6 spans and 26 log records.
    let (spans, logs) = wait_for_otlp(&otlp);
    let bodies = otlp.lock().unwrap();
    for r in bodies.iter() {
        assert!(
            r.body.len() <= 4 * 1024 * 1024,
            "an OTLP request of {} bytes to {}",
            r.body.len(),
            r.path
        );
    }
    println!(
        "OTLP: {} requests, largest {} bytes; {spans} spans, {logs} log records",
        bodies.len(),
        bodies.iter().map(|r| r.body.len()).max().unwrap_or(0)
    );
    assert!(spans >= 6, "OTLP got {spans} spans\n{stderr}");
    assert!(logs >= 26, "OTLP got {logs} log records\n{stderr}");
}

fn count(items: &[serde_json::Value], base_type: &str, name: &str) -> usize {
    items
        .iter()
        .filter(|e| {
            e["data"]["baseType"] == base_type
                && (e["data"]["baseData"]["name"] == name
                    || e["data"]["baseData"]["message"] == name)
        })
        .count()
}

fn ai_items(captured: &Captured) -> Vec<serde_json::Value> {
    captured
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path.ends_with("/v2.1/track"))
        .flat_map(|r| serde_json::from_slice::<Vec<serde_json::Value>>(&r.body).unwrap_or_default())
        .collect()
}

fn wait_for_ai(
    captured: &Captured,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let items = ai_items(captured);
        if done(&items) || Instant::now() > deadline {
            return items;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spans and log records the OTLP receiver decoded.
fn otlp_counts(captured: &Captured) -> (usize, usize) {
    let received = captured.lock().unwrap();
    let mut spans = 0;
    let mut logs = 0;
    for r in received.iter() {
        if r.path == "/v1/traces" {
            let req = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("protobuf");
            spans += req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        } else if r.path == "/v1/logs" {
            let req = ExportLogsServiceRequest::decode(r.body.as_slice()).expect("protobuf");
            logs += req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>();
        }
    }
    (spans, logs)
}

fn wait_for_otlp(captured: &Captured) -> (usize, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (spans, logs) = otlp_counts(captured);
        if (spans >= 6 && logs >= 26) || Instant::now() > deadline {
            return (spans, logs);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn probe() {
    let (ai_layer, _ai_guard) = AppInsightsLayer::builder()
        .build()
        .expect("App Insights from APPLICATIONINSIGHTS_CONNECTION_STRING");
    let (otlp_layer, _otlp_guard) = OtlpLayer::builder()
        .build()
        .expect("OTLP from OTEL_EXPORTER_OTLP_ENDPOINT");
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(correlation::json().layer().with_writer(std::io::sink))
        .with(ai_layer)
        .with(otlp_layer);
    let huge = "x".repeat(TEN_MIB);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..20 {
            tracing::info!(payload = huge.as_str(), i, "huge event");
        }
        let span = tracing::info_span!("huge span", otel.kind = "server", payload = huge.as_str());
        span.in_scope(|| tracing::info!("inside the huge span"));
        drop(span);
        for i in 0..5 {
            let span =
                tracing::info_span!("request", otel.name = "GET /after", otel.kind = "server", i);
            span.in_scope(|| tracing::info!(i, "served"));
        }
        // The guards are dropped without `shutdown`: their `Drop` flushes.
        drop(_ai_guard);
        drop(_otlp_guard);
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
        .unwrap_or_default();
    // On a line of its own: the test harness prints the test name before it.
    println!("\nVmHWM kB {hwm}");
    println!("PROBE DONE");
}
