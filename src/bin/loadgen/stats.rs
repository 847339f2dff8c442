//! Counters, a lock-free latency histogram, and process figures from `/proc`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (the clock the publisher stamps events with).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Log-linear buckets: 10 µs up to 1 ms, 100 µs up to 100 ms, 10 ms up to 10 s.
const BUCKETS: usize = 100 + 990 + 990 + 1;

pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

fn index(us: u64) -> usize {
    let i = if us < 1_000 {
        us / 10
    } else if us < 100_000 {
        100 + (us - 1_000) / 100
    } else if us < 10_000_000 {
        1_090 + (us - 100_000) / 10_000
    } else {
        BUCKETS as u64 - 1
    };
    i as usize
}

/// The upper edge of bucket `i`, in µs.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < 100 {
        (i + 1) * 10
    } else if i < 1_090 {
        1_000 + (i - 99) * 100
    } else {
        100_000 + (i - 1_089) * 10_000
    }
}

impl Histogram {
    pub fn record(&self, us: u64) {
        self.buckets[index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The non-empty buckets as (upper edge µs, count), for merging several load
    /// generators' histograms.
    pub fn sparse(&self) -> Vec<(u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (upper(i), b.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The value (µs, bucket upper edge) at or below which `p` percent of samples fall.
    pub fn percentile(&self, p: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= want {
                return upper(i).min(self.max());
            }
        }
        self.max()
    }
}

/// Everything the sockets count.
#[derive(Default)]
pub struct Stats {
    pub latency: Histogram,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// This second's frames and worst latency (the reporter swaps them out).
    pub sec_frames: AtomicU64,
    pub sec_max_us: AtomicU64,
    /// A task's seq went down or repeated on one socket (must stay 0).
    pub disorder: AtomicU64,
    /// A task's seq jumped (coalesced progress under load).
    pub gaps: AtomicU64,
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub closed: AtomicU64,
    /// Close codes seen, by class.
    pub closed_4002: AtomicU64,
}

impl Stats {
    pub fn on_frame(&self, latency_us: Option<u64>, bytes: usize) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.sec_frames.fetch_add(1, Ordering::Relaxed);
        if let Some(us) = latency_us {
            self.latency.record(us);
            self.sec_max_us.fetch_max(us, Ordering::Relaxed);
        }
    }
}

/// Resident memory of a process, in KiB (VmRSS).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) a process has used, in clock ticks (1/100 s here).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The pid of the process listening on TCP `port` (via /proc/net/tcp and fd links).
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = tcp.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
        (local_port == port && *f.get(3)? == "0A").then(|| f.get(9).map(|s| s.to_string()))?
    })?;
    let needle = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == needle) {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_fall_in_the_right_buckets() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(us * 100); // 0.1 ms .. 100 ms
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.percentile(50.0);
        assert!((49_000..=51_000).contains(&p50), "{p50}");
        assert!(h.percentile(99.9) <= 100_000);
        assert_eq!(h.max(), 100_000);
        for us in [0, 9, 999, 1_000, 99_999, 100_000, 9_999_999, u64::MAX] {
            assert!(upper(index(us)) >= us.min(10_000_000), "{us}");
        }
    }
}
