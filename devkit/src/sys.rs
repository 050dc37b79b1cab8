//! The few C library calls std does not offer; the only place with `unsafe`.

use std::io;
use std::process::Command;

/// The effective user id of this process.
#[expect(unsafe_code, reason = "geteuid(2) takes no arguments and cannot fail")]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Sends `signal` to process `pid`; signal 0 only checks that the process exists.
#[expect(unsafe_code, reason = "kill(2) only takes integers and reports failure through errno")]
pub(crate) fn send_signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "process id out of range"))?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Whether a process with this id exists (it may belong to another user).
pub(crate) fn process_exists(pid: u32) -> bool {
    match send_signal(pid, 0) {
        Ok(()) => true,
        Err(error) => error.raw_os_error() != Some(libc::ESRCH),
    }
}

/// Makes the child of `command` receive `signal` when the thread that spawns it exits — so the
/// spawning thread must live as long as the process.
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "the pre_exec hook runs between fork and exec; it only calls the \
              async-signal-safe prctl(2) and getppid(2) and does not allocate"
)]
pub(crate) fn signal_when_parent_exits(command: &mut Command, signal: libc::c_int) {
    let parent = std::process::id();
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl(PR_SET_PDEATHSIG) only changes a flag of the calling process.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: getppid has no preconditions.
        let current_parent = unsafe { libc::getppid() };
        // The parent may have died between fork and prctl; then no signal would ever come.
        if u32::try_from(current_parent) != Ok(parent) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook is async-signal-safe (see above).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, hook);
    }
}

/// Other systems have no parent-death signal: there a server outlives a process that is killed
/// without stopping it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn signal_when_parent_exits(_command: &mut Command, _signal: libc::c_int) {}
