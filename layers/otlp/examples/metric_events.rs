//! What an event with metric fields costs the thread that emits it: N events with two
//! metric fields each (`monotonic_counter.requests`, `histogram.latency_ms`) and one
//! attribute, inside a span, through `registry()` + `correlation::layer()` + the OTLP layer
//! (metrics only, HTTP/protobuf to a loopback sink, queue 65,536).
//!
//! Meant for callgrind: one warm-up event, then the N events in `emit_events`, and the
//! process exits without flushing. Instructions per event on the emitting thread are
//! (Ir(1000) - Ir(0)) / 1000 of:
//!
//! ```text
//! cargo build --release -p tracing-insights-otlp --example metric_events
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*emit_events*' \
//!   --separate-threads=yes target/release/examples/metric_events 1000
//! ```
//!
//! (thread 1, the `-01` output file, is the emitting thread).

use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::{Compression, EnvVars, OtlpLayer, Protocol};
use tracing_insights_testing::http::{LoopbackServer, Reply};
use tracing_subscriber::prelude::*;

/// One event with two metric fields and one attribute.
fn event(i: u64) {
    tracing::info!(
        monotonic_counter.requests = 1_u64,
        histogram.latency_ms = i % 100,
        route = "/chat",
    );
}

/// The measured part: `n` events.
#[inline(never)]
fn emit_events(n: u64) {
    for i in 0..n {
        event(i);
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let sink = LoopbackServer::start(|_| Reply::status(200));
    let (otlp, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(sink.origin.clone())
        .with_protocol(Protocol::HttpProtobuf)
        .with_compression(Compression::None)
        .with_traces(false)
        .with_logs(false)
        .with_metrics(true)
        .with_queue_capacity(65_536)
        .with_metric_interval(Duration::from_secs(60))
        .build()
        .expect("OTLP layer");
    tracing_subscriber::registry()
        .with(correlation::layer())
        .with(otlp)
        .init();
    let span = tracing::info_span!("request");
    let _entered = span.enter();
    event(0);
    emit_events(n);
    // Exits without flushing: only the emitting thread's work is measured.
    std::mem::forget(guard);
}
