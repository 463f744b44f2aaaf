//! # tracing-insights-presets
//!
//! One-line OTLP settings for the backends people pay for, as **data**: the URL of every
//! signal the backend accepts, the headers it needs, the protocol, the metrics temporality and
//! any resource attributes. The OTLP layer takes a [`Preset`]; nothing here does I/O.
//!
//! ```
//! use tracing_insights_presets::{Honeycomb, Signal, Temporality};
//!
//! let preset = Honeycomb::new("my-ingest-key").eu().with_metrics_dataset("metrics").build().unwrap();
//! let traces = preset.target(Signal::Traces).unwrap();
//! assert_eq!(traces.url(), "https://api.eu1.honeycomb.io/v1/traces");
//! assert_eq!(traces.header("x-honeycomb-team"), Some("my-ingest-key"));
//! assert_eq!(preset.temporality(), Temporality::Cumulative);
//! // Debug never shows a secret.
//! assert!(!format!("{preset:?}").contains("my-ingest-key"));
//! ```
//!
//! Every vendor has a constructor with what it requires and a `from_env()` that reads its
//! documented variables (an error names the variable that is missing or malformed, never the
//! secret's value). [`Preset::with_base_url`] points every signal at another origin (a local
//! receiver in tests, a proxy) and keeps each path.
//!
//! ## Presets
//!
//! | preset | signals | env vars | what it sends |
//! |---|---|---|---|
//! | [`Sentry`] | traces, logs | `SENTRY_DSN` | `{scheme}://{host[:port]}/{prefix}api/{project}/integration/otlp/v1/{traces,logs}`, `x-sentry-auth: sentry sentry_key=<public key>` |
//! | [`Honeycomb`] | traces, logs; metrics with a dataset | `HONEYCOMB_API_KEY`, `HONEYCOMB_DATASET`, `HONEYCOMB_METRICS_DATASET`, `HONEYCOMB_API_ENDPOINT` | `https://api.honeycomb.io` (EU `api.eu1`), `x-honeycomb-team`, `x-honeycomb-dataset` |
//! | [`DatadogAgent`] | traces, metrics, logs (delta) | `DD_AGENT_HOST`, `DD_OTLP_HTTP_PORT` | `http://localhost:4318/v1/*` |
//! | [`DatadogAgentless`] | traces, metrics, logs (delta) | `DD_API_KEY`, `DD_SITE` | `https://otlp.{site}/v1/*`, `dd-api-key` |
//! | [`GrafanaCloud`] | traces, metrics, logs | `GRAFANA_CLOUD_INSTANCE_ID`, `GRAFANA_CLOUD_TOKEN`, `GRAFANA_CLOUD_ZONE` or `GRAFANA_CLOUD_OTLP_ENDPOINT` (or `GRAFANA_OTLP_ENDPOINT`) | `https://otlp-gateway-{zone}.grafana.net/otlp/v1/*`, Basic auth |
//! | [`Axiom`] | traces, logs; metrics with a metrics dataset | `AXIOM_TOKEN`, `AXIOM_DATASET`, `AXIOM_METRICS_DATASET`, `AXIOM_URL` | `https://us-east-1.aws.edge.axiom.co/v1/*`, Bearer, `x-axiom-dataset` / `x-axiom-metrics-dataset` |
//! | [`NewRelic`] | traces, metrics, logs (delta) | `NEW_RELIC_LICENSE_KEY`, `NEW_RELIC_OTLP_ENDPOINT` | `https://otlp.nr-data.net/v1/*` (EU keys: `otlp.eu01`), `api-key` |
//! | [`Dynatrace`] | traces, metrics, logs (delta, protobuf only) | `DT_API_TOKEN`, `DT_ENDPOINT` or `DT_ENVIRONMENT_ID` | `https://{env}.live.dynatrace.com/api/v2/otlp/v1/*`, `Api-Token` |
//! | [`Elastic`] | traces, metrics, logs | `ELASTIC_OTLP_ENDPOINT` + `ELASTIC_API_KEY`, or `ELASTIC_APM_SERVER_URL` + `ELASTIC_APM_SECRET_TOKEN` | `ApiKey` or Bearer |
//! | [`SigNoz`] | traces, metrics, logs | `SIGNOZ_INGESTION_KEY`, `SIGNOZ_REGION`, `SIGNOZ_ENDPOINT` | `https://ingest.{region}.signoz.cloud:443/v1/*`, `signoz-ingestion-key` |
//! | [`Uptrace`] | traces, metrics, logs (delta) | `UPTRACE_DSN` | `https://api.uptrace.dev/v1/*` (self-hosted: the DSN's host), `uptrace-dsn` |
//! | [`Logfire`] | traces, metrics, logs | `LOGFIRE_TOKEN`, `LOGFIRE_BASE_URL` | `https://logfire-{us,eu}.pydantic.dev/v1/*`, `Authorization: <token>` |
//! | [`Langfuse`] | traces | `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`, `LANGFUSE_HOST` | `{host}/api/public/otel/v1/traces`, Basic auth, `x-langfuse-ingestion-version: 4` |
//! | [`Phoenix`] | traces (protobuf only) | `PHOENIX_COLLECTOR_ENDPOINT`, `PHOENIX_API_KEY`, `PHOENIX_PROJECT_NAME`, `PHOENIX_CLIENT_HEADERS` | `{endpoint}/v1/traces`, Bearer, `x-project-name` |
//! | [`LangSmith`] | traces | `LANGSMITH_API_KEY`, `LANGSMITH_PROJECT`, `LANGSMITH_ENDPOINT` | `https://api.smith.langchain.com/otel/v1/traces`, `x-api-key` |
//! | [`collector()`] | traces, metrics, logs | (the OTLP layer's `OTEL_EXPORTER_OTLP_*`) | `http://localhost:4318/v1/*` |
//! | [`custom()`] | traces, metrics, logs | | `{base}/v1/*` plus your headers |
//!
//! A signal a backend does not accept has no target and is not sent to it.
//!
//! ## From the environment alone
//!
//! [`from_env_all`] builds every preset whose trigger variable is set ([`TRIGGERS`] is the
//! table); a preset that is turned on but misconfigured is an error naming the variable:
//!
//! ```
//! let env = [("HONEYCOMB_API_KEY", "key"), ("SENTRY_DSN", "https://pub@o1.ingest.sentry.io/2")];
//! let presets = tracing_insights_presets::from_env_all_with(&env[..]).unwrap();
//! let names: Vec<_> = presets.iter().map(|p| p.name()).collect();
//! assert_eq!(names, ["sentry", "honeycomb"]);
//! ```
//!
//! ## How sure each fact is
//!
//! The URLs and headers follow each vendor's documentation. Two facts are not confirmed there,
//! and are built so that either answer works: Datadog's agentless **traces and logs** URLs
//! (`https://otlp.{site}/v1/{traces,logs}`, the pattern of its documented metrics URL, used by
//! community exporters; override with [`Preset::with_signal_url`]), and Elastic's managed
//! endpoint shape (taken whole from the user, never derived). New Relic's EU and FedRAMP
//! hosts come from community sources that agree with its docs; the EU host is chosen from the
//! license key's `eu01x` prefix, as New Relic's agents do, and `NEW_RELIC_OTLP_ENDPOINT`
//! overrides either.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod env;
mod error;
mod preset;
mod sentry;
mod triggers;
mod validate;
mod vendors;

pub use env::{EnvSource, ProcessEnv};
pub use error::PresetError;
pub use preset::{Header, Preset, Protocol, Signal, Target, Temporality};
pub use sentry::Sentry;
pub use triggers::{from_env_all, from_env_all_with, Trigger, TRIGGERS};
pub use vendors::{
    collector, custom, Axiom, DatadogAgent, DatadogAgentless, Dynatrace, Elastic, GrafanaCloud,
    Honeycomb, LangSmith, Langfuse, Logfire, NewRelic, Phoenix, SigNoz, Uptrace, DATADOG_SITES,
};
