//! A closed span as a Request or RemoteDependency envelope.

use super::attributes::{
    cut, measurements, properties, sample_rate, Attrs, MAX_CODE, MAX_DATA, MAX_LINKS, MAX_NAME,
    MAX_URL,
};
use super::envelope::{BaseData, DependencyData, Envelope, RequestData};
use super::part_a::{field_tags, PartA};
use super::targets::{
    azure_sdk_target, client_http_target, client_url, db_target, peer_target, server_url,
    status_code, url_path,
};
use super::time::{duration_text, duration_text_ms};
use super::{envelope, DEPENDENCY, REQUEST};
use crate::text::truncate_owned;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_insights_azure::classify::{self, db_type, Kind, TelemetryType};
use tracing_insights_correlation::{FieldValue, SpanKind, SpanLink, SpanStatus};

/// What a span is, read from its [`SpanData`](tracing_insights_correlation::SpanData).
pub(crate) struct SpanInput<'a> {
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
    pub(crate) status: SpanStatus,
    pub(crate) fields: &'a [(&'static str, FieldValue)],
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) parent_id: Option<String>,
    pub(crate) links: &'a [SpanLink],
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) sampler_rate: f64,
}

pub(super) fn kind(k: SpanKind) -> Kind {
    match k {
        SpanKind::Server => Kind::Server,
        SpanKind::Client => Kind::Client,
        SpanKind::Producer => Kind::Producer,
        SpanKind::Consumer => Kind::Consumer,
        SpanKind::Internal => Kind::Internal,
    }
}

pub(super) fn links_json(links: &[SpanLink]) -> String {
    let items: Vec<String> = links
        .iter()
        .take(MAX_LINKS)
        .map(|l| {
            format!(
                "{{\"operation_Id\": \"{}\", \"id\": \"{}\"}}",
                l.trace_id, l.span_id
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

pub(super) fn millis(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// `timeSinceEnqueued`: the mean of (span start − the link's `enqueuedTime`), from the
/// `otel.link_attributes` field (a JSON array with one object per link, in link order).
pub(super) fn time_since_enqueued(a: Attrs<'_>, start: SystemTime) -> Option<f64> {
    let raw = a.s("otel.link_attributes")?;
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&raw) else {
        return None;
    };
    let start_ms = millis(start).floor();
    let mut total = 0.0;
    let mut count = 0u32;
    for item in items {
        if let Some(t) = item.get("enqueuedTime").and_then(Value::as_i64) {
            let diff = start_ms - t as f64;
            if diff > 0.0 {
                total += diff;
            }
            count += 1;
        }
    }
    (count > 0).then(|| (total / f64::from(count)).max(0.0))
}

/// A span as a Request or RemoteDependency envelope.
pub(crate) fn span_envelope<'a>(
    part_a: &'a PartA,
    ikey: &'a str,
    s: &'a SpanInput<'a>,
) -> Envelope<'a> {
    let a = Attrs(s.fields);
    let mut tags = part_a.tags();
    tags.set("ai.operation.id", s.trace_id.as_str());
    if let Some(p) = &s.parent_id {
        tags.set("ai.operation.parentId", p.as_str());
    }
    field_tags(a, &mut tags);
    let status_error = matches!(s.status, SpanStatus::Error { .. });
    let mut props = properties(a);
    if !s.links.is_empty() {
        props.insert("_MS.links", links_json(s.links));
    }
    let mut meas = measurements(a);
    let elapsed = s.end.duration_since(s.start).unwrap_or_default();
    let duration = duration_text(elapsed);
    // Carried for the standard metrics and performance counters: no parsing back.
    let duration_ms = Some(duration_text_ms(elapsed));
    let mut op_name = Cow::Borrowed(s.name);
    let k = kind(s.kind);
    let env = match classify::telemetry_type(k) {
        TelemetryType::Request => {
            let mut code = "0".to_owned();
            let mut url = None;
            let mut source = None;
            if let Some(ip) = a.first(&["client.address", "http.client_ip", "net.peer.ip"]) {
                tags.set("ai.location.ip", ip);
            }
            let mut http_status = None;
            if a.has("az.namespace") {
                source = azure_sdk_target(a);
                if !s.links.is_empty() {
                    if let Some(t) = time_since_enqueued(a, s.start) {
                        meas.insert("timeSinceEnqueued".into(), json!(t));
                    }
                }
            } else if let Some(method) = a.first(&["http.request.method", "http.method"]) {
                if let Some(ua) = a.first(&["user_agent.original", "http.user_agent"]) {
                    tags.set("ai.user.userAgent", ua);
                }
                url = server_url(a);
                if let Some(route) = a.s("http.route") {
                    op_name = Cow::Owned(format!("{method} {route}"));
                } else if let Some(u) = &url {
                    op_name = Cow::Owned(format!("{method} {}", url_path(u)));
                }
                let sc = status_code(a);
                if let Some(c) = sc {
                    code = c.to_string();
                }
                http_status = Some(sc);
            } else if a.has("messaging.system") {
                if let Some(dest) = a.s("messaging.destination") {
                    source = Some(
                        match a
                            .first(&["client.address", "net.peer.name"])
                            .or_else(|| a.s("net.peer.ip"))
                        {
                            Some(peer) => format!("{peer}/{dest}"),
                            None => dest,
                        },
                    );
                }
            }
            let success = classify::request_success(status_error, http_status);
            tags.set("ai.operation.name", op_name.clone());
            let bd = RequestData {
                duration,
                duration_ms,
                id: &s.span_id,
                measurements: meas,
                name: cut(op_name, MAX_NAME),
                properties: props,
                response_code: truncate_owned(code, MAX_CODE),
                source: source.map(|src| truncate_owned(src, MAX_NAME)),
                success,
                url: url.map(|u| truncate_owned(u, MAX_URL)),
                ver: 2,
            };
            (REQUEST, "RequestData", BaseData::Request(bd))
        }
        TelemetryType::Dependency => {
            let mut code = "0".to_owned();
            let mut dep_type: Option<String>;
            let mut target: Option<String> = None;
            let mut data: Option<String> = None;
            // Deviation `genai_provider_name_types_dependency`: today's conventions name the
            // provider in `gen_ai.provider.name`; the older `gen_ai.system` still counts.
            let genai = a.first(&["gen_ai.provider.name", "gen_ai.system"]);
            match k {
                Kind::Client => {
                    if let Some(ns) = a.s("az.namespace") {
                        // Azure SDK clients: `server.address/destination`; with only the old
                        // `net.peer.name`, Microsoft's exporter falls back to the peer target.
                        dep_type = Some(ns);
                        target = if a.has("server.address") {
                            azure_sdk_target(a)
                        } else {
                            Some(peer_target(a))
                        };
                    } else if let Some(method) = a.first(&["http.request.method", "http.method"]) {
                        dep_type = Some("HTTP".into());
                        let url = client_url(a);
                        target = Some(client_http_target(a, url.as_deref()));
                        if let Some(u) = &url {
                            op_name = Cow::Owned(format!("{method} {}", url_path(u)));
                        }
                        data = url;
                        if let Some(c) = status_code(a) {
                            code = c.to_string();
                        }
                    } else if let Some(system) = a.first(&["db.system.name", "db.system"]) {
                        dep_type = Some(db_type(&system).to_owned());
                        data = a.first(&[
                            "db.query.text",
                            "db.statement",
                            "db.operation.name",
                            "db.operation",
                        ]);
                        target = Some(db_target(a, &system));
                    } else if let Some(system) = a.s("messaging.system") {
                        let t = peer_target(a);
                        target = Some(if t.is_empty() {
                            a.s("messaging.destination")
                                .unwrap_or_else(|| system.clone())
                        } else {
                            t
                        });
                        dep_type = Some(system);
                    } else if let Some(system) = a.s("rpc.system") {
                        // Deviation `rpc_type_is_system_value`: the value, not "rpc.system".
                        let t = peer_target(a);
                        target = Some(if t.is_empty() { system.clone() } else { t });
                        dep_type = Some(system);
                    } else {
                        dep_type = Some("N/A".into());
                        target = Some(peer_target(a));
                    }
                    if let Some(g) = &genai {
                        dep_type = Some(format!("GenAI | {g}"));
                        if target.as_deref().is_none_or(str::is_empty) {
                            target = Some(g.clone());
                        }
                    }
                }
                Kind::Producer => {
                    if let Some(ns) = a.s("az.namespace") {
                        dep_type = Some(format!("Queue Message | {ns}"));
                        target = azure_sdk_target(a);
                    } else {
                        let system = a.s("messaging.system");
                        dep_type = Some(match &system {
                            Some(sys) => format!("Queue Message | {sys}"),
                            None => "Queue Message".into(),
                        });
                        let t = peer_target(a);
                        target = if t.is_empty() {
                            a.s("messaging.destination").or(system)
                        } else {
                            Some(t)
                        };
                    }
                }
                _ => {
                    dep_type = Some(if let Some(g) = &genai {
                        format!("GenAI | {g}")
                    } else if let Some(ns) = a.s("az.namespace") {
                        format!("InProc | {ns}")
                    } else {
                        "InProc".into()
                    });
                }
            }
            tags.set("ai.operation.name", op_name.clone());
            let bd = DependencyData {
                data: data
                    .filter(|d| !d.is_empty())
                    .map(|d| truncate_owned(d, MAX_DATA)),
                duration,
                duration_ms,
                id: &s.span_id,
                measurements: meas,
                name: cut(op_name, MAX_NAME),
                properties: props,
                result_code: truncate_owned(code, MAX_CODE),
                success: classify::dependency_success(status_error),
                target: target
                    .filter(|t| !t.is_empty())
                    .map(|t| truncate_owned(t, MAX_NAME)),
                dep_type: dep_type
                    .filter(|t| !t.is_empty())
                    .map(|t| truncate_owned(t, MAX_NAME)),
                ver: 2,
            };
            (DEPENDENCY, "RemoteDependencyData", BaseData::Dependency(bd))
        }
    };
    envelope(
        env.0,
        ikey,
        s.start,
        tags,
        sample_rate(a, s.sampler_rate),
        env.1,
        env.2,
    )
}
