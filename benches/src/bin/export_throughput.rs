//! Export throughput to a decoding loopback sink: the ladder's workload made on the main
//! thread, flat out or paced, for a fixed time (or a fixed number of requests), then the
//! exporter flushed and shut down. The sink gunzips every body, decodes it (OTLP/protobuf
//! with `prost`; App Insights envelopes with `serde_json`) and counts the spans it got.
//!
//! ```text
//! target/release/export-throughput <side> secs <S> [requests/s]
//! target/release/export-throughput <side> requests <N>
//! ```
//!
//! Sides (`tracing_insights_benches::throughput::Side`), each exporter with its defaults
//! (queue 2048, batches of 512, 5 s) and the peers with the OpenTelemetry SDK's batch
//! processor defaults (the same numbers): `appinsights`, `otel_appinsights`, `otlp`,
//! `otlp_gzip`, `otel_otlp`, `otel_otlp_gzip`. What does not fit in a queue is dropped, so
//! flat out, spans received are fewer than spans made.
//!
//! Prints one line of `key=value` pairs: `window_spans`/`window_bytes` are what the sink had
//! decoded when the producer stopped (the throughput is `window_spans / secs`), `spans`/
//! `bytes`/`received_pct` what it had after the shutdown.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing_insights_benches::throughput::Side;
use tracing_insights_benches::{request, Sink, SPANS_PER_REQUEST};

/// How long or how much to produce.
enum Amount {
    Secs(f64),
    Requests(u64),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let side = args.first().and_then(|s| Side::from_name(s));
    let amount = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("secs"), Some(v)) => v.parse().ok().map(Amount::Secs),
        (Some("requests"), Some(v)) => v.parse().ok().map(Amount::Requests),
        _ => None,
    };
    let rate = match args.get(3) {
        None => Some(None),
        Some(r) => r.parse::<f64>().ok().filter(|r| *r > 0.0).map(Some),
    };
    let (Some(side), Some(amount), Some(rate)) = (side, amount, rate) else {
        let names: Vec<_> = Side::ALL.iter().map(|s| s.name()).collect();
        eprintln!(
            "usage: export-throughput <{}> <secs S [requests/s] | requests N>",
            names.join("|")
        );
        return ExitCode::FAILURE;
    };
    let sink = Sink::start(true);
    let stack = side.stack(&sink, None);
    let stats = sink.stats();
    let start = Instant::now();
    let mut n = 0u64;
    tracing::dispatcher::with_default(&stack.dispatch, || match amount {
        Amount::Requests(total) => {
            while n < total {
                request(n);
                n += 1;
            }
        }
        Amount::Secs(secs) => {
            let end = Duration::from_secs_f64(secs);
            loop {
                if let Some(rate) = rate {
                    // Paced: request `n` is due `n / rate` seconds after the start.
                    let due = Duration::from_secs_f64(n as f64 / rate);
                    if due >= end {
                        break;
                    }
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                } else if n % 64 == 0 && start.elapsed() >= end {
                    break;
                }
                request(n);
                n += 1;
            }
        }
    });
    let made = start.elapsed();
    let window_spans = stats.spans.load(Ordering::Relaxed);
    let window_bytes = stats.bytes.load(Ordering::Relaxed);
    let report = stack.finish();
    let total = start.elapsed();
    let spans = stats.spans.load(Ordering::Relaxed);
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let offered = n * SPANS_PER_REQUEST;
    println!(
        "side={} requests={n} offered={offered} made_secs={:.3} total_secs={:.3} \
         window_spans={window_spans} window_bytes={window_bytes} \
         window_spans_per_s={:.0} spans={spans} bytes={bytes} received_pct={:.3} \
         bytes_per_span={:.2} other_items={} http_requests={} decode_errors={} report=\"{report}\"",
        side.name(),
        made.as_secs_f64(),
        total.as_secs_f64(),
        window_spans as f64 / made.as_secs_f64(),
        100.0 * spans as f64 / offered.max(1) as f64,
        bytes as f64 / spans.max(1) as f64,
        stats.logs.load(Ordering::Relaxed),
        stats.requests.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
    );
    ExitCode::SUCCESS
}
