//! The mapping's unit tests.

use super::attributes::{properties, Attrs, MAX_PROP_KEY, MAX_PROP_VALUE};
use super::part_a::tag_limit;
use super::span::links_json;
use super::targets::{split_port, url_netloc, url_path};
use super::*;
use serde_json::Value;
use std::time::UNIX_EPOCH;
use tracing_insights_correlation::{FieldValue, Resource, SpanKind, SpanLink, SpanStatus};

#[test]
fn url_helpers() {
    assert_eq!(url_path("https://a.b:8443/x/y?q=1"), "/x/y");
    assert_eq!(url_path("https://a.b"), "/");
    assert_eq!(url_netloc("https://u@a.b:1/x"), Some(("https", "a.b:1")));
    assert_eq!(split_port("a.b:80"), ("a.b", Some(80)));
    assert_eq!(split_port("a.b"), ("a.b", None));
}

#[test]
fn links_format() {
    let l = SpanLink {
        trace_id: tracing_insights_correlation::TraceId::from_hex(
            "5ff7651916cd43dd8448eb211c80319c",
        )
        .unwrap(),
        span_id: tracing_insights_correlation::SpanId::from_hex("6000000000000001").unwrap(),
    };
    assert_eq!(
        links_json(&[l]),
        r#"[{"operation_Id": "5ff7651916cd43dd8448eb211c80319c", "id": "6000000000000001"}]"#
    );
}

proptest::proptest! {
    #[test]
    fn properties_never_panic(k in "\\PC{0,200}", v in "\\PC*") {
        let fields = [(Box::leak(k.into_boxed_str()) as &'static str, FieldValue::Str(v.into()))];
        let p = properties(Attrs(&fields));
        for (k, v) in p.iter() {
            proptest::prop_assert!(k.chars().count() <= MAX_PROP_KEY);
            proptest::prop_assert!(v.chars().count() <= MAX_PROP_VALUE);
        }
    }
}

fn span(kind: SpanKind, fields: &[(&'static str, FieldValue)]) -> Value {
    let part_a = PartA::new(&Resource::from_attributes([("service.name", "svc")]));
    let t = UNIX_EPOCH + std::time::Duration::from_secs(1_704_067_200);
    let input = SpanInput {
        name: "span",
        kind,
        status: SpanStatus::Unset,
        fields,
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: "b7ad6b7169203331".into(),
        parent_id: None,
        links: &[],
        start: t,
        end: t,
        sampler_rate: 100.0,
    };
    span_envelope(&part_a, "k", &input).to_value()["data"]["baseData"].clone()
}

fn s(v: &str) -> FieldValue {
    FieldValue::Str(v.into())
}

#[test]
fn documented_dependency_examples() {
    // A kafka PRODUCER span: `Queue Message | <system>`, the destination as target.
    let bd = span(
        SpanKind::Producer,
        &[
            ("messaging.system", s("kafka")),
            ("messaging.destination", s("topic1")),
        ],
    );
    assert_eq!(bd["type"], "Queue Message | kafka");
    assert_eq!(bd["target"], "topic1");
    // A CLIENT span of no known kind, without a scheme: the peer's port is kept.
    let bd = span(
        SpanKind::Client,
        &[
            ("net.peer.name", s("x")),
            ("net.peer.port", FieldValue::I64(80)),
        ],
    );
    assert_eq!(bd["type"], "N/A");
    assert_eq!(bd["target"], "x:80");
    // RPC: the system's value (deviation rpc_type_is_system_value).
    let bd = span(SpanKind::Client, &[("rpc.system", s("grpc"))]);
    assert_eq!(bd["type"], "grpc");
    assert_eq!(bd["target"], "grpc");
    // CLIENT HTTP with url.full on :443 and no url.scheme keeps the port (Microsoft's exporter
    // drops a default port only when it knows the scheme).
    let bd = span(
        SpanKind::Client,
        &[
            ("http.request.method", s("POST")),
            ("url.full", s("https://api.example.com:443/v1/items?x=1")),
            ("server.address", s("api.example.com")),
            ("server.port", FieldValue::I64(443)),
            ("http.response.status_code", FieldValue::I64(500)),
        ],
    );
    assert_eq!(bd["name"], "POST /v1/items");
    assert_eq!(bd["target"], "api.example.com:443");
    assert_eq!(bd["resultCode"], "500");
    // INTERNAL Azure SDK span.
    let bd = span(
        SpanKind::Internal,
        &[("az.namespace", s("Microsoft.KeyVault"))],
    );
    assert_eq!(bd["type"], "InProc | Microsoft.KeyVault");
}

#[test]
fn documented_request_examples() {
    // A SERVER span as Microsoft's exporter was seen to send it.
    let bd = span(
        SpanKind::Server,
        &[
            ("http.request.method", s("GET")),
            ("url.scheme", s("https")),
            ("server.address", s("example.com")),
            ("server.port", FieldValue::I64(8443)),
            ("url.path", s("/users/42")),
            ("url.query", s("a=1")),
            ("http.route", s("/users/{id}")),
            ("http.response.status_code", FieldValue::I64(404)),
        ],
    );
    assert_eq!(bd["name"], "GET /users/{id}");
    assert_eq!(bd["url"], "https://example.com:8443/users/42?a=1");
    assert_eq!(bd["responseCode"], "404");
    assert_eq!(bd["success"], false);
    // Messaging consumer (not Azure SDK): source = peer/destination.
    let bd = span(
        SpanKind::Consumer,
        &[
            ("messaging.system", s("kafka")),
            ("messaging.destination", s("orders")),
            ("net.peer.name", s("broker")),
        ],
    );
    assert_eq!(bd["source"], "broker/orders");
    assert_eq!(bd["success"], true);
}

proptest::proptest! {
    #[test]
    fn every_field_of_every_kind_is_cut_and_never_panics(
        v in "\\PC{0,3000}",
        kind in 0usize..5,
    ) {
        let kind = [SpanKind::Server, SpanKind::Client, SpanKind::Producer,
            SpanKind::Consumer, SpanKind::Internal][kind];
        let keys = ["http.request.method", "url.full", "http.route", "server.address",
            "db.system.name", "db.query.text", "db.namespace", "messaging.system",
            "messaging.destination", "rpc.system", "gen_ai.system", "az.namespace",
            "enduser.id", "session.id", "client.address", "user_agent.original",
            "microsoft.custom_measurements", "peer.service", "net.peer.name",
            "otel.link_attributes", "ai.operation.name", "custom"];
        let fields: Vec<(&'static str, FieldValue)> =
            keys.iter().map(|k| (*k, FieldValue::Str(v.as_str().into()))).collect();
        let bd = span(kind, &fields);
        for (key, max) in [("name", 1024), ("url", 2048), ("source", 1024), ("type", 1024),
            ("target", 1024), ("data", 8192), ("responseCode", 1024), ("resultCode", 1024)] {
            if let Some(x) = bd[key].as_str() {
                proptest::prop_assert!(x.chars().count() <= max, "{} too long", key);
            }
        }
        let part_a = PartA::new(&Resource::from_attributes([("service.name", v.as_str())]));
        let env = event_envelope(&part_a, "k", UNIX_EPOCH, &tracing_core::Level::INFO, "t",
            &fields, None, None).to_value();
        for (k, t) in env["tags"].as_object().unwrap() {
            if let Some(max) = tag_limit(k) {
                proptest::prop_assert!(t.as_str().unwrap().chars().count() <= max);
            }
        }
    }
}

#[test]
fn euro_property_is_cut_on_a_char_boundary() {
    let fields = [("big", FieldValue::Str("€".repeat(10_000).into()))];
    let p = properties(Attrs(&fields));
    let v = p.get("big").unwrap();
    assert_eq!(v.chars().count(), MAX_PROP_VALUE);
    assert!(v.chars().all(|c| c == '€'));
}

/// Written straight from the typed envelope, the bytes equal those of the same envelope
/// made into a `serde_json::Value` first (the processors' path, and how envelopes were
/// written before): same keys, same order, same numbers, for every envelope type.
#[test]
fn typed_envelopes_write_the_bytes_their_value_writes() {
    let part_a = PartA::new(&Resource::from_attributes([
        ("service.name", "svc"),
        ("service.namespace", "ns"),
        ("deployment.environment", "prod"),
    ]));
    let t = UNIX_EPOCH + std::time::Duration::from_micros(1_704_067_200_229_500);
    let mut envs: Vec<Envelope<'_>> = Vec::new();
    let link = SpanLink {
        trace_id: tracing_insights_correlation::TraceId::from_hex(
            "5ff7651916cd43dd8448eb211c80319c",
        )
        .unwrap(),
        span_id: tracing_insights_correlation::SpanId::from_hex("6000000000000001").unwrap(),
    };
    let links = [link];
    let span_fields: Vec<Vec<(&'static str, FieldValue)>> = vec![
        vec![
            ("http.request.method", s("GET")),
            ("http.route", s("/users/{id}")),
            ("url.full", s("https://example.com/users/42?a=1")),
            ("http.response.status_code", FieldValue::I64(404)),
            ("user_agent.original", s("AlwaysOn")),
            ("session.id", s("sess")),
            ("enduser.id", s("u1")),
            ("microsoft.custom_measurements", s(r#"{"m": 1.5, "n": 2}"#)),
            ("custom", FieldValue::F64(0.1)),
            ("flag", FieldValue::Bool(true)),
            ("big", FieldValue::U128(u128::MAX)),
            ("_MS.sampleRate", s("25")),
            ("ai.user.id", s("tag-user")),
            ("custom", s("last wins")),
        ],
        vec![
            ("db.system.name", s("postgresql")),
            ("db.query.text", s("SELECT \"x\"\n")),
            ("server.address", s("db")),
            ("server.port", FieldValue::I64(5433)),
        ],
        vec![
            ("az.namespace", s("Microsoft.EventHub")),
            (
                "otel.link_attributes",
                s(r#"[{"enqueuedTime": 1704067100000}]"#),
            ),
            ("server.address", s("hub")),
            ("messaging.destination.name", s("q")),
        ],
        vec![("gen_ai.provider.name", s("openai")), ("é€😀", s("ünï"))],
    ];
    let kinds = [
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Consumer,
        SpanKind::Internal,
    ];
    let inputs: Vec<SpanInput<'_>> = span_fields
        .iter()
        .zip(kinds)
        .map(|(fields, kind)| SpanInput {
            name: "span \"quoted\"",
            kind,
            status: SpanStatus::Unset,
            fields,
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            span_id: "b7ad6b7169203331".into(),
            parent_id: Some("00f067aa0ba902b7".into()),
            links: &links,
            start: t,
            end: t + std::time::Duration::from_micros(1_500_700),
            sampler_rate: 50.0,
        })
        .collect();
    for input in &inputs {
        envs.push(span_envelope(&part_a, "k", input));
    }
    let error = FieldValue::Error(tracing_insights_correlation::ErrorValue {
        message: "outer".into(),
        sources: vec!["middle".into(), "root cause".into()],
    });
    let event_fields: Vec<Vec<(&'static str, FieldValue)>> = vec![
        vec![("message", s("  hello  ")), ("n", FieldValue::I64(-3))],
        vec![("message", s("failed")), ("error", error)],
        vec![
            ("exception.type", s("E")),
            ("exception.message", s("m")),
            ("exception.stacktrace", s("at x")),
        ],
        vec![
            ("microsoft.custom_event.name", s("signup")),
            ("microsoft.custom_measurements", s(r#"{"a": 1}"#)),
        ],
        vec![
            ("microsoft.availability.id", s("a1")),
            ("microsoft.availability.name", s("ping")),
            ("microsoft.availability.duration", s("0.00:00:01.000")),
            ("microsoft.availability.success", s("True")),
            ("microsoft.availability.runLocation", s("west")),
        ],
        vec![("message", s("exception"))],
        vec![("logger_name", s("own"))],
    ];
    let extra = ErrorExtra {
        types: vec![Some("app::Error"), None, Some("io::Error")],
        backtrace: Some("bt".into()),
    };
    let span = EventSpan {
        trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
        span_id: "b7ad6b7169203331".into(),
        fields: &span_fields[0],
        sampler_rate: 10.0,
    };
    for (i, fields) in event_fields.iter().enumerate() {
        let in_span = (i % 2 == 0).then_some(&span);
        envs.push(event_envelope(
            &part_a,
            "k",
            t,
            &tracing_core::Level::WARN,
            "my::target",
            fields,
            in_span,
            Some(&extra),
        ));
    }
    let point = MetricPoint {
        value: 12.5,
        count: 3,
        min_max: Some((0.25, 10.0)),
    };
    let attrs = [
        ("http.response.status_code", FieldValue::I64(200)),
        ("user_agent.synthetic.type", s("bot")),
    ];
    envs.extend(metric_envelope(
        &part_a,
        "k",
        t,
        "http.server.request.duration",
        &attrs,
        &point,
    ));
    envs.extend(metric_envelope(
        &part_a,
        "k",
        t,
        "custom.count",
        &attrs,
        &point,
    ));
    envs.push(resource_metric(&part_a, "k", t, Some("app-id")));
    let mut dims = StrMap::default();
    dims.insert("_MS.MetricId", "requests/duration");
    envs.push(standard_metric_envelope(
        &part_a,
        "k",
        t,
        "Server response time",
        dims,
        &point,
    ));
    assert_eq!(envs.len(), 4 + 7 + 2 + 2);
    for env in &envs {
        let direct = encode_envelope(env).unwrap();
        let via_value = serde_json::to_vec(&env.to_value()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&direct),
            String::from_utf8_lossy(&via_value)
        );
    }
}

/// An envelope over the item limit is cut to fit on the direct path too.
#[test]
fn an_oversized_envelope_is_cut_to_the_item_limit() {
    let part_a = PartA::new(&Resource::from_attributes([("service.name", "svc")]));
    let fields: Vec<(&'static str, FieldValue)> =
        ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
            .iter()
            .map(|k| (*k, s(&"x".repeat(8000))))
            .collect();
    let env = event_envelope(
        &part_a,
        "k",
        UNIX_EPOCH,
        &tracing_core::Level::INFO,
        "t",
        &fields,
        None,
        None,
    );
    let limit = tracing_insights_export::DEFAULT_MAX_ITEM_BYTES;
    assert!(serde_json::to_vec(&env).unwrap().len() > limit);
    let bytes = encode_envelope(&env).unwrap();
    assert!(bytes.len() <= limit, "{}", bytes.len());
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["data"]["baseType"], "MessageData");
}
