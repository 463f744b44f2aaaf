//! Process performance counters: CPU normalised to the machine, resident memory.
//!
//! Linux reads `/proc/self/stat` (user + system time, in `USER_HZ` = 100 ticks per second
//! on every architecture Linux exports to user space) and `/proc/self/status` (`VmRSS`).
//! Elsewhere the counters are left out of the data point rather than sent as a fake zero.

use std::time::Duration;

/// CPU time used by this process so far (the Azure crate's `/proc` reader, which App
/// Insights' performance counters use too).
fn cpu_time() -> Option<Duration> {
    tracing_insights_azure::process::process_cpu()
}

/// Resident set size in bytes.
fn rss_bytes() -> Option<u64> {
    tracing_insights_azure::process::rss()
}

/// One reading of the performance counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PerfReading {
    /// Process CPU over the interval, 0-100 % of the machine (all its CPUs).
    pub(crate) cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    pub(crate) rss: Option<u64>,
}

/// Turns cumulative CPU time into a per-interval percentage.
#[derive(Debug)]
pub(crate) struct ProcessStats {
    last: Option<(Duration, Duration)>,
    cpus: f64,
}

impl ProcessStats {
    pub(crate) fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Self { last: None, cpus }
    }

    /// Reads the counters at monotonic time `now`; the CPU percentage covers the time
    /// since the previous call (none on the first).
    pub(crate) fn sample(&mut self, now: Duration) -> PerfReading {
        let cpu = cpu_time();
        let cpu_percent = match (cpu, self.last) {
            (Some(cpu), Some((t0, c0))) => {
                let wall = now.saturating_sub(t0).as_secs_f64();
                (wall > 0.0).then(|| {
                    let used = cpu.saturating_sub(c0).as_secs_f64();
                    (used / wall / self.cpus * 100.0).clamp(0.0, 100.0)
                })
            }
            _ => None,
        };
        if let Some(cpu) = cpu {
            self.last = Some((now, cpu));
        }
        PerfReading {
            cpu_percent,
            rss: rss_bytes(),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        assert!(cpu_time().is_some());
        assert!(rss_bytes().unwrap() > 0);
        let mut p = ProcessStats::new();
        assert_eq!(p.sample(Duration::ZERO).cpu_percent, None);
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let r = p.sample(Duration::from_millis(100));
        let c = r.cpu_percent.unwrap();
        assert!((0.0..=100.0).contains(&c));
    }
}
