//! Every preset on the wire: the preset's base URL is pointed at a loopback receiver and
//! the test checks, per signal, the path, headers, content type and encoding the receiver
//! got, and decodes each body with the official protobuf definitions. Expected values are
//! written out literally from the vendor facts, not read back from the preset code.

mod common;

use common::{decode_logs, decode_metrics, decode_traces, Receiver, Request};
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::proto::metrics::v1::metric::Data;
use tracing_insights_otlp::{EnvVars, OtlpLayer};
use tracing_insights_presets as presets;
use tracing_subscriber::prelude::*;

/// What one preset must produce: a path per accepted signal (`None` = must not be sent),
/// headers every request carries, headers for one signal only, and the metrics temporality
/// (1 = delta, 2 = cumulative, in OTLP's enum).
struct Expect {
    traces: Option<&'static str>,
    logs: Option<&'static str>,
    metrics: Option<&'static str>,
    headers: &'static [(&'static str, &'static str)],
    metrics_headers: &'static [(&'static str, &'static str)],
    temporality: i32,
}

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

fn run(preset: presets::Preset, expect: Expect) {
    let rx = Receiver::start();
    let preset = preset.with_base_url(&rx.base).expect("loopback base");
    let name = preset.name();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_preset(&preset)
        .with_batch_delay(Duration::from_millis(20))
        .with_retries(1, Duration::from_millis(5))
        .build()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(
            "chat gpt-4o",
            otel.kind = "client",
            gen_ai.usage.input_tokens = 12
        )
        .in_scope(|| {
            tracing::info!(monotonic_counter.chat_requests = 1u64, "answered");
        });
    });
    guard
        .shutdown(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let requests = rx.requests();

    let on = |path: &str| -> Vec<Request> {
        requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    };
    let sent: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    let wanted: Vec<&str> = [expect.traces, expect.logs, expect.metrics]
        .into_iter()
        .flatten()
        .collect();
    assert!(
        sent.iter().all(|p| wanted.contains(p)),
        "{name}: sent to {sent:?}, only {wanted:?} expected"
    );
    for path in &wanted {
        let reqs = on(path);
        assert!(
            !reqs.is_empty(),
            "{name}: nothing arrived at {path}; got {sent:?}"
        );
        for r in &reqs {
            assert_eq!(
                r.header("content-type"),
                Some("application/x-protobuf"),
                "{name} {path}"
            );
            assert_eq!(r.header("content-encoding"), Some("gzip"), "{name} {path}");
            assert!(r.gzipped, "{name} {path}");
            for (k, v) in expect.headers {
                assert_eq!(r.header(k), Some(*v), "{name} {path} header {k}");
            }
        }
    }
    if let Some(path) = expect.traces {
        let spans: Vec<_> = on(path)
            .iter()
            .flat_map(|r| decode_traces(r).resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect();
        assert_eq!(spans.len(), 1, "{name}");
        assert_eq!(spans[0].name, "chat gpt-4o", "{name}");
    }
    if let Some(path) = expect.logs {
        let logs: Vec<_> = on(path)
            .iter()
            .flat_map(|r| decode_logs(r).resource_logs)
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .collect();
        assert!(!logs.is_empty(), "{name}: no log records");
    }
    if let Some(path) = expect.metrics {
        let reqs = on(path);
        for r in &reqs {
            for (k, v) in expect.metrics_headers {
                assert_eq!(r.header(k), Some(*v), "{name} {path} header {k}");
            }
        }
        let sums: Vec<_> = reqs
            .iter()
            .flat_map(|r| decode_metrics(r).resource_metrics)
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .filter(|m| m.name == "chat_requests")
            .filter_map(|m| match m.data {
                Some(Data::Sum(s)) => Some(s),
                _ => None,
            })
            .collect();
        assert!(!sums.is_empty(), "{name}: no chat_requests sum");
        assert!(
            sums.iter()
                .all(|s| s.aggregation_temporality == expect.temporality),
            "{name}: temporality"
        );
    }
}

#[test]
fn sentry_dsn_with_port_and_path_prefix() {
    run(
        presets::Sentry::from_dsn("https://pk123@o1.ingest.sentry.io:8443/prefix/42").unwrap(),
        Expect {
            traces: Some("/prefix/api/42/integration/otlp/v1/traces"),
            logs: Some("/prefix/api/42/integration/otlp/v1/logs"),
            metrics: None,
            headers: &[("x-sentry-auth", "sentry sentry_key=pk123")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn honeycomb_with_metrics_dataset() {
    run(
        presets::Honeycomb::new("hc-key")
            .with_metrics_dataset("svc-metrics")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("x-honeycomb-team", "hc-key")],
            metrics_headers: &[("x-honeycomb-dataset", "svc-metrics")],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn datadog_agentless_is_delta() {
    run(
        presets::DatadogAgentless::new("dd-key").build().unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("dd-api-key", "dd-key")],
            metrics_headers: &[],
            temporality: DELTA,
        },
    );
}

#[test]
fn datadog_agent_is_delta_without_auth() {
    run(
        presets::DatadogAgent::new().build().unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[],
            metrics_headers: &[],
            temporality: DELTA,
        },
    );
}

#[test]
fn grafana_cloud_gateway_path_and_basic_auth() {
    run(
        presets::GrafanaCloud::new("prod-eu-west-2", "123456", "glc_secret")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/otlp/v1/traces"),
            logs: Some("/otlp/v1/logs"),
            metrics: Some("/otlp/v1/metrics"),
            headers: &[("authorization", "Basic MTIzNDU2OmdsY19zZWNyZXQ=")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn axiom_dataset_per_signal() {
    run(
        presets::Axiom::new("xaat-1", "events")
            .with_metrics_dataset("metrics")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("authorization", "Bearer xaat-1")],
            metrics_headers: &[("x-axiom-metrics-dataset", "metrics")],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn new_relic_is_delta() {
    run(
        presets::NewRelic::new("nr-key").build().unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("api-key", "nr-key")],
            metrics_headers: &[],
            temporality: DELTA,
        },
    );
}

#[test]
fn dynatrace_protobuf_delta() {
    run(
        presets::Dynatrace::environment("abc12345", "dt0c01.x")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/api/v2/otlp/v1/traces"),
            logs: Some("/api/v2/otlp/v1/logs"),
            metrics: Some("/api/v2/otlp/v1/metrics"),
            headers: &[("authorization", "Api-Token dt0c01.x")],
            metrics_headers: &[],
            temporality: DELTA,
        },
    );
}

#[test]
fn elastic_api_key() {
    run(
        presets::Elastic::with_api_key("https://x.ingest.elastic.cloud:443", "ek")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("authorization", "ApiKey ek")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn signoz_cloud_key() {
    run(
        presets::SigNoz::cloud("eu", "sz").build().unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("signoz-ingestion-key", "sz")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn uptrace_dsn_header_and_delta() {
    run(
        presets::Uptrace::new("https://tok@api.uptrace.dev?grpc=4317")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("uptrace-dsn", "https://tok@api.uptrace.dev?grpc=4317")],
            metrics_headers: &[],
            temporality: DELTA,
        },
    );
}

#[test]
fn logfire_token_without_bearer() {
    run(
        presets::Logfire::new("pylf_v1_eu_tok").build().unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: Some("/v1/logs"),
            metrics: Some("/v1/metrics"),
            headers: &[("authorization", "pylf_v1_eu_tok")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn langfuse_traces_only_with_ingestion_version() {
    run(
        presets::Langfuse::new("pk-lf-1", "sk-lf-2")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/api/public/otel/v1/traces"),
            logs: None,
            metrics: None,
            headers: &[
                ("authorization", "Basic cGstbGYtMTpzay1sZi0y"),
                ("x-langfuse-ingestion-version", "4"),
            ],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn phoenix_traces_only_with_project() {
    run(
        presets::Phoenix::default()
            .with_project("chat")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/v1/traces"),
            logs: None,
            metrics: None,
            headers: &[("x-project-name", "chat")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn langsmith_traces_only() {
    run(
        presets::LangSmith::new("ls-key")
            .with_project("chat")
            .build()
            .unwrap(),
        Expect {
            traces: Some("/otel/v1/traces"),
            logs: None,
            metrics: None,
            headers: &[("x-api-key", "ls-key"), ("langsmith-project", "chat")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}

#[test]
fn collector_and_custom() {
    let all = Expect {
        traces: Some("/v1/traces"),
        logs: Some("/v1/logs"),
        metrics: Some("/v1/metrics"),
        headers: &[],
        metrics_headers: &[],
        temporality: CUMULATIVE,
    };
    run(presets::collector(), all);
    run(
        presets::custom("https://gw.example/otlp")
            .unwrap()
            .with_header("x-team", "ai")
            .unwrap(),
        Expect {
            traces: Some("/otlp/v1/traces"),
            logs: Some("/otlp/v1/logs"),
            metrics: Some("/otlp/v1/metrics"),
            headers: &[("x-team", "ai")],
            metrics_headers: &[],
            temporality: CUMULATIVE,
        },
    );
}
