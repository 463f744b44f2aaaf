//! End to end against real OTLP receivers installed from PyPI by `scripts/receivers.sh`:
//! Datadog's `ddapm-test-agent` (traces, logs, metrics, read back from its session API) and
//! Arize Phoenix (GenAI spans with token counts, read back from its REST API).
//!
//! Each test reads its receiver's URL from the environment and is SKIPPED with a printed
//! note when it is unset, so a plain `cargo test` stays offline-clean:
//!
//! ```text
//! scripts/receivers.sh install            # once, needs PyPI
//! scripts/receivers.sh run -- cargo test -p tracing-insights-otlp --test receivers
//! ```
//!
//! Every test uses its own fresh trace ids (and, for Phoenix, its own project), so tests
//! running in parallel against the same receiver do not see each other's data.

use serde_json::Value;
use std::time::{Duration, Instant};
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt, Resource};
use tracing_insights_otlp::{EnvVars, OtlpLayer, Signal};
use tracing_subscriber::prelude::*;

fn receiver(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().trim_end_matches('/').to_owned()),
        _ => {
            // `scripts/receivers.sh run` lists what it started: then a missing URL is a
            // failure, not a skip.
            let required = std::env::var("TI_REQUIRE_RECEIVERS").unwrap_or_default();
            let name = if var.contains("PHOENIX") {
                "phoenix"
            } else {
                "ddapm"
            };
            assert!(
                !required.split_whitespace().any(|r| r == name),
                "{var} is not set although TI_REQUIRE_RECEIVERS={required:?}"
            );
            eprintln!(
                "SKIPPED: {var} is not set (start the receivers with scripts/receivers.sh run -- cargo test ...)"
            );
            None
        }
    }
}

/// `None` while the receiver answers an error (Phoenix: 404 until the project exists).
fn try_json(url: &str) -> Option<Value> {
    let mut resp = ureq::get(url).call().ok()?;
    serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()
}

fn get_json(url: &str) -> Value {
    let mut resp = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = resp.body_mut().read_to_string().unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// Polls `f` until it returns `Some` (receivers ingest asynchronously), up to 30 s.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every string in a JSON tree, with the key it sits under (ids come back as hex or
/// base64 depending on the receiver and the encoding).
fn strings<'a>(v: &'a Value, key: &str, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((key.to_owned(), s)),
        Value::Array(a) => a.iter().for_each(|x| strings(x, key, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| strings(x, k, out)),
        _ => {}
    }
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `tree` mentions the id in hex or base64 form.
fn mentions(tree: &Value, hex: &str) -> bool {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let b = b64(&bytes);
    let mut all = Vec::new();
    strings(tree, "", &mut all);
    all.iter().any(|(_, s)| *s == hex || *s == b)
}

/// The ai_service shape: SERVER span, DB CLIENT span, LLM CLIENT span with gen_ai.*, logs
/// and a token-usage histogram. Returns (trace id, server span id, llm span id).
fn ai_request() -> (String, String, String) {
    let request = tracing::info_span!(
        "POST /chat",
        otel.kind = "server",
        http.request.method = "POST",
        http.route = "/chat",
        http.response.status_code = 200_u64,
    );
    let trace = request.trace_id().unwrap().to_string();
    let server = request.span_id().unwrap().to_string();
    let llm_id = request.in_scope(|| {
        tracing::info_span!("SELECT docs", otel.kind = "client", db.system.name = "postgresql")
            .in_scope(|| tracing::info!(rows = 4_u64, "retrieved"));
        let llm = tracing::info_span!(
            "chat gpt-4o",
            otel.kind = "client",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o",
            gen_ai.response.model = "gpt-4o-2024-08-06",
            gen_ai.usage.input_tokens = 12_u64,
            gen_ai.usage.output_tokens = 34_u64,
        );
        let id = llm.span_id().unwrap().to_string();
        llm.in_scope(|| {
            tracing::info!(
                histogram.gen_ai.client.token.usage = 12_u64,
                gen_ai.token.type = "input",
                "llm answered"
            );
            tracing::info!(histogram.gen_ai.client.token.usage = 34_u64, gen_ai.token.type = "output");
        });
        tracing::info!(monotonic_counter.chat.requests = 1_u64, "served");
        id
    });
    (trace, server, llm_id)
}

#[test]
fn ddapm_test_agent_receives_traces_logs_and_metrics_with_our_ids() {
    let Some(base) = receiver("TI_DDAPM_URL") else {
        return;
    };
    let (layer, guard) = OtlpLayer::builder()
        .with_name("ddapm")
        .with_env(EnvVars::empty())
        .with_endpoint(base.clone())
        .build()
        .unwrap();
    let report = guard.check();
    assert!(report.is_ok(), "{report}");
    let subscriber = tracing_subscriber::registry()
        .with(
            correlation::layer().with_resource(Resource::from_attributes([(
                "service.name",
                "ti-ddapm-e2e",
            )])),
        )
        .with(layer);
    let (trace, server, llm) = tracing::subscriber::with_default(subscriber, ai_request);
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let traces = poll("our trace in ddapm", || {
        let v = get_json(&format!("{base}/test/session/traces"));
        mentions(&v, &trace).then_some(v)
    });
    assert!(mentions(&traces, &server) && mentions(&traces, &llm));
    let text = traces.to_string();
    assert!(text.contains("chat gpt-4o") && text.contains("gen_ai.usage.input_tokens"));
    assert!(text.contains("ti-ddapm-e2e"), "the resource's service.name");

    let logs = poll("our logs in ddapm", || {
        let v = get_json(&format!("{base}/test/session/logs"));
        mentions(&v, &trace).then_some(v)
    });
    assert!(logs.to_string().contains("llm answered"));
    assert!(
        mentions(&logs, &llm),
        "the log record carries the LLM span's id"
    );

    let metrics = poll("our metrics in ddapm", || {
        let v = get_json(&format!("{base}/test/session/metrics"));
        let t = v.to_string();
        (t.contains("gen_ai.client.token.usage") && t.contains("ti-ddapm-e2e")).then_some(v)
    });
    assert!(metrics.to_string().contains("chat.requests"));
}

#[test]
fn ddapm_test_agent_accepts_http_json() {
    let Some(base) = receiver("TI_DDAPM_URL") else {
        return;
    };
    let (layer, guard) = OtlpLayer::builder()
        .with_name("ddapm-json")
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .build()
        .unwrap();
    assert!(guard.check().is_ok());
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let (trace, _, _) = tracing::subscriber::with_default(subscriber, ai_request);
    guard.shutdown(Duration::from_secs(10)).unwrap();
    poll("our JSON trace in ddapm", || {
        mentions(&get_json(&format!("{base}/test/session/traces")), &trace).then_some(())
    });
}

#[test]
fn ddapm_check_reports_a_wrong_path() {
    let Some(base) = receiver("TI_DDAPM_URL") else {
        return;
    };
    let (_layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{base}/wrong"),
        )]))
        .with_logs(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let report = guard.check();
    assert!(!report.is_ok(), "{report}");
    eprintln!("{report}");
    drop(guard);
}

#[test]
fn phoenix_shows_genai_spans_with_token_counts() {
    let Some(base) = receiver("TI_PHOENIX_URL") else {
        return;
    };
    let project = format!(
        "ti-e2e-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    // Phoenix takes traces only (logs 405, metrics unsupported) and protobuf only.
    let (layer, guard) = OtlpLayer::builder()
        .with_name("phoenix")
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                &format!("x-project-name={project}"),
            ),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        // Phoenix takes no logs: the events go along as span events.
        .with_span_events(true)
        .build()
        .unwrap();
    let report = guard.check();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        guard.endpoints()[0],
        (Signal::Traces, format!("{base}/v1/traces"))
    );
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let (trace, _server, llm) = tracing::subscriber::with_default(subscriber, ai_request);
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let spans = poll("our spans in Phoenix", || {
        let v = try_json(&format!("{base}/v1/projects/{project}/spans?limit=100"))?;
        let n = v["data"].as_array().map_or(0, Vec::len);
        (n >= 3).then_some(v)
    });
    let data = spans["data"].as_array().unwrap();
    let llm_span = data
        .iter()
        .find(|s| s["name"] == "chat gpt-4o")
        .unwrap_or_else(|| panic!("{spans:#}"));
    assert_eq!(
        llm_span["context"]["trace_id"],
        trace.as_str(),
        "{llm_span:#}"
    );
    assert_eq!(llm_span["context"]["span_id"], llm.as_str(), "{llm_span:#}");
    let attrs = llm_span["attributes"].to_string();
    // Phoenix maps the GenAI conventions onto OpenInference on ingest.
    assert_eq!(llm_span["span_kind"], "LLM", "{llm_span:#}");
    assert!(attrs.contains("gpt-4o"), "{attrs}");
    let a = &llm_span["attributes"];
    let count = |k: &str| {
        a[k].as_i64()
            .or_else(|| a["llm.token_count"][k.rsplit('.').next().unwrap()].as_i64())
    };
    assert_eq!(count("llm.token_count.prompt"), Some(12), "{a:#}");
    assert_eq!(count("llm.token_count.completion"), Some(34), "{a:#}");
    assert!(
        llm_span["events"].to_string().contains("llm answered"),
        "{llm_span:#}"
    );
}

#[test]
fn one_trace_same_ids_in_both_backends_at_once() {
    let (Some(dd), Some(px)) = (receiver("TI_DDAPM_URL"), receiver("TI_PHOENIX_URL")) else {
        return;
    };
    let project = format!(
        "ti-both-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let (to_dd, dd_guard) = OtlpLayer::builder()
        .with_name("dd")
        .with_env(EnvVars::empty())
        .with_endpoint(dd.clone())
        .build()
        .unwrap();
    let (to_px, px_guard) = OtlpLayer::builder()
        .with_name("phoenix")
        .with_env(EnvVars::empty())
        .with_signal_endpoint(Signal::Traces, format!("{px}/v1/traces"))
        .with_header("x-project-name", project.clone())
        .with_logs(false)
        .with_metrics(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(to_dd)
        .with(to_px);
    let (trace, server, llm) = tracing::subscriber::with_default(subscriber, ai_request);
    dd_guard.shutdown(Duration::from_secs(10)).unwrap();
    px_guard.shutdown(Duration::from_secs(10)).unwrap();

    let dd_traces = poll("the trace in ddapm", || {
        let v = get_json(&format!("{dd}/test/session/traces"));
        mentions(&v, &trace).then_some(v)
    });
    assert!(mentions(&dd_traces, &server) && mentions(&dd_traces, &llm));
    let px_spans = poll("the trace in Phoenix", || {
        let v = try_json(&format!("{px}/v1/projects/{project}/spans?limit=100"))?;
        (v["data"].as_array().map_or(0, Vec::len) >= 3).then_some(v)
    });
    let mut ids: Vec<(String, String)> = px_spans["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["context"]["trace_id"].as_str().unwrap_or("").to_owned(),
                s["context"]["span_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    ids.sort();
    assert!(ids.iter().all(|(t, _)| *t == trace), "{ids:?}");
    assert!(ids.iter().any(|(_, s)| *s == server) && ids.iter().any(|(_, s)| *s == llm));
    for (_, s) in &ids {
        assert!(
            mentions(&dd_traces, s),
            "span {s} is in Phoenix but not in ddapm"
        );
    }
}

/// OTLP/gRPC to both real receivers (feature `grpc`).
#[cfg(feature = "grpc")]
#[test]
fn grpc_to_ddapm_and_phoenix() {
    let (Some(dd_grpc), Some(dd)) = (receiver("TI_DDAPM_GRPC_URL"), receiver("TI_DDAPM_URL"))
    else {
        return;
    };
    let (to_dd, dd_guard) = OtlpLayer::builder()
        .with_name("dd-grpc")
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dd_grpc.as_str()),
        ]))
        .build()
        .unwrap();
    let report = dd_guard.check();
    assert!(report.is_ok(), "{report}");
    let phoenix = match (receiver("TI_PHOENIX_GRPC_URL"), receiver("TI_PHOENIX_URL")) {
        (Some(g), Some(h)) => Some((g, h)),
        _ => None,
    };
    let project = format!(
        "ti-grpc-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let px = phoenix.as_ref().map(|(grpc, _)| {
        OtlpLayer::builder()
            .with_name("phoenix-grpc")
            .with_env(EnvVars::from_vars([
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str()),
                ("OTEL_LOGS_EXPORTER", "none"),
                ("OTEL_METRICS_EXPORTER", "none"),
            ]))
            .build()
            .unwrap()
    });
    let (to_px, px_guard) = match px {
        Some((l, g)) => (Some(l), Some(g)),
        None => (None, None),
    };
    // Over gRPC, Phoenix routes by the resource attribute, not by the x-project-name header.
    let resource = Resource::from_attributes([
        ("service.name", "ti-grpc-e2e"),
        ("openinference.project.name", project.as_str()),
    ]);
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_resource(resource))
        .with(to_dd)
        .with(to_px);
    let (trace, _server, llm) = tracing::subscriber::with_default(subscriber, ai_request);
    dd_guard.shutdown(Duration::from_secs(10)).unwrap();
    if let Some(g) = px_guard {
        g.shutdown(Duration::from_secs(10)).unwrap();
    }
    let traces = poll("the gRPC trace in ddapm", || {
        let v = get_json(&format!("{dd}/test/session/traces"));
        mentions(&v, &trace).then_some(v)
    });
    assert!(mentions(&traces, &llm));
    poll("the gRPC logs in ddapm", || {
        mentions(&get_json(&format!("{dd}/test/session/logs")), &llm).then_some(())
    });
    if let Some((_, http)) = phoenix {
        let spans = poll("the gRPC trace in Phoenix", || {
            let v = try_json(&format!("{http}/v1/projects/{project}/spans?limit=100"))?;
            (v["data"].as_array().map_or(0, Vec::len) >= 3).then_some(v)
        });
        let llm_span = spans["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "chat gpt-4o")
            .unwrap();
        assert_eq!(llm_span["context"]["trace_id"], trace.as_str());
        assert_eq!(llm_span["attributes"]["llm.token_count.completion"], 34);
    }
}
