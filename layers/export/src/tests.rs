//! Unit tests of the pipeline against a tiny loopback server.
use super::*;
use std::sync::atomic::AtomicU16;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;
use tracing_insights_testing::http::{closed_port, LoopbackServer, Reply};

/// A loopback server answering `status` and recording bodies (gunzipped) and whether
/// each was sent gzipped.
fn server(status: u16) -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let (url, bodies, _) = switchable(status);
    (url, bodies)
}

/// Like `server`, with the status changeable while it runs.
fn switchable(status: u16) -> (String, Arc<Mutex<Vec<Vec<u8>>>>, Arc<AtomicU16>) {
    let status = Arc::new(AtomicU16::new(status));
    let st = status.clone();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = bodies.clone();
    let server = LoopbackServer::start(move |r| {
        assert!(
            r.gzipped == (r.header("content-encoding") == Some("gzip")),
            "the body is what Content-Encoding says"
        );
        b.lock().unwrap().push(r.body.clone());
        Reply::status(st.load(Ordering::Relaxed))
    });
    (server.url("/v2.1/track"), bodies, status)
}

/// A server that also says whether each body came gzipped.
fn gzip_server() -> (String, Arc<Mutex<Vec<(bool, Vec<u8>)>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let b = bodies.clone();
    let server = LoopbackServer::start(move |r| {
        b.lock().unwrap().push((r.gzipped, r.body.clone()));
        Reply::status(200)
    });
    (server.url("/v2.1/track"), bodies)
}

#[test]
fn batches_are_json_arrays_gzipped_and_counted() {
    let (url, bodies) = gzip_server();
    let (exp, guard) = ExportBuilder::new("test", url)
        .with_batch_prefix(|| Some(b"0".to_vec()))
        .spawn()
        .unwrap();
    assert!(exp.try_send(b"1".to_vec()));
    assert!(exp.try_send(b"2".to_vec()));
    guard.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(exp.sent(), 2);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0], (true, b"[0,1,2]".to_vec()), "gzipped");
}

#[test]
fn full_queue_drops_and_counts() {
    let (url, _) = server(200);
    let (exp, guard) = ExportBuilder::new("full", url)
        .with_queue_capacity(1)
        .spawn()
        .unwrap();
    // The worker may or may not have taken the first item yet; send many.
    let accepted = (0..1000).filter(|_| exp.try_send(b"1".to_vec())).count() as u64;
    assert_eq!(accepted + exp.dropped(), 1000);
    assert!(exp.dropped() > 0);
    // Queue-full drops are a loss too: the shutdown says so, with the counts.
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    let stats = err.stats().expect("counters").clone();
    assert_eq!(stats.produced, 1000);
    assert_eq!(stats.sent, accepted);
    assert_eq!(stats.dropped_by(DropReason::QueueFull), 1000 - accepted);
    assert!(
        err.to_string()
            .contains(&format!("queue full {}", 1000 - accepted)),
        "{err}"
    );
}

#[test]
fn failing_endpoint_is_reported_at_shutdown() {
    let (url, bodies) = server(400);
    let (exp, guard) = ExportBuilder::new("fail", url).spawn().unwrap();
    exp.try_send(b"1".to_vec());
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, ShutdownError::Lost(_)), "{err}");
    assert_eq!(bodies.lock().unwrap().len(), 1, "400 is not retried");
}

#[test]
fn retries_503_then_gives_up() {
    let (url, bodies) = server(503);
    let (exp, guard) = ExportBuilder::new("retry", url)
        .with_retries(3, Duration::from_millis(1))
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    assert!(guard.shutdown(Duration::from_secs(5)).is_err());
    assert_eq!(bodies.lock().unwrap().len(), 3);
}

#[test]
fn drop_is_bounded_when_the_endpoint_is_down() {
    // A port nobody listens on: connection refused, retried, then given up.
    let port = closed_port();
    let (exp, guard) = ExportBuilder::new("down", format!("http://127.0.0.1:{port}/"))
        .with_retries(10, Duration::from_millis(500))
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    let t0 = Instant::now();
    drop(guard);
    assert!(t0.elapsed() < DROP_TIMEOUT + Duration::from_millis(500));
    // The application thread never blocks either.
    let t0 = Instant::now();
    for _ in 0..10_000 {
        exp.try_send(b"1".to_vec());
    }
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn shutdown_stops_retrying_at_its_deadline() {
    let (url, bodies) = server(503);
    let (exp, guard) = ExportBuilder::new("deadline", url)
        .with_retries(10, Duration::from_millis(300))
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    let t0 = Instant::now();
    let err = guard.shutdown(Duration::from_secs(1)).unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(matches!(err, ShutdownError::Lost(_)), "{err}");
    assert!(bodies.lock().unwrap().len() < 10);
}

#[test]
fn worker_thread_is_named() {
    let (url, _) = server(200);
    let (_exp, guard) = ExportBuilder::new("named", url).spawn().unwrap();
    assert_eq!(
        guard.thread.as_ref().unwrap().thread().name(),
        Some("tracing-insights-named")
    );
    guard.shutdown(Duration::from_secs(1)).unwrap();
}

/// A spool whose writes always fail (a full or read-only disk), injected because tests run
/// as root and `chmod` proves nothing.
struct FailingIo;

impl spool::SpoolIo for FailingIo {
    fn write_new(&self, _: &std::path::Path, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("injected: no space left on device"))
    }
}

#[test]
fn failing_spool_degrades_to_memory_retry_with_counted_loss() {
    let (url, bodies, status) = switchable(503);
    let dir = std::env::temp_dir().join(format!("tis-failing-spool-{}", std::process::id()));
    let (exp, guard) = ExportBuilder::new("failing-spool", url)
        .with_retries(1, Duration::from_millis(1))
        .with_retry_interval(Duration::from_millis(100))
        .with_offline_storage(dir.clone())
        .with_spool_io(Arc::new(FailingIo))
        // Room for about 3 one-item batches of 10 bytes.
        .with_memory_retry_bytes(35)
        .with_max_batch(1)
        .spawn()
        .unwrap();
    for i in 0..5 {
        assert!(exp.try_send(format!("\"item-{i}\"").into_bytes()));
    }
    let _ = guard.flush(Duration::from_millis(300));
    let s = exp.stats();
    assert_eq!(s.spooled, 0);
    assert_eq!(s.dropped_by(DropReason::SpoolUnavailable), 2, "{s:?}");
    assert!(s.last_error.unwrap_or_default().contains("injected"));
    // The service comes back: what stayed in memory is delivered.
    status.store(200, Ordering::Relaxed);
    let t0 = Instant::now();
    while exp.sent() < 3 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(exp.sent(), 3);
    assert!(!bodies.lock().unwrap().is_empty());
    let _ = guard.shutdown(Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn oversized_items_are_dropped_on_the_app_thread() {
    let (url, bodies) = server(200);
    let (exp, guard) = ExportBuilder::new("oversized", url)
        .with_max_item_bytes(8)
        .spawn()
        .unwrap();
    assert!(!exp.try_send(vec![b'1'; 9]));
    assert!(exp.try_send(b"1".to_vec()));
    let err = guard.shutdown(Duration::from_secs(5)).unwrap_err();
    assert_eq!(
        err.stats().map(|s| s.dropped_by(DropReason::Oversized)),
        Some(1)
    );
    assert_eq!(exp.stats().dropped_by(DropReason::Oversized), 1);
    assert_eq!(bodies.lock().unwrap().len(), 1);
}

#[test]
fn batches_split_by_bytes() {
    let (url, bodies) = server(200);
    let (exp, guard) = ExportBuilder::new("bytes", url)
        .with_max_request_bytes(100)
        .with_gzip(false)
        .spawn()
        .unwrap();
    for _ in 0..10 {
        exp.try_send(vec![b'1'; 30]);
    }
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let bodies = bodies.lock().unwrap();
    assert!(bodies.len() >= 4, "{}", bodies.len());
    assert!(bodies.iter().all(|b| b.len() <= 100));
}

#[test]
fn waiting_retries_are_bounded_in_memory() {
    let (url, _bodies) = server(503);
    let (exp, guard) = ExportBuilder::new("bounded-retries", url)
        .with_retries(10, Duration::from_secs(10))
        .with_offline_storage(OfflineStorage::Disabled)
        .with_memory_retry_bytes(35)
        .with_max_batch(1)
        .spawn()
        .unwrap();
    for i in 0..5 {
        assert!(exp.try_send(format!("\"item-{i}\"").into_bytes()));
    }
    assert!(guard.flush(Duration::from_millis(300)).is_err());
    // Three 10-byte batches wait for their retry; the other two could not be kept.
    assert_eq!(exp.stats().dropped_by(DropReason::RetriesExhausted), 2);
    let _ = guard.shutdown(Duration::from_millis(100));
    assert_eq!(exp.stats().dropped_by(DropReason::Shutdown), 3);
}

#[test]
fn an_unusable_spool_directory_degrades_to_memory_retry_never_a_panic() {
    let (url, _bodies, status) = switchable(503);
    // A regular file where the directory should be: create_dir_all fails.
    let file = std::env::temp_dir().join(format!("tis-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let (exp, guard) = ExportBuilder::new("unusable-spool", url)
        .with_retries(1, Duration::from_millis(1))
        .with_retry_interval(Duration::from_millis(100))
        .with_offline_storage(file.join("spool"))
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    let _ = guard.flush(Duration::from_millis(200));
    assert_eq!(exp.dropped(), 0, "kept in memory");
    status.store(200, Ordering::Relaxed);
    let t0 = Instant::now();
    while exp.sent() < 1 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(exp.sent(), 1);
    assert!(exp.stats().last_error.is_some());
    guard.shutdown(Duration::from_secs(2)).unwrap();
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_queue_is_bounded_in_bytes_as_well_as_items() {
    // The server holds each request for a second: the worker is busy with the first item
    // while the rest wait in the queue.
    let server = LoopbackServer::start(|_| {
        std::thread::sleep(Duration::from_secs(1));
        Reply::status(200)
    });
    let (exp, guard) = ExportBuilder::new("bytes", server.url("/v2.1/track"))
        .with_queue_bytes(100_000)
        .with_max_batch(1)
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    let item = vec![b'1'; 40_000];
    let mut accepted = 0;
    for _ in 0..10 {
        if exp.try_send(item.clone()) {
            accepted += 1;
        }
        assert!(exp.queue_bytes() <= 100_000, "{}", exp.queue_bytes());
    }
    // One in flight at most, two waiting (80,000 bytes); a third would pass the bound.
    assert!((2..=3).contains(&accepted), "accepted {accepted}");
    assert_eq!(exp.stats().dropped_by(DropReason::QueueFull), 10 - accepted);
    let _ = guard.shutdown(Duration::from_secs(5));
}

#[test]
fn shutdown_against_a_dead_endpoint_returns_in_time_with_every_count() {
    let port = closed_port();
    let (exp, guard) = ExportBuilder::new("dead", format!("http://127.0.0.1:{port}/"))
        .with_retries(10, Duration::from_millis(200))
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    for _ in 0..5 {
        assert!(exp.try_send(b"1".to_vec()));
    }
    let t0 = Instant::now();
    let err = guard.shutdown(Duration::from_secs(1)).unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    let ShutdownError::Lost(loss) = &err else {
        panic!("{err:?}")
    };
    let s = &loss.stats;
    assert_eq!(s.produced, 5);
    assert_eq!(s.sent, 0);
    assert_eq!(s.dropped(), 5, "{err}");
    assert_eq!(s.failed(), 5, "{err}");
    assert!(loss.cause.is_some(), "{err}");
    assert!(
        err.to_string().contains("5 of 5 items not delivered"),
        "{err}"
    );
    assert_eq!(exp.stats().dropped(), 5, "the live counters agree");
}

#[test]
fn nothing_is_sent_after_a_timed_out_shutdown_returns() {
    let requests = Arc::new(AtomicU16::new(0));
    let r = requests.clone();
    // Holds every request for 1.5 s, then answers 503 (retryable).
    let server = LoopbackServer::start(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        Reply::status(503)
    });
    let (exp, guard) = ExportBuilder::new("halt", server.url("/v2.1/track"))
        .with_max_batch(1)
        .with_retries(50, Duration::from_millis(10))
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    exp.try_send(b"2".to_vec());
    let t0 = Instant::now();
    while requests.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = guard.shutdown(Duration::from_millis(300)).unwrap_err();
    let ShutdownError::Lost(loss) = &err else {
        panic!("{err:?}")
    };
    assert!(loss.timed_out.is_some(), "{err}");
    let at_return = requests.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        requests.load(Ordering::SeqCst),
        at_return,
        "a request was sent after shutdown returned"
    );
    // The worker counted what it still held once it saw the stop.
    let s = exp.stats();
    assert_eq!(s.sent + s.dropped(), 2, "{s:?}");
}

#[test]
fn spooled_batches_are_replayed_as_soon_as_the_service_is_back_in_the_same_process() {
    let dir = std::env::temp_dir().join(format!("tis-replay-now-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (url, bodies, status) = switchable(503);
    let (exp, guard) = ExportBuilder::new("replay-now", url)
        .with_max_batch(1)
        .with_retries(1, Duration::from_millis(1))
        // A long lease: only the success below can bring the batches back in time.
        .with_retry_interval(Duration::from_secs(60))
        .with_offline_storage(dir.clone())
        .spawn()
        .unwrap();
    for i in 0..3 {
        exp.try_send(format!("{i}").into_bytes());
    }
    let t0 = Instant::now();
    while exp.stats().spooled < 3 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(exp.stats().spooled, 3, "the outage spooled every batch");
    status.store(200, Ordering::Relaxed);
    exp.try_send(b"3".to_vec());
    let t0 = Instant::now();
    while exp.stats().sent < 4 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = exp.stats();
    assert_eq!(stats.sent, 4, "{stats:?}");
    assert_eq!(stats.replayed, 3, "{stats:?}");
    let delivered: Vec<Vec<u8>> = bodies.lock().unwrap().iter().skip(3).cloned().collect();
    for i in 0..4 {
        let item = format!("[{i}]").into_bytes();
        assert_eq!(
            delivered.iter().filter(|b| **b == item).count(),
            1,
            "item {i} delivered once after the outage"
        );
    }
    guard.shutdown(Duration::from_secs(5)).ok();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_batch_failing_longer_than_spool_after_is_on_disk_while_attempts_remain() {
    let dir = std::env::temp_dir().join(format!("tis-spool-after-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (url, _bodies) = server(503);
    let (exp, guard) = ExportBuilder::new("spool-after", url)
        .with_retries(1000, Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(50))
        .with_spool_after(Some(Duration::from_millis(300)))
        .with_offline_storage(dir.clone())
        .with_max_delay(Duration::from_millis(1))
        .spawn()
        .unwrap();
    exp.try_send(b"1".to_vec());
    let t0 = Instant::now();
    while exp.stats().spooled == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(exp.stats().spooled, 1, "on disk long before 1000 attempts");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 1, "one batch file");
    drop(guard);
    let _ = std::fs::remove_dir_all(dir);
}

/// Kind of the test items: the first digit (1, 2, 3) names kinds 0, 1, 2.
fn digit_kind(item: &[u8]) -> usize {
    usize::from(item.first().copied().unwrap_or(b'0').wrapping_sub(b'1'))
}

#[test]
fn partial_success_is_counted_per_kind_by_index() {
    // Items `<kind digit><n>`: n = 1 is refused for good (400), n = 2 is refused once with a
    // retryable 503 and accepted when sent again, the rest accepted.
    let seen = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let s = seen.clone();
    let server = LoopbackServer::start(move |r| {
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let items: Vec<&str> = body.trim_matches(['[', ']']).split(',').collect();
        let mut seen = s.lock().unwrap();
        let errors: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item.as_bytes()[1] {
                b'1' => Some(format!(
                    r#"{{"index":{i},"statusCode":400,"message":"bad"}}"#
                )),
                b'2' if seen.insert((*item).to_owned()) => Some(format!(
                    r#"{{"index":{i},"statusCode":503,"message":"busy"}}"#
                )),
                _ => None,
            })
            .collect();
        Reply::status(if errors.is_empty() { 200 } else { 206 }).body(format!(
            r#"{{"itemsReceived":{},"itemsAccepted":{},"errors":[{}]}}"#,
            items.len(),
            items.len() - errors.len(),
            errors.join(",")
        ))
    });
    let (exp, guard) = ExportBuilder::new("kinds", server.url("/v2.1/track"))
        .with_kinds(&["a", "b", "c"], digit_kind)
        .with_retries(4, Duration::from_millis(1))
        .with_max_batch(7)
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    // Kind a: 5 items, b: 3 (and 2 lost before the queue), c: 4, each with one refused and
    // one retried, mixed in batches of 7; the first three named through try_send_kind.
    let items = [
        "10", "21", "32", "11", "22", "30", "12", "13", "31", "20", "33", "14",
    ];
    for (i, item) in items.iter().enumerate() {
        let bytes = item.as_bytes().to_vec();
        if i < 3 {
            exp.try_send_kind(bytes, digit_kind(item.as_bytes()));
        } else {
            exp.try_send(bytes);
        }
    }
    exp.count_lost_kind(1, DropReason::QueueFull, 2);
    let err = guard.shutdown(Duration::from_secs(10)).unwrap_err();
    let stats = err.stats().unwrap();
    assert_eq!(
        (stats.produced, stats.sent, stats.dropped()),
        (14, 9, 5),
        "{stats:?}"
    );
    let kind = |k: &str| stats.kind(k).unwrap().clone();
    let (a, b, c) = (kind("a"), kind("b"), kind("c"));
    assert_eq!(
        (a.produced, a.sent, a.dropped_by(DropReason::Rejected)),
        (5, 4, 1)
    );
    assert_eq!(
        (b.produced, b.sent, b.dropped_by(DropReason::QueueFull)),
        (5, 2, 2)
    );
    assert_eq!(b.dropped_by(DropReason::Rejected), 1);
    assert_eq!(
        (c.produced, c.sent, c.dropped_by(DropReason::Rejected)),
        (4, 3, 1)
    );
    for (name, k) in &stats.by_kind {
        assert_eq!(k.produced, k.sent + k.dropped() + k.queued, "{name}: {k:?}");
        assert_eq!(k.queued, 0);
    }
    let sum: u64 = stats.by_kind.iter().map(|(_, k)| k.sent).sum();
    assert_eq!(sum, stats.sent);
}

#[test]
fn spooled_items_keep_their_kind_when_replayed() {
    let dir = std::env::temp_dir().join(format!("tis-kinds-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (url, _bodies, status) = switchable(503);
    let (exp, guard) = ExportBuilder::new("kinds-replay", url)
        .with_kinds(&["a", "b"], digit_kind)
        .with_max_batch(2)
        .with_retries(1, Duration::from_millis(1))
        .with_retry_interval(Duration::from_secs(60))
        .with_offline_storage(dir.clone())
        .spawn()
        .unwrap();
    for item in ["10", "20", "21"] {
        exp.try_send(item.as_bytes().to_vec());
    }
    let t0 = Instant::now();
    while exp.stats().spooled < 3 && t0.elapsed() < Duration::from_secs(10) {
        let _ = exp.flush(Duration::from_millis(100));
    }
    let stats = exp.stats();
    assert_eq!(stats.kind("a").unwrap().spooled, 1, "{stats:?}");
    assert_eq!(stats.kind("b").unwrap().spooled, 2, "{stats:?}");
    status.store(200, Ordering::Relaxed);
    exp.try_send(b"11".to_vec());
    let t0 = Instant::now();
    while exp.stats().sent < 4 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = exp.stats();
    let (a, b) = (stats.kind("a").unwrap(), stats.kind("b").unwrap());
    assert_eq!((a.produced, a.sent, a.replayed), (2, 2, 1), "{stats:?}");
    assert_eq!((b.produced, b.sent, b.replayed), (2, 2, 2), "{stats:?}");
    guard.shutdown(Duration::from_secs(5)).ok();
    let _ = std::fs::remove_dir_all(dir);
}
