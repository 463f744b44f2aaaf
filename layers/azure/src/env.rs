//! The environment variables the Azure layers read, and where they read them from.
//!
//! Every exporter takes its environment through one trait, [`EnvSource`] (the presets
//! crate's, also taken by the OTLP layer): the process environment by default, or anything
//! that answers `var(name)` (a slice of pairs in tests, settings kept elsewhere), so a test
//! never has to touch global state. Both Azure builders take one with `with_env`; [`Env`] is
//! the cloneable handle they keep, with the parsing rules they share.

use std::fmt;
use std::sync::Arc;
pub use tracing_insights_presets::{EnvSource, ProcessEnv};

/// `true` turns every exporter off: the layer does nothing, starts no thread and sends
/// nothing (OpenTelemetry's variable, honoured by every exporter of this project).
pub const SDK_DISABLED_ENV: &str = "OTEL_SDK_DISABLED";

/// `none` turns span export off (OpenTelemetry's variable; any other value leaves the Azure
/// exporters on, since it names exporters of other kinds).
pub const TRACES_EXPORTER_ENV: &str = "OTEL_TRACES_EXPORTER";

/// `none` turns log export (events) off, as [`TRACES_EXPORTER_ENV`] does for spans.
pub const LOGS_EXPORTER_ENV: &str = "OTEL_LOGS_EXPORTER";

/// `none` turns metric export off, as [`TRACES_EXPORTER_ENV`] does for spans.
pub const METRICS_EXPORTER_ENV: &str = "OTEL_METRICS_EXPORTER";

/// A variable that is set but malformed. The message names the variable and says what it
/// accepts; it never shows the value (it may be a secret).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {expected}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// What the variable accepts.
    pub expected: &'static str,
}

/// Where the Azure layers read environment variables from: the process, a fixed set of
/// pairs, or any [`EnvSource`]. `Debug` never shows values.
#[derive(Clone, Default)]
pub struct Env {
    source: Option<Arc<dyn EnvSource + Send + Sync>>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.source {
            None => "Env::process",
            Some(_) => "Env::from_source",
        })
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self { source: None }
    }

    /// Only these variables; the process environment is not read.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self::from_source(Pairs(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// Whatever `source` answers; the process environment is not read.
    pub fn from_source(source: impl EnvSource + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Arc::new(source)),
        }
    }

    /// The value of `name`, trimmed, if set and not blank.
    pub fn var(&self, name: &str) -> Option<String> {
        let raw = match &self.source {
            None => ProcessEnv.var(name),
            Some(source) => source.var(name),
        };
        raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// A `true` / `false` variable (any case); `None` when unset. Anything else is an error
    /// naming the variable.
    pub fn flag(&self, name: &'static str) -> Result<Option<bool>, EnvError> {
        match self.var(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(EnvError {
                name,
                expected: "expected true or false",
            }),
        }
    }

    /// Whether [`SDK_DISABLED_ENV`] is `true`.
    pub fn sdk_disabled(&self) -> Result<bool, EnvError> {
        Ok(self.flag(SDK_DISABLED_ENV)?.unwrap_or(false))
    }

    /// Whether an `OTEL_*_EXPORTER` variable turns its signal off: its list names only
    /// `none`. Other names (`otlp`, `console`, ...) are other exporters' business and leave
    /// the Azure ones on.
    pub fn exporter_off(&self, name: &str) -> bool {
        self.var(name).is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .all(|p| p.eq_ignore_ascii_case("none"))
        })
    }
}

/// Owned pairs, for [`Env::from_pairs`].
struct Pairs(Vec<(String, String)>);

impl EnvSource for Pairs {
    fn var(&self, name: &str) -> Option<String> {
        self.0.as_slice().var(name)
    }
}

impl EnvSource for Env {
    fn var(&self, name: &str) -> Option<String> {
        Env::var(self, name)
    }
}

/// The machine's host name ([`tracing_insights_correlation::resource::hostname`] over the
/// process environment), else `"localhost"`: what both Azure layers report as the role
/// instance and machine name when the resource names no instance.
pub fn hostname() -> String {
    let env = Env::process();
    tracing_insights_correlation::resource::hostname(&|name| env.var(name))
        .unwrap_or_else(|| "localhost".to_owned())
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvError({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_exporter_lists() {
        let env = Env::from_pairs([
            ("A", " TRUE "),
            ("B", "false"),
            ("C", "yes"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "otlp,none"),
            ("OTEL_METRICS_EXPORTER", " None , none"),
        ]);
        assert_eq!(env.flag("A"), Ok(Some(true)));
        assert_eq!(env.flag("B"), Ok(Some(false)));
        assert_eq!(env.flag("UNSET"), Ok(None));
        let e = env.flag("C").unwrap_err();
        assert!(e.to_string().contains('C') && !e.to_string().contains("yes"));
        assert!(env.exporter_off(TRACES_EXPORTER_ENV));
        assert!(!env.exporter_off(LOGS_EXPORTER_ENV));
        assert!(env.exporter_off(METRICS_EXPORTER_ENV));
        assert!(!env.exporter_off("UNSET"));
        assert!(!format!("{env:?}").contains("TRUE"));
        // Any EnvSource will do, a plain array among them.
        let env = Env::from_source([("OTEL_SDK_DISABLED", "true")]);
        assert_eq!(env.sdk_disabled(), Ok(true));
    }

    #[test]
    fn sdk_disabled_is_a_strict_flag() {
        assert_eq!(
            Env::from_pairs([("OTEL_SDK_DISABLED", "True")]).sdk_disabled(),
            Ok(true)
        );
        assert_eq!(Env::from_pairs([("X", "1")]).sdk_disabled(), Ok(false));
        let e = Env::from_pairs([("OTEL_SDK_DISABLED", "1")])
            .sdk_disabled()
            .unwrap_err();
        assert_eq!(e.name, SDK_DISABLED_ENV);
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
