//! Every preset against the vendor facts, written out literally (not read back from the
//! preset code): URL per signal, headers, protocol, temporality; missing variables named;
//! no secret in `Debug` or errors.

use tracing_insights_presets::*;

/// (signal, url) for every signal the preset must send; the others must be absent.
fn assert_urls(p: &Preset, want: &[(Signal, &str)]) {
    for s in Signal::ALL {
        let got = p.target(s).map(Target::url);
        let expected = want.iter().find(|(w, _)| *w == s).map(|(_, u)| *u);
        assert_eq!(got, expected, "{} {:?}", p.name(), s);
    }
}

fn assert_header(p: &Preset, signal: Signal, name: &str, value: &str) {
    assert_eq!(
        p.target(signal).and_then(|t| t.header(name)),
        Some(value),
        "{} {:?} {}",
        p.name(),
        signal,
        name
    );
}

fn assert_no_secret(p: &Preset, secret: &str) {
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(secret), "secret in Debug: {dbg}");
}

use Signal::{Logs, Metrics, Traces};

#[test]
fn sentry_from_dsn_with_port_and_path_prefix() {
    let p = Sentry::from_env_with(&[(
        "SENTRY_DSN",
        "http://pk123:sk456@sentry.internal:9000/team/sub/42",
    )])
    .unwrap();
    assert_urls(
        &p,
        &[
            (
                Traces,
                "http://sentry.internal:9000/team/sub/api/42/integration/otlp/v1/traces",
            ),
            (
                Logs,
                "http://sentry.internal:9000/team/sub/api/42/integration/otlp/v1/logs",
            ),
        ],
    );
    assert_header(&p, Traces, "x-sentry-auth", "sentry sentry_key=pk123");
    assert_eq!(p.target(Traces).unwrap().protocol(), Protocol::HttpProtobuf);
    assert_no_secret(&p, "sk456");

    let hosted = Sentry::from_dsn("https://abc@o123.ingest.us.sentry.io/456").unwrap();
    assert_urls(
        &hosted,
        &[
            (
                Traces,
                "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/traces",
            ),
            (
                Logs,
                "https://o123.ingest.us.sentry.io/api/456/integration/otlp/v1/logs",
            ),
        ],
    );
}

#[test]
fn sentry_errors_name_the_variable() {
    let e = Sentry::from_env_with(&[("X", "y")]).unwrap_err();
    assert!(e.to_string().contains("SENTRY_DSN"), "{e}");
    for bad in [
        "o123.ingest.sentry.io/456",
        "https://o123.ingest.sentry.io/456",
        "ftp://k@h/1",
        "https://k@h/",
        "https://k@/1",
        "https://k@h:99999/1",
    ] {
        let e = Sentry::from_dsn(bad).unwrap_err();
        assert!(e.to_string().contains("SENTRY_DSN"), "{bad}: {e}");
    }
}

#[test]
fn honeycomb_us_eu_and_metrics_dataset() {
    let p = Honeycomb::from_env_with(&[("HONEYCOMB_API_KEY", "hc-key")]).unwrap();
    assert_urls(
        &p,
        &[
            (Traces, "https://api.honeycomb.io/v1/traces"),
            (Logs, "https://api.honeycomb.io/v1/logs"),
        ],
    );
    assert_header(&p, Traces, "x-honeycomb-team", "hc-key");
    assert_eq!(
        p.target(Traces).unwrap().header("x-honeycomb-dataset"),
        None
    );

    let p = Honeycomb::from_env_with(&[
        ("HONEYCOMB_API_KEY", "hc-key"),
        ("HONEYCOMB_METRICS_DATASET", "service-metrics"),
        ("HONEYCOMB_API_ENDPOINT", "https://api.eu1.honeycomb.io"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[
            (Traces, "https://api.eu1.honeycomb.io/v1/traces"),
            (Metrics, "https://api.eu1.honeycomb.io/v1/metrics"),
            (Logs, "https://api.eu1.honeycomb.io/v1/logs"),
        ],
    );
    assert_header(&p, Metrics, "x-honeycomb-dataset", "service-metrics");
    assert_eq!(
        p.target(Traces).unwrap().header("x-honeycomb-dataset"),
        None
    );
    assert_eq!(
        Honeycomb::new("k")
            .eu()
            .build()
            .unwrap()
            .target(Traces)
            .unwrap()
            .url(),
        "https://api.eu1.honeycomb.io/v1/traces"
    );
    assert_no_secret(&p, "hc-key");
    assert!(Sentry::from_env_with(&[("SENTRY_DSN", " ")])
        .unwrap_err()
        .to_string()
        .contains("SENTRY_DSN"));
    assert!(Honeycomb::from_env_with(&[("HONEYCOMB_DATASET", "x")])
        .unwrap_err()
        .to_string()
        .contains("HONEYCOMB_API_KEY"));
}

#[test]
fn datadog_agent_and_agentless_use_delta() {
    let a = DatadogAgent::from_env_with(&[("DD_AGENT_HOST", "dd-agent")]).unwrap();
    assert_urls(
        &a,
        &[
            (Traces, "http://dd-agent:4318/v1/traces"),
            (Metrics, "http://dd-agent:4318/v1/metrics"),
            (Logs, "http://dd-agent:4318/v1/logs"),
        ],
    );
    assert_eq!(a.temporality(), Temporality::Delta);

    let p = DatadogAgentless::from_env_with(&[
        ("DD_API_KEY", "dd-secret"),
        ("DD_SITE", "datadoghq.eu"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[
            (Traces, "https://otlp.datadoghq.eu/v1/traces"),
            (Metrics, "https://otlp.datadoghq.eu/v1/metrics"),
            (Logs, "https://otlp.datadoghq.eu/v1/logs"),
        ],
    );
    assert_header(&p, Metrics, "dd-api-key", "dd-secret");
    assert_eq!(p.temporality(), Temporality::Delta);
    assert_no_secret(&p, "dd-secret");
    let us = DatadogAgentless::new("k").build().unwrap();
    assert_eq!(
        us.target(Metrics).unwrap().url(),
        "https://otlp.datadoghq.com/v1/metrics"
    );
    assert!(DatadogAgentless::from_env_with(&[("DD_SITE", "x")])
        .unwrap_err()
        .to_string()
        .contains("DD_API_KEY"));
    assert!(DatadogAgentless::new("k")
        .with_site("evil.com/x?y")
        .build()
        .unwrap_err()
        .to_string()
        .contains("DD_SITE"));
    assert!(
        DatadogAgent::from_env_with(&[("DD_OTLP_HTTP_PORT", "http")])
            .unwrap_err()
            .to_string()
            .contains("DD_OTLP_HTTP_PORT")
    );
}

#[test]
fn grafana_cloud_basic_auth_from_instance_and_token() {
    let p = GrafanaCloud::from_env_with(&[
        ("GRAFANA_CLOUD_INSTANCE_ID", "123456"),
        ("GRAFANA_CLOUD_TOKEN", "glc_secret"),
        ("GRAFANA_CLOUD_ZONE", "prod-eu-west-2"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[
            (
                Traces,
                "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/traces",
            ),
            (
                Metrics,
                "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/metrics",
            ),
            (
                Logs,
                "https://otlp-gateway-prod-eu-west-2.grafana.net/otlp/v1/logs",
            ),
        ],
    );
    // base64("123456:glc_secret")
    assert_header(&p, Logs, "authorization", "Basic MTIzNDU2OmdsY19zZWNyZXQ=");
    assert_no_secret(&p, "glc_secret");
    assert_no_secret(&p, "MTIzNDU2OmdsY19zZWNyZXQ=");
    for (vars, missing) in [
        (
            vec![("GRAFANA_CLOUD_TOKEN", "t"), ("GRAFANA_CLOUD_ZONE", "z")],
            "GRAFANA_CLOUD_INSTANCE_ID",
        ),
        (
            vec![
                ("GRAFANA_CLOUD_INSTANCE_ID", "1"),
                ("GRAFANA_CLOUD_ZONE", "z"),
            ],
            "GRAFANA_CLOUD_TOKEN",
        ),
        (
            vec![
                ("GRAFANA_CLOUD_INSTANCE_ID", "1"),
                ("GRAFANA_CLOUD_TOKEN", "t"),
            ],
            "GRAFANA_CLOUD_ZONE",
        ),
    ] {
        let e = GrafanaCloud::from_env_with(vars.as_slice()).unwrap_err();
        assert!(e.to_string().contains(missing), "{e}");
        assert!(!e.to_string().contains("GRAFANA_CLOUD_TOKEN=t"));
    }
}

#[test]
fn axiom_dataset_headers_per_signal() {
    let p = Axiom::from_env_with(&[
        ("AXIOM_TOKEN", "xaat-secret"),
        ("AXIOM_DATASET", "traces-ds"),
        ("AXIOM_METRICS_DATASET", "metrics-ds"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[
            (Traces, "https://us-east-1.aws.edge.axiom.co/v1/traces"),
            (Metrics, "https://us-east-1.aws.edge.axiom.co/v1/metrics"),
            (Logs, "https://us-east-1.aws.edge.axiom.co/v1/logs"),
        ],
    );
    assert_header(&p, Traces, "authorization", "Bearer xaat-secret");
    assert_header(&p, Traces, "x-axiom-dataset", "traces-ds");
    assert_header(&p, Logs, "x-axiom-dataset", "traces-ds");
    assert_header(&p, Metrics, "x-axiom-metrics-dataset", "metrics-ds");
    assert_eq!(p.target(Metrics).unwrap().header("x-axiom-dataset"), None);
    assert_eq!(
        p.target(Metrics).unwrap().protocol(),
        Protocol::HttpProtobuf
    );
    let eu = Axiom::new("t", "d").eu().build().unwrap();
    assert_urls(
        &eu,
        &[
            (Traces, "https://eu-central-1.aws.edge.axiom.co/v1/traces"),
            (Logs, "https://eu-central-1.aws.edge.axiom.co/v1/logs"),
        ],
    );
    assert!(Axiom::from_env_with(&[("AXIOM_TOKEN", "t")])
        .unwrap_err()
        .to_string()
        .contains("AXIOM_DATASET"));
    assert_no_secret(&p, "xaat-secret");
}

#[test]
fn new_relic_region_from_the_key() {
    let us = NewRelic::from_env_with(&[("NEW_RELIC_LICENSE_KEY", "abcNRAL")]).unwrap();
    assert_eq!(
        us.target(Traces).unwrap().url(),
        "https://otlp.nr-data.net/v1/traces"
    );
    assert_header(&us, Metrics, "api-key", "abcNRAL");
    assert_eq!(us.temporality(), Temporality::Delta);
    let eu = NewRelic::new("eu01xxabcNRAL").build().unwrap();
    assert_urls(
        &eu,
        &[
            (Traces, "https://otlp.eu01.nr-data.net/v1/traces"),
            (Metrics, "https://otlp.eu01.nr-data.net/v1/metrics"),
            (Logs, "https://otlp.eu01.nr-data.net/v1/logs"),
        ],
    );
    assert!(NewRelic::from_env_with(&[("X", "1")])
        .unwrap_err()
        .to_string()
        .contains("NEW_RELIC_LICENSE_KEY"));
}

#[test]
fn dynatrace_protobuf_delta_api_token() {
    let p = Dynatrace::from_env_with(&[
        ("DT_API_TOKEN", "dt0c01.secret"),
        ("DT_ENVIRONMENT_ID", "abc12345"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[
            (
                Traces,
                "https://abc12345.live.dynatrace.com/api/v2/otlp/v1/traces",
            ),
            (
                Metrics,
                "https://abc12345.live.dynatrace.com/api/v2/otlp/v1/metrics",
            ),
            (
                Logs,
                "https://abc12345.live.dynatrace.com/api/v2/otlp/v1/logs",
            ),
        ],
    );
    assert_header(&p, Traces, "authorization", "Api-Token dt0c01.secret");
    assert_eq!(p.temporality(), Temporality::Delta);
    assert!(p
        .signals()
        .all(|s| p.target(s).unwrap().protocol() == Protocol::HttpProtobuf));
    let ag = Dynatrace::from_env_with(&[
        ("DT_API_TOKEN", "t"),
        ("DT_ENDPOINT", "https://ag.local:9999/e/abc/api/v2/otlp"),
    ])
    .unwrap();
    assert_eq!(
        ag.target(Logs).unwrap().url(),
        "https://ag.local:9999/e/abc/api/v2/otlp/v1/logs"
    );
    assert!(Dynatrace::from_env_with(&[("DT_ENVIRONMENT_ID", "x")])
        .unwrap_err()
        .to_string()
        .contains("DT_API_TOKEN"));
    assert!(Dynatrace::from_env_with(&[("DT_API_TOKEN", "t")])
        .unwrap_err()
        .to_string()
        .contains("DT_ENDPOINT"));
    assert_no_secret(&p, "dt0c01.secret");
}

#[test]
fn elastic_api_key_or_secret_token() {
    let p = Elastic::from_env_with(&[
        (
            "ELASTIC_OTLP_ENDPOINT",
            "https://abc.ingest.eu-west-1.aws.elastic.cloud:443",
        ),
        ("ELASTIC_API_KEY", "ek"),
    ])
    .unwrap();
    assert_eq!(
        p.target(Traces).unwrap().url(),
        "https://abc.ingest.eu-west-1.aws.elastic.cloud:443/v1/traces"
    );
    assert_header(&p, Traces, "authorization", "ApiKey ek");
    let apm = Elastic::from_env_with(&[
        ("ELASTIC_APM_SERVER_URL", "https://apm.local:8200"),
        ("ELASTIC_APM_SECRET_TOKEN", "st"),
    ])
    .unwrap();
    assert_header(&apm, Metrics, "authorization", "Bearer st");
    assert_eq!(
        apm.target(Metrics).unwrap().url(),
        "https://apm.local:8200/v1/metrics"
    );
    assert!(
        Elastic::from_env_with(&[("ELASTIC_OTLP_ENDPOINT", "https://e")])
            .unwrap_err()
            .to_string()
            .contains("ELASTIC_API_KEY")
    );
    assert!(Elastic::from_env_with(&[("X", "1")])
        .unwrap_err()
        .to_string()
        .contains("ELASTIC_OTLP_ENDPOINT"));
}

#[test]
fn signoz_cloud_and_self_hosted() {
    let p =
        SigNoz::from_env_with(&[("SIGNOZ_INGESTION_KEY", "sz"), ("SIGNOZ_REGION", "eu")]).unwrap();
    assert_urls(
        &p,
        &[
            (Traces, "https://ingest.eu.signoz.cloud:443/v1/traces"),
            (Metrics, "https://ingest.eu.signoz.cloud:443/v1/metrics"),
            (Logs, "https://ingest.eu.signoz.cloud:443/v1/logs"),
        ],
    );
    assert_header(&p, Logs, "signoz-ingestion-key", "sz");
    let own = SigNoz::from_env_with(&[("SIGNOZ_ENDPOINT", "http://signoz:4318")]).unwrap();
    assert_eq!(
        own.target(Traces).unwrap().url(),
        "http://signoz:4318/v1/traces"
    );
    assert_eq!(own.target(Traces).unwrap().headers().count(), 0);
    assert!(
        SigNoz::from_env_with(&[("SIGNOZ_INGESTION_KEY", "k"), ("SIGNOZ_REGION", "mars")])
            .unwrap_err()
            .to_string()
            .contains("SIGNOZ_REGION")
    );
    assert!(SigNoz::from_env_with(&[("X", "1")])
        .unwrap_err()
        .to_string()
        .contains("SIGNOZ_INGESTION_KEY"));
}

#[test]
fn uptrace_cloud_and_self_hosted_dsn() {
    let p = Uptrace::from_env_with(&[("UPTRACE_DSN", "https://tok@api.uptrace.dev?grpc=4317")])
        .unwrap();
    assert_eq!(
        p.target(Traces).unwrap().url(),
        "https://api.uptrace.dev/v1/traces"
    );
    assert_header(
        &p,
        Traces,
        "uptrace-dsn",
        "https://tok@api.uptrace.dev?grpc=4317",
    );
    assert_eq!(p.temporality(), Temporality::Delta);
    let own = Uptrace::new("http://tok@localhost:14318?grpc=14317")
        .build()
        .unwrap();
    assert_eq!(
        own.target(Metrics).unwrap().url(),
        "http://localhost:14318/v1/metrics"
    );
    assert!(Uptrace::new("not a dsn")
        .build()
        .unwrap_err()
        .to_string()
        .contains("UPTRACE_DSN"));
    assert_no_secret(&p, "tok@");
}

#[test]
fn logfire_region_from_token() {
    let eu = Logfire::from_env_with(&[("LOGFIRE_TOKEN", "pylf_v1_eu_abcdef")]).unwrap();
    assert_urls(
        &eu,
        &[
            (Traces, "https://logfire-eu.pydantic.dev/v1/traces"),
            (Metrics, "https://logfire-eu.pydantic.dev/v1/metrics"),
            (Logs, "https://logfire-eu.pydantic.dev/v1/logs"),
        ],
    );
    assert_header(&eu, Traces, "authorization", "pylf_v1_eu_abcdef");
    let us = Logfire::new("pylf_v1_us_x").build().unwrap();
    assert_eq!(
        us.target(Traces).unwrap().url(),
        "https://logfire-us.pydantic.dev/v1/traces"
    );
    assert!(Logfire::from_env_with(&[("X", "1")])
        .unwrap_err()
        .to_string()
        .contains("LOGFIRE_TOKEN"));
}

#[test]
fn langfuse_traces_only_with_ingestion_version() {
    let p = Langfuse::from_env_with(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-2"),
        ("LANGFUSE_HOST", "https://us.cloud.langfuse.com/"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[(
            Traces,
            "https://us.cloud.langfuse.com/api/public/otel/v1/traces",
        )],
    );
    // base64("pk-lf-1:sk-lf-2")
    assert_header(&p, Traces, "authorization", "Basic cGstbGYtMTpzay1sZi0y");
    assert_header(&p, Traces, "x-langfuse-ingestion-version", "4");
    assert_no_secret(&p, "sk-lf-2");
    let eu = Langfuse::new("a", "b").build().unwrap();
    assert_urls(
        &eu,
        &[(
            Traces,
            "https://cloud.langfuse.com/api/public/otel/v1/traces",
        )],
    );
    assert!(Langfuse::from_env_with(&[("LANGFUSE_PUBLIC_KEY", "p")])
        .unwrap_err()
        .to_string()
        .contains("LANGFUSE_SECRET_KEY"));
    assert!(Langfuse::from_env_with(&[("LANGFUSE_SECRET_KEY", "s")])
        .unwrap_err()
        .to_string()
        .contains("LANGFUSE_PUBLIC_KEY"));
}

#[test]
fn phoenix_traces_only_protobuf_with_project() {
    let p = Phoenix::from_env_with(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
        ("PHOENIX_PROJECT_NAME", "chat"),
        ("PHOENIX_API_KEY", "px-key"),
        ("PHOENIX_CLIENT_HEADERS", "x-team=ai%20platform,empty="),
    ])
    .unwrap();
    assert_urls(&p, &[(Traces, "http://127.0.0.1:6006/v1/traces")]);
    assert_header(&p, Traces, "x-project-name", "chat");
    assert_header(&p, Traces, "authorization", "Bearer px-key");
    assert_header(&p, Traces, "x-team", "ai platform");
    assert_eq!(p.target(Traces).unwrap().protocol(), Protocol::HttpProtobuf);
    assert_eq!(
        p.resource_attributes(),
        &[("openinference.project.name".to_owned(), "chat".to_owned())]
    );
    let full = Phoenix::new("https://app.phoenix.arize.com/s/space/v1/traces")
        .build()
        .unwrap();
    assert_urls(
        &full,
        &[(Traces, "https://app.phoenix.arize.com/s/space/v1/traces")],
    );
    assert!(Phoenix::from_env_with(&[("PHOENIX_CLIENT_HEADERS", "a=b")])
        .unwrap_err()
        .to_string()
        .contains("PHOENIX_COLLECTOR_ENDPOINT"));
    let e = Phoenix::from_env_with(&[
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://h"),
        ("PHOENIX_CLIENT_HEADERS", "novalue"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("PHOENIX_CLIENT_HEADERS"), "{e}");
    assert_no_secret(&p, "px-key");
}

#[test]
fn langsmith_traces_only() {
    let p = LangSmith::from_env_with(&[
        ("LANGSMITH_API_KEY", "ls-key"),
        ("LANGSMITH_PROJECT", "chat"),
    ])
    .unwrap();
    assert_urls(
        &p,
        &[(Traces, "https://api.smith.langchain.com/otel/v1/traces")],
    );
    assert_header(&p, Traces, "x-api-key", "ls-key");
    assert_header(&p, Traces, "langsmith-project", "chat");
    let eu = LangSmith::new("k")
        .with_endpoint("https://eu.api.smith.langchain.com")
        .build()
        .unwrap();
    assert_urls(
        &eu,
        &[(Traces, "https://eu.api.smith.langchain.com/otel/v1/traces")],
    );
    assert!(LangSmith::from_env_with(&[("X", "1")])
        .unwrap_err()
        .to_string()
        .contains("LANGSMITH_API_KEY"));
}

#[test]
fn collector_and_custom() {
    assert_urls(
        &collector(),
        &[
            (Traces, "http://localhost:4318/v1/traces"),
            (Metrics, "http://localhost:4318/v1/metrics"),
            (Logs, "http://localhost:4318/v1/logs"),
        ],
    );
    let p = custom("https://gw.example/otlp/")
        .unwrap()
        .with_header("x-k", "v")
        .unwrap();
    assert_eq!(
        p.target(Logs).unwrap().url(),
        "https://gw.example/otlp/v1/logs"
    );
    assert!(custom("gw.example")
        .unwrap_err()
        .to_string()
        .contains("http"));
    assert!(p.clone().with_header("bad name", "v").is_err());
    assert!(p.with_header("x-k", "line\r\nInjected: yes").is_err());
}

#[test]
fn base_url_override_keeps_paths() {
    let p = Sentry::from_dsn("https://pk@o1.ingest.sentry.io/prefix/7")
        .unwrap()
        .with_base_url("http://127.0.0.1:4318/")
        .unwrap();
    assert_urls(
        &p,
        &[
            (
                Traces,
                "http://127.0.0.1:4318/prefix/api/7/integration/otlp/v1/traces",
            ),
            (
                Logs,
                "http://127.0.0.1:4318/prefix/api/7/integration/otlp/v1/logs",
            ),
        ],
    );
    let d = DatadogAgentless::new("k")
        .build()
        .unwrap()
        .with_signal_url(Traces, "https://trace.agent.datadoghq.com/api/v0.2/traces")
        .unwrap();
    assert_eq!(
        d.target(Traces).unwrap().url(),
        "https://trace.agent.datadoghq.com/api/v0.2/traces"
    );
    assert_eq!(d.target(Traces).unwrap().header("dd-api-key"), Some("k"));
    assert!(d.without_signal(Logs).target(Logs).is_none());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_dsn_endpoint_or_header_panics(s in "\\PC{0,80}", t in "\\PC{0,40}") {
            let _ = Sentry::from_dsn(&s);
            let _ = Uptrace::new(s.clone()).build();
            let _ = custom(&s).map(|p| p.with_base_url(&t));
            let _ = custom("http://h").unwrap().with_header(&s, &t);
            let _ = Phoenix::from_env_with(&[("PHOENIX_COLLECTOR_ENDPOINT", "http://h"), ("PHOENIX_CLIENT_HEADERS", s.as_str())]);
            let _ = GrafanaCloud::from_env_with(&[("GRAFANA_CLOUD_INSTANCE_ID", s.as_str()), ("GRAFANA_CLOUD_TOKEN", t.as_str()), ("GRAFANA_CLOUD_ZONE", s.as_str())]);
            let _ = DatadogAgentless::new(t.clone()).with_site(s.clone()).build();
            let _ = Dynatrace::from_env_with(&[("DT_API_TOKEN", t.as_str()), ("DT_ENVIRONMENT_ID", s.as_str())]);
        }

        #[test]
        fn dsn_shaped_input_never_panics_and_never_leaks_the_key(
            scheme in "(https?|ftp|)",
            key in "[a-zA-Z0-9:@]{0,12}",
            host in "[a-z0-9.:\\[\\]-]{0,20}",
            path in "[a-z0-9/_-]{0,20}",
        ) {
            let dsn = format!("{scheme}://{key}@{host}/{path}");
            match Sentry::from_dsn(&dsn) {
                Ok(p) => {
                    let url = p.target(Signal::Traces).unwrap().url().to_owned();
                    prop_assert!(url.ends_with("/integration/otlp/v1/traces"));
                }
                Err(e) => prop_assert!(e.to_string().starts_with("SENTRY_DSN")),
            }
        }

        #[test]
        fn header_values_never_reach_debug_or_errors(v in "[ -~]{8,30}") {
            let p = custom("http://h").unwrap().with_header("authorization", &v).unwrap();
            let dbg = format!("{p:?}");
            prop_assert!(!dbg.contains(&v));
            let bad = format!("{v}\n");
            let err = custom("http://h").unwrap().with_header("authorization", &bad).unwrap_err();
            prop_assert!(!err.to_string().contains(&v));
        }
    }
}
