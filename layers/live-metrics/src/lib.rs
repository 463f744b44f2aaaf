//! # tracing-insights-live-metrics
//!
//! A [`tracing_subscriber::Layer`] that feeds Azure Monitor **Live Metrics** (QuickPulse): the
//! second-by-second stream the Azure portal shows while somebody has the Live Metrics page
//! open: request and dependency rates, failures and durations, exceptions, process CPU and
//! memory, sample documents (requests, dependencies, exceptions, traces), and the metrics
//! and document filters the portal's user configures.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! use tracing_insights_correlation as correlation;
//! use tracing_insights_live_metrics::LiveMetricsLayer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Reads APPLICATIONINSIGHTS_CONNECTION_STRING unless one is given in code.
//! let (live, guard) = LiveMetricsLayer::builder().build()?;
//! tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(live)
//!     .init();
//! tracing::info_span!("GET /items", otel.kind = "server", http.request.method = "GET",
//!     http.response.status_code = 200).in_scope(|| {});
//! guard.shutdown(std::time::Duration::from_secs(2))?;
//! # Ok(()) }
//! ```
//!
//! ## How it works
//!
//! - The layer reads the span record the correlation layer keeps (stack it after
//!   `tracing_insights_correlation::layer()`): request or dependency, success, duration, URL,
//!   status codes (the same classification as the Application Insights layer,
//!   `tracing_insights_azure::classify`). Events become exceptions ([`is_exception`]) or traces.
//! - A named worker thread runs the QuickPulse [`Controller`]: it pings every 5 s until the
//!   service says somebody watches (honouring the service's polling-interval hint, every
//!   60 s after a minute of no subscription), then posts one data point per second; it goes
//!   back to pinging when the service says nobody watches or after 20 s of failed posts.
//!   A redirect (`x-ms-qps-service-endpoint-redirect-v2`) is followed only to `https` hosts
//!   on Azure Monitor's domains ([`redirect_target`]).
//! - **Cheap when nobody watches**: every span close and event costs one relaxed atomic load
//!   until the service subscribes. While subscribed, counters are sharded atomics, the
//!   collection configuration is read through a per-thread cache, and documents go into a
//!   bounded buffer behind a `try_lock` (the application thread never waits; when the
//!   buffer is busy or full the document is dropped and counted).
//! - Live Metrics counts **every** span and event the layer sees, sampled or not (the
//!   portal shows the real rates); documents are not limited to sampled traces either.
//! - Collection configuration from the service (derived metrics, document streams) is
//!   validated; what is rejected is reported back in `CollectionConfigurationErrors`.
//!   Filters in a group are AND-ed, groups are OR-ed.
//! - The control loop runs over an injectable [`Clock`] and [`Transport`]:
//!   [`LiveMetricsBuilder::build_with`] gives the [`Controller`] to drive by hand.
//!
//! See `DEVIATIONS.md` in the crate for where this differs from Microsoft's Python distro.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod collector;
mod config;
mod controller;
mod perf;
pub mod protocol;
mod telemetry;
mod transport;

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_core::span::Id;
use tracing_core::{Event, Subscriber};
/// The Entra ID token source, shared with the Application Insights layer.
pub use tracing_insights_azure::{AccessToken, TokenError, TokenProvider};
use tracing_insights_azure::{Authorization, BearerAuth, ConnectionString, ConnectionStringError};
use tracing_insights_correlation::{CorrelationLayer, Resource, SpanData};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use controller::{
    Controller, ControllerStats, LiveState, LONG_PING_INTERVAL, POST_FAILURE_PERIOD, POST_INTERVAL,
    SHORT_PING_INTERVAL, SHORT_PING_PERIOD,
};
pub use protocol::{
    dotnet_ticks, iso8601_duration, redirect_target, ALLOWED_REDIRECT_SUFFIXES, API_VERSION,
    INVARIANT_VERSION,
};
pub use telemetry::is_exception;
pub use transport::{CallKind, QpsRequest, QpsResponse, Transport, UreqTransport};

use collector::Collector;
use controller::Identity;

/// The default bound on documents per post (per second).
pub const DEFAULT_MAX_DOCUMENTS_PER_SECOND: usize = 20;

/// Why the layer could not be built or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string is missing or malformed.
    #[error("Live Metrics: {0}")]
    ConnectionString(#[from] ConnectionStringError),
    /// `Authorization=AAD` without a token provider.
    #[error("Live Metrics: the connection string asks for Entra ID (Authorization=AAD); give a token provider with LiveMetricsBuilder::with_token_provider")]
    MissingTokenProvider,
    /// The `LiveEndpoint` is not an `http(s)://` URL.
    #[error("Live Metrics: the LiveEndpoint {0:?} is not an http:// or https:// URL")]
    InvalidEndpoint(String),
    /// The worker thread could not be started.
    #[error("Live Metrics: could not start the worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The worker did not stop in time (it may be waiting on a slow HTTP call).
    #[error("Live Metrics: the worker did not stop within {0:?}")]
    ShutdownTimeout(Duration),
}

/// Builds a [`LiveMetricsLayer`]. Start with [`LiveMetricsLayer::builder`].
#[derive(Clone)]
pub struct LiveMetricsBuilder {
    connection_string: Option<String>,
    resource: Option<Resource>,
    token_provider: Option<Arc<dyn TokenProvider>>,
    max_documents: usize,
    request_timeout: Duration,
    machine_name: Option<String>,
    stream_id: Option<String>,
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

    /// The resource naming this process (`RoleName` = `service.namespace.service.name`,
    /// `Instance` = `service.instance.id`, else the host name). Give the correlation layer's
    /// resource (`CorrelationLayer::resource`) to keep them equal. Default:
    /// [`Resource::from_env`].
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

    /// The `StreamId` sent (default: 32 random hex digits, new for each layer).
    #[must_use]
    pub fn with_stream_id(mut self, id: impl Into<String>) -> Self {
        self.stream_id = Some(id.into());
        self
    }

    /// Builds the layer and starts its worker thread.
    pub fn build(self) -> Result<(LiveMetricsLayer, LiveMetricsGuard), Error> {
        let timeout = self.request_timeout;
        let (layer, mut controller) =
            self.build_with(SystemClock::default(), UreqTransport::new(timeout))?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("tracing-insights-live-metrics".into())
            .spawn(move || {
                let _g =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
                loop {
                    let wait = controller.poll();
                    match stop_rx.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                controller.stop();
                let _ = done_tx.try_send(());
            })
            .map_err(Error::Spawn)?;
        Ok((
            layer,
            LiveMetricsGuard {
                stop: Some(stop_tx),
                done: done_rx,
                thread: Some(thread),
            },
        ))
    }

    /// Builds the layer and its [`Controller`] over the given clock and transport, with no
    /// thread: call [`Controller::poll`] yourself (tests, a custom scheduler).
    pub fn build_with(
        self,
        clock: impl Clock,
        transport: impl Transport,
    ) -> Result<(LiveMetricsLayer, Controller), Error> {
        let cs = ConnectionString::resolve(self.connection_string.as_deref())?;
        if cs.authorization() == Authorization::EntraId && self.token_provider.is_none() {
            return Err(Error::MissingTokenProvider);
        }
        let base = cs.live_endpoint().trim().to_owned();
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(Error::InvalidEndpoint(base));
        }
        // Without an explicit resource, start from the environment's and adopt the
        // correlation layer's as soon as the layer is stacked (see `on_layer`).
        let adopt_resource = self.resource.is_none();
        let resource = self.resource.unwrap_or_else(Resource::from_env);
        let machine_name = self.machine_name.unwrap_or_else(protocol::hostname);
        let mut ident = Identity {
            version: format!(
                "rust:tracing-insights-live-metrics/{}",
                env!("CARGO_PKG_VERSION")
            ),
            instance: String::new(),
            role_name: String::new(),
            machine_name,
            stream_id: self.stream_id.unwrap_or_else(protocol::new_stream_id),
            is_web_app: std::env::var_os("WEBSITE_SITE_NAME").is_some(),
        };
        ident.set_resource(&resource);
        let ident = Arc::new(Mutex::new(ident));
        let collector = Arc::new(Collector::new(self.max_documents));
        let controller = Controller::new(
            Arc::new(clock),
            Box::new(transport),
            collector.clone(),
            cs.instrumentation_key().to_owned(),
            base,
            self.token_provider
                .map(|p| Arc::new(BearerAuth::new(p, tracing_insights_azure::auth::scope(&cs)))),
            ident.clone(),
        );
        Ok((
            LiveMetricsLayer {
                collector,
                adopt: adopt_resource.then(|| ident.clone()),
            },
            controller,
        ))
    }
}

/// The Live Metrics layer. Stack it after the correlation layer, whose span record it reads.
#[derive(Clone)]
pub struct LiveMetricsLayer {
    collector: Arc<Collector>,
    /// Set when the builder had no resource: the correlation layer's replaces the
    /// environment's in the identity every ping and post carries.
    adopt: Option<Arc<Mutex<Identity>>>,
}

impl fmt::Debug for LiveMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsLayer")
            .field("collecting", &self.collector.is_collecting())
            .finish()
    }
}

impl LiveMetricsLayer {
    /// A builder with the defaults.
    pub fn builder() -> LiveMetricsBuilder {
        LiveMetricsBuilder::default()
    }

    /// Whether somebody watches (the service has subscribed) and the layer is collecting.
    pub fn is_collecting(&self) -> bool {
        self.collector.is_collecting()
    }
}

impl LiveMetricsLayer {
    fn adopt(&self, correlation: &CorrelationLayer) {
        if let Some(ident) = &self.adopt {
            ident
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .set_resource(correlation.resource());
        }
    }
}

impl<S> Layer<S> for LiveMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // As the other exporters: `on_layer` (forwarded by `Option<L>`) and
    // `on_register_dispatch` (which sees the whole stack).
    fn on_layer(&mut self, subscriber: &mut S) {
        let subscriber: &dyn Subscriber = subscriber;
        if let Some(correlation) = subscriber.downcast_ref::<CorrelationLayer>() {
            self.adopt(correlation);
        }
    }

    fn on_register_dispatch(&self, dispatch: &tracing_core::Dispatch) {
        if let Some(correlation) = dispatch.downcast_ref::<CorrelationLayer>() {
            self.adopt(correlation);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !self.collector.is_collecting() {
            return;
        }
        if !self.collector.wants_detail() {
            let mut probe = telemetry::ExceptionProbe::default();
            event.record(&mut probe);
            let ty = if probe.0 {
                telemetry::ItemType::Exception
            } else {
                telemetry::ItemType::Trace
            };
            self.collector.count(ty, true, Duration::ZERO);
            return;
        }
        let mut fields = telemetry::EventFields::default();
        event.record(&mut fields);
        let item = telemetry::event_item(&fields.fields);
        self.collector.observe(&item);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.collector.is_collecting() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(data) = ext.get::<SpanData>() else {
            return;
        };
        if self.collector.wants_detail() {
            let item = telemetry::span_item(data);
            self.collector.observe(&item);
        } else {
            let (ty, success, duration) = telemetry::span_basics(data);
            self.collector.count(ty, success, duration);
        }
    }
}

/// Stops the Live Metrics worker. `Drop` signals it and waits at most 100 ms; call
/// [`LiveMetricsGuard::shutdown`] to wait longer and learn whether it stopped.
#[must_use = "dropping the guard stops Live Metrics"]
pub struct LiveMetricsGuard {
    stop: Option<mpsc::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for LiveMetricsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsGuard")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl LiveMetricsGuard {
    /// Stops the worker, waiting up to `timeout` for it (a ping or post in flight ends
    /// first, bounded by the request timeout). Nothing is flushed: Live Metrics is live.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), Error> {
        self.stop_within(timeout)
    }

    fn stop_within(&mut self, timeout: Duration) -> Result<(), Error> {
        let Some(stop) = self.stop.take() else {
            return Ok(());
        };
        let _ = stop.send(());
        drop(stop);
        match self.done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(Error::ShutdownTimeout(timeout)),
        }
    }
}

impl Drop for LiveMetricsGuard {
    fn drop(&mut self) {
        let _ = self.stop_within(Duration::from_millis(100));
    }
}
