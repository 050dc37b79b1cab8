//! The two C library calls the benchmark needs that std does not offer (on our MSRV); the
//! only `unsafe` of the benchmark.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd as _;

/// Asks process `pid` to terminate, as Kubernetes does before SIGKILL.
#[expect(unsafe_code, reason = "kill(2) takes two integers and reports failure through errno")]
pub fn send_sigterm(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Takes an exclusive advisory lock on `file` without waiting; `false` when another process
/// holds it. The lock goes with the file's last descriptor, so also when the process dies.
#[expect(unsafe_code, reason = "flock(2) takes a descriptor we own and an integer")]
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: the descriptor is open for the whole call (borrowed from `file`).
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(error) }
}
