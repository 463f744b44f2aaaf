//! `OtlpGuard::check()` checks its signals at once and returns within a few seconds
//! whatever the endpoint does, in words. Only 127.0.0.1 is contacted.
#![cfg(feature = "otlp")]

use std::time::{Duration, Instant};
use tracing_insights::otlp::{CheckOutcome, OtlpLayer};
use tracing_insights_testing::http::{closed_port, LoopbackServer, Reply};

#[test]
fn an_endpoint_that_accepts_and_never_answers_is_reported_within_5_s() {
    let server = LoopbackServer::start(|_| Reply::hang());
    let (_layer, guard) = OtlpLayer::builder()
        .with_endpoint(&server.origin)
        .with_traces(true)
        .with_logs(true)
        .with_metrics(true)
        .with_request_timeout(Duration::from_secs(10))
        .build()
        .expect("OTLP layer");
    let t = Instant::now();
    let report = guard.check();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "check took {took:?}");
    assert_eq!(report.results.len(), 3, "{report}");
    assert!(!report.is_ok());
    for r in &report.results {
        let CheckOutcome::Unreachable(words) = &r.outcome else {
            panic!("{r}");
        };
        assert!(words.contains("no answer within 3s"), "{words}");
    }
    let text = report.to_string();
    assert!(!text.contains("timeout: global"), "{text}");
    // All three requests were made (at once: one deadline for all).
    let reqs = server.wait_for(Duration::from_secs(2), |r| r.len() >= 3);
    assert!(reqs.len() >= 3, "{} requests", reqs.len());
}

#[test]
fn a_refused_endpoint_and_a_live_one_are_told_apart() {
    let (_layer, dead) = OtlpLayer::builder()
        .with_endpoint(format!("http://127.0.0.1:{}", closed_port()))
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("OTLP layer");
    let report = dead.check();
    let text = report.to_string();
    assert!(text.contains("refused"), "{text}");

    let live = LoopbackServer::start(|_| Reply::status(200));
    let (_layer, ok) = OtlpLayer::builder()
        .with_endpoint(&live.origin)
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("OTLP layer");
    let report = ok.check();
    assert!(report.is_ok(), "{report}");
}
