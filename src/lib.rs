//! # tracing-insights
//!
//! Composable `tracing_subscriber` layers. See the member crates.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "correlation")]
pub use tracing_insights_correlation as correlation;
