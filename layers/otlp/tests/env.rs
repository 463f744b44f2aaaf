//! Every `OTEL_*` variable the OTLP layer reads, through an injected environment (the
//! process environment is never touched), observed on the wire of a loopback receiver.

mod common;

use common::Receiver;
use proptest::prelude::*;
use std::time::{Duration, Instant};
use tracing_insights_otlp::{sampler_from_env_source, EnvVars, OtlpError, OtlpLayer, Signal};
use tracing_subscriber::prelude::*;

const SECRET: &str = "s3cr3t-VALUE-do-not-print";

fn build(
    vars: &[(&str, &str)],
) -> Result<(OtlpLayer, tracing_insights_otlp::OtlpGuard), OtlpError> {
    OtlpLayer::builder()
        .with_env(EnvVars::from_vars(vars.iter().copied()))
        .with_batch_delay(Duration::from_millis(20))
        .with_retries(1, Duration::from_millis(1))
        .build()
}

/// Emits one span (with an event inside) and one metric field, then flushes.
fn emit(layer: OtlpLayer, guard: &tracing_insights_otlp::OtlpGuard) {
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("env-span").in_scope(|| {
            tracing::info!(monotonic_counter.hits = 1_u64, "hello");
        });
    });
    let _ = guard.flush(Duration::from_secs(5));
}

fn err_of(vars: &[(&str, &str)]) -> OtlpError {
    match build(vars) {
        Err(e) => e,
        Ok((_, g)) => panic!("expected an error for {vars:?}, got {g:?}"),
    }
}

#[test]
fn generic_endpoint_gets_signal_paths_appended() {
    let rx = Receiver::start();
    let base = format!("{}/base/", rx.base);
    let (layer, guard) = build(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &base)]).unwrap();
    assert_eq!(
        guard.endpoints(),
        vec![
            (Signal::Traces, format!("{}/base/v1/traces", rx.base)),
            (Signal::Logs, format!("{}/base/v1/logs", rx.base)),
            (Signal::Metrics, format!("{}/base/v1/metrics", rx.base)),
        ]
    );
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let paths: Vec<String> = rx.requests().into_iter().map(|r| r.path).collect();
    for p in ["/base/v1/traces", "/base/v1/logs", "/base/v1/metrics"] {
        assert!(paths.iter().any(|x| x == p), "{p} not in {paths:?}");
    }
}

#[test]
fn signal_endpoints_are_used_as_given_and_win_over_the_generic_one() {
    let rx = Receiver::start();
    let traces = format!("{}/custom/traces", rx.base);
    let logs = format!("{}/l", rx.base);
    let metrics = rx.base.clone(); // no path: posts to `/`
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &logs),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &metrics),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let paths: Vec<String> = rx.requests().into_iter().map(|r| r.path).collect();
    for p in ["/custom/traces", "/l", "/"] {
        assert!(paths.iter().any(|x| x == p), "{p} not in {paths:?}");
    }
}

#[test]
fn builder_endpoint_wins_over_env() {
    let rx = Receiver::start();
    let (_, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://127.0.0.1:9/x",
        )]))
        .with_endpoint(rx.base.clone())
        .build()
        .unwrap();
    assert_eq!(guard.endpoints()[0].1, format!("{}/v1/traces", rx.base));
    guard.shutdown(Duration::from_secs(1)).unwrap();
}

#[test]
fn default_endpoint_is_localhost_4318() {
    let (_, guard) = build(&[]).unwrap();
    assert_eq!(guard.endpoints()[0].1, "http://localhost:4318/v1/traces");
    drop(guard.shutdown(Duration::from_secs(1)));
}

#[test]
fn headers_generic_and_signal_merge_percent_decoded() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20dXNlcjpwYXNz==,x-team=generic",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=traces-only"),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let t = &rx.on("/v1/traces")[0];
    assert_eq!(t.header("authorization"), Some("Basic dXNlcjpwYXNz=="));
    assert_eq!(t.header("x-team"), Some("traces-only"));
    let l = &rx.on("/v1/logs")[0];
    assert_eq!(l.header("x-team"), Some("generic"));
}

#[test]
fn protocol_json_and_signal_override() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let t = &rx.on("/v1/traces")[0];
    assert_eq!(t.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&t.body).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    // OTLP/JSON: hex ids, camelCase keys.
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
    assert_eq!(rx.spans()[0].name, "env-span");
    let l = &rx.on("/v1/logs")[0];
    assert_eq!(l.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(rx.logs()[0].trace_id, rx.spans()[0].trace_id);
}

#[test]
fn grpc_needs_its_feature_and_unknown_protocols_are_errors() {
    if cfg!(feature = "grpc") {
        let (_, g) = build(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(g.endpoints()[0].1, "http://localhost:4317");
        drop(g.shutdown(Duration::from_secs(1)));
    } else {
        let e = err_of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{e}");
        assert!(e.to_string().contains("`grpc` cargo feature"), "{e}");
    }
    let e = err_of(&[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/xml")]);
    assert!(
        e.to_string()
            .contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
        "{e}"
    );
}

#[test]
fn compression_gzip_by_default_none_on_request() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    assert!(rx.on("/v1/traces")[0].gzipped);
    assert!(!rx.on("/v1/logs")[0].gzipped);
    let e = err_of(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
    assert!(
        e.to_string().contains("OTEL_EXPORTER_OTLP_COMPRESSION"),
        "{e}"
    );
}

#[test]
fn timeout_is_milliseconds_and_bounds_a_silent_receiver() {
    // A receiver that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &url),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "200"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ])
    .unwrap();
    let t0 = Instant::now();
    emit(layer, &guard);
    let r = guard.shutdown(Duration::from_secs(10));
    assert!(r.is_err());
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    let e = err_of(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]);
    assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{e}");
    let e = err_of(&[("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "-1")]);
    assert!(
        e.to_string().contains("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT"),
        "{e}"
    );
}

#[test]
fn sdk_disabled_makes_a_no_op_layer() {
    let (layer, guard) = build(&[("OTEL_SDK_DISABLED", "TRUE")]).unwrap();
    assert!(!layer.is_enabled());
    assert!(!guard.is_enabled());
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(1)).unwrap();
    let (layer, guard) = build(&[("OTEL_SDK_DISABLED", "false")]).unwrap();
    assert!(layer.is_enabled());
    drop(guard.shutdown(Duration::from_secs(1)));
    let e = err_of(&[("OTEL_SDK_DISABLED", "yes")]);
    assert!(e.to_string().contains("OTEL_SDK_DISABLED"), "{e}");
}

#[test]
fn signal_exporters_none_turn_signals_off() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    assert!(rx.requests().iter().all(|r| r.path == "/v1/traces"));
    let e = err_of(&[("OTEL_TRACES_EXPORTER", "jaegr")]);
    assert!(e.to_string().contains("OTEL_TRACES_EXPORTER"), "{e}");
}

#[test]
fn temporality_preference_delta_and_errors() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
    ])
    .unwrap();
    emit(layer, &guard);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let m = rx.metrics();
    let Some(tracing_insights_otlp::proto::metrics::v1::metric::Data::Sum(sum)) = &m[0].data else {
        panic!("{m:?}")
    };
    assert_eq!(sum.aggregation_temporality, 1, "delta");
    let e = err_of(&[(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        "weekly",
    )]);
    assert!(e.to_string().contains("TEMPORALITY_PREFERENCE"), "{e}");
}

#[test]
fn batch_and_interval_variables_are_validated() {
    for var in [
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BLRP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ] {
        // (No builder batch delay here: the builder would win over the variable.)
        let e = OtlpLayer::builder()
            .with_env(EnvVars::from_vars([(var, "lots")]))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains(var), "{e}");
    }
    let (_, g) = build(&[
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5"),
    ])
    .unwrap();
    drop(g.shutdown(Duration::from_secs(1)));
}

#[test]
fn resource_variables_reach_the_wire_without_a_correlation_layer() {
    let rx = Receiver::start();
    let (layer, guard) = build(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rx.base),
        ("OTEL_SERVICE_NAME", "env-svc"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod%20eu",
        ),
    ])
    .unwrap();
    // No correlation layer: events outside spans still go out, with the fallback resource.
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info!("no spans"));
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let req = common::decode_logs(&rx.on("/v1/logs")[0]);
    let res = req.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(
        common::attr_str(&res.attributes, "service.name"),
        Some("env-svc")
    );
    assert_eq!(
        common::attr_str(&res.attributes, "deployment.environment.name"),
        Some("prod eu")
    );
}

#[test]
fn sampler_variables_map_onto_the_correlation_sampler() {
    let s =
        |vars: &[(&str, &str)]| sampler_from_env_source(&EnvVars::from_vars(vars.iter().copied()));
    assert_eq!(s(&[]).unwrap(), None);
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "always_off")])
            .unwrap()
            .unwrap()
            .fraction(),
        0.0
    );
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "always_on")])
            .unwrap()
            .unwrap()
            .fraction(),
        1.0
    );
    assert_eq!(
        s(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5")
        ])
        .unwrap()
        .unwrap()
        .fraction(),
        0.5
    );
    assert_eq!(
        s(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")])
            .unwrap()
            .unwrap()
            .fraction(),
        1.0,
        "the argument defaults to 1.0"
    );
    let pb = s(&[("OTEL_TRACES_SAMPLER", "parentbased_always_on")])
        .unwrap()
        .unwrap();
    assert!(format!("{pb:?}").contains("respect_remote_parent"));
    let pb = s(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")])
        .unwrap()
        .unwrap();
    assert_eq!(pb.fraction(), 0.0);
    for bad in ["xray", "jaeger_remote", "sometimes"] {
        let e = s(&[("OTEL_TRACES_SAMPLER", bad)]).unwrap_err();
        assert!(e.to_string().contains("OTEL_TRACES_SAMPLER"), "{e}");
    }
    for bad in ["1.5", "half", "-0.1", "NaN"] {
        let e = s(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", bad),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("OTEL_TRACES_SAMPLER_ARG"), "{e}");
    }
}

#[test]
fn malformed_endpoints_name_the_variable() {
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ] {
        for bad in [
            "localhost:4318",
            "ftp://host/x",
            "http://",
            "http://exa mple",
            "::",
        ] {
            let e = err_of(&[(var, bad)]);
            assert!(e.to_string().starts_with(var), "{var}={bad}: {e}");
        }
    }
    let e = err_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pw@@host\u{7f}")]);
    assert!(!e.to_string().contains("pw"), "{e}");
}

#[test]
fn malformed_headers_name_the_variable_and_never_show_values() {
    for var in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        for bad in [
            format!("api-key{SECRET}"),
            format!("={SECRET}"),
            format!("bad key={SECRET}"),
            "api-key=".to_string(),
            format!("api-key={SECRET}%0A"),
            format!("api-key={SECRET}%FF"),
        ] {
            let e = err_of(&[(var, &bad)]);
            let text = format!("{e} {e:?}");
            assert!(text.contains(var), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}

#[test]
fn header_values_never_appear_in_debug_output() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_HEADERS", format!("api-key={SECRET}")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            format!("x-other={SECRET}"),
        ),
    ];
    let builder = OtlpLayer::builder()
        .with_env(EnvVars::from_vars(vars.clone()))
        .with_header("authorization", format!("Bearer {SECRET}"));
    let builder_debug = format!("{builder:?}");
    let (layer, guard) = builder.build().unwrap();
    let all = format!(
        "{builder_debug} {layer:?} {guard:?} {:?}",
        EnvVars::from_vars(vars)
    );
    assert!(!all.contains(SECRET), "{all}");
    assert!(
        all.contains("api-key") && all.contains("authorization"),
        "{all}"
    );
    drop(guard.shutdown(Duration::from_secs(1)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_env_value_gives_ok_or_an_error_naming_its_variable(
        var in prop::sample::select(vec![
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
            "OTEL_SDK_DISABLED",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "OTEL_BSP_MAX_QUEUE_SIZE",
        ]),
        value in ".{0,60}",
    ) {
        // Headers hold secrets: a marker in the value must never come back.
        let value = format!("{value}{SECRET}");
        match build(&[(var, value.as_str())]) {
            Ok((_, g)) => drop(g.shutdown(Duration::from_millis(100))),
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.contains(var), "{}", text);
                if var.contains("HEADERS") {
                    prop_assert!(!text.contains(SECRET), "{}", text);
                    let dbg = format!("{:?}", e);
                    prop_assert!(!dbg.contains(SECRET));
                }
            }
        }
    }

    #[test]
    fn sampler_args_never_panic(kind in "[a-z_]{0,30}", arg in ".{0,20}") {
        let env = EnvVars::from_vars([("OTEL_TRACES_SAMPLER", kind), ("OTEL_TRACES_SAMPLER_ARG", arg)]);
        if let Err(e) = sampler_from_env_source(&env) {
            prop_assert!(e.to_string().contains("OTEL_TRACES_SAMPLER"));
        }
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn tls_certificate_variables_load_pem_files() {
    let (cert, key) = (fixture("test-cert.pem"), fixture("test-key.pem"));
    // Roots, and mTLS with a signal-specific pair.
    let (_, g) = build(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &cert),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", &cert),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", &key),
    ])
    .unwrap();
    drop(g.shutdown(Duration::from_secs(1)));
    let e = err_of(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")]);
    assert!(
        e.to_string().starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{e}"
    );
    let e = err_of(&[("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", &key)]);
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    let e = err_of(&[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert)]);
    assert!(e.to_string().contains("CLIENT_KEY"), "{e}");
    let e = err_of(&[
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &cert),
    ]);
    assert!(
        e.to_string().starts_with("OTEL_EXPORTER_OTLP_CLIENT_KEY"),
        "{e}"
    );
    assert!(!e.to_string().contains("BEGIN"), "{e}");
}
