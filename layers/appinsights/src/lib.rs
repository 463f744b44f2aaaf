//! # tracing-insights-appinsights
//!
//! A [`tracing_subscriber::Layer`] that sends `tracing` spans and events to Azure
//! Application Insights (`{IngestionEndpoint}/v2.1/track`), mapped field by field as
//! Microsoft's official exporter (`azure-monitor-opentelemetry-exporter`) maps OpenTelemetry
//! spans: server/consumer spans become **requests**, client/producer/internal spans
//! **dependencies** (HTTP, databases, messaging, Azure SDK, GenAI), events become **traces**
//! (messages) or **exceptions**. Every deliberate difference from that exporter is listed in
//! the conformance crate's `DEVIATIONS.md`.
//!
//! It reads ids, sampling decision, fields, kind, status and resource from the
//! `tracing-insights-correlation` layer, which must be in the same subscriber, below it:
//!
//! ```no_run
//! use std::time::Duration;
//! use tracing_subscriber::prelude::*;
//! use tracing_insights_appinsights::AppInsightsLayer;
//! use tracing_insights_correlation as correlation;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Reads APPLICATIONINSIGHTS_CONNECTION_STRING unless one is given.
//! let (appinsights, guard) = AppInsightsLayer::builder().build()?;
//! tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(appinsights)
//!     .init();
//! tracing::info_span!("GET /chat", otel.kind = "server", http.request.method = "GET",
//!     http.route = "/chat", http.response.status_code = 200).in_scope(|| {
//!     tracing::info!("answered");
//! });
//! guard.shutdown(Duration::from_secs(5))?;
//! # Ok(()) }
//! ```
//!
//! ## Fields it reads
//!
//! OpenTelemetry semantic-convention names as field names (`http.request.method`,
//! `url.full`, `http.route`, `http.response.status_code`, `server.address`,
//! `db.system.name`, `db.query.text`, `messaging.system`, `az.namespace`,
//! `gen_ai.system`, `enduser.id`, `session.id`, ...), the correlation layer's `otel.name`,
//! `otel.kind`, `otel.status_code`, `otel.status_message`, and:
//!
//! | field | effect |
//! |---|---|
//! | `microsoft.custom_measurements` | JSON object → `measurements` (numbers only) |
//! | `_MS.sampleRate` | the envelope's `sampleRate` (else the sampler's percentage when below 100) |
//! | `otel.link_attributes` | JSON array, one object per link in link order (`enqueuedTime` → `timeSinceEnqueued`) |
//! | `ai.user.id`, `ai.session.id`, ... | any App Insights context tag key sets that tag |
//! | an `error` field (`&dyn Error`) on an event or a span | an exception (for a span: at its end), with its `source()` chain |
//!
//! Other fields become `properties` (customDimensions), except the standard ones the
//! mapping consumes. Every schema limit truncates on a char boundary.
//!
//! ## Guarantees
//!
//! Spans are exported when they close, events when they happen; spans the correlation
//! layer's sampler dropped are not exported, nor their events. The application thread only
//! maps and enqueues (`try_send`); a full queue drops and counts ([`Guard::dropped`]). No
//! callback panics into the application. The public API exposes no OpenTelemetry type.

mod layer;
mod mapping;
pub mod text;

pub use layer::{AppInsightsBuilder, AppInsightsLayer, Error};
pub use tracing_insights_azure::{ConnectionString, ConnectionStringError};
pub use tracing_insights_export::{ExportGuard as Guard, ShutdownError};
