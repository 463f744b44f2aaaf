//! Why [`init`](crate::init) could not set telemetry up.

use std::error::Error;
use std::fmt;

/// Why [`init`](crate::init), [`from_env`](crate::from_env) or
/// [`TelemetryBuilder::build`](crate::TelemetryBuilder::build) failed. The message names the
/// variable or setting to fix and never shows a secret. `Debug` carries the same message, so
/// `main() -> Result<(), Box<dyn Error>>` prints it.
#[non_exhaustive]
pub enum InitError {
    /// A filter variable does not parse.
    Filter(crate::filter::FilterError),
    /// A variable is set to a value it does not accept.
    Variable {
        /// The variable.
        name: &'static str,
        /// What it accepts.
        expected: &'static str,
    },
    /// A value given in code does not parse.
    Code {
        /// The builder method.
        setting: &'static str,
        /// Why.
        message: String,
    },
    /// An exporter the environment turns on could not be built (its error names the
    /// variable).
    Exporter {
        /// The exporter (`Application Insights`, `Live Metrics`, `OTLP`, a preset's name).
        exporter: &'static str,
        /// Its builder's error.
        source: Box<dyn Error + Send + Sync>,
    },
    /// [`init`](crate::init) found a global subscriber already installed.
    AlreadyInstalled,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Filter(e) => write!(f, "{e}"),
            InitError::Variable { name, expected } => {
                write!(f, "{name} is not valid: expected {expected}")
            }
            InitError::Code { setting, message } => write!(f, "{setting}: {message}"),
            InitError::Exporter { exporter, source } => write!(f, "{exporter}: {source}"),
            InitError::AlreadyInstalled => f.write_str(
                "a global tracing subscriber is already installed; use tracing_insights::from_env() to add the layers to your own",
            ),
        }
    }
}

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InitError({self})")
    }
}

impl Error for InitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            InitError::Filter(e) => Some(e),
            InitError::Exporter { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<crate::filter::FilterError> for InitError {
    fn from(e: crate::filter::FilterError) -> Self {
        InitError::Filter(e)
    }
}
