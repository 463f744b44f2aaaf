//! Per-event cost of `Exporter::try_send` on the application thread while the service is
//! healthy, slow (answers after 200 ms) or down (connection refused, retries backing off).
//!
//! Only the `try_send` calls are timed, in bursts of 1000; between bursts (untimed) the
//! queue is let drain, so every measured call takes the accepting path (no drops), which is
//! the slower one. The worker's I/O happens on its own thread: if the app thread waited on
//! it, "slow" and "down" would cost milliseconds per event instead of nanoseconds.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};
use tracing_insights_export::{ExportBuilder, OfflineStorage};

/// A loopback server answering 200 after `delay`.
fn server(delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/v2.1/track")
}

fn down() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/v2.1/track")
}

fn bench(c: &mut Criterion) {
    let item = format!(
        "{{\"name\":\"Microsoft.ApplicationInsights.Message\",\"data\":\"{}\"}}",
        "x".repeat(300)
    );
    let mut group = c.benchmark_group("try_send");
    for (name, url) in [
        ("healthy", server(Duration::ZERO)),
        ("slow_200ms", server(Duration::from_millis(200))),
        ("down", down()),
    ] {
        let (exp, guard) = ExportBuilder::new(format!("bench-{name}"), url)
            .with_offline_storage(OfflineStorage::Disabled)
            .with_retries(4, Duration::from_millis(100))
            .with_queue_capacity(4096)
            .spawn()
            .unwrap();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(1000);
                    let t0 = Instant::now();
                    for _ in 0..n {
                        black_box(exp.try_send(black_box(item.clone().into_bytes())));
                    }
                    timed += t0.elapsed();
                    left -= n;
                    while exp.queue_len() > 0 {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
                timed
            })
        });
        let queue_full = exp
            .stats()
            .dropped_by(tracing_insights_export::DropReason::QueueFull);
        eprintln!("{name}: dropped on a full queue during the bench: {queue_full}");
        drop(guard);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
