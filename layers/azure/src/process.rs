//! What this process and machine use, for the Azure layers' performance counters (App
//! Insights' performance counters, Live Metrics' CPU and memory): Linux reads `/proc`;
//! elsewhere every reading is `None` (left out of the data, never a fake zero).

#[cfg(target_os = "linux")]
mod os {
    use std::time::Duration;

    /// `USER_HZ` is 100 on every architecture Linux exports to user space.
    const TICK: Duration = Duration::from_millis(10);

    /// This process's user + system CPU time so far.
    pub fn process_cpu() -> Option<Duration> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); utime is field 14, stime field 15.
        let ticks = f.get(11)?.parse::<u32>().ok()? + f.get(12)?.parse::<u32>().ok()?;
        Some(TICK * ticks)
    }

    /// The machine's (busy, total) CPU ticks since boot.
    pub fn machine_cpu() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
        let total: u64 = v.iter().sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        Some((total.saturating_sub(idle), total))
    }

    fn kb_line(path: &str, key: &str) -> Option<u64> {
        let text = std::fs::read_to_string(path).ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }

    /// This process's resident memory, bytes.
    pub fn rss() -> Option<u64> {
        kb_line("/proc/self/status", "VmRSS:")
    }

    /// The machine's available memory, bytes.
    pub fn available_memory() -> Option<u64> {
        kb_line("/proc/meminfo", "MemAvailable:")
    }

    /// Bytes this process has read and written so far (all I/O).
    pub fn io_bytes() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let get = |k: &str| -> Option<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse().ok())
        };
        Some(get("rchar:")? + get("wchar:")?)
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use std::time::Duration;

    /// This process's user + system CPU time so far.
    pub fn process_cpu() -> Option<Duration> {
        None
    }
    /// The machine's (busy, total) CPU ticks since boot.
    pub fn machine_cpu() -> Option<(u64, u64)> {
        None
    }
    /// This process's resident memory, bytes.
    pub fn rss() -> Option<u64> {
        None
    }
    /// The machine's available memory, bytes.
    pub fn available_memory() -> Option<u64> {
        None
    }
    /// Bytes this process has read and written so far (all I/O).
    pub fn io_bytes() -> Option<u64> {
        None
    }
}

pub use os::{available_memory, io_bytes, machine_cpu, process_cpu, rss};

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn reads_proc() {
        assert!(super::process_cpu().is_some());
        assert!(super::rss().unwrap() > 1_000_000);
        assert!(super::available_memory().unwrap() > 0);
        let (busy, total) = super::machine_cpu().unwrap();
        assert!(busy <= total && total > 0);
    }
}
