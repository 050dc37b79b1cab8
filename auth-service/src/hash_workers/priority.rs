//! How the hashing threads give way to the RPC threads: a lower priority (nice) and, on Linux
//! 6.12 and later, a long time slice, so that a waking RPC thread takes the CPU at once.

use std::time::Duration;

/// How much nicer the hashing threads are than the rest of the process: when the CPUs are busy,
/// the scheduler gives the RPC threads (nice 0) about nine tenths of the time, so a login storm
/// barely slows token checks; on idle CPUs hashing runs at full speed.
pub const HASHING_NICE: i32 = 10;

/// The time slice the hashing threads ask for, about one hash. Linux's EEVDF scheduler lets a
/// thread that wakes with a shorter slice (the RPC threads keep the default, 0.7–3 ms) preempt
/// one with a longer slice at once (Linux 6.12, `sched_attr::sched_runtime`); otherwise the
/// running hashing thread keeps the CPU until its slice is used up, and a token check waits
/// for it. Older kernels ignore the request.
pub const HASHING_SLICE: Duration = Duration::from_millis(20);

/// Lowers the calling thread's priority by [`HASHING_NICE`] and asks for [`HASHING_SLICE`]
/// (Linux keeps both per thread). Best effort: where `sched_setattr` is refused (a seccomp
/// profile, say) only the nice value changes, and where that fails too hashing competes as an
/// RPC thread does.
#[cfg(target_os = "linux")]
#[expect(unsafe_code, reason = "getpriority, sched_setattr and nice are plain system calls on the calling thread")]
pub fn yield_to_rpc_threads() {
    // SAFETY: no pointers; for the calling thread getpriority cannot fail.
    let current = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attributes = libc::sched_attr {
        size: u32::try_from(size_of::<libc::sched_attr>()).expect("sched_attr is 56 bytes"),
        sched_policy: u32::try_from(libc::SCHED_OTHER).expect("SCHED_OTHER is 0"),
        sched_flags: 0,
        sched_nice: (current + HASHING_NICE).min(19),
        sched_priority: 0,
        sched_runtime: u64::try_from(HASHING_SLICE.as_nanos()).expect("20 ms in ns fits"),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: pid 0 is the calling thread; `attributes` is a valid sched_attr whose size field
    // says how much the kernel may read, and it outlives the call.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attributes, 0) };
    if set != 0 {
        // SAFETY: no pointers. -1 is both an error and a valid result; either way the thread
        // runs on, so there is nothing to check.
        let _ = unsafe { libc::nice(HASHING_NICE) };
    }
}

/// Other systems keep one nice value per process: hashing competes with the RPC threads.
#[cfg(not(target_os = "linux"))]
pub fn yield_to_rpc_threads() {}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::{HASHING_NICE, HASHING_SLICE, yield_to_rpc_threads};

    /// The nice value of the calling thread, from `/proc/thread-self/stat` (field 19).
    fn own_nice_value() -> i32 {
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
    fn a_hashing_thread_is_nicer_and_asks_for_a_long_slice() {
        let caller = own_nice_value();
        let default_slice = own_slice_ns();
        let (nice, slice) = std::thread::spawn(|| {
            yield_to_rpc_threads();
            (own_nice_value(), own_slice_ns())
        })
        .join()
        .unwrap();
        assert_eq!(nice, (caller + HASHING_NICE).min(19), "caller at {caller}");
        if kernel_takes_slices() {
            let expected = u64::try_from(HASHING_SLICE.as_nanos()).unwrap();
            assert_eq!(slice, Some(expected), "the default slice here is {default_slice:?} ns");
            assert!(default_slice.is_some_and(|default| default < expected), "{default_slice:?}");
        }
    }
}
