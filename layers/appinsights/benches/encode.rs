//! The encoder thread's cost per request (four spans and a log line mapped to envelopes and
//! written as JSON), with and without a telemetry processor, and the gzip levels: wire bytes
//! per span of a 512-item request body and the compression time per body.
//!
//! `cargo bench -p tracing-insights-appinsights --features testing --bench encode`
//!
//! With `ENCODE_REQUESTS=n` set, the binary encodes `n` requests once and exits (no
//! criterion), for instruction counts:
//! `valgrind --tool=callgrind --toggle-collect='*run_requests*' <bench binary>`.

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::hint::black_box;
use std::io::Write as _;
use tracing_insights_appinsights::encode_bench::EncodeBench;

/// Items per request body (the export default), made of whole requests (5 items, 4 spans).
const BATCH_REQUESTS: u64 = 102;

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_request");
    g.throughput(Throughput::Elements(4));
    for processor in [false, true] {
        let mut bench = EncodeBench::new(processor);
        let mut n = 0u64;
        let name = if processor {
            "with_processor"
        } else {
            "direct"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let mut bytes = 0;
                bench.request(n, &mut |line| bytes += black_box(line).len());
                bytes
            });
        });
    }
    g.finish();
}

/// One request body as the export sends it: `[resource metric, items...]`.
fn body(start: u64) -> Vec<u8> {
    let mut bench = EncodeBench::new(false);
    let mut json = b"[".to_vec();
    json.extend_from_slice(&bench.resource_metric());
    for n in start..start + BATCH_REQUESTS {
        bench.request(n, &mut |line| {
            json.push(b',');
            json.extend_from_slice(&line);
        });
    }
    json.push(b']');
    json
}

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::new(level));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gzip_levels(c: &mut Criterion) {
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| body(1 + i * BATCH_REQUESTS)).collect();
    let spans = (bodies.len() as u64 * BATCH_REQUESTS * 4) as f64;
    let raw: usize = bodies.iter().map(Vec::len).sum();
    eprintln!("uncompressed: {:.1} bytes per span", raw as f64 / spans);
    let mut g = c.benchmark_group("gzip_body");
    g.throughput(Throughput::Elements(BATCH_REQUESTS * 4));
    for level in [1, 2, 3, 4, 5, 6, 9] {
        let wire: usize = bodies.iter().map(|b| gzip(b, level).len()).sum();
        eprintln!(
            "gzip level {level}: {:.1} bytes per span",
            wire as f64 / spans
        );
        let mut i = 0;
        g.bench_function(format!("level_{level}"), |b| {
            b.iter_batched(
                || {
                    i += 1;
                    &bodies[i % bodies.len()]
                },
                |body| gzip(body, level),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// `n` requests through the encoder's code, outside criterion (for callgrind).
#[inline(never)]
fn run_requests(bench: &mut EncodeBench, n: u64) -> usize {
    let mut bytes = 0;
    for i in 0..n {
        bench.request(i, &mut |line| bytes += black_box(line).len());
    }
    bytes
}

criterion_group!(benches, encode, gzip_levels);

fn main() {
    if let Some(n) = std::env::var("ENCODE_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        let processor = std::env::var_os("ENCODE_PROCESSOR").is_some();
        let mut bench = EncodeBench::new(processor);
        run_requests(&mut bench, 1);
        let bytes = run_requests(&mut bench, n);
        println!("{n} requests, {bytes} bytes of JSON");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
