//! The builder, its error, and the environment variables it reads.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing_insights_azure::env::{Env, EnvError, EnvSource};
use tracing_insights_azure::{
    Authorization, BearerAuth, ConnectionString, ConnectionStringError, TokenProvider,
};
use tracing_insights_correlation::Resource;

use crate::clock::{Clock, SystemClock};
use crate::collector::Collector;
use crate::controller::{Controller, ControllerStats, Identity};
use crate::guard::LiveMetricsGuard;
use crate::layer::{Active, LiveMetricsLayer};
use crate::processor::{DocumentProcessor, Processors};
use crate::protocol;
use crate::transport::{HttpTransport, Transport};

/// The default bound on documents per post (per second).
pub const DEFAULT_MAX_DOCUMENTS_PER_SECOND: usize = 20;

/// `false` turns Live Metrics off while the Application Insights layer stays on (what
/// Microsoft's distro calls `enable_live_metrics=False`); `true` or unset: on. Anything else
/// is an error naming the variable. `OTEL_SDK_DISABLED=true` turns it off as well.
pub const LIVE_METRICS_ENABLED_ENV: &str = "APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED";

/// Why the layer could not be built or stopped.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LiveMetricsError {
    /// The connection string is missing or malformed.
    #[error("Live Metrics: {0}")]
    ConnectionString(#[from] ConnectionStringError),
    /// Kept for compatibility; no longer returned: `Authorization=AAD` without a token
    /// provider uses the environment's managed identity.
    #[error("Live Metrics: the connection string asks for Entra ID (Authorization=AAD); give a token provider with LiveMetricsBuilder::with_token_provider")]
    MissingTokenProvider,
    /// The `LiveEndpoint` is not an `http(s)://` URL.
    #[error("Live Metrics: the LiveEndpoint {0:?} is not an http:// or https:// URL")]
    InvalidEndpoint(String),
    /// An environment variable or a builder setting is malformed.
    #[error("Live Metrics: {name}: {reason}")]
    InvalidConfig {
        /// The variable or setting.
        name: &'static str,
        /// What it accepts.
        reason: String,
    },
    /// The worker thread could not be started.
    #[error("Live Metrics: could not start the worker thread: {0}")]
    Spawn(#[source] std::io::Error),
}

impl From<EnvError> for LiveMetricsError {
    fn from(e: EnvError) -> Self {
        LiveMetricsError::InvalidConfig {
            name: e.name,
            reason: e.expected.to_owned(),
        }
    }
}

/// Builds a [`LiveMetricsLayer`]. Start with [`LiveMetricsLayer::builder`].
///
/// | setting | default | environment |
/// |---|---|---|
/// | [`with_connection_string`](Self::with_connection_string) | | `APPLICATIONINSIGHTS_CONNECTION_STRING` |
/// | [`with_token_provider`](Self::with_token_provider) | none | |
/// | (everything) | on | `OTEL_SDK_DISABLED=true` or `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false` turn it off |
/// | [`with_request_timeout`](Self::with_request_timeout) | 5 s | |
/// | [`with_max_documents_per_second`](Self::with_max_documents_per_second) | 20 | |
/// | [`with_processor`](Self::with_processor) | none | |
/// | [`with_resource`](Self::with_resource) | the correlation layer's | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` |
/// | [`with_machine_name`](Self::with_machine_name) | the host name | |
/// | [`with_env`](Self::with_env) | the process environment | |
#[derive(Clone)]
pub struct LiveMetricsBuilder {
    connection_string: Option<String>,
    resource: Option<Resource>,
    token_provider: Option<Arc<dyn TokenProvider>>,
    max_documents: usize,
    request_timeout: Duration,
    machine_name: Option<String>,
    stream_id: Option<String>,
    env: Env,
    processors: Vec<Arc<dyn DocumentProcessor>>,
}

impl fmt::Debug for LiveMetricsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<redacted>"),
            )
            .field("resource", &self.resource)
            .field("token_provider", &self.token_provider.is_some())
            .field("max_documents", &self.max_documents)
            .field("request_timeout", &self.request_timeout)
            .field("env", &self.env)
            .field("processors", &self.processors.len())
            .finish_non_exhaustive()
    }
}

impl Default for LiveMetricsBuilder {
    fn default() -> Self {
        Self {
            connection_string: None,
            resource: None,
            token_provider: None,
            max_documents: DEFAULT_MAX_DOCUMENTS_PER_SECOND,
            request_timeout: Duration::from_secs(5),
            machine_name: None,
            stream_id: None,
            env: Env::process(),
            processors: Vec::new(),
        }
    }
}

impl LiveMetricsBuilder {
    /// The connection string (its `LiveEndpoint`, `EndpointSuffix`, `InstrumentationKey`,
    /// `Authorization`). Default: `APPLICATIONINSIGHTS_CONNECTION_STRING`.
    #[must_use]
    pub fn with_connection_string(mut self, cs: impl Into<String>) -> Self {
        self.connection_string = Some(cs.into());
        self
    }

    /// Reads environment variables from `env` instead of the process environment (tests,
    /// or settings kept elsewhere): any [`EnvSource`], the same trait the OTLP layer takes,
    /// e.g. an array of pairs or an [`Env`].
    #[must_use]
    pub fn with_env(mut self, env: impl EnvSource + Send + Sync + 'static) -> Self {
        self.env = Env::from_source(env);
        self
    }

    /// The resource naming this process (`RoleName` = `service.namespace.service.name`,
    /// `Instance` = `service.instance.id`, else the host name), used **only when no
    /// correlation layer is stacked**: with one, its resource wins, so every exporter names
    /// the service alike. Default: [`Resource::from_env`].
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Entra ID bearer tokens (required when the connection string says `Authorization=AAD`):
    /// the same [`TokenProvider`] the Application Insights layer takes, cached until near
    /// expiry; the scope is `https://monitor.azure.com//.default` or the connection string's
    /// `AADAudience` + `/.default`.
    #[must_use]
    pub fn with_token_provider(mut self, provider: impl TokenProvider) -> Self {
        self.token_provider = Some(Arc::new(provider));
        self
    }

    /// At most this many documents per post (per second); the rest are dropped and counted.
    /// Default [`DEFAULT_MAX_DOCUMENTS_PER_SECOND`].
    #[must_use]
    pub fn with_max_documents_per_second(mut self, n: usize) -> Self {
        self.max_documents = n;
        self
    }

    /// Timeout of each ping or post. Default 5 s.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The `MachineName` sent (default: the host name).
    #[must_use]
    pub fn with_machine_name(mut self, name: impl Into<String>) -> Self {
        self.machine_name = Some(name.into());
        self
    }

    /// Adds a document processor: it sees every sample document (request, dependency,
    /// exception, log line) on the worker thread before it is posted, may change or remove
    /// its fields, and drops it by returning `false`. A panic in it drops that document and
    /// is counted. Counters are not affected. Processors run in the order added; see
    /// [`Document`](crate::Document).
    #[must_use]
    pub fn with_processor(mut self, processor: impl DocumentProcessor) -> Self {
        self.processors.push(Arc::new(processor));
        self
    }

    /// The `StreamId` sent (default: 32 random hex digits, new for each layer).
    #[must_use]
    pub fn with_stream_id(mut self, id: impl Into<String>) -> Self {
        self.stream_id = Some(id.into());
        self
    }

    /// Whether the environment turns Live Metrics off (`OTEL_SDK_DISABLED=true` or
    /// [`LIVE_METRICS_ENABLED_ENV`]`=false`); a malformed value is an error naming it.
    fn disabled(&self) -> Result<bool, LiveMetricsError> {
        Ok(self.env.sdk_disabled()? || self.env.flag(LIVE_METRICS_ENABLED_ENV)? == Some(false))
    }

    /// Builds the layer and starts its worker thread.
    ///
    /// With `OTEL_SDK_DISABLED=true` or `APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED=false`
    /// nothing is parsed or started: the layer does nothing,
    /// [`LiveMetricsLayer::is_enabled`] is `false`, no request is made and the guard's
    /// `shutdown` is `Ok`.
    pub fn build(self) -> Result<(LiveMetricsLayer, LiveMetricsGuard), LiveMetricsError> {
        if self.disabled()? {
            return Ok((
                LiveMetricsLayer { inner: None },
                LiveMetricsGuard::disabled(),
            ));
        }
        let timeout = self.request_timeout;
        let (layer, mut controller) = self.build_parts(SystemClock, HttpTransport::new(timeout))?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
        let stats = Arc::new(Mutex::new(ControllerStats::default()));
        let published = stats.clone();
        let layer_alive = layer.inner.as_ref().map(|a| Arc::downgrade(&a.alive));
        let thread = std::thread::Builder::new()
            .name("tracing-insights-live-metrics".into())
            .spawn(move || {
                let _g = tracing::dispatcher::set_default(&tracing::Dispatch::none());
                loop {
                    let wait = controller.poll();
                    // What the guard reports: a copy after each step, never a lock the
                    // application thread takes.
                    *published.lock().unwrap_or_else(PoisonError::into_inner) = controller.stats();
                    match stop_rx.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        // The guard was dropped, not shut down: keep going while the
                        // layer is in use (`let (layer, _) = ...` must not stop Live
                        // Metrics quietly), stop once it is gone.
                        Err(RecvTimeoutError::Disconnected)
                            if layer_alive.as_ref().is_some_and(|w| w.strong_count() > 0) =>
                        {
                            std::thread::sleep(wait.max(Duration::from_millis(100)));
                        }
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                controller.stop();
                let _ = done_tx.try_send(());
            })
            .map_err(LiveMetricsError::Spawn)?;
        let collector = layer.inner.as_ref().map(|a| a.collector.clone());
        Ok((
            layer,
            LiveMetricsGuard::new(stop_tx, done_rx, thread, stats, collector),
        ))
    }

    /// Builds the layer and its [`Controller`] over the given clock and transport, with no
    /// thread: call [`Controller::poll`] yourself (tests, benchmarks). The environment's
    /// off switches are not consulted: the caller drives the loop.
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn build_with(
        self,
        clock: impl Clock,
        transport: impl Transport,
    ) -> Result<(LiveMetricsLayer, Controller), LiveMetricsError> {
        self.build_parts(clock, transport)
    }

    fn build_parts(
        self,
        clock: impl Clock,
        transport: impl Transport,
    ) -> Result<(LiveMetricsLayer, Controller), LiveMetricsError> {
        let cs = ConnectionString::resolve_in(self.connection_string.as_deref(), &self.env)?;
        // Without a token provider, Entra ID asked for by the connection string or
        // `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` uses the environment's managed
        // identity, as the App Insights layer does.
        let token_provider = match self.token_provider.clone() {
            Some(p) => Some(p),
            None => {
                let auth =
                    tracing_insights_azure::auth::AuthenticationString::from_env_in(&self.env)
                        .map_err(|e| LiveMetricsError::InvalidConfig {
                            name: tracing_insights_azure::auth::AUTHENTICATION_STRING_ENV,
                            reason: e.to_string(),
                        })?;
                (auth.is_some() || cs.authorization() == Authorization::EntraId).then(|| {
                    let id = auth.and_then(|a| a.client_id);
                    Arc::new(tracing_insights_azure::ManagedIdentity::from_env_in(
                        &self.env, id,
                    )) as Arc<dyn TokenProvider>
                })
            }
        };
        let base = cs.live_endpoint().trim().to_owned();
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(LiveMetricsError::InvalidEndpoint(base));
        }
        // The builder's resource (else the environment's) until the correlation layer's is
        // adopted when the layer is stacked (see `on_layer`).
        let resource = self.resource.unwrap_or_else(Resource::from_env);
        let machine_name = self
            .machine_name
            .unwrap_or_else(tracing_insights_azure::env::hostname);
        let mut ident = Identity {
            version: format!(
                "rust:tracing-insights-live-metrics/{}",
                env!("CARGO_PKG_VERSION")
            ),
            instance: String::new(),
            role_name: String::new(),
            machine_name,
            stream_id: self.stream_id.unwrap_or_else(protocol::new_stream_id),
            is_web_app: self.env.var("WEBSITE_SITE_NAME").is_some(),
        };
        ident.set_resource(&resource);
        let ident = Arc::new(Mutex::new(ident));
        let mut collector = Collector::new(self.max_documents);
        collector.processors = Processors::new(self.processors);
        let collector = Arc::new(collector);
        let controller = Controller::new(
            Arc::new(clock),
            Box::new(transport),
            collector.clone(),
            cs.instrumentation_key().to_owned(),
            base,
            token_provider
                .map(|p| Arc::new(BearerAuth::new(p, tracing_insights_azure::auth::scope(&cs)))),
            ident.clone(),
        );
        Ok((
            LiveMetricsLayer {
                inner: Some(Active {
                    collector,
                    ident,
                    alive: Arc::new(()),
                }),
            },
            controller,
        ))
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for LiveMetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LiveMetricsError({self})")
    }
}
