//! The guard that stops the Live Metrics worker.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::builder::LiveMetricsError;

/// Stops the Live Metrics worker. `Drop` signals it and waits at most 100 ms; call
/// [`LiveMetricsGuard::shutdown`] to wait longer and learn whether it stopped. The guard of
/// a disabled layer holds no thread.
#[must_use = "dropping the guard stops Live Metrics"]
pub struct LiveMetricsGuard {
    stop: Option<mpsc::Sender<()>>,
    done: Option<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
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
    ) -> Self {
        Self {
            stop: Some(stop),
            done: Some(done),
            thread: Some(thread),
        }
    }

    pub(crate) fn disabled() -> Self {
        Self {
            stop: None,
            done: None,
            thread: None,
        }
    }

    /// Live Metrics is live: nothing is queued, so there is nothing to flush. `Ok` always;
    /// here so that every exporter's guard has the same shape.
    pub fn flush(&self, _timeout: Duration) -> Result<(), LiveMetricsError> {
        Ok(())
    }

    /// Stops the worker, waiting up to `timeout` for it (a ping or post in flight ends
    /// first, bounded by the request timeout). Nothing is flushed: Live Metrics is live.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), LiveMetricsError> {
        self.stop_within(timeout)
    }

    fn stop_within(&mut self, timeout: Duration) -> Result<(), LiveMetricsError> {
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
            Err(RecvTimeoutError::Timeout) => Err(LiveMetricsError::ShutdownTimeout(timeout)),
        }
    }
}

impl Drop for LiveMetricsGuard {
    fn drop(&mut self) {
        let _ = self.stop_within(Duration::from_millis(100));
    }
}
