//! Which preset a variable in the environment turns on.
//!
//! [`TRIGGERS`] is the table: a preset is wanted when any of its trigger variables is set (not
//! blank); [`from_env_all`] then builds every wanted preset from its own documented variables.

use crate::env::{EnvSource, ProcessEnv};
use crate::error::PresetError;
use crate::preset::Preset;
use crate::sentry::Sentry;
use crate::vendors::{
    Axiom, DatadogAgentless, Dynatrace, Elastic, GrafanaCloud, Honeycomb, LangSmith, Langfuse,
    Logfire, NewRelic, Phoenix, SigNoz, Uptrace,
};
use std::fmt;

/// One row of [`TRIGGERS`]: the preset, the variables that turn it on, and how it reads the
/// environment once on.
#[derive(Clone, Copy)]
pub struct Trigger {
    /// The preset's name, as [`Preset::name`] returns it.
    pub preset: &'static str,
    /// Any one of these, set and not blank, turns the preset on.
    pub vars: &'static [&'static str],
    /// Builds the preset from its documented variables (the vendor's `from_env_with`).
    pub from_env: fn(&dyn EnvSource) -> Result<Preset, PresetError>,
}

impl Trigger {
    /// Whether `env` turns this preset on.
    pub fn is_set(&self, env: &(impl EnvSource + ?Sized)) -> bool {
        self.vars.iter().any(|v| env.var(v).is_some())
    }
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger")
            .field("preset", &self.preset)
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

/// The trigger variables of every preset that the environment alone can turn on, in the
/// order [`from_env_all`] builds them.
///
/// | preset | turned on by |
/// |---|---|
/// | sentry | `SENTRY_DSN` |
/// | honeycomb | `HONEYCOMB_API_KEY` |
/// | datadog (agentless) | `DD_API_KEY` |
/// | grafana-cloud | `GRAFANA_CLOUD_TOKEN`, `GRAFANA_OTLP_ENDPOINT` |
/// | axiom | `AXIOM_TOKEN` |
/// | newrelic | `NEW_RELIC_LICENSE_KEY` |
/// | dynatrace | `DT_API_TOKEN` |
/// | elastic | `ELASTIC_OTLP_ENDPOINT`, `ELASTIC_APM_SERVER_URL` |
/// | signoz | `SIGNOZ_INGESTION_KEY` |
/// | uptrace | `UPTRACE_DSN` |
/// | logfire | `LOGFIRE_TOKEN` |
/// | langfuse | `LANGFUSE_PUBLIC_KEY` |
/// | phoenix | `PHOENIX_COLLECTOR_ENDPOINT` |
/// | langsmith | `LANGSMITH_API_KEY` |
///
/// The Datadog agent and a plain collector have no trigger: their variables
/// (`DD_AGENT_HOST`, `OTEL_EXPORTER_OTLP_ENDPOINT`) mean other things too.
pub const TRIGGERS: &[Trigger] = &[
    Trigger {
        preset: "sentry",
        vars: &["SENTRY_DSN"],
        from_env: |env| Sentry::from_env_with(env),
    },
    Trigger {
        preset: "honeycomb",
        vars: &["HONEYCOMB_API_KEY"],
        from_env: |env| Honeycomb::from_env_with(env),
    },
    Trigger {
        preset: "datadog",
        vars: &["DD_API_KEY"],
        from_env: |env| DatadogAgentless::from_env_with(env),
    },
    Trigger {
        preset: "grafana-cloud",
        vars: &["GRAFANA_CLOUD_TOKEN", "GRAFANA_OTLP_ENDPOINT"],
        from_env: |env| GrafanaCloud::from_env_with(env),
    },
    Trigger {
        preset: "axiom",
        vars: &["AXIOM_TOKEN"],
        from_env: |env| Axiom::from_env_with(env),
    },
    Trigger {
        preset: "newrelic",
        vars: &["NEW_RELIC_LICENSE_KEY"],
        from_env: |env| NewRelic::from_env_with(env),
    },
    Trigger {
        preset: "dynatrace",
        vars: &["DT_API_TOKEN"],
        from_env: |env| Dynatrace::from_env_with(env),
    },
    Trigger {
        preset: "elastic",
        vars: &["ELASTIC_OTLP_ENDPOINT", "ELASTIC_APM_SERVER_URL"],
        from_env: |env| Elastic::from_env_with(env),
    },
    Trigger {
        preset: "signoz",
        vars: &["SIGNOZ_INGESTION_KEY"],
        from_env: |env| SigNoz::from_env_with(env),
    },
    Trigger {
        preset: "uptrace",
        vars: &["UPTRACE_DSN"],
        from_env: |env| Uptrace::from_env_with(env),
    },
    Trigger {
        preset: "logfire",
        vars: &["LOGFIRE_TOKEN"],
        from_env: |env| Logfire::from_env_with(env),
    },
    Trigger {
        preset: "langfuse",
        vars: &["LANGFUSE_PUBLIC_KEY"],
        from_env: |env| Langfuse::from_env_with(env),
    },
    Trigger {
        preset: "phoenix",
        vars: &["PHOENIX_COLLECTOR_ENDPOINT"],
        from_env: |env| Phoenix::from_env_with(env),
    },
    Trigger {
        preset: "langsmith",
        vars: &["LANGSMITH_API_KEY"],
        from_env: |env| LangSmith::from_env_with(env),
    },
];

/// Every preset whose trigger variable ([`TRIGGERS`]) is set in the process environment,
/// built from its documented variables. Empty when none is set.
///
/// A preset that is turned on but misconfigured (a variable it requires missing, a malformed
/// value) is an error naming the variable, never skipped.
pub fn from_env_all() -> Result<Vec<Preset>, PresetError> {
    from_env_all_with(&ProcessEnv)
}

/// [`from_env_all`] reading `env` instead of the process environment.
pub fn from_env_all_with(env: &(impl EnvSource + ?Sized)) -> Result<Vec<Preset>, PresetError> {
    let env = &Dyn(env);
    TRIGGERS
        .iter()
        .filter(|t| t.is_set(env))
        .map(|t| (t.from_env)(env))
        .collect()
}

/// Lets an unsized source (a slice of pairs) be passed as `&dyn EnvSource`.
struct Dyn<'a, E: ?Sized>(&'a E);

impl<E: EnvSource + ?Sized> EnvSource for Dyn<'_, E> {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name)
    }
}
