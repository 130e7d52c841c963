//! What a run measures: failures by kind, percentiles, and CPU and memory readings from `/proc`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const CLK_TCK: f64 = 100.0; // USER_HZ, fixed at 100 on Linux/x86-64

#[derive(Default)]
pub(crate) struct Failures {
    /// Non-200 responses by status.
    pub(crate) statuses: BTreeMap<u16, usize>,
    /// I/O errors and timeouts.
    pub(crate) errors: usize,
    /// Requests never sent because the phase hit its time bound.
    pub(crate) unsent: usize,
    pub(crate) first_error: Option<String>,
}

impl Failures {
    pub(crate) fn total(&self) -> usize {
        self.statuses.values().sum::<usize>() + self.errors + self.unsent
    }
    pub(crate) fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }
    pub(crate) fn merge(&mut self, o: Failures) {
        for (s, n) in o.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.errors += o.errors;
        self.unsent += o.unsent;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
    pub(crate) fn describe(&self) -> String {
        let mut parts: Vec<String> = self.statuses.iter().map(|(s, n)| format!("{n}× HTTP {s}")).collect();
        if self.errors > 0 {
            parts.push(format!("{} I/O errors or timeouts", self.errors));
        }
        if self.unsent > 0 {
            parts.push(format!("{} unsent (time bound)", self.unsent));
        }
        if let Some(e) = &self.first_error {
            parts.push(format!("first error: {e}"));
        }
        parts.join(", ")
    }
}

/// Nearest-rank percentile in milliseconds.
pub(crate) fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// utime + stime of a process, in seconds.
pub(crate) fn proc_cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after "(comm)": state is index 0, utime is stat field 14 → index 11, stime → 12.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(11) + get(12)) / CLK_TCK
}

/// Busy seconds summed over all CPUs, machine-wide.
pub(crate) fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else { return 0.0 };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle) / CLK_TCK
}

pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(crate) struct CpuSnapshot {
    pub(crate) at: Instant,
    pub(crate) client: f64,
    pub(crate) server: f64,
    pub(crate) machine: f64,
}

impl CpuSnapshot {
    pub(crate) fn take(server_pid: u32) -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            client: proc_cpu("self"),
            server: proc_cpu(&server_pid.to_string()),
            machine: machine_busy(),
        }
    }
    /// (client, server, everything else) as % of the whole machine's CPU over the interval.
    pub(crate) fn usage_since(&self, before: &CpuSnapshot) -> (f64, f64, f64) {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        let capacity = (self.at - before.at).as_secs_f64() * cores / 100.0;
        let client = (self.client - before.client) / capacity;
        let server = (self.server - before.server) / capacity;
        let machine = (self.machine - before.machine) / capacity;
        (client, server, (machine - client - server).max(0.0))
    }
}

/// Filesystem type of the mount holding `path` (longest mount-point prefix in /proc/mounts).
pub(crate) fn fs_type(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, mnt, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), ty.to_string()))
        })
        .max()
        .map(|(_, ty)| ty)
        .unwrap_or_else(|| "unknown fs".into())
}
