//! Every preset but Sentry (which derives its URLs from a DSN, in `sentry.rs`), one file per
//! vendor.
//!
//! Each vendor is a small builder: `new(...)` with what is required, consuming `with_*` /
//! region methods, `build()`, and `from_env()` / `from_env_with(env)` reading the vendor's
//! documented variables. Secrets are never shown by `Debug`.

use crate::env::EnvSource;
use crate::error::PresetError;
use crate::preset::Signal;
use base64::Engine as _;

pub(crate) const ALL: &[Signal] = &[Signal::Traces, Signal::Metrics, Signal::Logs];
pub(crate) const TRACES: &[Signal] = &[Signal::Traces];

pub(crate) fn required(
    env: &(impl EnvSource + ?Sized),
    preset: &'static str,
    var: &'static str,
    what: &'static str,
) -> Result<String, PresetError> {
    env.var(var)
        .map(|v| v.trim().to_owned())
        .ok_or(PresetError::MissingVar { preset, var, what })
}

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `Debug` for builders: the type name and the non-secret fields only.
macro_rules! redacted_debug {
    ($ty:ident { $($field:ident),* }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

mod axiom;
mod collector;
mod datadog;
mod dynatrace;
mod elastic;
mod grafana;
mod honeycomb;
mod langfuse;
mod langsmith;
mod logfire;
mod new_relic;
mod phoenix;
mod signoz;
mod uptrace;

pub use axiom::Axiom;
pub use collector::{collector, custom};
pub use datadog::{DatadogAgent, DatadogAgentless, DATADOG_SITES};
pub use dynatrace::Dynatrace;
pub use elastic::Elastic;
pub use grafana::GrafanaCloud;
pub use honeycomb::Honeycomb;
pub use langfuse::Langfuse;
pub use langsmith::LangSmith;
pub use logfire::Logfire;
pub use new_relic::NewRelic;
pub use phoenix::Phoenix;
pub use signoz::SigNoz;
pub use uptrace::Uptrace;
