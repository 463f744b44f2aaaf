//! The resource: who is sending telemetry (service name, namespace, version, instance,
//! environment), built once and read by every exporter.

use std::borrow::Cow;
use std::fmt;

/// The attributes that describe this process, in OpenTelemetry's resource names
/// (`service.name`, `service.namespace`, `service.version`, `service.instance.id`,
/// `deployment.environment.name`, `cloud.*`, `k8s.*`, `host.name`, `telemetry.sdk.*`).
///
/// Built by [`ResourceBuilder::build`] with this precedence, highest first:
///
/// | source | example |
/// |---|---|
/// | the builder | `.with_service_name("chat-api")` |
/// | `OTEL_SERVICE_NAME` | `service.name` only |
/// | `OTEL_RESOURCE_ATTRIBUTES` | `service.namespace=ai,deployment.environment.name=prod` (percent-decoded) |
/// | what the environment shows | App Service (`WEBSITE_SITE_NAME`, ...), Functions (`FUNCTIONS_WORKER_RUNTIME`), Kubernetes (`KUBERNETES_SERVICE_HOST`, pod name from `HOSTNAME`) |
/// | defaults | `service.name = unknown_service:<executable>`, `host.name`, `telemetry.sdk.*` |
///
/// Nothing here touches the network: cloud metadata endpoints are never probed.
#[derive(Clone, PartialEq, Eq)]
pub struct Resource {
    attributes: Vec<(Cow<'static, str>, String)>,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.attributes.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// `service.name`.
pub const SERVICE_NAME: &str = "service.name";
/// `service.namespace`.
pub const SERVICE_NAMESPACE: &str = "service.namespace";
/// `service.version`.
pub const SERVICE_VERSION: &str = "service.version";
/// `service.instance.id`.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// `deployment.environment.name`.
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment.name";

impl Resource {
    /// A builder that starts empty and reads the environment in [`ResourceBuilder::build`].
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder::default()
    }

    /// The resource from the environment alone (no builder values).
    pub fn from_env() -> Self {
        Self::builder().build()
    }

    /// A resource with exactly these attributes: no environment, no defaults. For tests and
    /// for replaying recorded scenarios.
    pub fn from_attributes<K, V>(attributes: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut r = Self {
            attributes: Vec::new(),
        };
        for (k, v) in attributes {
            r.set(Cow::Owned(k.into()), v.into());
        }
        r
    }

    /// The value of an attribute.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `service.name` (always present after [`ResourceBuilder::build`]).
    pub fn service_name(&self) -> Option<&str> {
        self.get(SERVICE_NAME)
    }

    /// `service.namespace`.
    pub fn service_namespace(&self) -> Option<&str> {
        self.get(SERVICE_NAMESPACE)
    }

    /// `service.version`.
    pub fn service_version(&self) -> Option<&str> {
        self.get(SERVICE_VERSION)
    }

    /// `service.instance.id`.
    pub fn service_instance_id(&self) -> Option<&str> {
        self.get(SERVICE_INSTANCE_ID)
    }

    /// Every attribute, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_str()))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    fn set(&mut self, key: Cow<'static, str>, value: String) {
        match self.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
    }

    fn set_if_absent(&mut self, key: &'static str, value: impl Into<String>) {
        if self.get(key).is_none() {
            self.attributes.push((Cow::Borrowed(key), value.into()));
        }
    }
}

/// Builds a [`Resource`]; values set here win over every environment variable.
#[derive(Debug, Default, Clone)]
pub struct ResourceBuilder {
    explicit: Vec<(Cow<'static, str>, String)>,
    env: Option<Vec<(String, String)>>,
}

impl ResourceBuilder {
    /// Sets `service.name`.
    #[must_use]
    pub fn with_service_name(self, name: impl Into<String>) -> Self {
        self.with_attribute(SERVICE_NAME, name)
    }

    /// Sets `service.namespace`.
    #[must_use]
    pub fn with_service_namespace(self, namespace: impl Into<String>) -> Self {
        self.with_attribute(SERVICE_NAMESPACE, namespace)
    }

    /// Sets `service.version`.
    #[must_use]
    pub fn with_service_version(self, version: impl Into<String>) -> Self {
        self.with_attribute(SERVICE_VERSION, version)
    }

    /// Sets `service.instance.id` (Application Insights' `cloud_RoleInstance`).
    #[must_use]
    pub fn with_service_instance_id(self, id: impl Into<String>) -> Self {
        self.with_attribute(SERVICE_INSTANCE_ID, id)
    }

    /// Sets `deployment.environment.name`.
    #[must_use]
    pub fn with_environment(self, env: impl Into<String>) -> Self {
        self.with_attribute(DEPLOYMENT_ENVIRONMENT, env)
    }

    /// Sets any attribute.
    #[must_use]
    pub fn with_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.explicit.push((key.into(), value.into()));
        self
    }

    /// Reads environment variables from this list instead of the process environment
    /// (for tests: no global state is touched).
    #[must_use]
    pub fn with_env_vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Builds the resource: builder > `OTEL_SERVICE_NAME` > `OTEL_RESOURCE_ATTRIBUTES` >
    /// detected environment > defaults.
    pub fn build(self) -> Resource {
        let env = |name: &str| -> Option<String> {
            let v = match &self.env {
                Some(vars) => vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
                None => std::env::var(name).ok(),
            };
            v.filter(|v| !v.trim().is_empty())
        };
        let mut r = Resource {
            attributes: Vec::new(),
        };
        for (k, v) in self.explicit {
            r.set(k, v);
        }
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            r.set_if_absent(SERVICE_NAME, name.trim());
        }
        if let Some(attrs) = env("OTEL_RESOURCE_ATTRIBUTES") {
            for (k, v) in parse_resource_attributes(&attrs) {
                if r.get(&k).is_none() {
                    r.attributes.push((Cow::Owned(k), v));
                }
            }
        }
        detect(&mut r, &env);
        if r.get(SERVICE_NAME).is_none() {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "rust".into());
            r.set_if_absent(SERVICE_NAME, format!("unknown_service:{exe}"));
        }
        if let Some(host) = hostname(&env) {
            r.set_if_absent("host.name", host);
        }
        r.set_if_absent("telemetry.sdk.name", "tracing-insights");
        r.set_if_absent("telemetry.sdk.language", "rust");
        r.set_if_absent("telemetry.sdk.version", env!("CARGO_PKG_VERSION"));
        r
    }
}

/// Azure App Service, Azure Functions and Kubernetes, from their environment variables
/// (the same variables Microsoft's resource detectors read; no metadata endpoint).
fn detect(r: &mut Resource, env: &dyn Fn(&str) -> Option<String>) {
    let functions = env("FUNCTIONS_WORKER_RUNTIME").is_some();
    if let Some(site) = env("WEBSITE_SITE_NAME") {
        r.set_if_absent("cloud.provider", "azure");
        if functions {
            r.set_if_absent("cloud.platform", "azure_functions");
            r.set_if_absent("faas.name", site.clone());
        } else {
            r.set_if_absent("cloud.platform", "azure_app_service");
        }
        // Microsoft's App Service detector skips service.name on Functions; the Functions
        // host names the role itself. Outside Functions the site is the service.
        if !functions {
            r.set_if_absent(SERVICE_NAME, site);
        }
        for (var, key) in [
            ("REGION_NAME", "cloud.region"),
            ("WEBSITE_SLOT_NAME", "deployment.environment.name"),
            ("WEBSITE_HOSTNAME", "host.id"),
            ("WEBSITE_INSTANCE_ID", SERVICE_INSTANCE_ID),
            ("WEBSITE_HOME_STAMPNAME", "azure.app.service.stamp"),
        ] {
            if let Some(v) = env(var) {
                r.set_if_absent(key, v);
            }
        }
    } else if functions {
        r.set_if_absent("cloud.provider", "azure");
        r.set_if_absent("cloud.platform", "azure_functions");
    }
    if env("KUBERNETES_SERVICE_HOST").is_some() {
        // Kubernetes sets HOSTNAME to the pod name; the downward API is often wired to
        // POD_NAME / POD_NAMESPACE.
        if let Some(pod) = env("POD_NAME")
            .or_else(|| env("K8S_POD_NAME"))
            .or_else(|| env("HOSTNAME"))
        {
            r.set_if_absent("k8s.pod.name", pod);
        }
        if let Some(ns) = env("POD_NAMESPACE").or_else(|| env("K8S_NAMESPACE_NAME")) {
            r.set_if_absent("k8s.namespace.name", ns);
        }
    }
}

/// The machine's host name, the one every layer reports (`host.name`, App Insights' role
/// instance and Live Metrics' machine name): `HOSTNAME` (a Kubernetes pod's name), else
/// `COMPUTERNAME` (Windows), else the kernel's (`/proc/sys/kernel/hostname`); the variables
/// are read through `env` so tests can inject them. `None` when none of them is set.
pub fn hostname(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("HOSTNAME")
        .or_else(|| env("COMPUTERNAME"))
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by `,`, keys and values
/// percent-decoded (the OTel specification's W3C Baggage-like format). Malformed pairs (no
/// `=`, empty key) are skipped, as the specification allows; invalid UTF-8 after decoding is
/// replaced, never a panic.
pub fn parse_resource_attributes(value: &str) -> Vec<(String, String)> {
    value
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = decode(k.trim());
            if k.is_empty() {
                return None;
            }
            Some((k, decode(v.trim())))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_builder_then_service_name_then_attributes() {
        let r = Resource::builder()
            .with_service_version("9")
            .with_env_vars([
                ("OTEL_SERVICE_NAME", "from-name-var"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=from-attrs,service.namespace=ai%20team,service.version=1",
                ),
            ])
            .build();
        assert_eq!(r.service_name(), Some("from-name-var"));
        assert_eq!(r.service_namespace(), Some("ai team"));
        assert_eq!(r.service_version(), Some("9"));
        assert_eq!(r.get("telemetry.sdk.language"), Some("rust"));
    }

    #[test]
    fn app_service_and_kubernetes_detection() {
        let r = Resource::builder()
            .with_env_vars([
                ("WEBSITE_SITE_NAME", "chat-site"),
                ("WEBSITE_INSTANCE_ID", "inst-1"),
                ("REGION_NAME", "westeurope"),
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                ("HOSTNAME", "chat-7d9f-abc"),
            ])
            .build();
        assert_eq!(r.service_name(), Some("chat-site"));
        assert_eq!(r.service_instance_id(), Some("inst-1"));
        assert_eq!(r.get("cloud.platform"), Some("azure_app_service"));
        assert_eq!(r.get("k8s.pod.name"), Some("chat-7d9f-abc"));
        assert_eq!(r.get("host.name"), Some("chat-7d9f-abc"));
    }

    #[test]
    fn defaults_name_the_executable() {
        let r = Resource::builder().with_env_vars::<&str, &str>([]).build();
        assert!(r.service_name().unwrap().starts_with("unknown_service:"));
    }

    #[test]
    fn malformed_attribute_pairs_are_skipped() {
        assert_eq!(
            parse_resource_attributes("a=1,,=2,novalue,b=%E2%82%AC,c=%ZZ"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "€".into()),
                ("c".into(), "%ZZ".into())
            ]
        );
    }
}
