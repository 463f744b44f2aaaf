//! # tracing-insights-azure
//!
//! What the Azure layers of `tracing-insights` (Application Insights, Live Metrics) share:
//!
//! - [`ConnectionString`]: Application Insights' connection string, parsed leniently where
//!   Microsoft's parser is needlessly strict (a trailing `;`, whitespace around keys and
//!   values, `=` inside a value, an upper-case GUID) and strictly where it matters (a missing
//!   or malformed instrumentation key or endpoint is a typed [`ConnectionStringError`] that
//!   says what to fix). The instrumentation key never appears in `Debug` output.
//! - [`auth`]: Microsoft Entra ID: the [`TokenProvider`] trait, the bearer-token cache
//!   [`BearerAuth`] the export pipeline calls, the scope rules and
//!   `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`.
//!
//!   There is no adapter for the Azure SDK for Rust's `azure_core::credentials::TokenCredential`:
//!   its `get_token` is `async` and its credentials (managed identity, workload identity)
//!   bring `reqwest` and a `tokio` runtime, which this crate does not require. Wrapping one is
//!   a few lines in the application, which owns its runtime:
//!   `move |scope: &str| rt.block_on(cred.get_token(&[scope], None)).map(...)`.
//! - [`env`](mod@env): the environment variables both layers honour (`OTEL_SDK_DISABLED`,
//!   `OTEL_{TRACES,LOGS,METRICS}_EXPORTER`), the [`Env`] source they read them from, and the
//!   one [`hostname`](env::hostname) both report.
//! - [`classify`]: which spans are requests and which are dependencies, dependency types
//!   (the database table), default ports and the success rules.

pub mod auth;
#[cfg(feature = "azure-core")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure-core")))]
mod azure_core_credential;
pub mod classify;
mod connection_string;
pub mod env;
mod managed_identity;
pub mod process;
mod shared_credential;

pub use connection_string::{
    Authorization, ConnectionString, ConnectionStringError, CONNECTION_STRING_ENV,
    DEFAULT_INGESTION_ENDPOINT, DEFAULT_LIVE_ENDPOINT,
};

pub use auth::{AccessToken, BearerAuth, TokenError, TokenProvider};
#[cfg(feature = "azure-core")]
#[cfg_attr(docsrs, doc(cfg(feature = "azure-core")))]
pub use azure_core_credential::AzureCredential;
pub use env::{Env, EnvError};
pub use managed_identity::{ManagedIdentity, IMDS_ENDPOINT};
pub use shared_credential::SharedCredential;

/// The Azure host suffixes within which a service may redirect a client (what Microsoft's
/// exporters accept for a cross-host redirect),
/// shared by the ingestion exporter and Live Metrics.
pub use tracing_insights_export::redirect::ALLOWED_REDIRECT_SUFFIXES;
