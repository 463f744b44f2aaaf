//! What a shutdown reports when anything was lost: one account with the pipeline's counters,
//! the same numbers in the error the caller gets and in the line written to stderr.

use crate::answer::DropReason;
use crate::stats::ExportStats;
use std::fmt;
use std::time::Duration;

/// The account of a pipeline whose shutdown (or flush) did not deliver everything: its
/// counters at that moment, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loss {
    /// The pipeline (e.g. `appinsights`, `otlp-default-traces`).
    pub name: String,
    /// Produced, sent, dropped by reason, failed, spooled, ... when the shutdown returned.
    pub stats: ExportStats,
    /// Set when the worker had not finished within this bound (it was told to stop: what
    /// it still held went to the spool or was counted as [`DropReason::Shutdown`]).
    pub timed_out: Option<Duration>,
    /// The last export error (no secrets), if any.
    pub cause: Option<String>,
}

impl Loss {
    /// An account for an exporter that combines several pipelines (e.g. OTLP's signals).
    pub fn new(
        name: impl Into<String>,
        stats: ExportStats,
        timed_out: Option<Duration>,
        cause: Option<String>,
    ) -> Self {
        Self {
            name: name.into(),
            stats,
            timed_out,
            cause,
        }
    }

    /// Whether the counters show anything not delivered: dropped or spooled items.
    pub fn counts_loss(stats: &ExportStats) -> bool {
        stats.dropped() > 0 || stats.spooled > stats.replayed
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "{}: {} of {} items not delivered: {} dropped",
            self.name,
            s.produced.saturating_sub(s.sent + s.sampled_out),
            s.produced,
            s.dropped(),
        )?;
        let mut first = true;
        for r in DropReason::ALL {
            let n = s.dropped_by(r);
            if n > 0 {
                f.write_str(if first { " (" } else { ", " })?;
                write!(f, "{} {n}", reason_name(r))?;
                first = false;
            }
        }
        if !first {
            f.write_str(")")?;
        }
        write!(
            f,
            ", {} failed, {} in the offline spool; {} sent",
            s.failed(),
            s.spooled.saturating_sub(s.replayed),
            s.sent
        )?;
        if let Some(t) = self.timed_out {
            write!(f, "; did not finish within {t:?}")?;
        }
        if let Some(c) = &self.cause {
            write!(f, "; last error: {c}")?;
        }
        Ok(())
    }
}

/// The words a report uses for a reason.
pub fn reason_name(r: DropReason) -> &'static str {
    match r {
        DropReason::QueueFull => "queue full",
        DropReason::Oversized => "oversized",
        DropReason::Rejected => "rejected",
        DropReason::Quota => "quota",
        DropReason::Redirect => "redirect refused",
        DropReason::RetriesExhausted => "retries exhausted",
        DropReason::SpoolUnavailable => "spool unavailable",
        DropReason::Shutdown => "at shutdown",
        DropReason::Expired => "expired in the spool",
        DropReason::Processor => "dropped by a processor",
    }
}
