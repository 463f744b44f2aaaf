//! Runs `N` requests under one rung of the ladder, for deterministic instruction counts:
//!
//! ```text
//! valgrind --tool=callgrind target/release/ladder-count correlation 1000
//! ```
//!
//! Per-request instructions are `(Ir(N) - Ir(0)) / N` (both runs do the same warm-up
//! request, which registers the callsites and fills the registry's slab). For the
//! request's own thread only (the exporter rungs do the rest on worker threads), count
//! inside `request` alone:
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='tracing_insights_benches::request' target/release/ladder-count otlp 1000
//! ```
//!
//! `tp.<side>` runs a side of `export-throughput` (`tp.appinsights`, `tp.otel_otlp_gzip`,
//! ...: the exporters' defaults and the peers' own reqwest client) with every queue at
//! 65,536, so that the all-threads count is the whole export of every request.

use std::process::ExitCode;
use tracing_insights_benches::throughput::Side;
use tracing_insights_benches::{request, Rung, Sink, Stack, EXPORT_QUEUE};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let stack = args
        .next()
        .and_then(|name| -> Option<Box<dyn FnOnce() -> Stack>> {
            if let Some(side) = name.strip_prefix("tp.").and_then(Side::from_name) {
                return Some(Box::new(move || {
                    side.stack(&Sink::start(false), Some(EXPORT_QUEUE))
                }));
            }
            let rung = Rung::from_name(&name)?;
            Some(Box::new(move || rung.stack()))
        });
    let n = args.next().and_then(|n| n.parse::<u64>().ok());
    let (Some(stack), Some(n)) = (stack, n) else {
        let names: Vec<_> = Rung::ALL
            .iter()
            .chain(&Rung::EXTRA)
            .map(|r| r.name())
            .collect();
        let sides: Vec<_> = Side::ALL.iter().map(|s| s.name()).collect();
        eprintln!(
            "usage: ladder-count <{}|tp.{{{}}}> <requests>",
            names.join("|"),
            sides.join(",")
        );
        return ExitCode::FAILURE;
    };
    let stack = stack();
    tracing::dispatcher::with_default(&stack.dispatch, || {
        request(0);
        for i in 1..=n {
            request(i);
        }
    });
    // The exporter rungs flush and stop here, so an all-threads count includes the export
    // of every request (mapping, encoding, HTTP to the loopback sink).
    let report = stack.finish();
    if !report.is_empty() {
        eprintln!("{report}");
    }
    ExitCode::SUCCESS
}
