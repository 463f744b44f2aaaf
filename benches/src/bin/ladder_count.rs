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

use std::process::ExitCode;
use tracing_insights_benches::{request, Rung};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let rung = args.next().and_then(|name| Rung::from_name(&name));
    let n = args.next().and_then(|n| n.parse::<u64>().ok());
    let (Some(rung), Some(n)) = (rung, n) else {
        let names: Vec<_> = Rung::ALL
            .iter()
            .chain(&Rung::EXTRA)
            .map(|r| r.name())
            .collect();
        eprintln!("usage: ladder-count <{}> <requests>", names.join("|"));
        return ExitCode::FAILURE;
    };
    let stack = rung.stack();
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
