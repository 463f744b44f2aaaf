//! `from_env_all`: each trigger variable turns its preset on; a turned-on preset that is
//! misconfigured is an error naming the variable.

use tracing_insights_presets::*;

#[test]
fn nothing_set_means_no_preset() {
    let env: [(&str, &str); 1] = [("UNRELATED", "1")];
    assert!(from_env_all_with(&env[..]).unwrap().is_empty());
    // A blank trigger is unset.
    assert!(from_env_all_with(&[("HONEYCOMB_API_KEY", "  ")][..])
        .unwrap()
        .is_empty());
}

#[test]
fn every_trigger_turns_its_preset_on() {
    // Enough variables for every preset in the table to build.
    let env = [
        ("SENTRY_DSN", "https://pub@o1.ingest.sentry.io/2"),
        ("HONEYCOMB_API_KEY", "hc-key"),
        ("DD_API_KEY", "dd-key"),
        ("GRAFANA_CLOUD_INSTANCE_ID", "123456"),
        ("GRAFANA_CLOUD_TOKEN", "glc"),
        ("GRAFANA_CLOUD_ZONE", "prod-eu-west-2"),
        ("AXIOM_TOKEN", "xaat"),
        ("AXIOM_DATASET", "ds"),
        ("NEW_RELIC_LICENSE_KEY", "nr-key"),
        ("DT_API_TOKEN", "dt0c01.x"),
        ("DT_ENVIRONMENT_ID", "abc12345"),
        ("ELASTIC_OTLP_ENDPOINT", "https://elastic.example"),
        ("ELASTIC_API_KEY", "ek"),
        ("SIGNOZ_INGESTION_KEY", "sk"),
        ("UPTRACE_DSN", "https://token@api.uptrace.dev?grpc=4317"),
        ("LOGFIRE_TOKEN", "pylf_v1_us_x"),
        ("LANGFUSE_PUBLIC_KEY", "pk-lf"),
        ("LANGFUSE_SECRET_KEY", "sk-lf"),
        ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
        ("LANGSMITH_API_KEY", "ls"),
    ];
    let names: Vec<_> = from_env_all_with(&env[..])
        .unwrap()
        .iter()
        .map(|p| p.name())
        .collect();
    let table: Vec<_> = TRIGGERS.iter().map(|t| t.preset).collect();
    assert_eq!(names, table);
    // Each row alone turns on exactly its own preset.
    for trigger in TRIGGERS {
        let own: Vec<_> = env
            .iter()
            .filter(|(k, _)| {
                !TRIGGERS
                    .iter()
                    .any(|t| t.preset != trigger.preset && t.vars.contains(k))
            })
            .copied()
            .collect();
        let got = from_env_all_with(own.as_slice()).unwrap();
        assert_eq!(got.len(), 1, "{}", trigger.preset);
        assert_eq!(got[0].name(), trigger.preset);
    }
}

#[test]
fn a_turned_on_preset_missing_a_variable_is_an_error_naming_it() {
    let e = from_env_all_with(&[("AXIOM_TOKEN", "secret-token")][..]).unwrap_err();
    assert!(e.to_string().contains("AXIOM_DATASET"), "{e}");
    assert!(!e.to_string().contains("secret-token"));
    let e = from_env_all_with(&[("LANGFUSE_PUBLIC_KEY", "pk")][..]).unwrap_err();
    assert!(e.to_string().contains("LANGFUSE_SECRET_KEY"), "{e}");
}

#[test]
fn grafana_otlp_endpoint_triggers_grafana_and_needs_instance_and_token() {
    let env = [
        (
            "GRAFANA_OTLP_ENDPOINT",
            "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
        ),
        ("GRAFANA_CLOUD_INSTANCE_ID", "123456"),
        ("GRAFANA_CLOUD_TOKEN", "glc_secret"),
    ];
    let presets = from_env_all_with(&env[..]).unwrap();
    assert_eq!(presets.len(), 1);
    let p = &presets[0];
    assert_eq!(p.name(), "grafana-cloud");
    assert_eq!(
        p.target(Signal::Traces).unwrap().url(),
        "https://otlp-gateway-prod-us-east-0.grafana.net/otlp/v1/traces"
    );
    assert_eq!(
        p.target(Signal::Logs).unwrap().header("authorization"),
        Some("Basic MTIzNDU2OmdsY19zZWNyZXQ=")
    );
    // The endpoint alone turns Grafana on, and the missing credentials are named.
    let only = [(
        "GRAFANA_OTLP_ENDPOINT",
        "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
    )];
    let e = from_env_all_with(&only[..]).unwrap_err();
    assert!(e.to_string().contains("GRAFANA_CLOUD_INSTANCE_ID"), "{e}");
    let e = from_env_all_with(&[only[0], ("GRAFANA_CLOUD_INSTANCE_ID", "1")][..]).unwrap_err();
    assert!(e.to_string().contains("GRAFANA_CLOUD_TOKEN"), "{e}");
    // A malformed endpoint names the variable it came from.
    let bad = [
        ("GRAFANA_OTLP_ENDPOINT", "not a url"),
        ("GRAFANA_CLOUD_INSTANCE_ID", "1"),
        ("GRAFANA_CLOUD_TOKEN", "t"),
    ];
    let e = from_env_all_with(&bad[..]).unwrap_err();
    assert!(e.to_string().contains("GRAFANA_OTLP_ENDPOINT"), "{e}");
    // The Grafana Cloud name wins when both are set.
    let both = [
        ("GRAFANA_CLOUD_OTLP_ENDPOINT", "https://a.example/otlp"),
        ("GRAFANA_OTLP_ENDPOINT", "https://b.example/otlp"),
        ("GRAFANA_CLOUD_INSTANCE_ID", "1"),
        ("GRAFANA_CLOUD_TOKEN", "t"),
    ];
    let p = GrafanaCloud::from_env_with(&both[..]).unwrap();
    assert_eq!(
        p.target(Signal::Metrics).unwrap().url(),
        "https://a.example/otlp/v1/metrics"
    );
}
