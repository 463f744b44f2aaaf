//! Performance counters, as Microsoft's distro exports them (`enable_performance_counters`):
//! MetricData named after the Windows counters the portal's charts read, sent on every tick
//! of the metric interval.
//!
//! | counter | measured |
//! |---|---|
//! | `\Processor(_Total)\% Processor Time` | machine CPU busy time over the interval (Linux: `/proc/stat`) |
//! | `\Process(??APP_WIN32_PROC??)\% Processor Time` | this process's CPU time over the interval, may exceed 100 (Linux: `/proc/self/stat`) |
//! | `\Process(??APP_WIN32_PROC??)\% Processor Time Normalized` | the same divided by the number of CPUs |
//! | `\Process(??APP_WIN32_PROC??)\Private Bytes` | resident memory (Linux: `VmRSS`, as the distro reads RSS) |
//! | `\Memory\Available Bytes` | the machine's available memory (Linux: `MemAvailable`) |
//! | `\Process(??APP_WIN32_PROC??)\IO Data Bytes/sec` | bytes read + written per second, all I/O (Linux: `/proc/self/io` `rchar` + `wchar`; left out where unreadable) |
//! | `\ASP.NET Applications(??APP_W3SVC_PROC??)\Requests/Sec` | request spans closed per second, sampled or not |
//! | `\ASP.NET Applications(??APP_W3SVC_PROC??)\Request Execution Time` | request durations in **milliseconds** (value = sum, with count, min, max) |
//! | `\.NET CLR Exceptions(??APP_CLR_PROC??)\# of Exceps Thrown / sec` | exception items per second |
//!
//! The span-derived counters are measured on every platform. The machine and process
//! readings come from `/proc` on Linux; elsewhere they are left out (no fake zeros).
//! Counters are sampled on the interval's ticks only: a flush or shutdown does not send a
//! reading over a partial interval.

use crate::mapping::MetricPoint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The exported names, as Microsoft's distro renames its instruments.
pub(crate) const PROCESSOR_TIME: &str = r"\Processor(_Total)\% Processor Time";
pub(crate) const PROCESS_TIME: &str = r"\Process(??APP_WIN32_PROC??)\% Processor Time";
pub(crate) const PROCESS_TIME_NORMALIZED: &str =
    r"\Process(??APP_WIN32_PROC??)\% Processor Time Normalized";
pub(crate) const PRIVATE_BYTES: &str = r"\Process(??APP_WIN32_PROC??)\Private Bytes";
pub(crate) const AVAILABLE_BYTES: &str = r"\Memory\Available Bytes";
pub(crate) const IO_BYTES: &str = r"\Process(??APP_WIN32_PROC??)\IO Data Bytes/sec";
pub(crate) const REQUESTS_SEC: &str = r"\ASP.NET Applications(??APP_W3SVC_PROC??)\Requests/Sec";
pub(crate) const REQUEST_TIME: &str =
    r"\ASP.NET Applications(??APP_W3SVC_PROC??)\Request Execution Time";
pub(crate) const EXCEPTIONS_SEC: &str =
    r"\.NET CLR Exceptions(??APP_CLR_PROC??)\# of Exceps Thrown / sec";

/// Raw readings from the operating system; `None` where a platform has no source.
#[derive(Debug, Clone, Copy, Default)]
struct Raw {
    /// This process's user + system CPU time.
    process_cpu: Option<Duration>,
    /// The machine's (busy, total) CPU ticks since boot.
    machine_cpu: Option<(u64, u64)>,
    /// Bytes read + written by this process so far.
    io: Option<u64>,
}

use tracing_insights_azure::process as os;

fn read_raw() -> Raw {
    Raw {
        process_cpu: os::process_cpu(),
        machine_cpu: os::machine_cpu(),
        io: os::io_bytes(),
    }
}

/// The counters' state: what spans and exceptions added this interval, and the previous
/// readings the rates are taken against.
pub(crate) struct PerfCounters {
    requests: AtomicU64,
    exceptions: AtomicU64,
    request_time: Mutex<Option<MetricPoint>>,
    last: Mutex<(Instant, Raw)>,
}

impl Default for PerfCounters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            exceptions: AtomicU64::new(0),
            request_time: Mutex::new(None),
            last: Mutex::new((Instant::now(), read_raw())),
        }
    }
}

impl PerfCounters {
    /// A request span closed after `ms` milliseconds.
    pub(crate) fn request(&self, ms: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut p = self
            .request_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut *p {
            Some(p) => {
                p.value += ms;
                p.count += 1;
                if let Some((min, max)) = &mut p.min_max {
                    *min = min.min(ms);
                    *max = max.max(ms);
                }
            }
            None => {
                *p = Some(MetricPoint {
                    value: ms,
                    count: 1,
                    min_max: Some((ms, ms)),
                });
            }
        }
    }

    /// An exception item was produced.
    pub(crate) fn exception(&self) {
        self.exceptions.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends the interval: one point per counter that has a reading.
    pub(crate) fn collect(&self) -> Vec<(&'static str, MetricPoint)> {
        let now = Instant::now();
        let raw = read_raw();
        let (then, before) = {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *last, (now, raw))
        };
        let secs = now.duration_since(then).as_secs_f64().max(1e-3);
        let gauge = |v: f64| MetricPoint {
            value: v,
            count: 1,
            min_max: None,
        };
        let mut out = Vec::with_capacity(9);
        if let (Some(b), Some(a)) = (before.machine_cpu, raw.machine_cpu) {
            let total = a.1.saturating_sub(b.1);
            if total > 0 {
                let busy = a.0.saturating_sub(b.0) as f64;
                out.push((PROCESSOR_TIME, gauge(100.0 * busy / total as f64)));
            }
        }
        if let (Some(b), Some(a)) = (before.process_cpu, raw.process_cpu) {
            let pct = 100.0 * a.saturating_sub(b).as_secs_f64() / secs;
            let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
            out.push((PROCESS_TIME, gauge(pct)));
            out.push((PROCESS_TIME_NORMALIZED, gauge(pct / cpus)));
        }
        if let Some(rss) = os::rss() {
            out.push((PRIVATE_BYTES, gauge(rss as f64)));
        }
        if let Some(avail) = os::available_memory() {
            out.push((AVAILABLE_BYTES, gauge(avail as f64)));
        }
        if let (Some(b), Some(a)) = (before.io, raw.io) {
            out.push((IO_BYTES, gauge(a.saturating_sub(b) as f64 / secs)));
        }
        let requests = self.requests.swap(0, Ordering::Relaxed);
        out.push((REQUESTS_SEC, gauge(requests as f64 / secs)));
        let exceptions = self.exceptions.swap(0, Ordering::Relaxed);
        out.push((EXCEPTIONS_SEC, gauge(exceptions as f64 / secs)));
        let time = self
            .request_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(p) = time {
            out.push((REQUEST_TIME, p));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_exceptions_per_interval() {
        let p = PerfCounters::default();
        p.request(10.0);
        p.request(30.0);
        p.exception();
        std::thread::sleep(Duration::from_millis(20));
        let points = p.collect();
        let get = |n: &str| points.iter().find(|(k, _)| *k == n).map(|(_, p)| p.clone());
        let rt = get(REQUEST_TIME).unwrap();
        assert_eq!(
            (rt.value, rt.count, rt.min_max),
            (40.0, 2, Some((10.0, 30.0)))
        );
        assert!(get(REQUESTS_SEC).unwrap().value > 0.0);
        assert!(get(EXCEPTIONS_SEC).unwrap().value > 0.0);
        let again = p.collect();
        let rate = again.iter().find(|(k, _)| *k == REQUESTS_SEC).unwrap();
        assert_eq!(rate.1.value, 0.0, "the next interval starts at zero");
        assert!(again.iter().all(|(k, _)| *k != REQUEST_TIME));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reads_every_machine_and_process_counter() {
        let p = PerfCounters::default();
        // The machine's CPU ticks advance 100 times a second per CPU.
        std::thread::sleep(Duration::from_millis(200));
        let points = p.collect();
        for name in [
            PROCESSOR_TIME,
            PROCESS_TIME,
            PROCESS_TIME_NORMALIZED,
            PRIVATE_BYTES,
            AVAILABLE_BYTES,
        ] {
            assert!(points.iter().any(|(k, _)| *k == name), "{name} missing");
        }
        let rss = points.iter().find(|(k, _)| *k == PRIVATE_BYTES).unwrap();
        assert!(rss.1.value > 1e6, "a test process uses more than 1 MB");
    }
}
