//! Export throughput to a loopback OTLP sink: `N` requests of the ladder's
//! workload as fast as one thread can make them, then flush and shut the exporter down;
//! the sink decodes every OTLP/protobuf body and counts the spans it received.
//!
//! ```text
//! target/release/export-throughput <otlp|otel_otlp> <requests> [queue] [requests/s]
//! ```
//!
//! With a rate, requests are paced to it (the "60 % of our own throughput" run:
//! nothing should be lost); without, they are made flat out.
//!
//! `otlp` is `+ correlation` + `tracing_insights_otlp::OtlpLayer`; `otel_otlp` is
//! `tracing-opentelemetry` + `opentelemetry-otlp` in the SDK's batch processor. Both post
//! HTTP/protobuf, uncompressed, in batches of up to 512 spans after at most 5 s, with a
//! queue of `queue` spans (default 2048, the OpenTelemetry default); what does not fit is
//! dropped, so spans received can be fewer than spans made.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tracing_insights_benches::{otel_otlp_stack, otlp_stack, request, Sink, SPANS_PER_REQUEST};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let which = args.next();
    let n = args.next().and_then(|n| n.parse::<u64>().ok());
    let queue = args.next().map_or(Some(2048), |q| q.parse::<usize>().ok());
    let rate = args
        .next()
        .map_or(Some(None), |r| r.parse::<f64>().ok().map(Some));
    let (Some(which), Some(n), Some(queue), Some(rate)) = (which, n, queue, rate) else {
        eprintln!("usage: export-throughput <otlp|otel_otlp> <requests> [queue] [requests/s]");
        return ExitCode::FAILURE;
    };
    let sink = Sink::start(true);
    let stack = match which.as_str() {
        "otlp" => otlp_stack(&sink, queue),
        "otel_otlp" => otel_otlp_stack(&sink, queue),
        _ => {
            eprintln!("unknown stack {which}: otlp or otel_otlp");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    tracing::dispatcher::with_default(&stack.dispatch, || {
        for i in 0..n {
            if let Some(rate) = rate {
                // Paced: request `i` is due `i / rate` seconds after the start.
                let due = std::time::Duration::from_secs_f64(i as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            request(i);
        }
    });
    let made = start.elapsed();
    let report = stack.finish();
    let total = start.elapsed();
    let stats = sink.stats();
    let spans = stats.spans.load(Ordering::Relaxed);
    let events = stats.span_events.load(Ordering::Relaxed);
    let offered = n * SPANS_PER_REQUEST;
    println!(
        "{which}: {n} requests ({offered} spans) made in {:.3} s ({:.0} spans/s offered); \
         flushed and shut down after {:.3} s; sink: {spans} spans ({:.1} %), {events} span \
         events, {} requests, {} bytes; {:.0} spans received/s; {report}",
        made.as_secs_f64(),
        offered as f64 / made.as_secs_f64(),
        total.as_secs_f64(),
        100.0 * spans as f64 / offered as f64,
        stats.requests.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed),
        spans as f64 / total.as_secs_f64(),
    );
    ExitCode::SUCCESS
}
