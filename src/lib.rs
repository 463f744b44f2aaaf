//! # tracing-insights
//!
//! Composable `tracing_subscriber` layers: W3C correlation ids in every log line
//! (`operation_Id` / `operation_ParentId`) and the same ids in every exporter stacked on top
//! (Application Insights, Live Metrics, OTLP).
//!
//! This facade re-exports the member crates behind features, like the `sentry` crate does:
//!
//! | feature | default | re-exports |
//! |---|---|---|
//! | `correlation` | yes | [`correlation`]: ids, sampler, resource, JSON/text log formats |
//! | `appinsights` | yes | `appinsights`: the Application Insights exporter |
//! | `azure-core` | no | `azure::AzureCredential`: Entra ID tokens from the Azure SDK for Rust's credentials |
//! | `live-metrics` | yes | `live_metrics`: the Azure Live Metrics (QuickPulse) stream |
//! | `otlp` | yes | `otlp`: OTLP export (HTTP/protobuf, HTTP/JSON) with the same ids; implies `presets` |
//! | `otlp-grpc` | no | OTLP/gRPC for the `otlp` layer |
//! | `presets` | yes | `presets`: OTLP backend presets as data (Sentry, Honeycomb, Datadog, ...) |
//! | `testing` | no | the correlation layer's injectable clock and id generator |
//!
//! [`TelemetryGuard`] holds every exporter's guard and shuts them down in order.
//!
//! ```
//! use tracing_insights::correlation;
//! use tracing_subscriber::prelude::*;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(correlation::layer())
//!     .with(correlation::json().layer());
//! # drop(subscriber);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod guard;

pub use guard::{ExporterGuard, ShutdownErrors, TelemetryGuard};

#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub use tracing_insights_correlation as correlation;

#[cfg(feature = "appinsights")]
#[cfg_attr(docsrs, doc(cfg(feature = "appinsights")))]
pub use tracing_insights_appinsights as appinsights;

#[cfg(feature = "live-metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "live-metrics")))]
pub use tracing_insights_live_metrics as live_metrics;

/// What the Azure layers share: connection string, Entra ID token providers.
#[cfg(any(feature = "appinsights", feature = "live-metrics"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "appinsights", feature = "live-metrics")))
)]
pub use tracing_insights_azure as azure;

#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use tracing_insights_otlp as otlp;

#[cfg(feature = "presets")]
#[cfg_attr(docsrs, doc(cfg(feature = "presets")))]
pub use tracing_insights_presets as presets;

// The README's examples are compiled and run as doc tests.
#[cfg(all(doctest, feature = "correlation"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
