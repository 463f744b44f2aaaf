//! The exporters' own diagnostics: one switchable channel for their problems while they
//! run (a refused endpoint, a failing spool), never through `tracing` (no telemetry loops).
//!
//! By default lines go to stderr, rate-limited: the first occurrence of a kind of problem
//! of an exporter is written at once, later ones within the period (60 s by default) are
//! counted and summed up in one line when the next occurrence comes after the period, e.g.
//!
//! ```text
//! [tracing-insights] appinsights: 12 requests failed in the last 60 s: request to http://127.0.0.1:9/v2.1/track failed: connection refused: nothing listens there; 340 items in the offline spool
//! ```
//!
//! [`set_sink`] switches the channel (off, or a function of your own, e.g. to write into
//! your own log file); [`set_period`] changes the period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Where the exporters' diagnostics go.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Sink {
    /// Standard error (the default).
    #[default]
    Stderr,
    /// Nowhere.
    Off,
    /// A function of yours, called with each line (without a trailing newline). It must not
    /// log through `tracing` into our layers.
    Custom(Arc<dyn Fn(&str) + Send + Sync>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sink::Stderr => "Stderr",
            Sink::Off => "Off",
            Sink::Custom(_) => "Custom",
        })
    }
}

/// The default period of the rate limit: one line per kind of problem per minute.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(60);

struct Channel {
    sink: RwLock<Sink>,
    period: RwLock<Duration>,
    /// Per (exporter, kind): when the current period started and what happened since.
    seen: Mutex<HashMap<(String, &'static str), Window>>,
}

struct Window {
    started: Instant,
    count: u64,
}

fn channel() -> &'static Channel {
    static C: OnceLock<Channel> = OnceLock::new();
    C.get_or_init(|| Channel {
        sink: RwLock::new(Sink::Stderr),
        period: RwLock::new(DEFAULT_PERIOD),
        seen: Mutex::new(HashMap::new()),
    })
}

/// Switches where the diagnostics of every exporter in this process go.
pub fn set_sink(sink: Sink) {
    *channel()
        .sink
        .write()
        .unwrap_or_else(PoisonError::into_inner) = sink;
}

/// Sets the rate limit's period (at least 1 ms; default [`DEFAULT_PERIOD`]).
pub fn set_period(period: Duration) {
    *channel()
        .period
        .write()
        .unwrap_or_else(PoisonError::into_inner) = period.max(Duration::from_millis(1));
}

/// Reports one occurrence of a problem of `exporter` of the given `kind` (e.g. `"failed"`):
/// `what` names it in the plural (`"requests failed"`), `detail` gives the cause and the
/// endpoint (no secrets). Written at once the first time, then at most once per period
/// with the number of occurrences since the last line.
pub fn report(exporter: &str, kind: &'static str, what: &str, detail: &str) {
    let c = channel();
    let period = *c.period.read().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let line = {
        let mut seen = c.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match seen.get_mut(&(exporter.to_owned(), kind)) {
            None => {
                seen.insert(
                    (exporter.to_owned(), kind),
                    Window {
                        started: now,
                        count: 0,
                    },
                );
                format!("{exporter}: {what}: {detail}")
            }
            Some(w) if now.duration_since(w.started) >= period => {
                let n = w.count + 1;
                let secs = now.duration_since(w.started).as_secs().max(1);
                w.started = now;
                w.count = 0;
                format!("{exporter}: {n} {what} in the last {secs} s: {detail}")
            }
            Some(w) => {
                w.count += 1;
                return;
            }
        }
    };
    // Written outside the lock: a custom sink may be slow.
    write_line(&line);
}

fn write_line(line: &str) {
    let sink = channel()
        .sink
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    match sink {
        Sink::Stderr => eprintln!("[tracing-insights] {line}"),
        Sink::Off => {}
        Sink::Custom(f) => {
            // A panicking sink must not take the worker down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(line)));
        }
    }
}
