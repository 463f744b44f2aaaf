//! Span / event → envelope, following Microsoft's exporter (protocol §§3.1-3.9).

use crate::text::{format_duration, format_time, truncate, truncate_owned, value_string};
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_insights_azure::classify::{
    self, db_type, default_db_port, default_http_port, Kind, TelemetryType,
};
use tracing_insights_correlation::{FieldValue, Resource, SpanKind, SpanLink, SpanStatus};

/// Envelope names.
pub(crate) const REQUEST: &str = "Microsoft.ApplicationInsights.Request";
pub(crate) const DEPENDENCY: &str = "Microsoft.ApplicationInsights.RemoteDependency";
pub(crate) const MESSAGE: &str = "Microsoft.ApplicationInsights.Message";
pub(crate) const EXCEPTION: &str = "Microsoft.ApplicationInsights.Exception";
pub(crate) const EVENT: &str = "Microsoft.ApplicationInsights.Event";
pub(crate) const AVAILABILITY: &str = "Microsoft.ApplicationInsights.Availability";
pub(crate) const METRIC: &str = "Microsoft.ApplicationInsights.Metric";

const MAX_NAME: usize = 1024;
const MAX_CODE: usize = 1024;
const MAX_URL: usize = 2048;
const MAX_DATA: usize = 8192;
const MAX_MESSAGE: usize = 32768;
const MAX_PROP_KEY: usize = 150;
const MAX_PROP_VALUE: usize = 8192;
const MAX_GENAI_PROP_VALUE: usize = 256 * 1024;
const MAX_LINKS: usize = 103;

/// Properties that may hold whole conversations get 256 KiB.
const GENAI_LARGE: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.evaluation.explanation",
];

const FILTERED_PREFIXES: &[&str] = &[
    "http.",
    "db.",
    "message.",
    "messaging.",
    "rpc.",
    "enduser.",
    "net.",
    "peer.",
    "exception.",
    "thread.",
    "fass.",
    "code.",
];

/// Whether Microsoft's exporter leaves a span attribute out of span properties because of
/// its prefix (protocol §3.5). Public for the conformance runner, which explains differences
/// by the same rule; not part of the stable API.
#[doc(hidden)]
pub fn span_property_filtered(key: &str) -> bool {
    FILTERED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// This layer's own reserved fields (conventions for what `tracing` cannot carry).
const RESERVED: &[&str] = &["otel.link_attributes", "otel.severity_number"];

const FILTERED_KEYS: &[&str] = &[
    "session.id",
    "_MS.sampleRate",
    "microsoft.custom_measurements",
    "client.address",
    "client.port",
    "server.address",
    "server.port",
    "url.full",
    "url.path",
    "url.query",
    "url.scheme",
    "url.template",
    "error.type",
    "network.local.address",
    "network.local.port",
    "network.protocol.name",
    "network.peer.address",
    "network.peer.port",
    "network.protocol.version",
    "network.transport",
    "user_agent.original",
    "user_agent.synthetic.type",
];

/// Context tag keys a field may set directly (`ai.user.id = "..."`), with their Bond limits.
const TAG_LIMITS: &[(&str, usize)] = &[
    ("ai.application.ver", 1024),
    ("ai.device.id", 1024),
    ("ai.device.locale", 64),
    ("ai.device.model", 256),
    ("ai.device.oemName", 256),
    ("ai.device.osVersion", 256),
    ("ai.device.type", 64),
    ("ai.location.ip", 45),
    ("ai.operation.id", 128),
    ("ai.operation.name", 1024),
    ("ai.operation.parentId", 128),
    ("ai.operation.syntheticSource", 1024),
    ("ai.operation.correlationVector", 64),
    ("ai.session.id", 64),
    ("ai.session.isFirst", 5),
    ("ai.user.accountId", 1024),
    ("ai.user.userAgent", 2048),
    ("ai.user.id", 128),
    ("ai.user.authUserId", 1024),
    ("ai.cloud.role", 256),
    ("ai.cloud.roleInstance", 256),
    ("ai.internal.sdkVersion", 64),
    ("ai.internal.agentVersion", 64),
    ("ai.internal.nodeName", 256),
];

fn tag_limit(key: &str) -> Option<usize> {
    TAG_LIMITS.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
}

/// The context tags of one envelope, truncated to their Bond limits.
#[derive(Default)]
pub(crate) struct Tags(Map<String, Value>);

impl Tags {
    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        let value = match tag_limit(key) {
            Some(n) => truncate_owned(value, n),
            None => value,
        };
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

/// What the resource and the process contribute to every envelope (part A), computed once.
#[derive(Debug, Clone)]
pub(crate) struct PartA {
    tags: Vec<(&'static str, String)>,
    resource_props: Map<String, Value>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn locale() -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .map(|v| v.split(['.', '@']).next().unwrap_or_default().to_owned())
        .filter(|v| !v.is_empty() && v != "C" && v != "POSIX")
}

fn sdk_version() -> String {
    let rp = if std::env::var_os("FUNCTIONS_WORKER_RUNTIME").is_some() {
        'f'
    } else if std::env::var_os("WEBSITE_SITE_NAME").is_some() {
        'a'
    } else if std::env::var_os("AKS_ARM_NAMESPACE_ID").is_some()
        || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    {
        'k'
    } else {
        'u'
    };
    let os = if cfg!(target_os = "linux") {
        'l'
    } else if cfg!(windows) {
        'w'
    } else {
        'u'
    };
    format!("{rp}{os}m_rust:ext{}", env!("CARGO_PKG_VERSION"))
}

impl PartA {
    pub(crate) fn new(resource: &Resource) -> Self {
        let host = hostname();
        let mut tags: Vec<(&'static str, String)> = Vec::new();
        tags.push((
            "ai.device.id",
            resource
                .get("device.id")
                .map_or_else(|| host.clone(), str::to_owned),
        ));
        if let Some(l) = locale() {
            tags.push(("ai.device.locale", l));
        }
        tags.push(("ai.device.type", "Other".into()));
        tags.push(("ai.internal.sdkVersion", sdk_version()));
        if !resource.is_empty() {
            let service = resource.service_name();
            let named = service.map(|name| match resource.service_namespace() {
                Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
                _ => name.to_owned(),
            });
            let role = match (&named, service) {
                (Some(role), Some(name)) if !name.starts_with("unknown_service") => {
                    Some(role.clone())
                }
                _ => [
                    "k8s.deployment.name",
                    "k8s.replicaset.name",
                    "k8s.statefulset.name",
                    "k8s.job.name",
                    "k8s.cronjob.name",
                    "k8s.daemonset.name",
                ]
                .iter()
                .find_map(|k| resource.get(k).map(str::to_owned))
                .or(named),
            };
            if let Some(role) = role {
                tags.push(("ai.cloud.role", role));
            }
            let instance = resource
                .get("k8s.pod.name")
                .or_else(|| resource.service_instance_id())
                .map_or(host, str::to_owned);
            tags.push(("ai.cloud.roleInstance", instance.clone()));
            tags.push(("ai.internal.nodeName", instance));
            if let Some(v) = resource.get("device.model.name") {
                tags.push(("ai.device.model", v.to_owned()));
            }
            if let Some(v) = resource.get("device.manufacturer") {
                tags.push(("ai.device.oemName", v.to_owned()));
            }
            if let Some(v) = resource.service_version() {
                tags.push(("ai.application.ver", v.to_owned()));
            }
        }
        let resource_props = resource
            .iter()
            .filter(|(k, _)| !k.is_empty() && k.chars().count() <= MAX_PROP_KEY)
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    Value::String(truncate(v, MAX_PROP_VALUE).to_owned()),
                )
            })
            .collect();
        Self {
            tags,
            resource_props,
        }
    }

    fn tags(&self) -> Tags {
        let mut t = Tags::default();
        for (k, v) in &self.tags {
            t.set(k, v.clone());
        }
        t
    }
}

/// A view of recorded fields with the lookups the mapping needs.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a>(pub(crate) &'a [(&'static str, FieldValue)]);

impl<'a> Attrs<'a> {
    fn get(&self, key: &str) -> Option<&'a FieldValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// The value as a string, when present and non-empty (Python's truthiness in `or` chains).
    pub(crate) fn s(&self, key: &str) -> Option<String> {
        self.get(key).map(value_string).filter(|s| !s.is_empty())
    }
    fn first(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.s(k))
    }
    fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            FieldValue::Str(s) => s.trim().parse().ok(),
            FieldValue::F64(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
            v => v.as_i64(),
        }
    }
    fn f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            FieldValue::Str(s) => s.trim().parse().ok(),
            v => v.as_f64(),
        }
    }
}

/// The properties (customDimensions) of a span or event: every field except the standard
/// ones the mapping consumes (protocol §3.5).
fn properties(a: Attrs<'_>) -> Map<String, Value> {
    let mut props = Map::new();
    for (k, v) in a.0 {
        if k.is_empty()
            || k.chars().count() > MAX_PROP_KEY
            || span_property_filtered(k)
            || FILTERED_KEYS.contains(k)
            || RESERVED.contains(k)
        {
            continue;
        }
        let max = if GENAI_LARGE.contains(k) {
            MAX_GENAI_PROP_VALUE
        } else {
            MAX_PROP_VALUE
        };
        props.insert(
            (*k).to_owned(),
            Value::String(truncate_owned(value_string(v), max)),
        );
    }
    props
}

/// `microsoft.custom_measurements` (a JSON object): numeric, finite, non-bool values.
fn measurements(a: Attrs<'_>) -> Map<String, Value> {
    let mut m = Map::new();
    let Some(raw) = a.s("microsoft.custom_measurements") else {
        return m;
    };
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&raw) else {
        return m;
    };
    for (k, v) in obj {
        if let Value::Number(n) = v {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                m.insert(truncate(&k, MAX_PROP_KEY).to_owned(), json!(f));
            }
        }
    }
    m
}

/// Tags every span and event takes from its fields (protocol §3.2), plus any field named
/// after a context tag (`ai.user.id`, ...).
fn field_tags(a: Attrs<'_>, tags: &mut Tags) {
    if let Some(v) = a.s("enduser.id") {
        tags.set("ai.user.authUserId", v);
    }
    if let Some(v) = a.s("enduser.pseudo.id") {
        tags.set("ai.user.id", v);
    }
    if let Some(FieldValue::Str(v)) = a.get("session.id") {
        tags.set("ai.session.id", v.clone());
    }
    let synthetic_type = a.s("user_agent.synthetic.type");
    let ua = a.first(&["user_agent.original", "http.user_agent"]);
    if matches!(synthetic_type.as_deref(), Some("bot" | "test"))
        || ua.as_deref().is_some_and(|u| u.contains("AlwaysOn"))
    {
        tags.set("ai.operation.syntheticSource", "True");
    }
    for (k, v) in a.0 {
        if k.starts_with("ai.") && tag_limit(k).is_some() {
            tags.set(k, value_string(v));
        }
    }
}

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

fn kind(k: SpanKind) -> Kind {
    match k {
        SpanKind::Server => Kind::Server,
        SpanKind::Client => Kind::Client,
        SpanKind::Producer => Kind::Producer,
        SpanKind::Consumer => Kind::Consumer,
        SpanKind::Internal => Kind::Internal,
    }
}

/// `sampleRate`: an explicit `_MS.sampleRate` field, else the sampler's percentage when it
/// keeps less than everything.
fn sample_rate(a: Attrs<'_>, sampler_rate: f64) -> Option<f64> {
    a.f64("_MS.sampleRate")
        .or((sampler_rate < 100.0).then_some(sampler_rate))
}

/// The path of a URL (`/` when empty).
fn url_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => url,
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        "/".into()
    } else {
        path.into()
    }
}

/// (scheme, netloc) of a URL.
fn url_netloc(url: &str) -> Option<(&str, &str)> {
    let i = url.find("://")?;
    let after = &url[i + 3..];
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let netloc = &after[..end];
    let netloc = netloc.rsplit('@').next().unwrap_or(netloc);
    (!netloc.is_empty()).then_some((&url[..i], netloc))
}

/// Splits `host:port` (IPv6 in brackets kept whole).
fn split_port(hostport: &str) -> (&str, Option<u16>) {
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (hostport, None),
        },
        _ => (hostport, None),
    }
}

fn http_scheme(a: Attrs<'_>) -> Option<String> {
    a.first(&["url.scheme", "http.scheme"])
}

/// `peer.service`, else `net.peer.name|net.peer.ip` with a non-default `net.peer.port`.
fn peer_target(a: Attrs<'_>) -> String {
    if let Some(s) = a.s("peer.service") {
        return s;
    }
    let mut target = a
        .first(&["net.peer.name", "net.peer.ip"])
        .unwrap_or_default();
    if let Some(port) = a.int("net.peer.port") {
        let http_default = i64::from(default_http_port(http_scheme(a).as_deref()));
        let db_default = a
            .first(&["db.system.name", "db.system"])
            .and_then(|s| default_db_port(&s))
            .map_or(0, i64::from);
        if port != http_default && port != db_default {
            target = format!("{target}:{port}");
        }
    }
    target
}

fn azure_sdk_target(a: Attrs<'_>) -> Option<String> {
    let addr = a.first(&["server.address", "net.peer.name", "peer.address"]);
    let dest = a.first(&["messaging.destination.name", "message_bus.destination"]);
    match (addr, dest) {
        (Some(a), Some(d)) => Some(format!("{a}/{d}")),
        (Some(a), None) => Some(a),
        (None, Some(d)) => Some(d),
        (None, None) => None,
    }
}

fn status_code(a: Attrs<'_>) -> Option<i64> {
    a.int("http.response.status_code")
        .or_else(|| a.int("http.status_code"))
}

fn server_url(a: Attrs<'_>) -> Option<String> {
    if let Some(u) = a.first(&["url.full", "http.url"]) {
        return Some(u);
    }
    let scheme = http_scheme(a)?;
    let target = match a.s("url.path") {
        Some(path) => match a.s("url.query") {
            Some(q) => format!("{path}?{q}"),
            None => path,
        },
        None => a.s("http.target")?,
    };
    let with_port = |host: String, port: Option<String>| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let host = if let Some(addr) = a.s("server.address") {
        with_port(addr, a.s("server.port"))
    } else if let Some(h) = a.s("http.host") {
        h
    } else if let Some(n) = a.s("http.server_name") {
        with_port(n, a.s("net.host.port"))
    } else if let Some(n) = a.s("net.host.name") {
        with_port(n, a.s("net.host.port"))
    } else {
        return None;
    };
    Some(format!("{scheme}://{host}{target}"))
}

fn client_url(a: Attrs<'_>) -> Option<String> {
    if let Some(u) = a.first(&["url.full", "http.url"]) {
        return Some(u);
    }
    let scheme = http_scheme(a)?;
    let target = a.s("http.target")?;
    if let Some(h) = a.s("http.host") {
        return Some(format!("{scheme}://{h}{target}"));
    }
    let port = a.s("net.peer.port")?;
    let host = a.first(&["net.peer.name", "net.peer.ip"])?;
    Some(format!("{scheme}://{host}:{port}{target}"))
}

fn client_http_target(a: Attrs<'_>, url: Option<&str>) -> String {
    let default_port = i64::from(default_http_port(http_scheme(a).as_deref()));
    if let Some(addr) = a.s("server.address") {
        return match a.int("server.port") {
            Some(p) if p != default_port => format!("{addr}:{p}"),
            _ => addr,
        };
    }
    if let Some(s) = a.s("peer.service") {
        return s;
    }
    if let Some(h) = a.s("http.host") {
        let (host, port) = split_port(&h);
        return match port {
            Some(p) if i64::from(p) == default_port => host.to_owned(),
            _ => h,
        };
    }
    if let Some((_, netloc)) = url.and_then(url_netloc) {
        // The default port comes from the scheme *attribute*, as in Microsoft's exporter.
        let (host, port) = split_port(netloc);
        return match port {
            Some(p) if i64::from(p) == default_port => host.to_owned(),
            _ => netloc.to_owned(),
        };
    }
    peer_target(a)
}

fn db_target(a: Attrs<'_>, system: &str) -> String {
    let mut target = peer_target(a);
    if target.is_empty() {
        if let Some(addr) = a.s("server.address") {
            target = match a.int("server.port") {
                Some(p) if default_db_port(system).map(i64::from) != Some(p) => {
                    format!("{addr}:{p}")
                }
                _ => addr,
            };
        }
    }
    if let Some(db) = a.first(&["db.namespace", "db.name"]) {
        target = if target.is_empty() {
            db
        } else {
            format!("{target}|{db}")
        };
    }
    if target.is_empty() {
        target = system.to_owned();
    }
    target
}

fn links_json(links: &[SpanLink]) -> String {
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

fn millis(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// `timeSinceEnqueued`: the mean of (span start − the link's `enqueuedTime`), from the
/// `otel.link_attributes` field (a JSON array with one object per link, in link order).
fn time_since_enqueued(a: Attrs<'_>, start: SystemTime) -> Option<f64> {
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

fn envelope(
    name: &str,
    ikey: &str,
    time: SystemTime,
    tags: Tags,
    sample_rate: Option<f64>,
    base_type: &str,
    base_data: Value,
) -> Value {
    let mut env = Map::new();
    env.insert("name".into(), json!(name));
    env.insert("iKey".into(), json!(ikey));
    env.insert("tags".into(), Value::Object(tags.0));
    env.insert("time".into(), json!(format_time(time)));
    if let Some(r) = sample_rate {
        env.insert("sampleRate".into(), json!(r));
    }
    env.insert(
        "data".into(),
        json!({"baseType": base_type, "baseData": base_data}),
    );
    Value::Object(env)
}

/// A span as a Request or RemoteDependency envelope.
pub(crate) fn span_envelope(part_a: &PartA, ikey: &str, s: &SpanInput<'_>) -> Value {
    let a = Attrs(s.fields);
    let mut tags = part_a.tags();
    tags.set("ai.operation.id", s.trace_id.clone());
    if let Some(p) = &s.parent_id {
        tags.set("ai.operation.parentId", p.clone());
    }
    field_tags(a, &mut tags);
    let status_error = matches!(s.status, SpanStatus::Error { .. });
    let mut props = properties(a);
    if !s.links.is_empty() {
        props.insert("_MS.links".into(), Value::String(links_json(s.links)));
    }
    let mut meas = measurements(a);
    let duration = format_duration(s.end.duration_since(s.start).unwrap_or_default());
    let mut op_name = s.name.to_owned();
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
                    op_name = format!("{method} {route}");
                } else if let Some(u) = &url {
                    op_name = format!("{method} {}", url_path(u));
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
            let mut bd = Map::new();
            bd.insert("ver".into(), json!(2));
            bd.insert("name".into(), json!(truncate(&op_name, MAX_NAME)));
            bd.insert("id".into(), json!(s.span_id));
            bd.insert("duration".into(), json!(duration));
            bd.insert("responseCode".into(), json!(truncate(&code, MAX_CODE)));
            bd.insert("success".into(), json!(success));
            if let Some(u) = url {
                bd.insert("url".into(), json!(truncate(&u, MAX_URL)));
            }
            if let Some(src) = source {
                bd.insert("source".into(), json!(truncate(&src, MAX_NAME)));
            }
            bd.insert("properties".into(), Value::Object(props));
            bd.insert("measurements".into(), Value::Object(meas));
            (REQUEST, "RequestData", Value::Object(bd))
        }
        TelemetryType::Dependency => {
            let mut code = "0".to_owned();
            let mut dep_type: Option<String>;
            let mut target: Option<String> = None;
            let mut data: Option<String> = None;
            let genai = a.s("gen_ai.system");
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
                            op_name = format!("{method} {}", url_path(u));
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
                        if target.as_deref().map_or(true, str::is_empty) {
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
            let mut bd = Map::new();
            bd.insert("ver".into(), json!(2));
            bd.insert("name".into(), json!(truncate(&op_name, MAX_NAME)));
            bd.insert("id".into(), json!(s.span_id));
            bd.insert("resultCode".into(), json!(truncate(&code, MAX_CODE)));
            bd.insert("duration".into(), json!(duration));
            bd.insert(
                "success".into(),
                json!(classify::dependency_success(status_error)),
            );
            bd.insert("properties".into(), Value::Object(props));
            bd.insert("measurements".into(), Value::Object(meas));
            if let Some(t) = dep_type.filter(|t| !t.is_empty()) {
                bd.insert("type".into(), json!(truncate(&t, MAX_NAME)));
            }
            if let Some(d) = data.filter(|d| !d.is_empty()) {
                bd.insert("data".into(), json!(truncate(&d, MAX_DATA)));
            }
            if let Some(t) = target.filter(|t| !t.is_empty()) {
                bd.insert("target".into(), json!(truncate(&t, MAX_NAME)));
            }
            (DEPENDENCY, "RemoteDependencyData", Value::Object(bd))
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

/// What the layer learnt about an event's `&dyn Error` field beyond its messages: the type
/// name of the error and of each `source()` (outermost first; `None` when unknown) and the
/// backtrace captured with it.
#[derive(Debug, Default, Clone)]
pub(crate) struct ErrorExtra {
    pub(crate) types: Vec<Option<&'static str>>,
    pub(crate) backtrace: Option<String>,
}

/// Where an event happened: its span's ids and fields (for `session.id` and `sampleRate`).
pub(crate) struct EventSpan<'a> {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) fields: &'a [(&'static str, FieldValue)],
    pub(crate) sampler_rate: f64,
}

/// Log attributes Microsoft's log exporter consumes (protocol §4.1), plus this layer's own
/// reserved event fields.
fn log_property_filtered(k: &str) -> bool {
    matches!(
        k,
        "exception.type"
            | "exception.message"
            | "exception.stacktrace"
            | "exception.escaped"
            | "APPLICATION_INSIGHTS_EVENT_MARKER_ATTRIBUTE"
            | "microsoft.custom_event.name"
            | "microsoft.custom_measurements"
            | "enduser.id"
            | "enduser.pseudo.id"
            | "session.id"
            | "message"
            | "error"
    ) || k.starts_with("microsoft.availability.")
        || RESERVED.contains(&k)
}

fn log_properties(a: Attrs<'_>, logger: &str) -> Map<String, Value> {
    let mut props = Map::new();
    for (k, v) in a.0 {
        if k.is_empty() || k.chars().count() > MAX_PROP_KEY || log_property_filtered(k) {
            continue;
        }
        props.insert(
            (*k).to_owned(),
            Value::String(truncate_owned(value_string(v), MAX_PROP_VALUE)),
        );
    }
    if !logger.is_empty() && !props.contains_key("logger_name") {
        props.insert("logger_name".into(), json!(logger));
    }
    props
}

/// The severity: the `otel.severity_number` field (OpenTelemetry's log data model, which
/// has FATAL) when given, else the `tracing` level.
fn severity(a: Attrs<'_>, level: &tracing_core::Level) -> i64 {
    if let Some(n) = a.int("otel.severity_number") {
        return if n < 9 { 0 } else { ((n - 1) / 4 - 1).min(4) };
    }
    match *level {
        tracing_core::Level::TRACE | tracing_core::Level::DEBUG => 0,
        tracing_core::Level::INFO => 1,
        tracing_core::Level::WARN => 2,
        _ => 3,
    }
}

/// An event as a log record (protocol §4.1): an Exception (`exception.type` /
/// `exception.message` fields, or an `error` field holding a `&dyn Error`), an Event
/// (`microsoft.custom_event.name`), an Availability (`microsoft.availability.*`) or a Message. Inside a span it carries the span's ids;
/// outside, no operation ids. `logger` is the event's target.
#[allow(clippy::too_many_arguments)]
pub(crate) fn event_envelope(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    level: &tracing_core::Level,
    logger: &str,
    fields: &[(&'static str, FieldValue)],
    span: Option<&EventSpan<'_>>,
    extra: Option<&ErrorExtra>,
) -> Value {
    let a = Attrs(fields);
    let mut tags = part_a.tags();
    // Events inside a kept span carry its sampling rate, so counts stay right.
    let sample = span.and_then(|sp| sample_rate(Attrs(sp.fields), sp.sampler_rate));
    if let Some(sp) = span {
        tags.set("ai.operation.id", sp.trace_id.clone());
        tags.set("ai.operation.parentId", sp.span_id.clone());
        if !a.has("session.id") {
            if let Some(FieldValue::Str(v)) = Attrs(sp.fields).get("session.id") {
                tags.set("ai.session.id", v.clone());
            }
        }
    }
    field_tags(a, &mut tags);
    if let Some(ip) = a.first(&["client.address", "http.client_ip", "net.peer.ip"]) {
        tags.set("ai.location.ip", ip);
    }
    let severity = severity(a, level);
    // A span event named "exception" (OpenTelemetry's convention) has no body of its own.
    let named_exception = a.s("message").as_deref() == Some("exception");
    let body = a.s("message").filter(|_| !named_exception);
    let error = a.0.iter().find_map(|(_, v)| match v {
        FieldValue::Error(e) => Some(e),
        _ => None,
    });
    let props = log_properties(a, logger);
    let meas = measurements(a);
    // The rule Live Metrics counts `Exceptions/Sec` by, so both layers agree.
    if tracing_insights_azure::classify::is_exception(fields) {
        // An explicit `exception.type` wins, then the Rust type recorded with the error,
        // then the OpenTelemetry `error.type`.
        let types = extra.map(|x| x.types.as_slice()).unwrap_or_default();
        let type_name = a
            .s("exception.type")
            .or_else(|| types.first().copied().flatten().map(str::to_owned))
            .or_else(|| a.s("error.type"))
            .unwrap_or_else(|| "Exception".into());
        // The body (Microsoft's rule); with an error field, the body gives the context and
        // the error its own message ("chat failed: provider rate-limited the request"), so
        // the outer error's message is not lost.
        let msg = match (body.clone(), error) {
            (Some(b), Some(e)) if !e.message.is_empty() && b != e.message => {
                format!("{b}: {}", e.message)
            }
            (b, _) => b
                .or_else(|| a.s("exception.message"))
                .or_else(|| error.map(|e| e.message.clone()))
                .unwrap_or_else(|| "Exception".into()),
        };
        let stack = a
            .s("exception.stacktrace")
            .or_else(|| extra.and_then(|x| x.backtrace.clone()));
        let mut detail = Map::new();
        detail.insert("typeName".into(), json!(truncate(&type_name, MAX_NAME)));
        detail.insert("message".into(), json!(truncate(&msg, MAX_MESSAGE)));
        detail.insert("hasFullStack".into(), json!(stack.is_some()));
        if let Some(st) = stack {
            detail.insert("stack".into(), json!(truncate(&st, MAX_MESSAGE)));
        }
        let mut exceptions = vec![Value::Object(detail)];
        if let Some(e) = error {
            // The `source()` chain, outermost first, each pointing at the one it caused.
            if !e.sources.is_empty() {
                if let Some(Value::Object(first)) = exceptions.first_mut() {
                    first.insert("id".into(), json!(0));
                }
                for (i, src) in e.sources.iter().enumerate() {
                    exceptions.push(json!({
                        "id": i + 1,
                        "outerId": i,
                        "typeName": types.get(i + 1).copied().flatten().unwrap_or("Error"),
                        "message": truncate(src, MAX_MESSAGE),
                        "hasFullStack": false,
                    }));
                }
            }
        }
        let bd = json!({
            "ver": 2,
            "severityLevel": severity,
            "properties": props,
            "measurements": meas,
            "exceptions": exceptions,
        });
        envelope(EXCEPTION, ikey, time, tags, sample, "ExceptionData", bd)
    } else if let Some(name) = a.s("microsoft.custom_event.name").or_else(|| {
        a.has("APPLICATION_INSIGHTS_EVENT_MARKER_ATTRIBUTE")
            .then(|| body.clone().unwrap_or_default())
    }) {
        let bd = json!({
            "ver": 2,
            "name": truncate(&name, 512),
            "properties": props,
            "measurements": meas,
        });
        envelope(EVENT, ikey, time, tags, sample, "EventData", bd)
    } else if let (Some(id), Some(name), Some(duration), Some(success)) = (
        a.s("microsoft.availability.id"),
        a.s("microsoft.availability.name"),
        a.s("microsoft.availability.duration"),
        a.s("microsoft.availability.success"),
    ) {
        let mut bd = Map::new();
        bd.insert("ver".into(), json!(2));
        bd.insert("id".into(), json!(truncate(&id, 512)));
        bd.insert("name".into(), json!(truncate(&name, MAX_NAME)));
        bd.insert("duration".into(), json!(duration));
        bd.insert(
            "success".into(),
            json!(success.eq_ignore_ascii_case("true")),
        );
        if let Some(loc) = a.s("microsoft.availability.runLocation") {
            bd.insert("runLocation".into(), json!(truncate(&loc, MAX_NAME)));
        }
        if let Some(m) = a.s("microsoft.availability.message").or(body) {
            bd.insert("message".into(), json!(truncate(&m, MAX_DATA)));
        }
        bd.insert("properties".into(), Value::Object(props));
        bd.insert("measurements".into(), Value::Object(meas));
        envelope(
            AVAILABILITY,
            ikey,
            time,
            tags,
            sample,
            "AvailabilityData",
            Value::Object(bd),
        )
    } else {
        let message = body.unwrap_or_default();
        let message = truncate(&message, MAX_MESSAGE).trim();
        let message = if message.is_empty() { "n/a" } else { message };
        let bd = json!({
            "ver": 2,
            "message": message,
            "severityLevel": severity,
            "properties": props,
            "measurements": meas,
        });
        envelope(MESSAGE, ikey, time, tags, sample, "MessageData", bd)
    }
}

/// The `_OTELRESOURCE_` metric put first in every batch (protocol §3.9).
pub(crate) fn resource_metric(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    application_id: Option<&str>,
) -> Value {
    let mut props = part_a.resource_props.clone();
    if let Some(id) = application_id {
        props
            .entry("microsoft.applicationId")
            .or_insert_with(|| json!(id));
    }
    let bd = json!({
        "ver": 2,
        "metrics": [{"name": "_OTELRESOURCE_", "value": 0}],
        "properties": props,
    });
    envelope(METRIC, ikey, time, part_a.tags(), None, "MetricData", bd)
}

/// Encodes an envelope as the export queue takes it. An envelope larger than the export's
/// per-item limit would be dropped whole; instead its exception stacks are cut first, then
/// exception messages, then the message and property values, on char boundaries, until it fits.
pub(crate) fn encode(mut env: Value) -> Option<Vec<u8>> {
    let limit = tracing_insights_export::DEFAULT_MAX_ITEM_BYTES;
    let mut bytes = serde_json::to_vec(&env).ok()?;
    for _ in 0..8 {
        if bytes.len() <= limit {
            return Some(bytes);
        }
        let mut excess = bytes.len() - limit + 256;
        let bd = &mut env["data"]["baseData"];
        let mut cut = |v: &mut Value| {
            if excess == 0 {
                return;
            }
            if let Value::String(s) = v {
                let keep = s.len().saturating_sub(excess);
                let mut at = keep;
                while at > 0 && !s.is_char_boundary(at) {
                    at -= 1;
                }
                excess = excess.saturating_sub(s.len() - at);
                s.truncate(at);
            }
        };
        if let Some(details) = bd.get_mut("exceptions").and_then(Value::as_array_mut) {
            for d in details.iter_mut() {
                if let Some(st) = d.get_mut("stack") {
                    cut(st);
                }
            }
            for d in details.iter_mut() {
                if let Some(m) = d.get_mut("message") {
                    cut(m);
                }
            }
        }
        if let Some(m) = bd.get_mut("message") {
            cut(m);
        }
        if let Some(props) = bd.get_mut("properties").and_then(Value::as_object_mut) {
            for v in props.values_mut() {
                cut(v);
            }
        }
        bytes = serde_json::to_vec(&env).ok()?;
    }
    (bytes.len() <= limit).then_some(bytes)
}

/// One aggregated metric point (protocol §4.2): `value` (a sum for counters and histograms,
/// the value for up-down counters and gauges), `count`, and `min`/`max` for histograms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricPoint {
    pub(crate) value: f64,
    pub(crate) count: u64,
    pub(crate) min_max: Option<(f64, f64)>,
}

/// New-semconv standard metrics are recorded in seconds; Breeze wants milliseconds.
const STANDARD_SECONDS: &[&str] = &[
    "http.server.request.duration",
    "http.client.request.duration",
];
/// Old-semconv standard metrics, already in milliseconds.
const STANDARD_MILLIS: &[&str] = &["http.server.duration", "http.client.duration"];
/// Autocollected instruments Microsoft's exporter drops (protocol §4.3).
const DROPPED_METRICS: &[&str] = &[
    "http.server.request.size",
    "http.server.response.size",
    "http.server.active_requests",
    "http.client.request.size",
    "http.client.response.size",
];

/// A histogram point of a standard HTTP duration metric as a pre-aggregated standard metric:
/// its properties replaced by `_MS.MetricId` and friends (protocol §4.3).
fn standard_metric_props(part_a: &PartA, name: &str, a: Attrs<'_>) -> Map<String, Value> {
    let server = name.starts_with("http.server.");
    let code = status_code(a).unwrap_or(0);
    let success = if code != 0 && code < 400 {
        "True"
    } else {
        "False"
    };
    let tag = |k: &str| {
        part_a
            .tags
            .iter()
            .find(|(t, _)| *t == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut p = Map::new();
    if server {
        p.insert("_MS.MetricId".into(), json!("requests/duration"));
        p.insert("_MS.IsAutocollected".into(), json!("True"));
        p.insert("request/resultCode".into(), json!(code.to_string()));
        p.insert("Request.Success".into(), json!(success));
        if a.has("user_agent.synthetic.type") {
            p.insert("operation/synthetic".into(), json!("True"));
        }
    } else {
        p.insert("_MS.MetricId".into(), json!("dependencies/duration"));
        p.insert("_MS.IsAutocollected".into(), json!("True"));
        p.insert("Dependency.Type".into(), json!("http"));
        p.insert("Dependency.Success".into(), json!(success));
        let url = client_url(a);
        p.insert(
            "dependency/target".into(),
            json!(client_http_target(a, url.as_deref())),
        );
        p.insert("dependency/resultCode".into(), json!(code.to_string()));
    }
    p.insert(
        "cloud/roleInstance".into(),
        json!(tag("ai.cloud.roleInstance")),
    );
    p.insert("cloud/roleName".into(), json!(tag("ai.cloud.role")));
    p
}

/// A metric point as a MetricData envelope (protocol §4.2, §4.3); `None` for the
/// autocollected instruments Microsoft's exporter drops.
pub(crate) fn metric_envelope(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    name: &str,
    attrs: &[(&'static str, FieldValue)],
    point: &MetricPoint,
) -> Option<Value> {
    if DROPPED_METRICS.contains(&name) {
        return None;
    }
    let a = Attrs(attrs);
    let standard = point.min_max.is_some()
        && (STANDARD_SECONDS.contains(&name) || STANDARD_MILLIS.contains(&name));
    let scale = if standard && STANDARD_SECONDS.contains(&name) {
        1000.0
    } else {
        1.0
    };
    let props = if standard {
        standard_metric_props(part_a, name, a)
    } else {
        let mut props = Map::new();
        for (k, v) in attrs {
            if k.is_empty() || k.chars().count() > MAX_PROP_KEY {
                continue;
            }
            props.insert(
                (*k).to_owned(),
                Value::String(truncate_owned(value_string(v), MAX_PROP_VALUE)),
            );
        }
        props
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(truncate(name, MAX_NAME)));
    m.insert("value".into(), json!(point.value * scale));
    m.insert("count".into(), json!(point.count));
    if let Some((min, max)) = point.min_max {
        m.insert("min".into(), json!(min * scale));
        m.insert("max".into(), json!(max * scale));
    }
    let mut tags = part_a.tags();
    field_tags_synthetic(a, &mut tags);
    let bd = json!({"ver": 2, "properties": props, "metrics": [Value::Object(m)]});
    Some(envelope(METRIC, ikey, time, tags, None, "MetricData", bd))
}

/// `ai.operation.syntheticSource` when the point's attributes say a bot or test made it.
fn field_tags_synthetic(a: Attrs<'_>, tags: &mut Tags) {
    if matches!(
        a.s("user_agent.synthetic.type").as_deref(),
        Some("bot" | "test")
    ) {
        tags.set("ai.operation.syntheticSource", "True");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let fields = [(Box::leak(k.into_boxed_str()) as &'static str, FieldValue::Str(v))];
            let p = properties(Attrs(&fields));
            for (k, v) in p {
                proptest::prop_assert!(k.chars().count() <= MAX_PROP_KEY);
                proptest::prop_assert!(v.as_str().unwrap().chars().count() <= MAX_PROP_VALUE);
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
        span_envelope(&part_a, "k", &input)["data"]["baseData"].clone()
    }

    fn s(v: &str) -> FieldValue {
        FieldValue::Str(v.into())
    }

    #[test]
    fn documented_dependency_examples() {
        // Protocol §3.8: a kafka PRODUCER span.
        let bd = span(
            SpanKind::Producer,
            &[
                ("messaging.system", s("kafka")),
                ("messaging.destination", s("topic1")),
            ],
        );
        assert_eq!(bd["type"], "Queue Message | kafka");
        assert_eq!(bd["target"], "topic1");
        // §3.4 rule 7: unknown CLIENT, no scheme: the port is kept.
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
        // §3.8: CLIENT HTTP with url.full on :443 and no url.scheme keeps the port.
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
        // Protocol §3.3 captured example.
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
                keys.iter().map(|k| (*k, FieldValue::Str(v.clone()))).collect();
            let bd = span(kind, &fields);
            for (key, max) in [("name", 1024), ("url", 2048), ("source", 1024), ("type", 1024),
                ("target", 1024), ("data", 8192), ("responseCode", 1024), ("resultCode", 1024)] {
                if let Some(x) = bd[key].as_str() {
                    proptest::prop_assert!(x.chars().count() <= max, "{} too long", key);
                }
            }
            let part_a = PartA::new(&Resource::from_attributes([("service.name", v.as_str())]));
            let env = event_envelope(&part_a, "k", UNIX_EPOCH, &tracing_core::Level::INFO, "t",
                &fields, None, None);
            for (k, t) in env["tags"].as_object().unwrap() {
                if let Some(max) = tag_limit(k) {
                    proptest::prop_assert!(t.as_str().unwrap().chars().count() <= max);
                }
            }
        }
    }

    #[test]
    fn euro_property_is_cut_on_a_char_boundary() {
        let fields = [("big", FieldValue::Str("€".repeat(10_000)))];
        let p = properties(Attrs(&fields));
        let v = p["big"].as_str().unwrap();
        assert_eq!(v.chars().count(), MAX_PROP_VALUE);
        assert!(v.chars().all(|c| c == '€'));
    }
}
