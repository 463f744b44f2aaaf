//! Part A: the context tags every envelope carries (from the resource and the process),
//! and the tags a span's or event's own fields set.

use super::attributes::{cut, value_cow, Attrs, MAX_PROP_KEY, MAX_PROP_VALUE};
use super::envelope::StrMap;
use crate::text::truncate;
use std::borrow::Cow;
use tracing_insights_correlation::{FieldValue, Resource};

/// Context tag keys a field may set directly (`ai.user.id = "..."`), with their Bond limits.
pub(super) const TAG_LIMITS: &[(&str, usize)] = &[
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

pub(super) fn tag_limit(key: &str) -> Option<usize> {
    TAG_LIMITS.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
}

/// The context tags of one envelope, truncated to their Bond limits.
#[derive(Default)]
pub(crate) struct Tags<'a>(pub(super) StrMap<'a>);

impl<'a> Tags<'a> {
    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Cow<'a, str>>) {
        let value = value.into();
        let value = match tag_limit(key) {
            Some(n) => cut(value, n),
            None => value,
        };
        self.0.insert(key, value);
    }
}

/// What the resource and the process contribute to every envelope (part A), computed once.
#[derive(Debug, Clone)]
pub(crate) struct PartA {
    pub(super) tags: Vec<(&'static str, String)>,
    /// The same tags cut to their limits, sorted: what every envelope starts from.
    sorted_tags: StrMap<'static>,
    pub(super) resource_props: StrMap<'static>,
}

pub(super) fn locale() -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .map(|v| v.split(['.', '@']).next().unwrap_or_default().to_owned())
        .filter(|v| !v.is_empty() && v != "C" && v != "POSIX")
}

pub(super) fn sdk_version() -> String {
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
        let host = tracing_insights_azure::env::hostname();
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
        let mut resource_props = StrMap::default();
        for (k, v) in resource.iter() {
            if !k.is_empty() && k.chars().count() <= MAX_PROP_KEY {
                resource_props.insert(k.to_owned(), truncate(v, MAX_PROP_VALUE).to_owned());
            }
        }
        let mut sorted = Tags::default();
        for (k, v) in &tags {
            sorted.set(k, v.clone());
        }
        Self {
            tags,
            sorted_tags: sorted.0,
            resource_props,
        }
    }

    /// The part A tags, borrowed: an envelope's tags start from these.
    pub(super) fn tags(&self) -> Tags<'_> {
        Tags(self.sorted_tags.borrowed())
    }
}

/// Tags every span and event takes from its fields (user, session, client IP, synthetic
/// source, as Microsoft's exporter reads them), plus any field named
/// after a context tag (`ai.user.id`, ...).
pub(super) fn field_tags<'a>(a: Attrs<'a>, tags: &mut Tags<'a>) {
    if let Some(v) = a.s("enduser.id") {
        tags.set("ai.user.authUserId", v);
    }
    if let Some(v) = a.s("enduser.pseudo.id") {
        tags.set("ai.user.id", v);
    }
    if let Some(FieldValue::Str(v)) = a.get("session.id") {
        tags.set("ai.session.id", v.as_str());
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
            tags.set(k, value_cow(v));
        }
    }
}
