//! Live Metrics' failed calls reach the exporters' diagnostics channel: one line per period
//! with the service's base URL and the cause, never the instrumentation key.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tracing_insights_export::diagnostics::{self, Sink};
use tracing_insights_live_metrics::testing::{
    Clock, ManualClock, QpsRequest, QpsResponse, Transport,
};
use tracing_insights_live_metrics::LiveMetricsLayer;

const KEY: &str = "00000000-0000-0000-0000-00000000beef";

struct Refused;

impl Transport for Refused {
    fn send(&mut self, _: &QpsRequest) -> Result<QpsResponse, String> {
        Err("connection refused".into())
    }
}

#[test]
fn failed_pings_are_reported_once_per_period_without_the_key() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = lines.clone();
    diagnostics::set_sink(Sink::Custom(Arc::new(move |line: &str| {
        l.lock().unwrap().push(line.to_owned());
    })));
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_795_306_053));
    let (_layer, mut ctl) = LiveMetricsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:1"
        ))
        .build_with(clock.clone(), Refused)
        .unwrap();
    // 130 s of the manual clock: a dozen failed pings, within one real period (60 s).
    while clock.elapsed() < Duration::from_secs(130) {
        let wait = ctl.poll();
        clock.advance(wait);
    }
    assert!(ctl.stats().failures >= 10, "{:?}", ctl.stats());
    let lines = lines.lock().unwrap();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("live-metrics"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(ours[0].contains("ping: connection refused"), "{}", ours[0]);
    assert!(ours[0].contains("http://127.0.0.1:1"), "{}", ours[0]);
    assert!(!ours[0].contains(KEY), "{}", ours[0]);
}
