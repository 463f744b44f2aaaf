//! Records from the `log` crate, as `tracing` events.
//!
//! `tracing-log`'s `LogTracer` (which `tracing_insights::init()` installs, and
//! `tracing_log::LogTracer::init()` installs by hand) turns each `log` record into a
//! `tracing` event whose metadata is the bridge's own: target `log`, no file or line; the
//! record's target, module path, file and line travel as the fields `log.target`,
//! `log.module_path`, `log.file` and `log.line`. The JSON and text formats of this crate
//! show the record's own values instead (`"target":"hyper::proto"`), as
//! `tracing_subscriber::fmt` does, and leave the `log.*` fields out; exporters do the same
//! with [`normalized_metadata`].

use tracing_core::{Event, Metadata};
use tracing_log::NormalizeEvent;

/// For an event bridged from the `log` crate, metadata with the record's own target,
/// module path, file and line (and the event's level); `None` for any other event, whose
/// own metadata is already right. The event's `log.*` fields ([`is_log_field`]) are that
/// metadata and need not be exported as fields.
///
/// ```
/// # fn exporter_target(event: &tracing::Event<'_>) -> String {
/// use tracing_insights_correlation::normalized_metadata;
/// let normalized = normalized_metadata(event);
/// let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
/// meta.target().to_owned()
/// # }
/// ```
pub fn normalized_metadata<'a>(event: &'a Event<'a>) -> Option<Metadata<'a>> {
    event.normalized_metadata()
}

/// Whether an event field is a bridged `log` record's metadata (`log.target`,
/// `log.module_path`, `log.file`, `log.line`), shown through [`normalized_metadata`].
pub fn is_log_field(name: &str) -> bool {
    matches!(
        name,
        "log.target" | "log.module_path" | "log.file" | "log.line"
    )
}
