//! # tracing-insights-azure
//!
//! What the Azure layers of `tracing-insights` (Application Insights, Live Metrics) share:
//!
//! - [`ConnectionString`]: Application Insights' connection string, parsed leniently where
//!   Microsoft's parser is needlessly strict (a trailing `;`, whitespace around keys and
//!   values, `=` inside a value, an upper-case GUID) and strictly where it matters (a missing
//!   or malformed instrumentation key or endpoint is a typed [`ConnectionStringError`] that
//!   says what to fix). The instrumentation key never appears in `Debug` output.
//! - [`classify`]: which spans are requests and which are dependencies, dependency types
//!   (the database table), default ports and the success rules.

pub mod classify;
mod connection_string;

pub use connection_string::{
    Authorization, ConnectionString, ConnectionStringError, CONNECTION_STRING_ENV,
    DEFAULT_INGESTION_ENDPOINT, DEFAULT_LIVE_ENDPOINT,
};
