//! Every row of `conformance/expected/retry_behaviour.json` (what Microsoft's exporter did with
//! 29 ingestion answers) replayed against a scripting loopback server, with what we do.
//! `RETRY.md` puts the two side by side.
//!
//! Each case, like Microsoft's recording: export 2 items (+ the `_R_` batch prefix at index 0,
//! standing for `_OTELRESOURCE_`), flush; then the server is healed and 1 follow-up item is
//! exported. Backoff base 20 ms and a 300 ms spool lease keep every case within a few seconds.

mod common;

use common::{closed_port, temp_dir, wait_until, Reply, Server};
use std::time::Duration;
use tracing_insights_export::{DropReason, ExportBuilder, ExportStats, ShutdownError};

struct Outcome {
    /// The flush after the first export.
    first: Result<(), ShutdownError>,
    /// Requests the primary server saw during the first export.
    first_requests: Vec<common::Seen>,
    first_stats: ExportStats,
    primary: Server,
    target: Server,
    stats: ExportStats,
    /// Accepted items (primary + redirect target), prefix excluded.
    delivered: Vec<String>,
}

fn run(case: &str, script: Vec<Reply>) -> Outcome {
    run_with(case, script, None)
}

fn run_with(case: &str, script: Vec<Reply>, down_port: Option<u16>) -> Outcome {
    let primary = match down_port {
        Some(_) => None,
        None => Some(Server::start()),
    };
    let target = Server::start();
    let script: Vec<Reply> = script
        .into_iter()
        .map(|mut r| {
            r.location = r.location.map(|l| l.replace("{target}", &target.origin));
            r
        })
        .collect();
    if let Some(p) = &primary {
        p.script(script);
    }
    let url = match (&primary, down_port) {
        (Some(p), _) => p.url.clone(),
        (None, Some(port)) => format!("http://127.0.0.1:{port}/v2.1/track"),
        (None, None) => unreachable!(),
    };
    let dir = temp_dir(case);
    let (exp, guard) = ExportBuilder::new(case, url)
        .with_batch_prefix(|| Some(br#""_R_""#.to_vec()))
        .with_retries(4, Duration::from_millis(20))
        .with_retry_interval(Duration::from_millis(300))
        .with_request_timeout(Duration::from_secs(2))
        .with_max_delay(Duration::from_millis(10))
        .with_offline_storage(dir.clone())
        .spawn()
        .unwrap();
    exp.try_send(format!("\"{case}-0\"").into_bytes());
    exp.try_send(format!("\"{case}-1\"").into_bytes());
    let first = guard.flush(Duration::from_secs(8));
    let first_stats = exp.stats();
    let primary = match (primary, down_port) {
        (Some(p), _) => p,
        // The service comes back on the same port.
        (None, Some(port)) => Server::start_on(port),
        (None, None) => unreachable!(),
    };
    let first_requests = primary.seen();
    primary.heal();
    target.heal();
    exp.try_send(format!("\"{case}-followup-0\"").into_bytes());
    let delivered = || {
        let mut d = primary.delivered();
        d.extend(target.delivered());
        d
    };
    // Wait for everything that is not dropped for good to arrive.
    let expected_total = 3 - first_stats.dropped() - first_stats.sampled_out;
    wait_until(Duration::from_secs(5), || {
        delivered().len() as u64 >= expected_total
    });
    let _ = guard.flush(Duration::from_secs(2));
    let stats = exp.stats();
    let _ = guard.shutdown(Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(dir);
    let mut delivered = delivered();
    delivered.sort();
    Outcome {
        first,
        first_requests,
        first_stats,
        stats,
        delivered,
        primary,
        target,
    }
}

fn names(case: &str, which: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = which.iter().map(|w| format!("{case}-{w}")).collect();
    v.sort();
    v
}

fn all(case: &str) -> Vec<String> {
    names(case, &["0", "1", "followup-0"])
}

fn gap(o: &Outcome, i: usize) -> Duration {
    o.first_requests[i].at - o.first_requests[i - 1].at
}

/// A single transient answer: one backoff retry, delivered, nothing spooled.
fn transient(case: &str, status: u16) {
    let o = run(case, vec![Reply::status(status)]);
    assert_eq!(o.first, Ok(()), "{case}");
    assert_eq!(o.first_requests.len(), 2, "{case}: one retry");
    assert_eq!(
        o.first_requests[1].names.len(),
        3,
        "{case}: whole batch again"
    );
    assert_eq!(o.first_stats.spooled, 0);
    assert_eq!(o.delivered, all(case), "{case}: each item exactly once");
    assert_eq!(o.stats.dropped(), 0);
}

/// A persistent failure: 4 attempts, then the spool; replayed once the service answers.
fn persistent(case: &str, reply: Reply) {
    let o = run(case, vec![reply; 10]);
    assert!(matches!(o.first, Err(ShutdownError::Export(_))), "{case}");
    assert_eq!(o.first_requests.len(), 4, "{case}: 4 attempts");
    assert_eq!(o.first_stats.spooled, 2, "{case}: then spooled");
    assert_eq!(o.delivered, all(case), "{case}: replayed exactly once");
    assert_eq!(o.stats.replayed, 2);
    assert_eq!(o.stats.dropped(), 0);
}

/// Dropped for good on the first answer.
fn dropped(case: &str, reply: Reply, reason: DropReason) -> Outcome {
    let o = run(case, vec![reply]);
    assert!(matches!(o.first, Err(ShutdownError::Export(_))), "{case}");
    assert_eq!(o.first_requests.len(), 1, "{case}: no retry");
    assert_eq!(o.stats.dropped_by(reason), 2, "{case}");
    assert_eq!(o.stats.spooled, 0);
    assert_eq!(o.delivered, names(case, &["followup-0"]), "{case}");
    o
}

#[test]
fn r01_200_ok() {
    let o = run("200_ok", vec![]);
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 1);
    assert_eq!(o.first_requests[0].names, ["_R_", "200_ok-0", "200_ok-1"]);
    assert_eq!(o.delivered, all("200_ok"));
    assert_eq!(o.stats.sent, 3);
}

#[test]
fn r02_500_once() {
    transient("500_once", 500);
}

#[test]
fn r03_500_persistent() {
    persistent("500_persistent", Reply::status(500));
}

#[test]
fn r04_502_once() {
    transient("502_once", 502);
}

#[test]
fn r05_503_once() {
    transient("503_once", 503);
}

#[test]
fn r06_503_persistent() {
    persistent("503_persistent", Reply::status(503));
}

#[test]
fn r07_503_retry_after_2_once_waits_at_least_2_s() {
    let case = "503_retry_after_2_once";
    let o = run(case, vec![Reply::status(503).header("Retry-After", "2")]);
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    assert!(gap(&o, 1) >= Duration::from_secs(2), "{:?}", gap(&o, 1));
    assert!(gap(&o, 1) < Duration::from_secs(4), "{:?}", gap(&o, 1));
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r08_504_once() {
    transient("504_once", 504);
}

#[test]
fn r09_408_once() {
    transient("408_once", 408);
}

#[test]
fn r10_429_once() {
    transient("429_once", 429);
}

#[test]
fn r11_429_retry_after_1_once() {
    let case = "429_retry_after_1_once";
    let o = run(case, vec![Reply::status(429).header("Retry-After", "1")]);
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    assert!(gap(&o, 1) >= Duration::from_secs(1));
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r12_429_retry_after_1_persistent() {
    let case = "429_retry_after_1_persistent";
    let o = run(
        case,
        vec![Reply::status(429).header("Retry-After", "1"); 10],
    );
    assert_eq!(o.first_requests.len(), 4);
    for i in 1..4 {
        assert!(
            gap(&o, i) >= Duration::from_secs(1),
            "{i}: {:?}",
            gap(&o, i)
        );
    }
    assert_eq!(o.first_stats.spooled, 2);
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r13_206_item_500_resends_only_the_failed_item() {
    let case = "206_item_500";
    let o = run(case, vec![Reply::status(206).error(1, 500, "internal")]);
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    assert_eq!(o.first_requests[1].names, ["_R_", "206_item_500-0"]);
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r14_206_item_400() {
    let case = "206_item_400";
    let o = run(
        case,
        vec![Reply::status(206).error(1, 400, "invalid field")],
    );
    assert!(matches!(o.first, Err(ShutdownError::Export(_))));
    assert_eq!(o.first_requests.len(), 1);
    assert_eq!(o.stats.dropped_by(DropReason::Rejected), 1);
    assert_eq!(o.delivered, names(case, &["1", "followup-0"]));
}

#[test]
fn r15_206_item_429_retry_after_3() {
    let case = "206_item_429_retry_after_3";
    let o = run(
        case,
        vec![Reply::status(206)
            .header("Retry-After", "3")
            .error(1, 429, "throttled")],
    );
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    assert!(gap(&o, 1) >= Duration::from_secs(3));
    assert_eq!(o.first_requests[1].names, ["_R_", &format!("{case}-0")]);
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r16_206_item_sampled_out_is_not_an_error() {
    let case = "206_item_sampled_out";
    let o = run(
        case,
        vec![Reply::status(206).error(1, 400, "Telemetry sampled out.")],
    );
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 1);
    assert_eq!(o.stats.sampled_out, 1);
    assert_eq!(o.stats.dropped(), 0);
    assert_eq!(o.delivered, names(case, &["1", "followup-0"]));
}

#[test]
fn r17_200_with_errors_body() {
    let case = "200_with_errors_body";
    let o = run(case, vec![Reply::status(200).error(2, 500, "odd")]);
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    assert_eq!(o.first_requests[1].names, ["_R_", &format!("{case}-1")]);
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r18_400() {
    dropped("400", Reply::status(400), DropReason::Rejected);
}

#[test]
fn r19_401_without_token_provider_is_retried() {
    transient("401", 401);
}

#[test]
fn r20_403() {
    transient("403", 403);
}

#[test]
fn r21_404() {
    dropped("404", Reply::status(404), DropReason::Rejected);
}

#[test]
fn r22_402_quota() {
    dropped("402", Reply::status(402), DropReason::Quota);
}

#[test]
fn r23_439_quota() {
    dropped("439", Reply::status(439), DropReason::Quota);
}

fn redirected(case: &str, status: u16) {
    let o = run(
        case,
        vec![Reply::status(status).location("{target}/v2.1/track")],
    );
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 1);
    assert_eq!(
        o.primary.seen().len(),
        1,
        "later batches go to the new origin"
    );
    assert_eq!(o.target.seen().len(), 2);
    assert_eq!(o.delivered, all(case));
}

#[test]
fn r24_307_redirect() {
    redirected("307_redirect", 307);
}

#[test]
fn r25_308_redirect() {
    redirected("308_redirect", 308);
}

#[test]
fn r26_307_circular_stops() {
    let case = "307_circular";
    let o = run(
        case,
        vec![Reply::status(307).location("{self}/v2.1/track"); 40],
    );
    assert!(matches!(o.first, Err(ShutdownError::Export(_))));
    assert_eq!(
        o.first_requests.len(),
        11,
        "1 + 10 redirects, then given up"
    );
    assert_eq!(o.stats.dropped_by(DropReason::Redirect), 2);
    assert_eq!(o.delivered, names(case, &["followup-0"]));
}

#[test]
fn r27_307_cross_origin_refused() {
    let o = dropped(
        "307_cross_origin",
        Reply::status(307).location("http://localhost:1/v2.1/track"),
        DropReason::Redirect,
    );
    assert!(o.stats.last_error.unwrap().contains("CrossOrigin"));
}

#[test]
fn r28_307_no_location() {
    dropped("307_no_location", Reply::status(307), DropReason::Redirect);
}

#[test]
fn r29_connection_refused_spools_then_replays_when_the_service_is_back() {
    let case = "connection_refused";
    let o = run_with(case, vec![], Some(closed_port()));
    assert!(matches!(o.first, Err(ShutdownError::Export(_))));
    assert_eq!(o.first_stats.spooled, 2);
    assert!(o
        .first_stats
        .last_error
        .as_deref()
        .unwrap()
        .contains("failed"));
    assert_eq!(o.delivered, all(case));
    assert_eq!(o.stats.replayed, 2);
}

#[test]
fn the_fixture_has_the_29_rows_tested_here() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/expected/retry_behaviour.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("{path} not found: skipped");
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<&str> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case"].as_str().unwrap())
        .collect();
    let ours = [
        "200_ok",
        "500_once",
        "500_persistent",
        "502_once",
        "503_once",
        "503_persistent",
        "503_retry_after_2_once",
        "504_once",
        "408_once",
        "429_once",
        "429_retry_after_1_once",
        "429_retry_after_1_persistent",
        "206_item_500",
        "206_item_400",
        "206_item_429_retry_after_3",
        "206_item_sampled_out",
        "200_with_errors_body",
        "400",
        "401",
        "403",
        "404",
        "402",
        "439",
        "307_redirect",
        "308_redirect",
        "307_circular",
        "307_cross_origin",
        "307_no_location",
        "connection_refused",
    ];
    assert_eq!(cases, ours);
}

#[test]
fn the_app_thread_never_waits_while_the_service_is_down() {
    let (exp, guard) = ExportBuilder::new(
        "down-app-thread",
        format!("http://127.0.0.1:{}/v2.1/track", closed_port()),
    )
    .with_retries(100, Duration::from_millis(1))
    .with_max_batch(10)
    .spawn()
    .unwrap();
    let t0 = std::time::Instant::now();
    for i in 0..20_000 {
        exp.try_send(format!("\"{i}\"").into_bytes());
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let t0 = std::time::Instant::now();
    drop(guard);
    assert!(t0.elapsed() < Duration::from_millis(2500));
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let case = "503_retry_after_http_date";
    let o = run(
        case,
        vec![Reply::status(503).header("Retry-After", &common::http_date(now + 3))],
    );
    assert_eq!(o.first, Ok(()));
    assert_eq!(o.first_requests.len(), 2);
    // Whole seconds: at least 2 s from a date 3 s ahead of a clock read up to 1 s earlier.
    assert!(gap(&o, 1) >= Duration::from_secs(1), "{:?}", gap(&o, 1));
    assert_eq!(o.delivered, all(case));
}
