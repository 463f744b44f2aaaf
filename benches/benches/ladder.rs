//! The baseline ladder: time per request for no subscriber, `Registry`,
//! `+ correlation`, `+ correlation + JSON fmt` to a no-op writer, and beside them
//! `tracing_subscriber::fmt().json()` and `tracing-opentelemetry` with an SDK tracer and a
//! no-op exporter, on the same workload ([`tracing_insights_benches::request`]).
//!
//! Two groups of the same rungs: `request` measures wall-clock time, `request_cpu` the
//! calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which leaves out the time the
//! thread spends preempted when other work shares the cores.
//!
//! ```text
//! cargo bench -p tracing-insights-benches --bench ladder -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tracing_insights_benches::{request, Rung};

/// The calling thread's CPU time, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Criterion's nanosecond formatter, borrowed from `WallTime`.
static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn run_rungs<M: Measurement>(group: &mut BenchmarkGroup<'_, M>) {
    group.throughput(Throughput::Elements(1));
    for rung in Rung::ALL {
        let stack = rung.stack();
        let dispatch = &stack.dispatch;
        group.bench_function(rung.name(), |b| {
            tracing::dispatcher::with_default(dispatch, || {
                let mut n = 0u64;
                b.iter(|| {
                    n = n.wrapping_add(1);
                    request(n);
                });
            });
        });
        let report = stack.finish();
        if !report.is_empty() {
            eprintln!("{}: {report}", rung.name());
        }
    }
}

fn ladder_wall(c: &mut Criterion) {
    // `none` runs first, before any other dispatcher has been registered, so it measures
    // the floor: every callsite's interest is `never`.
    let mut group = c.benchmark_group("request");
    run_rungs(&mut group);
    group.finish();
}

fn ladder_cpu(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("request_cpu");
    run_rungs(&mut group);
    group.finish();
}

criterion_group!(wall, ladder_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = ladder_cpu
}
criterion_main!(wall, cpu);
