//! The conformance runner: replays a scenarios file (the format of
//! `fixtures/scenarios.json`) through `tracing` + the correlation layer + the App Insights
//! layer, captures what goes on the wire with a loopback receiver, and compares every field
//! with `DIR/<scenario>.json` (what Microsoft's exporter sent).
//!
//! ```text
//! cargo run --release -p tracing-insights-conformance -- --scenarios FILE --expected DIR
//! cargo run --release -p tracing-insights-conformance -- --via otel-sdk --scenarios FILE --expected DIR
//! ```
//!
//! `--via otel-sdk` replays the same scenarios through the OpenTelemetry SDK's tracer, logger
//! and meter providers with `tracing-insights-opentelemetry`'s `AppInsightsExporter` instead
//! of `tracing` spans, and says so on its first line; `--via tracing` is the default.
//!
//! Prints one line per scenario (`PASS`, `PASS … deviations: …`, `FAIL` with a diff, or
//! `SKIP` for scenarios with no spans, logs or metrics), then the deliberate deviations seen, then, last,
//! `N passed, N failed`. Exits non-zero when a scenario fails.

mod compare;
mod deviations;
mod ordered;
mod receiver;
mod replay;
mod replay_otel;

use ordered::J;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: tracing-insights-conformance [--via tracing|otel-sdk] --scenarios FILE --expected DIR [--verbose]"
    );
    ExitCode::from(2)
}

/// Whether the scenario has anything to replay: spans, log records or metrics.
fn has_telemetry(scenario: &J) -> bool {
    let any = |key: &str| !scenario.get(key).map(J::arr).unwrap_or_default().is_empty();
    any("logs")
        || any("metrics")
        || scenario
            .get("traces")
            .map(J::arr)
            .unwrap_or_default()
            .iter()
            .any(|t| !t.get("spans").map(J::arr).unwrap_or_default().is_empty())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut scenarios, mut expected, mut verbose) = (None, None, false);
    let mut via = deviations::Path::Tracing;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scenarios" => scenarios = args.next().map(PathBuf::from),
            "--expected" => expected = args.next().map(PathBuf::from),
            "--verbose" => verbose = true,
            "--via" => {
                via = match args.next().as_deref() {
                    Some("tracing") => deviations::Path::Tracing,
                    Some("otel-sdk") => deviations::Path::OtelSdk,
                    _ => return usage(),
                }
            }
            _ => return usage(),
        }
    }
    let (Some(scenarios), Some(expected)) = (scenarios, expected) else {
        return usage();
    };
    match via {
        deviations::Path::Tracing => println!("replaying via tracing (the correlation and App Insights layers)"),
        deviations::Path::OtelSdk => println!(
            "replaying via the OpenTelemetry SDK (opentelemetry_sdk 0.33 tracer, logger and meter providers with AppInsightsExporter)"
        ),
    }
    // The recorder ran Microsoft's exporter with LC_ALL=en_US.UTF-8 (see the expected
    // files' `normalised` notes); the layer reads the locale the same way.
    std::env::set_var("LC_ALL", "en_US.UTF-8");
    std::env::remove_var("APPLICATIONINSIGHTS_OPENTELEMETRY_RESOURCE_METRIC_DISABLED");

    let file: J = match std::fs::read_to_string(&scenarios)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot read {}: {e}", scenarios.display());
            return ExitCode::from(2);
        }
    };
    let base = replay::base_time(&file);
    let receiver = match receiver::Receiver::start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the loopback receiver: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut all_deviations: BTreeSet<&str> = BTreeSet::new();
    for scenario in file.get("scenarios").map(J::arr).unwrap_or_default() {
        let scenario = scenario.clone().expand();
        let name = scenario
            .get("name")
            .and_then(J::str)
            .unwrap_or("?")
            .to_owned();
        if !has_telemetry(&scenario) {
            println!("SKIP {name} (no spans, logs or metrics)");
            continue;
        }
        let path = expected.join(format!("{name}.json"));
        let expected_file: serde_json::Value = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                println!("FAIL {name}: cannot read {}: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let _ = receiver.take();
        let run = match via {
            deviations::Path::Tracing => replay::run(&scenario, receiver.port, base),
            deviations::Path::OtelSdk => replay_otel::run(&scenario, receiver.port, base),
        };
        if let Err(e) = run {
            println!("FAIL {name}: export failed: {e}");
            failed += 1;
            continue;
        }
        let captured = receiver.take();
        let verdict = compare::compare(&expected_file, &captured, via);
        all_deviations.extend(verdict.deviations.iter().copied());
        if verdict.failures.is_empty() {
            passed += 1;
            if verdict.deviations.is_empty() {
                println!("PASS {name}");
            } else {
                let names: Vec<&str> = verdict.deviations.iter().copied().collect();
                println!(
                    "PASS {name} with deliberate deviations: {}",
                    names.join(", ")
                );
            }
        } else {
            failed += 1;
            println!("FAIL {name} ({} differences)", verdict.failures.len());
            for d in &verdict.failures {
                println!("    - {d}");
            }
            if !verdict.deviations.is_empty() {
                let names: Vec<&str> = verdict.deviations.iter().copied().collect();
                println!("    deliberate deviations also seen: {}", names.join(", "));
            }
        }
        if verbose {
            for (n, d) in &verdict.deviation_diffs {
                println!("    ~ [{n}] {d}");
            }
        }
    }
    if !all_deviations.is_empty() {
        println!("deliberate deviations (layers/conformance/DEVIATIONS.md):");
        for (n, text) in deviations::DEVIATIONS {
            if all_deviations.contains(n) {
                println!("    {n}: {text}");
            }
        }
    }
    match via {
        deviations::Path::Tracing => {
            println!("bypassing tracing: {}", replay::BYPASSES.join("; "))
        }
        deviations::Path::OtelSdk => println!(
            "bypassing the OpenTelemetry SDK: {}",
            replay_otel::BYPASSES.join("; ")
        ),
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
