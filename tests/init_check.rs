//! `init()`/`Telemetry::builder().build()` start the OTLP connectivity check in the
//! background: start-up does not wait for it, and each signal the endpoint does not accept
//! gets one line on stderr; `TRACING_INSIGHTS_CHECK=false` skips it. Runs as a child process
//! (this test binary again, with `CHECK_CHILD` set) to read its stderr. Only 127.0.0.1.
#![cfg(feature = "otlp")]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tracing_insights_testing::http::{LoopbackServer, Reply};

const CHILD: &str = "CHECK_CHILD";

fn run_child(endpoint: &str, check: Option<&str>) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "--exact",
        "start_up_check",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("OTEL_")
            || name.starts_with("APPLICATIONINSIGHTS_")
            || name.starts_with("TRACING_INSIGHTS_")
        {
            cmd.env_remove(name);
        }
    }
    if let Some(v) = check {
        cmd.env("TRACING_INSIGHTS_CHECK", v);
    }
    cmd.env(CHILD, "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("TRACING_INSIGHTS_LOG_FORMAT", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the child")
}

#[test]
fn start_up_check() {
    if std::env::var_os(CHILD).is_some() {
        let t = Instant::now();
        let (_layer, guard) = tracing_insights::Telemetry::builder()
            .build::<tracing_subscriber::Registry>()
            .expect("telemetry");
        println!("BUILT IN {} ms", t.elapsed().as_millis());
        // Time for the background check to report (it gives up after 3 s).
        std::thread::sleep(Duration::from_secs(5));
        drop(guard);
        return;
    }
    // Traces are refused (a wrong path, say), logs never answered, metrics accepted.
    let server = LoopbackServer::start(|r| match r.path.as_str() {
        "/v1/traces" => Reply::status(404),
        "/v1/logs" => Reply::hang(),
        _ => Reply::status(200),
    });
    let out = run_child(&server.origin, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let built_ms: u64 = stdout
        .lines()
        .find_map(|l| l.split_once("BUILT IN ").map(|(_, t)| t))
        .and_then(|l| l.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    assert!(
        built_ms < 2_000,
        "start-up waited for the check: {built_ms} ms"
    );
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("OTLP start-up check"))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let traces = format!("traces → {}/v1/traces: ", server.origin);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&traces) && l.contains("404")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("logs →") && l.contains("no answer within 3s")),
        "{stderr}"
    );

    // Switched off: no check request, no line.
    let quiet = LoopbackServer::start(|_| Reply::status(404));
    let out = run_child(&quiet.origin, Some("false"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("start-up check"), "{stderr}");
}
