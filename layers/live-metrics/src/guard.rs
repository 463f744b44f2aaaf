//! The guard that stops the Live Metrics worker.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_insights_export::{DropReason, ExportStats, ShutdownError};

use crate::collector::Collector;
use crate::controller::ControllerStats;

/// Stops the Live Metrics worker: [`LiveMetricsGuard::shutdown`] signals it and waits (a
/// ping or post in flight ends first). The guard of a disabled layer holds no thread.
///
/// Dropping the guard does **not** stop Live Metrics while its layer is still in use: a
/// `let (layer, _) = LiveMetricsLayer::builder().build()?` keeps working rather than going
/// quiet. Drop returns at once (nothing is queued: Live Metrics is live); the worker stops
/// by itself within one ping interval (at most 5 s, 1 s while someone watches) after the
/// last clone of the layer is dropped.
#[must_use = "keep the guard and call shutdown() at the end of main to stop Live Metrics"]
pub struct LiveMetricsGuard {
    stop: Option<mpsc::Sender<()>>,
    done: Option<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
    /// The worker's counters, copied after each step of the loop.
    loop_stats: Arc<Mutex<ControllerStats>>,
    collector: Option<Arc<Collector>>,
}

impl fmt::Debug for LiveMetricsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveMetricsGuard")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl LiveMetricsGuard {
    pub(crate) fn new(
        stop: mpsc::Sender<()>,
        done: mpsc::Receiver<()>,
        thread: JoinHandle<()>,
        loop_stats: Arc<Mutex<ControllerStats>>,
        collector: Option<Arc<Collector>>,
    ) -> Self {
        Self {
            stop: Some(stop),
            done: Some(done),
            thread: Some(thread),
            loop_stats,
            collector,
        }
    }

    pub(crate) fn disabled() -> Self {
        Self {
            stop: None,
            done: None,
            thread: None,
            loop_stats: Arc::default(),
            collector: None,
        }
    }

    /// The counters, in the statistics type every exporter reports: `requests` (pings and
    /// posts), `sent` (data points posted), documents not kept because the per-second bound
    /// was reached or the buffer was busy (as [`DropReason::QueueFull`]), failed calls in
    /// `last_error`, and `contained_panics`. All zero for a disabled layer.
    pub fn stats(&self) -> ExportStats {
        let l = *self
            .loop_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut stats = ExportStats::default();
        stats.requests = l.pings + l.posts;
        stats.sent = l.posts;
        if let Some(c) = &self.collector {
            stats.add_dropped(DropReason::QueueFull, c.documents_dropped());
            stats.add_dropped(DropReason::Processor, c.processors.dropped());
        }
        if l.failures > 0 {
            stats.last_error = Some(format!("{} ping or post calls failed", l.failures));
        }
        stats.contained_panics = self.collector.as_ref().map_or(0, |c| c.contained_panics());
        stats
    }

    /// Live Metrics is live: nothing is queued, so there is nothing to flush. `Ok` always;
    /// here so that every exporter's guard has the same shape.
    pub fn flush(&self, _timeout: Duration) -> Result<(), ShutdownError> {
        Ok(())
    }

    /// Stops the worker, waiting up to `timeout` for it (a ping or post in flight ends
    /// first, bounded by the request timeout). Nothing is flushed: Live Metrics is live. The
    /// error is the one every exporter's guard reports ([`ShutdownError::Timeout`]).
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop_within(timeout)
    }

    fn stop_within(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        let (Some(stop), Some(done)) = (self.stop.take(), self.done.as_ref()) else {
            return Ok(());
        };
        let _ = stop.send(());
        drop(stop);
        match done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(timeout)),
        }
    }
}
