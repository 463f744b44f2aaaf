use thiserror::Error;

/// Why a preset could not be built. Messages name the variable or field to fix and never
/// contain a secret's value.
#[derive(Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PresetError {
    /// A required environment variable is unset or empty.
    #[error("{preset}: set {var} ({what})")]
    MissingVar {
        /// The preset.
        preset: &'static str,
        /// The variable to set.
        var: &'static str,
        /// What it holds.
        what: &'static str,
    },
    /// A value is malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The variable or argument that holds the value.
        field: &'static str,
        /// What is wrong, without the value itself.
        reason: String,
    },
}

impl PresetError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        PresetError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl std::fmt::Debug for PresetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresetError({self})")
    }
}
