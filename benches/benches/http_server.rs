//! The HTTP server layer's cost per request: `tracing-insights-http`'s
//! `ServerLayer` under `Registry + correlation`, beside `tower-http`'s `TraceLayer` (spans
//! and response events at INFO, as its docs suggest) under `Registry +
//! tracing-opentelemetry` with an SDK tracer and a no-op exporter, in one criterion run.
//!
//! Each iteration builds one request (`POST /chat?q=1` with `Host`, `User-Agent` and a
//! `traceparent`), calls the wrapped service, polls its future once (the handler answers at
//! once) and sends the whole response body, which is when both layers end the span. No
//! runtime, no socket: only the layers and the subscriber differ between rungs.
//!
//! Two groups of the same rungs: `http_server` measures wall-clock time, `http_server_cpu`
//! the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which leaves out the time the
//! thread spends preempted when other work shares the cores (as in the ladder bench).
//!
//! ```text
//! cargo bench -p tracing-insights-benches --bench http_server -- --warm-up-time 1 --measurement-time 3
//! ```

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use http::{Request, Response};
use http_body_util::Full;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Dispatch;
use tracing_insights_benches::NoopExporter;
use tracing_subscriber::prelude::*;

/// The application: answers every request with a small body, at once.
#[derive(Clone, Copy)]
struct Handler;

impl Service<Request<Full<Bytes>>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        black_box(&req);
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"answer")))))
    }
}

fn request(n: u64) -> Request<Full<Bytes>> {
    Request::post(if n % 2 == 0 { "/chat?q=1" } else { "/chat?q=2" })
        .header("host", "127.0.0.1:8080")
        .header("user-agent", "bench/1.0")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .body(Full::new(Bytes::from_static(b"question")))
        .unwrap()
}

/// One request through `service`: call, poll to completion, send the body.
fn serve<S, B>(service: &mut S, n: u64)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(service.call(request(black_box(n))));
    let Poll::Ready(response) = future.poll(&mut cx) else {
        panic!("the handler answers at once");
    };
    let mut body = pin!(response.unwrap().into_body());
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => {
                black_box(frame.unwrap());
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("the body is ready"),
        }
    }
}

fn ours() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(tracing_insights_correlation::layer()))
}

fn peer() -> (Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(NoopExporter)
        .build();
    let tracer = provider.tracer("tracing-insights-benches");
    let dispatch = Dispatch::new(
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer)),
    );
    (dispatch, provider)
}

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

    let mut bare = Handler;
    group.bench_function("handler alone", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n = n.wrapping_add(1);
            serve(&mut bare, n);
        });
    });

    let mut ours_service = tracing_insights_http::ServerLayer::new().layer(Handler);
    let dispatch = ours();
    group.bench_function("ServerLayer + correlation", |b| {
        tracing::dispatcher::with_default(&dispatch, || {
            let mut n = 0u64;
            b.iter(|| {
                n = n.wrapping_add(1);
                serve(&mut ours_service, n);
            });
        });
    });

    use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
    let mut peer_service = TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
        .on_request(DefaultOnRequest::new().level(tracing::Level::INFO))
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
        .layer(Handler);
    let (dispatch, provider) = peer();
    group.bench_function("tower-http TraceLayer + tracing-opentelemetry", |b| {
        tracing::dispatcher::with_default(&dispatch, || {
            let mut n = 0u64;
            b.iter(|| {
                n = n.wrapping_add(1);
                serve(&mut peer_service, n);
            });
        });
    });
    let _ = provider.shutdown();
}

fn bench_wall(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_server");
    run_rungs(&mut group);
    group.finish();
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("http_server_cpu");
    run_rungs(&mut group);
    group.finish();
}

criterion_group!(wall, bench_wall);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_cpu
}
criterion_main!(wall, cpu);
