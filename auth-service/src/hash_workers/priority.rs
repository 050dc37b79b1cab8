//! How the hashing threads give way to the RPC threads: the lowest priority a nice value gives
//! and, on Linux 6.12 and later, the shortest time slice, so that an RPC thread waiting for a
//! CPU a hashing thread holds gets it within a tenth of a millisecond.
//!
//! Measured in `cargo xtask bench` (`docs/performance.md`, session 14), ValidateToken's p99 while
//! logins saturate, against its idle p99: 2.1–2.3× at nice +10 with the default slice (what the
//! service did before), 1.3–2.0× at nice 19, 1.2–1.6× at nice 19 with this slice; Login alone
//! kept its rate. `SCHED_IDLE` did no better (1.2–2.1×) and cost Login 6 points of the raw
//! argon2id rate (likely because any thread that wakes preempts an idle-policy one at once).

use std::time::Duration;

/// The hashing threads' nice value, the lowest priority it gives: when the CPUs are busy, each
/// gets about 1.5 % of the time an RPC thread (nice 0) gets, and on idle CPUs hashing runs at
/// full speed.
pub const HASHING_NICE: i32 = 19;

/// The time slice the hashing threads ask for, the shortest Linux grants. Its EEVDF scheduler
/// lets a running thread keep the CPU until its slice is used (0.7–3 ms by default) before a
/// thread that became runnable takes it; with this slice a token check waits at most this long
/// behind a hash. A CPU no other thread wants keeps running the hash: the slice only matters
/// while something else waits. Older kernels ignore it.
pub const HASHING_SLICE: Duration = Duration::from_micros(100);

/// Gives the calling thread [`HASHING_NICE`] and [`HASHING_SLICE`] (Linux keeps both per
/// thread). Best effort: where `sched_setattr` is refused (a seccomp profile, say) only the nice
/// value changes, and where that fails too hashing competes as an RPC thread does.
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "sched_setattr and setpriority are plain system calls on the calling thread")]
pub fn yield_to_rpc_threads() {
    let attributes = libc::sched_attr {
        size: u32::try_from(size_of::<libc::sched_attr>()).expect("sched_attr is 56 bytes"),
        sched_policy: u32::try_from(libc::SCHED_OTHER).expect("SCHED_OTHER is 0"),
        sched_flags: 0,
        sched_nice: HASHING_NICE,
        sched_priority: 0,
        sched_runtime: u64::try_from(HASHING_SLICE.as_nanos()).expect("100 µs in ns fits"),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: pid 0 is the calling thread; `attributes` is a valid sched_attr whose size field
    // says how much the kernel may read, and it outlives the call.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attributes, 0) };
    if set != 0 {
        // SAFETY: no pointers; `who` 0 is the calling thread. A failure leaves the thread as it
        // was, which is still correct.
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICE) };
    }
}

/// Other systems keep one nice value per process: hashing competes with the RPC threads.
#[cfg(not(target_os = "linux"))]
pub fn yield_to_rpc_threads() {}

#[cfg(test)]
#[cfg(target_os = "linux")]
pub(super) mod tests {
    use super::{HASHING_NICE, HASHING_SLICE, yield_to_rpc_threads};

    /// The nice value of the calling thread, from `/proc/thread-self/stat` (field 19).
    pub(in crate::hash_workers) fn own_nice_value() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    /// The calling thread's time slice in ns, from `/proc/thread-self/sched` (`se.slice`).
    fn own_slice_ns() -> Option<u64> {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = sched.lines().find(|line| line.starts_with("se.slice"))?;
        line.split(':').nth(1)?.trim().parse().ok()
    }

    /// Whether the kernel takes a slice from `sched_runtime` (Linux 6.12 and later).
    fn kernel_takes_slices() -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
        (numbers.next().unwrap(), numbers.next().unwrap()) >= (6, 12)
    }

    #[test]
    fn a_hashing_thread_takes_the_lowest_priority_and_the_shortest_slice() {
        let caller = own_nice_value();
        let default_slice = own_slice_ns();
        let (nice, slice) = std::thread::spawn(|| {
            yield_to_rpc_threads();
            (own_nice_value(), own_slice_ns())
        })
        .join()
        .unwrap();
        assert_eq!(nice, HASHING_NICE, "caller at {caller}");
        assert_eq!(own_nice_value(), caller, "only the hashing thread changed");
        if kernel_takes_slices() {
            let expected = u64::try_from(HASHING_SLICE.as_nanos()).unwrap();
            assert_eq!(slice, Some(expected), "the default slice here is {default_slice:?} ns");
            assert!(default_slice.is_some_and(|default| default > expected), "{default_slice:?}");
        }
    }
}
