//! Replays the server side of the recorded conversation between Microsoft's distro and a
//! scripted QuickPulse service (fixtures/quickpulse.jsonl, phases A, B, C of
//! fixtures/quickpulse_summary.json) against our layer, driven by a manual clock: no
//! sleeps, no sockets. Checks our pings and posts against the recording, and our side of
//! every deliberate difference listed in DEVIATIONS.md.

use serde_json::Value;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::testing::{
    CallKind, LiveState, ManualClock, QpsRequest, QpsResponse, Transport,
};
use tracing_insights_live_metrics::LiveMetricsLayer;
use tracing_subscriber::prelude::*;

const CS: &str =
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;LiveEndpoint=http://127.0.0.1:58949/";

fn recording() -> Vec<Value> {
    include_str!("fixtures/quickpulse.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn summary() -> Value {
    serde_json::from_str(include_str!("fixtures/quickpulse_summary.json")).unwrap()
}

/// A recorded response, replayed as a [`QpsResponse`].
fn response(rec: &Value) -> QpsResponse {
    let r = &rec["response"];
    let headers = r["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let body = match &r["body"] {
        Value::Null => Vec::new(),
        b => serde_json::to_vec(b).unwrap(),
    };
    QpsResponse {
        status: r["status"].as_u64().unwrap() as u16,
        headers,
        body,
    }
}

/// The service's side: phase A (subscribed, etag "", the first ping answer carries a
/// redirect to an http loopback URL, every answer a 2000 ms polling hint); phase B from
/// the 6th post (etag `oracle-config-1`, the configuration in the body until the client
/// sends that etag); phase C from the 17th post (`x-ms-qps-subscribed: false`). Every
/// answer is a recorded one.
struct ScriptedService {
    clock: ManualClock,
    log: Arc<Mutex<Vec<(Duration, QpsRequest)>>>,
    posts: usize,
    ping_a: QpsResponse,
    post_a: QpsResponse,
    post_b_config: QpsResponse,
    post_b: QpsResponse,
    post_c: QpsResponse,
    ping_c: QpsResponse,
}

impl ScriptedService {
    fn new(clock: ManualClock, log: Arc<Mutex<Vec<(Duration, QpsRequest)>>>) -> Self {
        let rec = recording();
        let find = |kind: &str, subscribed: &str, etag: &str, body: bool| {
            let r = rec
                .iter()
                .find(|r| {
                    let h = &r["response"]["headers"];
                    r["kind"] == kind
                        && h["x-ms-qps-subscribed"] == subscribed
                        && h["x-ms-qps-configuration-etag"] == etag
                        && r["response"]["body"].is_null() != body
                })
                .unwrap_or_else(|| panic!("no recorded {kind} answer {subscribed} {etag} {body}"));
            response(r)
        };
        Self {
            clock,
            log,
            posts: 0,
            ping_a: find("ping", "true", "", true),
            post_a: find("post", "true", "", false),
            post_b_config: find("post", "true", "oracle-config-1", true),
            post_b: find("post", "true", "oracle-config-1", false),
            post_c: find("post", "false", "oracle-config-1", false),
            ping_c: find("ping", "false", "oracle-config-1", true),
        }
    }
}

impl Transport for ScriptedService {
    fn send(&mut self, request: &QpsRequest) -> Result<QpsResponse, String> {
        self.log
            .lock()
            .unwrap()
            .push((self.clock_elapsed(), request.clone()));
        Ok(match request.kind {
            CallKind::Ping if self.posts < 16 => self.ping_a.clone(),
            CallKind::Ping => self.ping_c.clone(),
            CallKind::Post => {
                self.posts += 1;
                match self.posts {
                    1..=5 => self.post_a.clone(),
                    6..=16 => {
                        if request.header("x-ms-qps-configuration-etag") == Some("oracle-config-1")
                        {
                            self.post_b.clone()
                        } else {
                            self.post_b_config.clone()
                        }
                    }
                    _ => self.post_c.clone(),
                }
            }
        })
    }
}

impl ScriptedService {
    fn clock_elapsed(&self) -> Duration {
        tracing_insights_live_metrics::testing::Clock::elapsed(&self.clock)
    }
}

#[derive(Debug)]
struct Simulated(usize);
impl fmt::Display for Simulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulated failure {}", self.0)
    }
}
impl Error for Simulated {}

/// What one simulated request does, and what it should count as.
struct Expect {
    requests: u64,
    requests_failed: u64,
    request_ms: Vec<f64>,
    deps: u64,
    deps_failed: u64,
    dep_ms: Vec<f64>,
    exceptions: u64,
    orders: u64,
}

/// The oracle's service, second `k`: three requests; every third fails (500, error status,
/// failed backend call, an exception logged); odd ones read the database; every fourth
/// logs "slow request".
fn workload(span_clock: &ManualClock, k: usize) -> Expect {
    let mut e = Expect {
        requests: 0,
        requests_failed: 0,
        request_ms: vec![],
        deps: 0,
        deps_failed: 0,
        dep_ms: vec![],
        exceptions: 0,
        orders: 0,
    };
    let ms = |n| span_clock.advance(Duration::from_millis(n));
    for j in 0..3 {
        let i = 3 * k + j;
        let fail = i % 3 == 0;
        let route = if i % 2 == 0 { "/items" } else { "/orders" };
        let code = if fail { 500 } else { 200 };
        let req = tracing::info_span!(
            "request",
            otel.name = %format!("GET {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = "GET",
            url.full = %format!("http://127.0.0.1:8080{route}"),
            http.response.status_code = code,
        );
        if fail {
            req.record("otel.status_code", "error");
        }
        req.in_scope(|| {
            ms(10);
            let dep = tracing::info_span!(
                "GET",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                http.request.method = "GET",
                url.full = %format!("http://backend.local/api/{i}"),
                http.response.status_code = if fail { 503 } else { 200 },
            );
            if fail {
                dep.record("otel.status_code", "error");
            }
            dep.in_scope(|| ms(15));
            drop(dep);
            let mut dur = 10 + 15;
            e.deps += 1;
            e.dep_ms.push(15.0);
            if fail {
                e.deps_failed += 1;
            }
            if i % 2 == 1 {
                tracing::info_span!(
                    "SELECT items",
                    otel.kind = "client",
                    db.system.name = "postgresql",
                    db.query.text = "SELECT * FROM items",
                )
                .in_scope(|| ms(5));
                dur += 5;
                e.deps += 1;
                e.dep_ms.push(5.0);
            }
            if fail {
                let err = Simulated(i);
                tracing::error!(error = &err as &(dyn Error + 'static), "request failed");
                e.exceptions += 1;
            } else {
                tracing::info!("request {i} ok");
            }
            if i % 4 == 0 {
                tracing::warn!("slow request {i}");
            }
            e.requests += 1;
            e.request_ms.push(f64::from(dur));
            if fail {
                e.requests_failed += 1;
            }
            if route == "/orders" {
                e.orders += 1;
            }
        });
    }
    e
}

fn metric(point: &Value, name: &str) -> Option<f64> {
    point["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == name)
        .map(|m| m["Value"].as_f64().unwrap())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn recorded_conversation_replayed() {
    let start = UNIX_EPOCH + Duration::from_secs(1_795_306_053);
    let loop_clock = ManualClock::new(start);
    let span_clock = ManualClock::new(start);
    let log = Arc::new(Mutex::new(Vec::new()));
    let service = ScriptedService::new(loop_clock.clone(), log.clone());
    let resource = correlation::Resource::builder()
        .with_service_namespace("oracle")
        .with_service_name("live")
        .with_service_instance_id("live-0")
        .build();
    let (layer, mut ctl) = LiveMetricsLayer::builder()
        .with_connection_string(CS)
        .with_machine_name("vm")
        .build_with(loop_clock.clone(), service)
        .unwrap();
    // The correlation layer's resource names the role (a builder resource is only a
    // fallback for a stack without one).
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer()
                .with_clock(span_clock.clone())
                .with_resource(resource),
        )
        .with(layer.clone());
    let _d = tracing::subscriber::set_default(subscriber);

    // Drive the loop for 30 s of simulated time; the application works every second.
    let mut expects: Vec<Option<Expect>> = Vec::new(); // what each post should carry
    let mut pending: Option<Expect> = None;
    let mut states = Vec::new();
    let mut second = 0;
    while loop_clock_elapsed(&loop_clock) < Duration::from_secs(30) {
        let before = log.lock().unwrap().len();
        let wait = ctl.poll();
        let after = log.lock().unwrap().len();
        if after > before {
            let kind = log.lock().unwrap()[after - 1].1.kind;
            if kind == CallKind::Post {
                expects.push(pending.take());
            }
            states.push((loop_clock_elapsed(&loop_clock), kind, ctl.state()));
        }
        let work = workload(&span_clock, second);
        second += 1;
        pending = if layer.is_collecting() {
            Some(work)
        } else {
            None
        };
        loop_clock.advance(wait);
    }

    let log = log.lock().unwrap();
    let rec = recording();
    let sum = summary();

    // 1. The sequence of calls: ping at 0, posts every second; the recording's first 17
    //    posts at the same seconds with the same etags.
    let ours: Vec<(u64, CallKind, String)> = log
        .iter()
        .map(|(t, r)| {
            (
                t.as_secs(),
                r.kind,
                r.header("x-ms-qps-configuration-etag").unwrap().to_owned(),
            )
        })
        .collect();
    let theirs: Vec<(u64, CallKind, String)> = rec
        .iter()
        .map(|r| {
            let kind = if r["kind"] == "ping" {
                CallKind::Ping
            } else {
                CallKind::Post
            };
            (
                r["t_s"].as_f64().unwrap().round() as u64,
                kind,
                r["headers"]["x-ms-qps-configuration-etag"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(ours[..18], theirs[..18], "ping + 17 posts as recorded");
    // Deviation "unsubscribed post": the 17th post's answer says nobody watches; we stop
    // posting at once (the recording posts until 20 s after subscribing) and ping after
    // the service's 2000 ms hint (the recording ignores it and pings at 25 s, 30 s).
    assert_eq!(theirs[18].1, CallKind::Post);
    let after: Vec<(u64, CallKind, String)> = ours[18..].to_vec();
    let pings: Vec<u64> = (19..30).step_by(2).collect();
    assert_eq!(
        after,
        pings
            .iter()
            .map(|t| (*t, CallKind::Ping, String::new()))
            .collect::<Vec<_>>()
    );

    // 2. State changes.
    assert_eq!(
        states[0],
        (Duration::ZERO, CallKind::Ping, LiveState::Posting)
    );
    assert_eq!(
        states[17],
        (Duration::from_secs(17), CallKind::Post, LiveState::Pinging)
    );
    assert!(states[1..17].iter().all(|s| s.2 == LiveState::Posting));
    assert!(states[18..].iter().all(|s| s.2 == LiveState::Pinging));
    assert!(!layer.is_collecting());
    // The recorded redirect points at http://127.0.0.1:40905/: refused (not https, not an
    // Azure Monitor host), so every call still goes to the configured endpoint.
    assert_eq!(ctl.stats().redirects_refused, 1);
    assert_eq!(ctl.stats().redirects_followed, 0);
    assert_eq!(ctl.endpoint(), "http://127.0.0.1:58949");

    // 3. Paths, query, headers.
    let wanted = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = sum["request_headers_by_kind"][kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .filter(|h| h.starts_with("x-ms-qps-") || h == "content-type")
            .collect();
        v.sort();
        v
    };
    for (t, r) in log.iter() {
        let (path, kind) = match r.kind {
            CallKind::Ping => ("ping", "ping"),
            CallKind::Post => ("post", "post"),
        };
        assert_eq!(
            r.url,
            format!(
                "http://127.0.0.1:58949/QuickPulseService.svc/{path}?api-version=2024-04-01-preview&ikey=00000000-0000-0000-0000-000000000000"
            )
        );
        let mut names: Vec<String> = r.headers.iter().map(|(k, _)| k.clone()).collect();
        names.sort();
        assert_eq!(names, wanted(kind), "{kind} headers");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let ticks: u64 = r
            .header("x-ms-qps-transmission-time")
            .unwrap()
            .parse()
            .unwrap();
        let unix = (start + *t).duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(
            ticks,
            621_355_968_000_000_000
                + unix.as_secs() * 10_000_000
                + u64::from(unix.subsec_nanos() / 100)
        );
        if r.kind == CallKind::Ping {
            assert_eq!(r.header("x-ms-qps-invariant-version"), Some("5"));
            assert_eq!(r.header("x-ms-qps-machine-name"), Some("vm"));
            assert_eq!(r.header("x-ms-qps-instance-name"), Some("live-0"));
            assert_eq!(r.header("x-ms-qps-role-name"), Some("oracle.live"));
            assert_eq!(r.header("x-ms-qps-stream-id").unwrap().len(), 32);
        }
    }

    // 4. Bodies: the recorded shapes and keys.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let ping_body: Value = serde_json::from_slice(&log[0].1.body).unwrap();
    assert_eq!(keys(&ping_body), keys(&sum["example_ping"]["body"]));
    assert_eq!(ping_body["InvariantVersion"], 5);
    assert_eq!(ping_body["RoleName"], "oracle.live");
    assert_eq!(ping_body["Instance"], "live-0");
    assert_eq!(ping_body["IsWebApp"], false);
    assert_eq!(ping_body["PerformanceCollectionSupported"], true);
    let stream_id = ping_body["StreamId"].clone();
    let recorded_names: Vec<String> = sum["metric_names_seen"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let posts: Vec<(Duration, Value)> = log
        .iter()
        .filter(|(_, r)| r.kind == CallKind::Post)
        .map(|(t, r)| (*t, serde_json::from_slice(&r.body).unwrap()))
        .collect();
    assert_eq!(posts.len(), 17);
    for (n, ((t, body), expect)) in posts.iter().zip(&expects).enumerate() {
        let arr = body.as_array().expect("a post body is an array");
        assert_eq!(arr.len(), 1);
        let p = &arr[0];
        assert_eq!(
            keys(p),
            keys(&sum["example_post"]["body"][0]),
            "post {n} keys"
        );
        assert_eq!(p["StreamId"], stream_id);
        let ts = p["Timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
        for m in p["Metrics"].as_array().unwrap() {
            assert_eq!(m["Weight"], 1);
            let name = m["Name"].as_str().unwrap();
            assert!(
                recorded_names.iter().any(|r| r == name),
                "unrecorded metric {name}"
            );
        }
        // Performance counters: CPU normalised to 0-100 % of the machine, memory in bytes.
        if cfg!(target_os = "linux") {
            let cpu = metric(p, "\\Processor(_Total)\\% Processor Time").unwrap();
            assert!((0.0..=100.0).contains(&cpu));
            assert_eq!(
                metric(p, "\\% Process\\Processor Time Normalized"),
                Some(cpu)
            );
            assert!(metric(p, "\\Process\\Physical Bytes").unwrap() > 0.0);
            assert!(metric(p, "\\Memory\\Committed Bytes").unwrap() > 0.0);
        }
        let e = expect.as_ref().expect("work happened before every post");
        let configured = *t >= Duration::from_secs(7);
        check_metrics(p, e, configured, n);
        check_documents(p, configured, n);
    }
}

fn loop_clock_elapsed(c: &ManualClock) -> Duration {
    tracing_insights_live_metrics::testing::Clock::elapsed(c)
}

fn check_metrics(p: &Value, e: &Expect, configured: bool, n: usize) {
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // Deviation "requests/s counts all requests": the failed ones are a subset.
    assert_eq!(
        metric(p, "\\ApplicationInsights\\Requests/Sec"),
        Some(e.requests as f64),
        "post {n}"
    );
    let failed = metric(p, "\\ApplicationInsights\\Requests Failed/Sec");
    // Zero counters are left out, as Microsoft's exporter does.
    if e.requests_failed == 0 {
        assert_eq!(failed, None);
    } else {
        assert_eq!(failed, Some(e.requests_failed as f64));
    }
    // Deviation "milliseconds": durations in ms, not seconds.
    let rd = metric(p, "\\ApplicationInsights\\Request Duration").unwrap();
    assert!(close(rd, avg(&e.request_ms)), "post {n}: {rd}");
    assert_eq!(
        metric(p, "\\ApplicationInsights\\Dependency Calls/Sec"),
        Some(e.deps as f64)
    );
    let df = metric(p, "\\ApplicationInsights\\Dependency Calls Failed/Sec");
    assert_eq!(df, (e.deps_failed > 0).then_some(e.deps_failed as f64));
    let dd = metric(p, "\\ApplicationInsights\\Dependency Call Duration").unwrap();
    assert!(close(dd, avg(&e.dep_ms)));
    let ex = metric(p, "\\ApplicationInsights\\Exceptions/Sec");
    assert_eq!(ex, (e.exceptions > 0).then_some(e.exceptions as f64));
    // Derived metrics: every configured one, every post after the configuration, zeros too.
    if configured {
        assert_eq!(
            metric(p, "failed-requests"),
            Some(e.requests_failed as f64),
            "post {n}"
        );
        let dda = metric(p, "dependency-duration-avg").unwrap();
        assert!(close(dda, avg(&e.dep_ms)), "post {n}: {dda}");
        assert_eq!(metric(p, "orders-route-count"), Some(e.orders as f64));
    } else {
        assert_eq!(metric(p, "failed-requests"), None);
    }
}

fn check_documents(p: &Value, configured: bool, n: usize) {
    let docs = p["Documents"].as_array().unwrap();
    assert!(docs.len() <= 20);
    if !configured {
        // No stream configured: every document, with no stream ids.
        assert!(docs.iter().all(|d| d.get("DocumentStreamIds").is_none()));
        let types: Vec<&str> = docs
            .iter()
            .map(|d| d["DocumentType"].as_str().unwrap())
            .collect();
        for t in ["Request", "RemoteDependency", "Trace"] {
            assert!(types.contains(&t), "post {n}: no {t} document in {types:?}");
        }
        for d in docs {
            if d["DocumentType"] == "Request" {
                // Deviation "document Duration": ISO 8601.
                let dur = d["Duration"].as_str().unwrap();
                assert!(dur.starts_with("PT0.0") && dur.ends_with('S'), "{dur}");
                assert!(d["Url"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1:8080/"));
            }
            if d["DocumentType"] == "RemoteDependency" && d["Name"] == "GET" {
                // Deviation "ResultCode": the real status code, not always "0".
                assert!(d["ResultCode"] == "200" || d["ResultCode"] == "503");
                assert!(d["CommandName"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://backend.local/api/"));
            }
        }
        return;
    }
    // The recorded configuration: stream-errors wants 5xx requests, failed dependencies,
    // every exception and traces containing "slow".
    for d in docs {
        assert_eq!(
            d["DocumentStreamIds"],
            serde_json::json!(["stream-errors"]),
            "post {n}"
        );
        match d["DocumentType"].as_str().unwrap() {
            "Request" => {
                assert!(d["ResponseCode"].as_str().unwrap().parse::<i64>().unwrap() >= 500)
            }
            "RemoteDependency" => assert_eq!(d["ResultCode"], "503"),
            "Exception" => {
                assert_eq!(d["ExceptionType"], "Exception");
                assert!(d["ExceptionMessage"]
                    .as_str()
                    .unwrap()
                    .starts_with("simulated failure"));
            }
            "Trace" => assert!(d["Message"].as_str().unwrap().contains("slow")),
            other => panic!("unexpected {other}"),
        }
    }
}
