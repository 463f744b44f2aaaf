//! kill -9 in the middle of an outage: a child process (this test binary, re-invoked with
//! `TIS_KILL9_CHILD` set) exports to a port nobody listens on, so every batch goes to the
//! spool; it is SIGKILLed while still writing. A fresh pipeline on the same spool directory
//! against a healthy server must then deliver every item the spool holds exactly once, and
//! the spool must end empty. At most the batch being written (a `.tmp` file) is lost.

mod common;

use common::{closed_port, temp_dir, wait_until, Server};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use tracing_insights_export::{spool, ExportBuilder};

const CHILD_ENV: &str = "TIS_KILL9_CHILD";

/// The child's body; a no-op unless this binary was started by `kill_9_mid_stream...`.
#[test]
fn child_process() {
    let Ok(arg) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, url) = arg.split_once('|').unwrap();
    let (exp, _guard) = ExportBuilder::new("kill9", url)
        .with_offline_storage(std::path::PathBuf::from(dir))
        .with_retries(1, Duration::from_millis(1))
        .with_retry_interval(Duration::from_millis(200))
        .with_request_timeout(Duration::from_millis(200))
        .with_max_batch(5)
        .with_max_delay(Duration::from_millis(2))
        .spawn()
        .unwrap();
    let mut i = 0u64;
    loop {
        // Never blocks: a full queue just drops (not in the spool, so not promised).
        exp.try_send(format!("\"item-{i}\"").into_bytes());
        i += 1;
        if i % 5 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

const WINDOW_CHILD_ENV: &str = "TIS_KILL9_WINDOW_CHILD";
/// Items per second the window child produces.
const RATE: u64 = 200;

/// The window child: default settings (batches of up to 5 s, 4 attempts, spool after 5 s)
/// against a refused port, one item every 5 ms, each numbered; it prints how many it has
/// produced every 50 ms.
#[test]
fn window_child_process() {
    let Ok(arg) = std::env::var(WINDOW_CHILD_ENV) else {
        return;
    };
    let (dir, url) = arg.split_once('|').unwrap();
    let (exp, _guard) = ExportBuilder::new("kill9-window", url)
        .with_offline_storage(std::path::PathBuf::from(dir))
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut i = 0u64;
    loop {
        exp.try_send(format!("\"item-{i}\"").into_bytes());
        i += 1;
        if i % (RATE / 20) == 0 {
            println!("produced {i}");
        }
        let next = t0 + Duration::from_millis(i * 1000 / RATE);
        std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
    }
}

/// What `kill -9` loses with the default settings during an outage: the items produced in
/// the last moments (still batching, or failing for less than the spool-after bound), and
/// no more. RETRY.md quotes the figure this prints.
#[test]
fn kill_9_with_default_settings_loses_only_the_last_seconds() {
    if std::env::var(CHILD_ENV).is_ok() || std::env::var(WINDOW_CHILD_ENV).is_ok() {
        return;
    }
    let dir = temp_dir("kill9-window");
    let url = format!("http://127.0.0.1:{}/v2.1/track", closed_port());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "window_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WINDOW_CHILD_ENV, format!("{}|{url}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let produced = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let p = produced.clone();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(n) = line
                .split("produced ")
                .nth(1)
                .and_then(|n| n.trim().parse().ok())
            {
                p.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    std::thread::sleep(Duration::from_secs(16));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let _ = reader.join();
    let produced = produced.load(std::sync::atomic::Ordering::SeqCst);
    let (on_disk, _) = spooled_items(&dir);
    let lost = produced.saturating_sub(on_disk.len() as u64);
    #[allow(clippy::cast_precision_loss)]
    let seconds = lost as f64 / RATE as f64;
    println!(
        "kill -9 after 16 s of outage: produced {produced}, on disk {}, lost {lost} ({seconds:.1} s of items)",
        on_disk.len()
    );
    assert!(produced >= 10 * RATE, "the child produced {produced}");
    // Batching (up to 5 s) plus failing in memory (up to 5 s), and a second of slack.
    assert!(lost <= 11 * RATE, "lost {lost} items ({seconds:.1} s)");
    assert!(
        !on_disk.is_empty(),
        "the outage's early batches are on disk"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn spooled_items(dir: &std::path::Path) -> (Vec<String>, usize) {
    let mut items = Vec::new();
    let mut tmp = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let parsed = spool::parse_name(&name).expect("only spool files in the directory");
        if parsed.tmp {
            tmp += 1;
            continue;
        }
        let data = std::fs::read(e.path()).unwrap();
        let batch = spool::decode(&data).expect("a completed spool file is never corrupt");
        items.extend(
            batch
                .into_iter()
                .map(|b| serde_json::from_slice::<String>(&b).unwrap()),
        );
    }
    (items, tmp)
}

#[test]
fn kill_9_mid_stream_then_restart_delivers_every_spooled_item_exactly_once() {
    if std::env::var(CHILD_ENV).is_ok() || std::env::var(WINDOW_CHILD_ENV).is_ok() {
        return;
    }
    let dir = temp_dir("kill9");
    let url = format!("http://127.0.0.1:{}/v2.1/track", closed_port());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{url}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it spool a good number of batches, then kill it while it is still writing.
    let spooling = wait_until(Duration::from_secs(6), || {
        std::fs::read_dir(&dir).is_ok_and(|d| d.count() >= 40)
    });
    std::thread::sleep(Duration::from_millis(fastrand::u64(0..30)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(spooling, "the child spooled batches");

    let (promised, tmp) = spooled_items(&dir);
    assert!(
        tmp <= 1,
        "at most the batch being written is lost ({tmp} .tmp files)"
    );
    assert!(promised.len() >= 100, "{}", promised.len());

    // Restart against a healthy service.
    let server = Server::start();
    let (exp, guard) = ExportBuilder::new("kill9", &server.url)
        .with_offline_storage(dir.clone())
        .with_retry_interval(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let delivered = wait_until(Duration::from_secs(8), || {
        server.delivered().len() >= promised.len()
    });
    let _ = guard.shutdown(Duration::from_secs(2));
    assert!(
        delivered,
        "{} of {}",
        server.delivered().len(),
        promised.len()
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in server.delivered() {
        *counts.entry(item).or_default() += 1;
    }
    for item in &promised {
        assert_eq!(counts.get(item), Some(&1), "{item} delivered exactly once");
    }
    assert_eq!(counts.len(), promised.len(), "nothing else delivered");
    assert_eq!(exp.stats().replayed, promised.len() as u64);
    let (left, _) = spooled_items(&dir);
    assert!(left.is_empty(), "the spool is empty once delivered");
    let _ = std::fs::remove_dir_all(dir);
}
