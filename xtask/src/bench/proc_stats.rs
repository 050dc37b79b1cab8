//! CPU time and memory of processes, read from `/proc` (Linux).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// CPU time and memory of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// User + system CPU time so far, in clock ticks (all threads; for a tree, also its
    /// children, live and exited).
    pub cpu_ticks: u64,
    /// Resident memory now, KiB (`VmRSS`); `None` for a tree, whose shared memory would count
    /// once per process.
    pub rss_kib: Option<u64>,
    /// Highest resident memory since start or the last [`reset_peak`], KiB (`VmHWM`).
    pub peak_kib: Option<u64>,
}

/// Fields of `/proc/<pid>/stat` after the command name: state is 0, ppid 1, utime 11,
/// stime 12, cutime 13, cstime 14 (fields 3, 4, 14–17 of proc(5)).
struct Stat {
    ppid: u32,
    own_ticks: u64,
    reaped_children_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let number = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(number(1)?).ok()?,
        own_ticks: number(11)? + number(12)?,
        reaped_children_ticks: number(13)? + number(14)?,
    })
}

/// `VmRSS` and `VmHWM` of a process, KiB.
fn read_memory(pid: u32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Makes `VmHWM` start again from the current RSS (writes 5 to `clear_refs`, Linux ≥ 4.0), so
/// a peak can be measured per scenario. Needs the right to trace the process (our children).
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The process ids whose parent is `ppid`.
fn children_of(ppid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| read_stat(pid).is_some_and(|stat| stat.ppid == ppid))
        .collect()
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on every Linux we know).
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// The postmaster's pid, from the first line of `postmaster.pid` in its data directory.
pub fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    fs::read_to_string(data_dir.join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
}

/// The label of the whole machine's busy CPU time in a [`Snapshot`]: what is left after the
/// watched processes is someone else's work disturbing the measurement.
pub const MACHINE: &str = "machine";

/// CPU time all CPUs spent busy (not idle, not waiting for I/O), in clock ticks, from the first
/// line of `/proc/stat`.
fn machine_busy_ticks() -> Option<u64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line.split_whitespace().filter_map(|field| field.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|&index| fields.get(index)).sum();
    Some(busy)
}

/// How a watched process is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The process alone (all its threads).
    Process,
    /// The process and its children (PostgreSQL: the postmaster and its backends).
    Tree,
}

/// A process to watch, under a name for the report.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Name in the report.
    pub label: String,
    /// Its pid.
    pub pid: u32,
    /// Alone or with its children.
    pub scope: Scope,
}

/// The processes of a run, sampled together.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    watched: Vec<Watched>,
}

/// Samples of every watched process, by label.
pub type Snapshot = BTreeMap<String, ProcSample>;

/// What a process used during a measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    /// Name in the report.
    pub process: String,
    /// CPU seconds (user + system) during the window.
    pub cpu_seconds: f64,
    /// Resident memory at the end of the window, MiB.
    pub rss_mib: Option<f64>,
    /// Highest resident memory during the scenario (warm-up included), MiB.
    pub peak_rss_mib: Option<f64>,
}

impl Monitor {
    /// Watches `pid` (replacing a process of the same label).
    pub fn watch(&mut self, label: &str, pid: u32, scope: Scope) {
        self.watched.retain(|watched| watched.label != label);
        self.watched.push(Watched { label: label.to_owned(), pid, scope });
    }

    /// Stops watching the process of `label`.
    pub fn forget(&mut self, label: &str) {
        self.watched.retain(|watched| watched.label != label);
    }

    /// Restarts every single process's peak-memory counter.
    pub fn reset_peaks(&self) {
        for watched in self.watched.iter().filter(|watched| watched.scope == Scope::Process) {
            // A process that cannot be reset reports its lifetime peak instead.
            let _ = reset_peak(watched.pid);
        }
    }

    /// Samples every watched process that is still alive, and the whole machine under
    /// [`MACHINE`].
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot: Snapshot =
            self.watched.iter().filter_map(|watched| Some((watched.label.clone(), sample(watched)?))).collect();
        if let Some(busy) = machine_busy_ticks() {
            snapshot.insert(MACHINE.to_owned(), ProcSample { cpu_ticks: busy, rss_kib: None, peak_kib: None });
        }
        snapshot
    }

    /// The memory of one watched process now.
    pub fn sample_of(&self, label: &str) -> Option<ProcSample> {
        self.watched.iter().find(|watched| watched.label == label).and_then(sample)
    }
}

fn sample(watched: &Watched) -> Option<ProcSample> {
    let stat = read_stat(watched.pid)?;
    match watched.scope {
        Scope::Process => {
            let (rss, peak) = read_memory(watched.pid)?;
            Some(ProcSample { cpu_ticks: stat.own_ticks, rss_kib: Some(rss), peak_kib: Some(peak) })
        }
        Scope::Tree => {
            let children: u64 =
                children_of(watched.pid).into_iter().filter_map(read_stat).map(|child| child.own_ticks).sum();
            Some(ProcSample {
                cpu_ticks: stat.own_ticks + stat.reaped_children_ticks + children,
                rss_kib: None,
                peak_kib: None,
            })
        }
    }
}

/// What each process used between two snapshots.
pub fn usage(before: &Snapshot, after: &Snapshot, ticks_per_second: f64) -> Vec<ProcessUsage> {
    after
        .iter()
        .map(|(label, end)| {
            let start = before.get(label).map_or(0, |sample| sample.cpu_ticks);
            ProcessUsage {
                process: label.clone(),
                cpu_seconds: end.cpu_ticks.saturating_sub(start) as f64 / ticks_per_second,
                rss_mib: end.rss_kib.map(mib),
                peak_rss_mib: end.peak_kib.map(mib),
            }
        })
        .collect()
}

/// KiB → MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
