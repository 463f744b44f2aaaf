//! The runner passes every span scenario of the recorded fixtures.

use std::process::Command;

#[test]
fn runner_passes_the_recorded_fixtures() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_tracing-insights-conformance"))
        .args([
            "--scenarios",
            &format!("{dir}/fixtures/scenarios.json"),
            "--expected",
            &format!("{dir}/fixtures/expected"),
        ])
        .output()
        .expect("the runner starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn runner_passes_the_recorded_fixtures_via_the_opentelemetry_sdk() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_tracing-insights-conformance"))
        .args([
            "--via",
            "otel-sdk",
            "--scenarios",
            &format!("{dir}/fixtures/scenarios.json"),
            "--expected",
            &format!("{dir}/fixtures/expected"),
        ])
        .output()
        .expect("the runner starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.contains("via the OpenTelemetry SDK"), "{first}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(!last.starts_with("0 passed"), "{last}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

/// Scenarios recorded from Microsoft's exporter (same pinned versions) that the runner was not
/// written against: nested spans with span events, a remote parent and link attributes, logs
/// inside, after and outside spans, float counters, gauges and the client duration standard
/// metric. Both replay paths pass them.
#[test]
fn runner_passes_the_extra_recordings_both_ways() {
    let dir = env!("CARGO_MANIFEST_DIR");
    for via in ["tracing", "otel-sdk"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tracing-insights-conformance"))
            .args([
                "--via",
                via,
                "--scenarios",
                &format!("{dir}/fixtures/extra/scenarios.json"),
                "--expected",
                &format!("{dir}/fixtures/extra/expected"),
            ])
            .output()
            .expect("the runner starts");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{via}: {stdout}");
        let last = stdout.lines().last().unwrap_or_default();
        assert_eq!(last, "2 passed, 0 failed", "{via}: {stdout}");
    }
}
