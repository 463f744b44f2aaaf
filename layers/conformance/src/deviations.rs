//! Deliberate deviations from Microsoft's exporter, each documented (with its reason) in
//! `DEVIATIONS.md` under a heading with the same name. A difference that one of these rules
//! explains is reported as that deviation, never as a pass or a silent skip.

use crate::compare::Diff;
use serde_json::Value;
use tracing_insights_appinsights::text::{py_float, truncate};

/// The way a scenario is replayed: `tracing` spans and events, or the OpenTelemetry SDK's
/// providers with `AppInsightsExporter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// `tracing` + the correlation and App Insights layers.
    Tracing,
    /// `opentelemetry_sdk` + `tracing-insights-opentelemetry`'s exporter.
    OtelSdk,
}

/// Deviations that belong to one replay path only (`DEVIATIONS.md` says which, under each
/// heading): seen on the other path they are failures. Every other deviation is shared.
const ONE_PATH: &[(&str, Path)] = &[
    // A log record never changes its span's status in OpenTelemetry; the correlation
    // layer's rule is about `tracing` events.
    ("error_events_fail_span", Path::Tracing),
    // The attribution is made from the parent span when a `tracing` span starts.
    ("genai_main_agent_attribution", Path::Tracing),
];

/// Whether deviation `name` may explain a difference when replaying via `via`.
pub(crate) fn applies(name: &str, via: Path) -> bool {
    ONE_PATH.iter().all(|(n, only)| *n != name || *only == via)
}

/// Every deviation the runner knows: (name, one line).
pub(crate) const DEVIATIONS: &[(&str, &str)] = &[
    (
        "server_5xx_is_failure",
        "a request with a 5xx status and unset span status is a failure",
    ),
    (
        "schema_limits_enforced",
        "context tags and event names are cut to their schema limits",
    ),
    (
        "exception_stack_omitted",
        "no stack means no `stack` field, not the string \"None\"",
    ),
    (
        "events_are_logs",
        "tracing events are log records: severityLevel and logger_name also inside spans",
    ),
    (
        "array_attributes_as_json",
        "array values are JSON text, not a Python tuple repr",
    ),
    (
        "no_zero_ids_outside_spans",
        "events outside spans carry no operation ids instead of all-zero ids",
    ),
    (
        "rpc_type_is_system_value",
        "RPC dependency type is the rpc.system value, not the literal \"rpc.system\"",
    ),
    (
        "metric_extractors_flag_on_every_span",
        "_MS.ProcessedByMetricExtractors is set on every request and dependency (standard metrics are derived from all of them)",
    ),
    (
        "genai_main_agent_attribution",
        "spans under a GenAI agent carry microsoft.gen_ai.main_agent.* (the distro's processor)",
    ),
    (
        "genai_provider_name_types_dependency",
        "gen_ai.provider.name types a dependency `GenAI | {provider}` as gen_ai.system does",
    ),
    (
        "error_events_fail_span",
        "an ERROR event inside a span with unset status makes the span failed",
    ),
    (
        "ai_tag_fields_become_tags",
        "a span field named after a context tag (ai.user.id, ...) also sets that tag",
    ),
    (
        "resource_metric_in_every_batch",
        "the _OTELRESOURCE_ metric starts every batch, also batches of logs or metrics only",
    ),
    (
        "oversized_items_cut_to_fit",
        "an item above the 64 KiB per-item limit has its stack/message cut to fit, not dropped",
    ),
    (
        "events_carry_sample_rate",
        "logs/exceptions in a sampled trace carry the sampler's sampleRate, as spans do",
    ),
    (
        "standard_metrics_in_milliseconds",
        "http.{server,client}.request.duration standard metrics are sent in ms, not seconds",
    ),
    (
        "no_none_port_in_metric_target",
        "a standard dependency metric's target without a port is the host, not \"host:None\"",
    ),
];

/// An envelope ours sends that Microsoft's exporter does not, explained by a deviation: the
/// standard metrics derived from every request and dependency span.
pub(crate) fn classify_extra(actual: &Value) -> Option<&'static str> {
    let bd = &actual["data"]["baseData"];
    let id = bd["properties"]["_MS.MetricId"].as_str()?;
    let name = bd["metrics"][0]["name"].as_str()?;
    (matches!(
        (id, name),
        ("requests/duration", "Server response time")
            | ("dependencies/duration", "Dependency duration")
    ) && bd["properties"]["_MS.IsAutocollected"] == "True")
        .then_some("metric_extractors_flag_on_every_span")
}

/// New-semconv HTTP duration metrics (recorded in seconds).
const STANDARD_SECONDS: &[&str] = &[
    "http.server.request.duration",
    "http.client.request.duration",
];

fn tag_limit(tag: &str) -> Option<usize> {
    Some(match tag {
        "ai.operation.name"
        | "ai.application.ver"
        | "ai.device.id"
        | "ai.user.authUserId"
        | "ai.operation.syntheticSource"
        | "ai.user.accountId" => 1024,
        "ai.device.locale"
        | "ai.device.type"
        | "ai.session.id"
        | "ai.internal.sdkVersion"
        | "ai.internal.agentVersion"
        | "ai.operation.correlationVector" => 64,
        "ai.device.model"
        | "ai.device.oemName"
        | "ai.device.osVersion"
        | "ai.cloud.role"
        | "ai.cloud.roleInstance"
        | "ai.internal.nodeName" => 256,
        "ai.location.ip" => 45,
        "ai.operation.id" | "ai.operation.parentId" | "ai.user.id" => 128,
        "ai.user.userAgent" => 2048,
        _ => return None,
    })
}

fn py_repr(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) if n.is_f64() => py_float(n.as_f64()?),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

/// A JSON array as Python prints a tuple of its items.
fn tuple_repr(json_text: &str) -> Option<String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json_text) else {
        return None;
    };
    let parts: Option<Vec<String>> = items.iter().map(py_repr).collect();
    let parts = parts?;
    Some(match parts.len() {
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    })
}

/// Span-attribute keys Microsoft's exporter leaves out of span properties (the `http.*`, `url.*`,
/// `server.*` and similar keys it has already turned into envelope fields):
/// the App Insights layer's own rule.
fn span_filtered(key: &str) -> bool {
    tracing_insights_appinsights::span_property_filtered(key)
}

/// The deviation that explains `d` in envelope `expected`, if any.
pub(crate) fn classify(expected: &Value, all_expected: &[Value], d: &Diff) -> Option<&'static str> {
    let env = expected["name"].as_str().unwrap_or_default();
    let is_event = env.ends_with(".Message") || env.ends_with(".Exception");
    let path = d.path.as_str();
    match (&d.expected, &d.actual) {
        (Some(Value::Bool(true)), Some(Value::Bool(false)))
            if path == "data.baseData.success"
                && env.ends_with(".Request")
                && expected["data"]["baseData"]["responseCode"]
                    .as_str()
                    .is_some_and(|c| c.len() == 3 && c.starts_with('5')) =>
        {
            Some("server_5xx_is_failure")
        }
        (Some(Value::Bool(true)), Some(Value::Bool(false)))
            if path == "data.baseData.success"
                && expected["data"]["baseData"]["id"]
                    .as_str()
                    .is_some_and(|id| {
                        all_expected.iter().any(|o| {
                            o["tags"]["ai.operation.parentId"].as_str() == Some(id)
                                && o["data"]["baseData"]["severityLevel"]
                                    .as_i64()
                                    .is_some_and(|s| s >= 3)
                        })
                    }) =>
        {
            Some("error_events_fail_span")
        }
        (Some(Value::String(e)), Some(Value::String(a)))
            if path == "data.baseData.properties.dependency/target"
                && e.strip_suffix(":None") == Some(a.as_str()) =>
        {
            Some("no_none_port_in_metric_target")
        }
        (None, Some(Value::String(a)))
            if path.starts_with("tags.ai.")
                && expected["data"]["baseData"]["properties"][&path[5..]].as_str() == Some(a) =>
        {
            Some("ai_tag_fields_become_tags")
        }
        (None, Some(Value::String(a)))
            if path == "data.baseData.properties._MS.ProcessedByMetricExtractors"
                && a == "True"
                && (env.ends_with(".Request") || env.ends_with(".RemoteDependency")) =>
        {
            Some("metric_extractors_flag_on_every_span")
        }
        (None, Some(Value::String(_)))
            if path.starts_with("data.baseData.properties.microsoft.gen_ai.main_agent.") =>
        {
            Some("genai_main_agent_attribution")
        }
        (Some(Value::String(e)), Some(Value::String(a)))
            if path == "data.baseData.type"
                && e == "N/A"
                && expected["data"]["baseData"]["properties"]["gen_ai.provider.name"]
                    .as_str()
                    .is_some_and(|p| *a == format!("GenAI | {p}")) =>
        {
            Some("genai_provider_name_types_dependency")
        }
        (None, Some(Value::String(a)))
            if path == "data.baseData.target"
                && expected["data"]["baseData"]["properties"]["gen_ai.provider.name"].as_str()
                    == Some(a.as_str()) =>
        {
            Some("genai_provider_name_types_dependency")
        }
        (Some(Value::String(e)), Some(Value::String(a)))
            if path == "data.baseData.name" && env.ends_with(".Event") =>
        {
            (e.chars().count() > 512 && a == truncate(e, 512)).then_some("schema_limits_enforced")
        }
        (Some(Value::String(e)), Some(Value::String(a))) if path.starts_with("tags.") => {
            let limit = tag_limit(&path[5..])?;
            (e.chars().count() > limit && a == truncate(e, limit))
                .then_some("schema_limits_enforced")
        }
        (Some(Value::String(e)), None) if e == "None" && path.ends_with(".stack") => {
            Some("exception_stack_omitted")
        }
        (None, Some(_))
            if is_event
                && (path == "data.baseData.severityLevel"
                    || path == "data.baseData.properties.logger_name"
                    || path
                        .strip_prefix("data.baseData.properties.")
                        .is_some_and(span_filtered)) =>
        {
            Some("events_are_logs")
        }
        (Some(Value::String(e)), Some(Value::String(a)))
            if path.starts_with("data.baseData.properties.")
                && tuple_repr(a).as_deref() == Some(e) =>
        {
            Some("array_attributes_as_json")
        }
        (Some(Value::String(e)), None)
            if (path == "tags.ai.operation.id" || path == "tags.ai.operation.parentId")
                && e.bytes().all(|b| b == b'0') =>
        {
            Some("no_zero_ids_outside_spans")
        }
        (None, Some(Value::Number(_))) if path == "sampleRate" && is_event => {
            Some("events_carry_sample_rate")
        }
        (Some(Value::String(e)), Some(_)) if path == "data.baseData.type" && e == "rpc.system" => {
            Some("rpc_type_is_system_value")
        }
        (Some(Value::String(e)), Some(Value::String(a)))
            if (path.ends_with(".stack") || path.ends_with(".message"))
                && a.len() < e.len()
                && e.starts_with(a.as_str())
                && serde_json::to_vec(expected)
                    .is_ok_and(|b| b.len() > tracing_insights_appinsights::MAX_ITEM_BYTES) =>
        {
            Some("oversized_items_cut_to_fit")
        }
        (Some(Value::Number(e)), Some(Value::Number(a)))
            if ["value", "min", "max"]
                .iter()
                .any(|f| path == format!("data.baseData.metrics[0].{f}"))
                && expected["data"]["baseData"]["metrics"][0]["name"]
                    .as_str()
                    .is_some_and(|n| STANDARD_SECONDS.contains(&n))
                && expected["data"]["baseData"]["properties"]["_MS.MetricId"].is_string() =>
        {
            let (e, a) = (e.as_f64()?, a.as_f64()?);
            ((e * 1000.0 - a).abs() <= 1e-9 * a.abs().max(1.0))
                .then_some("standard_metrics_in_milliseconds")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_path_deviations_are_known_and_documented_with_their_path() {
        let md = include_str!("../DEVIATIONS.md");
        for (name, only) in ONE_PATH {
            assert!(DEVIATIONS.iter().any(|(n, _)| n == name), "{name}");
            let section = md
                .split(&format!("## `{name}`"))
                .nth(1)
                .and_then(|s| s.split("\n## ").next())
                .unwrap_or_default();
            let words = match only {
                Path::Tracing => "Replay path: `tracing` only",
                Path::OtelSdk => "Replay path: OpenTelemetry SDK only",
            };
            assert!(section.contains(words), "{name} must say {words:?}");
            assert!(applies(name, *only));
        }
        assert!(!applies("error_events_fail_span", Path::OtelSdk));
        assert!(applies("events_are_logs", Path::OtelSdk));
    }

    #[test]
    fn every_deviation_is_documented_in_deviations_md() {
        let doc = include_str!("../DEVIATIONS.md");
        for (name, _) in DEVIATIONS {
            assert!(
                doc.contains(&format!("## `{name}`")),
                "{name} missing from DEVIATIONS.md"
            );
        }
    }

    #[test]
    fn tuples() {
        assert_eq!(tuple_repr(r#"["a","b"]"#).unwrap(), "('a', 'b')");
        assert_eq!(tuple_repr(r#"[1.5,2.25]"#).unwrap(), "(1.5, 2.25)");
        assert_eq!(tuple_repr(r#"[true]"#).unwrap(), "(True,)");
        assert_eq!(tuple_repr("[]").unwrap(), "()");
    }
}
