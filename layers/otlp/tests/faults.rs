//! OTLP under faults, beside the export crate's: a receiver that is down and comes back, a
//! 429 with `Retry-After`, a receiver that never answers, and (with the offline spool on) a
//! process killed with SIGKILL mid-outage whose spooled spans a restart delivers exactly
//! once. In every case the application thread never waits.

mod common;

use common::decode_traces;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::proto::trace::v1::Span;
use tracing_insights_otlp::{DropReason, EnvVars, OtlpBuilder, OtlpLayer};
use tracing_insights_testing::http::{closed_port, LoopbackServer, Reply, Request};
use tracing_subscriber::prelude::*;

const CHILD_ENV: &str = "TIS_OTLP_KILL9_CHILD";

/// Traces only, to `origin`, small batches, quick retries.
fn traces_to(origin: &str) -> OtlpBuilder {
    OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(origin)
        .with_logs(false)
        .with_metrics(false)
        .with_batch_delay(Duration::from_millis(20))
        .with_request_timeout(Duration::from_millis(500))
}

/// Emits spans named `<prefix>-<i>` for `range` through a subscriber with `layer`; returns
/// how long the application thread took.
fn emit(layer: &OtlpLayer, prefix: &str, range: std::ops::Range<usize>) -> Duration {
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer.clone());
    let t0 = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in range {
            tracing::info_span!("work", otel.name = %format!("{prefix}-{i}")).in_scope(|| {});
        }
    });
    t0.elapsed()
}

fn span_names(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| decode_traces(r).resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .map(|s: Span| s.name)
        .collect()
}

fn counts(names: Vec<String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n).or_insert(0) += 1;
    }
    m
}

fn expect_each_once(counts: &BTreeMap<String, usize>, prefix: &str, n: usize) {
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        assert_eq!(counts.get(&name), Some(&1), "{name} delivered exactly once");
    }
}

#[test]
fn receiver_down_then_up_delivers_every_span_once_and_the_app_never_waits() {
    let port = closed_port();
    let (layer, guard) = traces_to(&format!("http://127.0.0.1:{port}"))
        .with_retries(20, Duration::from_millis(100))
        .build()
        .unwrap();
    // While nothing listens: batches fail and wait for their retries; new spans keep coming.
    let took = emit(&layer, "down", 0..200);
    assert!(
        took < Duration::from_secs(2),
        "the app thread waited {took:?}"
    );
    std::thread::sleep(Duration::from_millis(400));
    let took = emit(&layer, "still-down", 0..200);
    assert!(
        took < Duration::from_secs(2),
        "the app thread waited {took:?}"
    );

    let server = LoopbackServer::start_on(port, |_| Reply::status(200));
    guard.flush(Duration::from_secs(20)).unwrap();
    let stats = guard.stats();
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let c = counts(span_names(&server.on_path("/v1/traces")));
    expect_each_once(&c, "down", 200);
    expect_each_once(&c, "still-down", 200);
    assert_eq!(c.len(), 400);
    assert_eq!(stats.sent, 400);
    assert!(stats.retried > 0, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
}

#[test]
fn a_429_with_retry_after_parks_the_batch_while_the_worker_goes_on() {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let server = LoopbackServer::start(move |_| {
        if answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::status(429).header("Retry-After", "2")
        } else {
            Reply::status(200)
        }
    });
    let (layer, guard) = traces_to(&server.origin)
        .with_retries(3, Duration::from_millis(10))
        .build()
        .unwrap();
    emit(&layer, "first", 0..5);
    server.wait_for(Duration::from_secs(10), |r| !r.is_empty());
    // The first batch now waits 2 s for its retry: a second batch is sent meanwhile.
    let took = emit(&layer, "second", 0..5);
    assert!(
        took < Duration::from_secs(1),
        "the app thread waited {took:?}"
    );
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let reqs = server.on_path("/v1/traces");
    assert_eq!(reqs.len(), 3, "429, the second batch, the retry");
    assert_eq!(
        span_names(&reqs[..1]),
        span_names(&reqs[2..]),
        "the retry resends the first batch"
    );
    assert!(span_names(&reqs[1..2])
        .iter()
        .all(|n| n.starts_with("second-")));
    let gap = reqs[2].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After: 2 honoured ({gap:?})"
    );
    // What was accepted (every answer but the first): each span once.
    let c = counts(span_names(&reqs[1..]));
    expect_each_once(&c, "first", 5);
    expect_each_once(&c, "second", 5);
}

#[test]
fn a_hanging_receiver_costs_the_app_nothing_and_shutdown_is_bounded() {
    let server = LoopbackServer::start(|_| Reply::hang());
    let (layer, guard) = traces_to(&server.origin)
        .with_retries(2, Duration::from_millis(10))
        .with_queue_capacity(64)
        .build()
        .unwrap();
    let took = emit(&layer, "hung", 0..2_000);
    assert!(
        took < Duration::from_secs(2),
        "the app thread waited {took:?}"
    );
    let t0 = Instant::now();
    let result = guard.shutdown(Duration::from_secs(2));
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    assert!(result.is_err(), "undelivered spans are reported");
    assert!(!server.requests().is_empty());
}

#[test]
fn partial_success_and_final_answers_are_counted_by_reason() {
    use prost::Message as _;
    use tracing_insights_otlp::proto::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "2 spans too old".into(),
        }),
    }
    .encode_to_vec();
    let (server, script) = LoopbackServer::scripted();
    script.push([Reply::status(200).body(partial), Reply::status(400)]);
    let (layer, guard) = traces_to(&server.origin).build().unwrap();
    emit(&layer, "a", 0..5);
    let first = guard.flush(Duration::from_secs(5));
    emit(&layer, "b", 0..3);
    let second = guard.flush(Duration::from_secs(5));
    let stats = guard.stats();
    assert!(first.unwrap_err().to_string().contains("2 spans too old"));
    assert!(second
        .unwrap_err()
        .to_string()
        .contains("HTTP 400 Bad Request"));
    assert_eq!(stats.sent, 3);
    assert_eq!(stats.dropped_by(DropReason::Rejected), 2 + 3);
    assert_eq!(stats.kind("traces").map(|k| k.sent), Some(3));
    assert_eq!(server.requests().len(), 2, "nothing final is retried");
    let _ = guard.shutdown(Duration::from_secs(5));
}

/// The child's body; a no-op unless this binary was started by the kill -9 test.
#[test]
fn child_process() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, origin) = arg.split_once('|').unwrap();
    let (layer, _guard) = traces_to(origin)
        .with_name("kill9")
        .with_offline_storage(PathBuf::from(dir))
        .with_retry_interval(Duration::from_millis(200))
        .with_retries(1, Duration::from_millis(1))
        .with_max_batch(5)
        .with_batch_delay(Duration::from_millis(2))
        .with_request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let mut i = 0u64;
        loop {
            // Never blocks: a full queue just drops (not in the spool, so not promised).
            tracing::info_span!("work", otel.name = %format!("span-{i}")).in_scope(|| {});
            i += 1;
            if i % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

/// The spans the spool holds, and how many half-written files it has.
fn spooled_spans(dir: &Path) -> (Vec<String>, usize) {
    use prost::Message as _;
    let mut names = Vec::new();
    let mut tmp = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (names, 0);
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let parsed = tracing_insights_export::spool::parse_name(&name)
            .expect("only spool files in the directory");
        if parsed.tmp {
            tmp += 1;
            continue;
        }
        let data = std::fs::read(e.path()).unwrap();
        let batch = tracing_insights_export::spool::decode(&data)
            .expect("a completed spool file is never corrupt");
        names.extend(
            batch
                .into_iter()
                .map(|b| Span::decode(&b[..]).unwrap().name),
        );
    }
    (names, tmp)
}

#[test]
fn kill_9_mid_outage_then_restart_delivers_every_spooled_span_exactly_once() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "tis-otlp-kill9-{}-{}",
        std::process::id(),
        closed_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let origin = format!("http://127.0.0.1:{}", closed_port());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{origin}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each signal keeps its batches in its own subdirectory.
    let traces = dir.join("traces");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10)
        && std::fs::read_dir(&traces).map_or(0, Iterator::count) < 40
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (promised, tmp) = spooled_spans(&traces);
    assert!(
        tmp <= 1,
        "at most the batch being written is lost ({tmp} .tmp files)"
    );
    assert!(
        promised.len() >= 100,
        "the child spooled spans: {}",
        promised.len()
    );

    // Restart against a healthy receiver, on the same spool.
    let server = LoopbackServer::start(|_| Reply::status(200));
    let (_layer, guard) = traces_to(&server.origin)
        .with_name("kill9")
        .with_offline_storage(dir.clone())
        .with_retry_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let reqs = server.wait_for(Duration::from_secs(15), |r| {
        span_names(r).len() >= promised.len()
    });
    let _ = guard.flush(Duration::from_secs(5));
    let stats = guard.stats();
    let _ = guard.shutdown(Duration::from_secs(2));
    let c = counts(span_names(&reqs));
    for name in &promised {
        assert_eq!(c.get(name), Some(&1), "{name} delivered exactly once");
    }
    assert_eq!(c.len(), promised.len(), "nothing else delivered");
    assert_eq!(stats.replayed, promised.len() as u64);
    let (left, _) = spooled_spans(&traces);
    assert!(left.is_empty(), "the spool is empty once delivered");
    let _ = std::fs::remove_dir_all(dir);
}

/// Tokens `Bearer t1`, `Bearer t2`, ...: a new one after each invalidation.
struct Tokens(std::sync::atomic::AtomicU32);

impl tracing_insights_otlp::RequestAuth for Tokens {
    fn authorization(&self) -> Result<String, String> {
        Ok(format!(
            "Bearer t{}",
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        ))
    }
    fn invalidate(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn the_auth_hook_authorizes_every_request_and_refreshes_once_on_401() {
    let (server, script) = LoopbackServer::scripted();
    script.push([Reply::status(401)]);
    let (layer, guard) = traces_to(&server.origin)
        .with_auth(std::sync::Arc::new(Tokens(1.into())))
        .build()
        .unwrap();
    emit(&layer, "authorized", 0..3);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let reqs = server.on_path("/v1/traces");
    let auth: Vec<_> = reqs.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(auth, [Some("Bearer t1"), Some("Bearer t2")]);
    let c = counts(span_names(&reqs[1..]));
    expect_each_once(&c, "authorized", 3);
}

#[test]
fn redirects_are_followed_to_the_same_host_only() {
    let target = LoopbackServer::start(|_| Reply::status(200));
    let to = target.url("/v1/traces");
    let moved = LoopbackServer::start(move |_| Reply::status(307).header("Location", &to));
    let (layer, guard) = traces_to(&moved.origin).build().unwrap();
    emit(&layer, "moved", 0..3);
    guard.flush(Duration::from_secs(5)).unwrap();
    emit(&layer, "later", 0..2);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(
        moved.requests().len(),
        1,
        "later batches go to the new origin"
    );
    let c = counts(span_names(&target.on_path("/v1/traces")));
    expect_each_once(&c, "moved", 3);
    expect_each_once(&c, "later", 2);

    // Another host (`localhost` is not `127.0.0.1`): refused, counted, reported.
    let elsewhere = format!("http://localhost:{}/v1/traces", target.port);
    let away = LoopbackServer::start(move |_| Reply::status(308).header("Location", &elsewhere));
    let (layer, guard) = traces_to(&away.origin).build().unwrap();
    emit(&layer, "refused", 0..4);
    let err = guard.flush(Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains("refused redirect"), "{err}");
    assert_eq!(guard.stats().dropped_by(DropReason::Redirect), 4);
    let _ = guard.shutdown(Duration::from_secs(5));
    assert!(!span_names(&target.requests())
        .iter()
        .any(|n| n.starts_with("refused")));
}
