//! The baseline ladder (issue 3): time per request for no subscriber, `Registry`,
//! `+ correlation`, `+ correlation + JSON fmt` to a no-op writer, and beside them
//! `tracing_subscriber::fmt().json()` and `tracing-opentelemetry` with an SDK tracer and a
//! no-op exporter, on the same workload ([`tracing_insights_benches::request`]).
//!
//! ```text
//! cargo bench -p tracing-insights-benches --bench ladder -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracing_insights_benches::{request, Rung};

fn ladder(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    // `none` runs first, before any other dispatcher has been registered, so it measures
    // the floor: every callsite's interest is `never`.
    for rung in Rung::ALL {
        let dispatch = rung.dispatch();
        group.bench_function(rung.name(), |b| {
            tracing::dispatcher::with_default(&dispatch, || {
                let mut n = 0u64;
                b.iter(|| {
                    n = n.wrapping_add(1);
                    request(n);
                });
            });
        });
        drop(dispatch);
    }
    group.finish();
}

criterion_group!(benches, ladder);
criterion_main!(benches);
