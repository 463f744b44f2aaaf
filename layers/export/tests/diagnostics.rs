//! The diagnostics channel: a refused endpoint's failures reach it as one line per period
//! (the first at once, then a count per period), with the endpoint and the cause, and never
//! through `tracing`.

mod common;

use common::closed_port;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_insights_export::diagnostics::{self, Sink};
use tracing_insights_export::{ExportBuilder, OfflineStorage};

#[test]
fn a_refused_endpoint_is_reported_once_per_period_with_endpoint_and_cause() {
    let lines = Arc::new(Mutex::new(Vec::<(Instant, String)>::new()));
    let l = lines.clone();
    diagnostics::set_sink(Sink::Custom(Arc::new(move |line: &str| {
        l.lock().unwrap().push((Instant::now(), line.to_owned()));
    })));
    diagnostics::set_period(Duration::from_secs(1));

    let port = closed_port();
    let (exp, guard) = ExportBuilder::new("diag", format!("http://127.0.0.1:{port}/v2.1/track"))
        .with_retries(1000, Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(5))
        .with_max_batch(1)
        .with_max_delay(Duration::from_millis(1))
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    exp.try_send(b"1".to_vec());
    std::thread::sleep(Duration::from_millis(3500));
    let failures = exp.stats().requests;
    let _ = guard.shutdown(Duration::from_secs(1));
    diagnostics::set_sink(Sink::Stderr);

    let lines = lines.lock().unwrap();
    let ours: Vec<&(Instant, String)> = lines
        .iter()
        .filter(|(at, l)| {
            l.starts_with("diag: ") && at.duration_since(t0) < Duration::from_millis(3500)
        })
        .collect();
    assert!(failures >= 50, "the endpoint was tried often: {failures}");
    // 3.5 s at one line per second: the first at once, then one per period.
    assert!(
        (3..=4).contains(&ours.len()),
        "{} lines for {failures} failures: {ours:#?}",
        ours.len()
    );
    assert!(ours[0].1.contains("requests failed"), "{}", ours[0].1);
    assert!(
        ours[0].1.contains(&format!("127.0.0.1:{port}")),
        "{}",
        ours[0].1
    );
    assert!(
        ours[1].1.contains("requests failed in the last"),
        "{}",
        ours[1].1
    );
    for pair in ours.windows(2) {
        assert!(
            pair[1].0.duration_since(pair[0].0) >= Duration::from_millis(990),
            "at most one line per period"
        );
    }
    println!("{:#?}", ours.iter().map(|(_, l)| l).collect::<Vec<_>>());
}
