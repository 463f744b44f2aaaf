//! Events reach this exporter as the correlation layer's one shared record
//! ([`FinishedEvent`]): the layer hands the `Arc` over, and the encoder thread turns it into
//! the event job the mapping reads (fields normalised, ids as hex, the span's `session.id`
//! and `_MS.*` fields), so none of that runs on the application's thread.

use crate::encoder::{EventJob, EventSpanJob, Job};
use crate::main_agent::MainAgent;
use crate::mapping::ErrorExtra;
use crate::shared::Shared;
use std::sync::Arc;
use std::time::SystemTime;
use tracing_insights_correlation::{FieldValue, FinishedEvent, SharedRecord};

/// An event as the layer hands it over: the shared record and, only when there is any,
/// what only this exporter knows on the application's thread (boxed: most events have none,
/// and a smaller job is cheaper to queue).
pub(crate) struct SharedEventJob {
    pub(crate) event: SharedRecord<FinishedEvent>,
    pub(crate) extras: Option<Box<EventExtras>>,
}

/// What this exporter adds to an event's shared record on the application's thread.
#[derive(Default)]
pub(crate) struct EventExtras {
    /// This exporter's own clock's time, when the builder set a clock of its own (else the
    /// record's time: the correlation layer's clock, which this exporter adopts).
    pub(crate) time: Option<SystemTime>,
    /// Type names and backtrace of the first error field (read while the error existed).
    pub(crate) error: Option<ErrorExtra>,
    /// The GenAI agent the event's span is attributed to.
    pub(crate) main_agent: Option<Arc<MainAgent>>,
}

impl SharedEventJob {
    /// What the job holds in string values, for the encoder queue's byte bound (the span's
    /// fields are shared with the span and not counted again).
    pub(crate) fn bytes(&self) -> usize {
        self.event.held_bytes()
    }

    /// The event job the mapping reads (on the encoder thread).
    fn into_event_job(self, shared: &Shared) -> EventJob {
        let ev = &self.event;
        if let Some(resource) = ev.resource() {
            shared.set_resource(resource);
        }
        let mut fields = ev.fields().to_vec();
        normalize_log_record(&mut fields);
        let extras = self.extras.map(|e| *e).unwrap_or_default();
        if let Some(agent) = &extras.main_agent {
            agent.add_fields(&mut fields);
        }
        let span = ev.context().map(|c| {
            EventSpanJob::new(
                c.trace_id.to_string(),
                c.span_id.to_string(),
                ev.span_record().map_or(&[], |r| r.fields()),
                if c.sampled { ev.sample_rate() } else { 100.0 },
            )
        });
        EventJob {
            time: extras.time.unwrap_or_else(|| ev.time()),
            level: *ev.level(),
            target: ev.metadata().target(),
            fields,
            extra: extras.error,
            span,
        }
    }
}

/// The encoder's own job for `job`: a shared event becomes an event job (a panic here loses
/// that event, counted, never the thread); any other job is returned as it is.
pub(crate) fn own(shared: &Shared, job: Job) -> Option<Job> {
    match job {
        Job::SharedEvent(j) => {
            let mut out = None;
            shared.contain(|| out = Some(Job::Event(Box::new(j.into_event_job(shared)))));
            out
        }
        other => Some(other),
    }
}

/// A `log`-crate record (through `tracing-log`'s bridge, target `log`): its own target
/// becomes `logger_name`, as the record's target would be for a `tracing` event, and the
/// bridge's other metadata fields (`log.module_path`, `log.file`, `log.line`) are not
/// properties (`tracing_insights_correlation::normalized_metadata` reads the same fields).
pub(crate) fn normalize_log_record(fields: &mut Vec<(&'static str, FieldValue)>) {
    use tracing_insights_correlation::is_log_field;
    if !fields.iter().any(|(k, _)| is_log_field(k)) {
        return;
    }
    fields.retain_mut(|(k, _)| {
        if *k == "log.target" {
            *k = "logger_name";
            true
        } else {
            !is_log_field(k)
        }
    });
}
