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
//! - A named worker thread runs the QuickPulse control loop: it pings every 5 s until the
//!   service says somebody watches (honouring the service's polling-interval hint, every
//!   60 s after a minute of no subscription), then posts one data point per second; it goes
//!   back to pinging when the service says nobody watches or after 20 s of failed posts.
//!   A redirect (`x-ms-qps-service-endpoint-redirect-v2`) is followed only to `https` hosts
//!   on Azure Monitor's domains (`*.monitor.azure.com`, `*.services.visualstudio.com` and
//!   the sovereign clouds' equivalents).
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
//! - The control loop runs over an injectable clock and transport: with the `testing`
//!   feature, `LiveMetricsBuilder::build_with` gives the `testing::Controller` to drive by
//!   hand (the crate's state-machine and replay tests, the benchmarks).
//!
//! ## Without a `tracing` subscriber
//!
//! [`LiveMetricsBuilder::build_sink`] gives a [`LiveMetricsSink`] instead of a layer: spans
//! ([`LiveSpan`]) and log records finished elsewhere (the OpenTelemetry SDK exporter of
//! `tracing-insights-opentelemetry`) feed the same counters and documents.
//!
//! ## Document processors
//!
//! [`LiveMetricsBuilder::with_processor`] adds code that sees every sample document on the
//! worker thread before it is posted ([`Document`]: its type and fields), may change or
//! remove fields, or drop it; a panic drops that document and is counted. Counters and
//! derived metrics still count every item.
//!
//! ## Turning it off
//!
//! `OTEL_SDK_DISABLED=true`, or [`LIVE_METRICS_ENABLED_ENV`]
//! (`APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED`) `=false` while Application Insights stays on,
//! make [`LiveMetricsBuilder::build`] return a layer that does nothing
//! ([`LiveMetricsLayer::is_enabled`] is `false`), start no thread and make no request. The
//! builder's settings are tabled on [`LiveMetricsBuilder`].
//!
//! See `DEVIATIONS.md` in the crate for where this differs from Microsoft's Python distro.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod clock;
mod collector;
mod config;
mod controller;
mod guard;
mod layer;
mod perf;
mod processor;
mod protocol;
mod sdk;
mod telemetry;
mod transport;

pub use builder::{
    LiveMetricsBuilder, LiveMetricsError, DEFAULT_MAX_DOCUMENTS_PER_SECOND,
    LIVE_METRICS_ENABLED_ENV,
};
pub use guard::LiveMetricsGuard;
pub use layer::LiveMetricsLayer;
pub use processor::{Document, DocumentProcessor};
pub use sdk::{LiveMetricsSink, LiveSpan};
pub use telemetry::is_exception;
pub use tracing_insights_azure::env::{Env, EnvSource, SDK_DISABLED_ENV};
/// The Entra ID token source, shared with the Application Insights layer.
pub use tracing_insights_azure::{
    AccessToken, ManagedIdentity, SharedCredential, TokenError, TokenProvider,
};
pub use tracing_insights_export::{DropReason, ExportStats, ShutdownError};

/// The control loop's parts, to drive it by hand: an injectable clock and transport, the
/// controller, its states, intervals and the protocol's formats. For this crate's tests and
/// the benchmarks; not a stable API.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing {
    pub use crate::clock::{Clock, ManualClock, SystemClock};
    pub use crate::controller::{
        Controller, ControllerStats, LiveState, LONG_PING_INTERVAL, POST_FAILURE_PERIOD,
        POST_INTERVAL, SHORT_PING_INTERVAL, SHORT_PING_PERIOD,
    };
    pub use crate::protocol::{
        dotnet_ticks, iso8601_duration, redirect_target, API_VERSION, INVARIANT_VERSION,
    };
    pub use crate::transport::{CallKind, HttpTransport, QpsRequest, QpsResponse, Transport};
}
