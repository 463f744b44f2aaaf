//! The control loop step by step over a manual clock and a scripted transport: no sleeps,
//! no sockets.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tracing_insights_correlation as correlation;
use tracing_insights_live_metrics::testing::{
    CallKind, Clock, Controller, LiveState, ManualClock, QpsRequest, QpsResponse, Transport,
};
use tracing_insights_live_metrics::{
    AccessToken, LiveMetricsError, LiveMetricsLayer, TokenError, TokenProvider,
};
use tracing_subscriber::prelude::*;

const KEY: &str = "00000000-0000-0000-0000-000000000000";

type Log = Arc<Mutex<Vec<(u64, QpsRequest)>>>;

/// Answers with `f(request, index)` and logs every request with the second it was sent.
struct Fake<F> {
    clock: ManualClock,
    log: Log,
    f: F,
}

impl<F> Transport for Fake<F>
where
    F: FnMut(&QpsRequest, usize) -> Result<QpsResponse, String> + Send + 'static,
{
    fn send(&mut self, request: &QpsRequest) -> Result<QpsResponse, String> {
        let mut log = self.log.lock().unwrap();
        let n = log.len();
        log.push((self.clock.elapsed().as_secs(), request.clone()));
        drop(log);
        (self.f)(request, n)
    }
}

fn answer(subscribed: bool, extra: &[(&str, &str)], body: &str) -> QpsResponse {
    let mut headers = vec![("x-ms-qps-subscribed".to_owned(), subscribed.to_string())];
    headers.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    QpsResponse {
        status: 200,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn setup<F>(f: F) -> (LiveMetricsLayer, Controller, ManualClock, Log)
where
    F: FnMut(&QpsRequest, usize) -> Result<QpsResponse, String> + Send + 'static,
{
    setup_with(LiveMetricsLayer::builder(), f)
}

fn setup_with<F>(
    builder: tracing_insights_live_metrics::LiveMetricsBuilder,
    f: F,
) -> (LiveMetricsLayer, Controller, ManualClock, Log)
where
    F: FnMut(&QpsRequest, usize) -> Result<QpsResponse, String> + Send + 'static,
{
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_795_306_053));
    let log: Log = Arc::default();
    let (layer, ctl) = builder
        .with_connection_string(format!(
            "InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:1"
        ))
        .build_with(
            clock.clone(),
            Fake {
                clock: clock.clone(),
                log: log.clone(),
                f,
            },
        )
        .unwrap();
    (layer, ctl, clock, log)
}

/// Polls until `until` seconds, advancing the clock by what `poll` asks.
fn run(ctl: &mut Controller, clock: &ManualClock, until: u64, mut each: impl FnMut(&Controller)) {
    while clock.elapsed() < Duration::from_secs(until) {
        let wait = ctl.poll();
        each(ctl);
        clock.advance(wait);
    }
}

fn times(log: &Log, kind: CallKind) -> Vec<u64> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == kind)
        .map(|(t, _)| *t)
        .collect()
}

fn post_bodies(log: &Log) -> Vec<Value> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == CallKind::Post)
        .map(|(_, r)| serde_json::from_slice::<Value>(&r.body).unwrap()[0].clone())
        .collect()
}

#[test]
fn unsubscribed_pings_every_5s_then_every_60s() {
    let (layer, mut ctl, clock, log) = setup(|_, _| Ok(answer(false, &[], "")));
    run(&mut ctl, &clock, 200, |c| {
        assert_eq!(c.state(), LiveState::Pinging)
    });
    let mut want: Vec<u64> = (0..=60).step_by(5).collect();
    want.extend([120, 180]);
    assert_eq!(times(&log, CallKind::Ping), want);
    assert!(times(&log, CallKind::Post).is_empty());
    assert!(!layer.is_collecting());
}

#[test]
fn failed_pings_follow_the_same_schedule() {
    let (_layer, mut ctl, clock, log) = setup(|_, n| {
        if n % 2 == 0 {
            Err("connection refused".into())
        } else {
            Ok(QpsResponse {
                status: 503,
                ..QpsResponse::default()
            })
        }
    });
    run(&mut ctl, &clock, 130, |_| {});
    let mut want: Vec<u64> = (0..=60).step_by(5).collect();
    want.push(120);
    assert_eq!(times(&log, CallKind::Ping), want);
    assert_eq!(ctl.stats().failures, want.len() as u64);
}

#[test]
fn polling_hint_is_honoured() {
    let (_layer, mut ctl, clock, log) = setup(|_, _| {
        Ok(answer(
            false,
            &[("x-ms-qps-service-polling-interval-hint", "2500")],
            "",
        ))
    });
    run(&mut ctl, &clock, 70, |_| {});
    // Every 2.5 s (70 s / 2.5 s = 28 pings), still after a minute: the service asked for it.
    let t = times(&log, CallKind::Ping);
    assert_eq!(t.len(), 28);
    assert_eq!(t[..5], [0, 2, 5, 7, 10]);
}

#[test]
fn post_failures_fall_back_after_20s_from_the_last_success() {
    let (layer, mut ctl, clock, log) = setup(|r, _| match r.kind {
        CallKind::Ping => Ok(answer(r_secs(r) == 0, &[], "")),
        CallKind::Post if r_secs(r) <= 10 => Ok(answer(true, &[], "")),
        CallKind::Post => Ok(QpsResponse {
            status: 500,
            ..QpsResponse::default()
        }),
    });
    let mut states = Vec::new();
    run(&mut ctl, &clock, 40, |c| states.push(c.state()));
    assert_eq!(times(&log, CallKind::Post), (1..=30).collect::<Vec<_>>());
    // Back to pinging at 30 s (20 s after the last good post at 10 s); next ping 5 s later.
    assert_eq!(times(&log, CallKind::Ping), vec![0, 35]);
    assert!(!layer.is_collecting());
    assert_eq!(ctl.etag(), "");
}

/// The test service answers from the transmission time: seconds since the test's start.
fn r_secs(r: &QpsRequest) -> u64 {
    let ticks: u64 = r
        .header("x-ms-qps-transmission-time")
        .unwrap()
        .parse()
        .unwrap();
    (ticks - 621_355_968_000_000_000) / 10_000_000 - 1_795_306_053
}

#[test]
fn unsubscribed_post_stops_collection_at_once() {
    let (layer, mut ctl, clock, log) = setup(|r, _| {
        Ok(match r.kind {
            CallKind::Ping => answer(r_secs(r) == 0, &[], ""),
            CallKind::Post => answer(r_secs(r) < 3, &[], ""),
        })
    });
    run(&mut ctl, &clock, 12, |_| {});
    assert_eq!(times(&log, CallKind::Post), vec![1, 2, 3]);
    assert_eq!(times(&log, CallKind::Ping), vec![0, 8]);
    assert!(!layer.is_collecting());
}

fn config_body(etag: &str) -> String {
    json!({
        "ETag": etag,
        "Metrics": [
            {"Id": "slow", "TelemetryType": "Request", "FilterGroups": [{"Filters": [
                {"FieldName": "Duration", "Predicate": "GreaterThan", "Comparand": "0.0:0:0.1"},
                {"FieldName": "Success", "Predicate": "Equal", "Comparand": "true"}
            ]}], "Projection": "Count()", "Aggregation": "Sum", "BackEndAggregation": "Sum"},
            {"Id": "tokens", "TelemetryType": "Request", "FilterGroups": [], "Projection": "CustomDimensions.tokens", "Aggregation": "Max", "BackEndAggregation": "Max"},
            {"Id": "evt", "TelemetryType": "Event", "FilterGroups": [], "Projection": "Count()", "Aggregation": "Sum", "BackEndAggregation": "Sum"}
        ],
        "DocumentStreams": [
            {"Id": "chat", "DocumentFilterGroups": [
                {"TelemetryType": "Request", "Filters": {"Filters": [{"FieldName": "CustomDimensions.gen_ai.request.model", "Predicate": "Equal", "Comparand": "gpt"}]}},
                {"TelemetryType": "Request", "Filters": {"Filters": [{"FieldName": "Name", "Predicate": "LessThan", "Comparand": "x"}]}}
            ]}
        ],
        "QuotaInfo": null
    })
    .to_string()
}

#[test]
fn ping_configuration_applied_and_errors_reported() {
    let (layer, mut ctl, clock, log) = setup(|r, _| {
        Ok(match r.kind {
            CallKind::Ping => answer(
                true,
                &[("x-ms-qps-configuration-etag", "cfg-1")],
                &config_body("cfg-1"),
            ),
            CallKind::Post => answer(true, &[("x-ms-qps-configuration-etag", "cfg-1")], ""),
        })
    });
    let span_clock = correlation::testing::ManualClock::new(UNIX_EPOCH);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_clock(span_clock.clone()))
        .with(layer.clone());
    let _d = tracing::subscriber::set_default(subscriber);
    let request = |ms: u64, ok: bool, model: &str, tokens: u64| {
        let s = tracing::info_span!(
            "POST /chat",
            otel.kind = "server",
            gen_ai.request.model = model,
            tokens = tokens,
            otel.status_code = if ok { "ok" } else { "error" }
        );
        s.in_scope(|| span_clock.advance(Duration::from_millis(ms)));
    };
    let mut polls = 0;
    while clock.elapsed() < Duration::from_secs(3) {
        let wait = ctl.poll();
        if polls == 0 {
            request(200, true, "gpt", 10); // slow, ok: counted
            request(200, false, "gpt", 30); // slow, failed: AND-ed filter rejects it
            request(50, true, "llama", 20); // fast
        }
        polls += 1;
        clock.advance(wait);
    }
    assert_eq!(ctl.etag(), "cfg-1");
    assert_eq!(ctl.stats().configurations_applied, 1);
    let posts = post_bodies(&log);
    let first = &posts[0];
    let m = |p: &Value, name: &str| {
        p["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == name)
            .map(|m| m["Value"].clone())
    };
    assert_eq!(m(first, "slow"), Some(json!(1.0)));
    // The dimension is recorded by the correlation layer under the field name.
    assert_eq!(m(first, "tokens"), Some(json!(30.0)));
    assert_eq!(m(first, "evt"), None);
    // Only the "gpt" requests are documents, tagged with the stream.
    let docs = first["Documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert!(docs
        .iter()
        .all(|d| d["DocumentStreamIds"] == json!(["chat"])));
    // Rejected: the Event metric, and the stream's LessThan-on-Name group.
    let errors: Vec<&str> = first["CollectionConfigurationErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["CollectionConfigurationErrorType"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "MetricTelemetryTypeUnsupported",
            "DocumentStreamFailureToCreateFilterUnexpected"
        ]
    );
    // Sent with every post, as are the derived metrics (zeros included).
    assert!(posts[1]["CollectionConfigurationErrors"].is_array());
    assert_eq!(m(&posts[1], "slow"), Some(json!(0.0)));
    let posts_etags: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == CallKind::Post)
        .map(|(_, r)| r.header("x-ms-qps-configuration-etag").unwrap().to_owned())
        .collect();
    assert!(posts_etags.iter().all(|e| e == "cfg-1"));
}

#[test]
fn nothing_is_collected_before_subscription_and_documents_are_bounded() {
    let (layer, mut ctl, clock, log) = setup_with(
        LiveMetricsLayer::builder().with_max_documents_per_second(5),
        |r, _| Ok(answer(r.kind == CallKind::Post || r_secs(r) >= 5, &[], "")),
    );
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer.clone());
    let _d = tracing::subscriber::set_default(subscriber);
    while clock.elapsed() < Duration::from_secs(7) {
        let wait = ctl.poll();
        // Work all the time; only what happens while subscribed counts.
        for i in 0..50 {
            tracing::info_span!("GET /x", otel.kind = "server").in_scope(|| {
                tracing::info!(i, "hello");
            });
        }
        // Counted although the document buffer is full (the layer's no-document path).
        tracing::error!(exception.type = "E", "failed");
        clock.advance(wait);
    }
    assert_eq!(times(&log, CallKind::Ping), vec![0, 5]);
    let posts = post_bodies(&log);
    assert_eq!(posts.len(), 1);
    let rate = posts[0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "\\ApplicationInsights\\Requests/Sec")
        .unwrap()["Value"]
        .as_f64()
        .unwrap();
    assert_eq!(rate, 50.0, "only the work done after the 5 s ping");
    let exceptions = posts[0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "\\ApplicationInsights\\Exceptions/Sec")
        .unwrap()["Value"]
        .as_f64()
        .unwrap();
    assert_eq!(exceptions, 1.0);
    assert_eq!(posts[0]["Documents"].as_array().unwrap().len(), 5);
    // 101 items a second, 5 kept: 96 dropped from the posted second and 96 from the one
    // collected after it.
    assert_eq!(ctl.stats().documents_dropped, 192);
}

#[test]
fn accepted_redirect_moves_later_calls() {
    let (_layer, mut ctl, clock, log) = setup(|r, _| {
        Ok(match r.kind {
            CallKind::Ping => answer(
                true,
                &[(
                    "x-ms-qps-service-endpoint-redirect-v2",
                    "https://westeurope.livediagnostics.monitor.azure.com/x",
                )],
                "",
            ),
            CallKind::Post => answer(true, &[], ""),
        })
    });
    run(&mut ctl, &clock, 2, |_| {});
    let log = log.lock().unwrap();
    assert!(log[0]
        .1
        .url
        .starts_with("http://127.0.0.1:1/QuickPulseService.svc/ping?"));
    assert!(log[1].1.url.starts_with(
        "https://westeurope.livediagnostics.monitor.azure.com/QuickPulseService.svc/post?"
    ));
    assert_eq!(ctl.stats().redirects_followed, 1);
}

struct Token;
impl TokenProvider for Token {
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        assert_eq!(scope, "https://monitor.azure.com//.default");
        Ok(AccessToken::new(
            "secret-token",
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        ))
    }
}

#[test]
fn bearer_token_and_secrets() {
    let aad = format!("InstrumentationKey={KEY};LiveEndpoint=http://127.0.0.1:1;Authorization=AAD");
    // AAD without a token provider: the environment's managed identity (a loopback
    // endpoint here; the controller is driven by hand, so nothing is fetched).
    LiveMetricsLayer::builder()
        .with_connection_string(aad.clone())
        .with_env(tracing_insights_azure::env::Env::from_pairs([
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
            ("IDENTITY_HEADER", "h"),
        ]))
        .build_with(
            ManualClock::new(UNIX_EPOCH),
            Fake {
                clock: ManualClock::new(UNIX_EPOCH),
                log: Log::default(),
                f: |_: &QpsRequest, _| Err::<QpsResponse, String>("x".into()),
            },
        )
        .expect("AAD builds the managed identity");
    let clock = ManualClock::new(UNIX_EPOCH);
    let log = Log::default();
    let builder = LiveMetricsLayer::builder()
        .with_connection_string(aad)
        .with_token_provider(Token);
    assert!(!format!("{builder:?}").contains(KEY));
    let (_layer, mut ctl) = builder
        .build_with(
            clock.clone(),
            Fake {
                clock: clock.clone(),
                log: log.clone(),
                f: |_: &QpsRequest, _| Ok(answer(true, &[], "")),
            },
        )
        .unwrap();
    run(&mut ctl, &clock, 2, |_| {});
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2);
    for (_, r) in log.iter() {
        assert_eq!(r.header("authorization"), Some("Bearer secret-token"));
        let dbg = format!("{r:?}");
        assert!(!dbg.contains(KEY) && !dbg.contains("secret-token"), "{dbg}");
    }
    assert!(!format!("{ctl:?}").contains(KEY));
}

#[test]
fn bad_configuration_is_an_error() {
    let err = LiveMetricsLayer::builder()
        .with_connection_string("LiveEndpoint=http://127.0.0.1:1")
        .build_with(
            ManualClock::new(UNIX_EPOCH),
            Fake {
                clock: ManualClock::new(UNIX_EPOCH),
                log: Log::default(),
                f: |_: &QpsRequest, _| Err::<QpsResponse, String>("x".into()),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, LiveMetricsError::ConnectionString(_)),
        "{err}"
    );
}

#[test]
fn counts_are_exact_across_threads() {
    let (layer, mut ctl, clock, log) = setup(|_, _| Ok(answer(true, &[], "")));
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(correlation::layer())
            .with(layer.clone()),
    );
    let wait = ctl.poll(); // the ping subscribes
    assert!(layer.is_collecting());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..1000 {
                        let failed = (i + t) % 10 == 0;
                        tracing::info_span!(
                            "GET /x",
                            otel.kind = "server",
                            otel.status_code = if failed { "error" } else { "ok" }
                        )
                        .in_scope(|| {
                            tracing::info_span!("call", otel.kind = "client").in_scope(|| {});
                        });
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    clock.advance(wait);
    ctl.poll();
    let p = &post_bodies(&log)[0];
    let m = |name: &str| {
        p["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == name)
            .unwrap()["Value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(m("\\ApplicationInsights\\Requests/Sec"), 4000.0);
    assert_eq!(m("\\ApplicationInsights\\Requests Failed/Sec"), 400.0);
    assert_eq!(m("\\ApplicationInsights\\Dependency Calls/Sec"), 4000.0);
    assert_eq!(p["Documents"].as_array().unwrap().len(), 20);
    assert_eq!(ctl.stats().documents_dropped, 8000 - 20);
}

/// Without `with_resource`, the identity every ping carries is the correlation layer's
/// resource, adopted when the layer is stacked, even behind `Option<L>` (which does not
/// forward `on_register_dispatch`).
#[test]
fn the_correlation_resource_names_the_role_without_with_resource() {
    let (layer, mut ctl, _clock, log) = setup(|_, _| Ok(answer(false, &[], "")));
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer().with_resource(correlation::Resource::from_attributes([
                ("service.name", "chat-api"),
                ("service.namespace", "ai"),
                ("service.instance.id", "pod-7"),
            ])),
        )
        .with(Some(layer));
    let _default = tracing::subscriber::set_default(subscriber);
    ctl.poll();
    let log = log.lock().unwrap();
    let header = |name: &str| {
        log[0]
            .1
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-ms-qps-role-name").as_deref(), Some("ai.chat-api"));
    assert_eq!(header("x-ms-qps-instance-name").as_deref(), Some("pod-7"));
}

fn role_and_instance(log: &Log) -> (Option<String>, Option<String>) {
    let log = log.lock().unwrap();
    let header = |name: &str| {
        log[0]
            .1
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    (
        header("x-ms-qps-role-name"),
        header("x-ms-qps-instance-name"),
    )
}

/// `with_resource` is a fallback: a stacked correlation layer's resource wins, as it does
/// for every exporter; without one, the builder's names the role.
#[test]
fn with_resource_is_used_only_without_a_correlation_layer() {
    let builder_resource = correlation::Resource::from_attributes([
        ("service.name", "from-builder"),
        ("service.instance.id", "b-0"),
    ]);
    let (layer, mut ctl, _clock, log) = setup_with(
        LiveMetricsLayer::builder().with_resource(builder_resource.clone()),
        |_, _| Ok(answer(false, &[], "")),
    );
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer().with_resource(correlation::Resource::from_attributes([
                ("service.name", "from-correlation"),
                ("service.instance.id", "c-0"),
            ])),
        )
        .with(layer);
    let _default = tracing::subscriber::set_default(subscriber);
    ctl.poll();
    assert_eq!(
        role_and_instance(&log),
        (Some("from-correlation".into()), Some("c-0".into()))
    );

    let (layer, mut ctl, _clock, log) = setup_with(
        LiveMetricsLayer::builder().with_resource(builder_resource),
        |_, _| Ok(answer(false, &[], "")),
    );
    let _other = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    ctl.poll();
    assert_eq!(
        role_and_instance(&log),
        (Some("from-builder".into()), Some("b-0".into()))
    );
}

/// A field whose `Debug` panics, seen while somebody watches (the layer reads every field
/// for documents): the panic stays where the value is formatted (the correlation crate's
/// `cut_debug`, counted in `correlation::contained_panics`), the value becomes a placeholder,
/// and the next items are counted as usual.
#[test]
fn a_panic_in_a_callback_is_contained_and_counted() {
    struct Boom;
    impl std::fmt::Debug for Boom {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("a Debug impl that panics")
        }
    }
    let (layer, mut ctl, clock, log) = setup(|_, _| Ok(answer(true, &[], "")));
    // Only the Live Metrics layer: the panic must come from its own callback.
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    let wait = ctl.poll(); // the ping subscribes
    assert!(layer.is_collecting());
    let before = tracing_insights_correlation::contained_panics();
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(value = ?Boom, "still here");
        tracing::error!(exception.type = "E", exception.message = "m");
    });
    assert!(tracing_insights_correlation::contained_panics() > before);
    assert_eq!(
        layer.contained_panics(),
        0,
        "nothing reached the layer's own guard"
    );
    clock.advance(wait);
    ctl.poll();
    let p = &post_bodies(&log)[0];
    let exceptions = p["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "\\ApplicationInsights\\Exceptions/Sec")
        .unwrap()["Value"]
        .as_f64()
        .unwrap();
    assert_eq!(exceptions, 1.0, "{p:#}");
}
