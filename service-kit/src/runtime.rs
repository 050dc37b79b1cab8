//! The tokio runtime a service binary runs on, shaped by the CPUs the process may use.
//!
//! With several CPUs it is tokio's work-stealing scheduler, one worker per CPU. With one (a
//! container whose CPU limit is under 2: `available_parallelism` honours the cgroup quota,
//! rounded down) it is the single-threaded scheduler instead. That one runs woken tasks in the
//! order they woke, so the requests of one pass over the sockets have all queued their
//! statements and responses before a connection's task writes them: one write for many, where
//! a one-worker work-stealing scheduler runs a woken task next and writes each on its own. In
//! `cargo xtask bench` that cut the resource service's CPU per read call by 15–20 %.

use std::env::{self, VarError};
use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::runtime::{Builder, Runtime};

/// The variable tokio's own builder reads for its worker count; honoured here too.
pub const WORKER_THREADS_VAR: &str = "TOKIO_WORKER_THREADS";

/// Runs `service`, a binary's whole life, on the runtime of [`build`]. Its error, or the
/// runtime's, is logged and printed before the runtime is dropped (which waits for blocking
/// tasks still running), and the exit code says whether there was one.
pub fn run_to_exit(binary: &str, service: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match build().context("cannot start the async runtime") {
        Ok(runtime) => runtime,
        Err(error) => return failed(binary, &error),
    };
    match runtime.block_on(service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failed(binary, &error),
    }
}

fn failed(binary: &str, error: &anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{error:#}"), "{binary} failed");
    #[expect(clippy::print_stderr, reason = "the last word must reach the terminal even without a log subscriber")]
    {
        eprintln!("error: {error:#}");
    }
    ExitCode::FAILURE
}

/// The runtime for this process: see the module documentation.
pub fn build() -> io::Result<Runtime> {
    let configured = match env::var(WORKER_THREADS_VAR) {
        Ok(value) => Some(value),
        Err(VarError::NotPresent) => None,
        Err(VarError::NotUnicode(value)) => {
            return Err(invalid_worker_threads(&value.to_string_lossy()));
        }
    };
    let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    builder(worker_threads(configured.as_deref(), available)?).build()
}

/// The single-threaded scheduler for one worker, else the work-stealing one with `workers`.
fn builder(workers: usize) -> Builder {
    let mut builder = if workers == 1 {
        Builder::new_current_thread()
    } else {
        let mut builder = Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder.enable_all();
    builder
}

/// The running runtime's scheduler and workers, for the startup log: `single-threaded` or
/// `work-stealing, N workers` (`none` outside a runtime).
pub fn scheduler() -> String {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return "none".to_owned();
    };
    match handle.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => "single-threaded".to_owned(),
        _ => format!("work-stealing, {} workers", handle.metrics().num_workers()),
    }
}

/// How many threads run tasks: `TOKIO_WORKER_THREADS` when set (surrounding spaces ignored),
/// else the CPUs available. An invalid value is an error naming the variable.
pub fn worker_threads(configured: Option<&str>, available: usize) -> io::Result<usize> {
    let Some(configured) = configured else {
        return Ok(available.max(1));
    };
    match configured.trim().parse::<usize>() {
        Ok(workers) if workers > 0 => Ok(workers),
        _ => Err(invalid_worker_threads(configured)),
    }
}

fn invalid_worker_threads(value: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{WORKER_THREADS_VAR} must be a positive whole number, not {value:?}"),
    )
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::{builder, worker_threads};

    #[test]
    fn the_cpus_available_decide_unless_the_variable_is_set() {
        assert_eq!(worker_threads(None, 1).ok(), Some(1));
        assert_eq!(worker_threads(None, 4).ok(), Some(4));
        assert_eq!(worker_threads(Some("1"), 4).ok(), Some(1));
        assert_eq!(worker_threads(Some(" 3 "), 1).ok(), Some(3));
    }

    #[test]
    fn a_worker_count_that_is_not_a_positive_number_is_refused_by_name() {
        for bad in ["0", "-1", "two", ""] {
            let error = worker_threads(Some(bad), 2).expect_err(bad);
            assert!(error.to_string().contains("TOKIO_WORKER_THREADS"), "{error}");
        }
    }

    #[test]
    fn one_worker_gets_the_single_threaded_scheduler_and_more_the_work_stealing_one() {
        let one = builder(1).build().expect("a runtime");
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        assert_eq!(one.metrics().num_workers(), 1);

        let three = builder(3).build().expect("a runtime");
        assert_eq!(three.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(three.metrics().num_workers(), 3);
        assert_eq!(one.block_on(async { super::scheduler() }), "single-threaded");
        assert_eq!(three.block_on(async { super::scheduler() }), "work-stealing, 3 workers");
        assert_eq!(super::scheduler(), "none");
        // Timers and sockets work on both (the services need both drivers).
        for runtime in [one, three] {
            runtime.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a socket");
            });
        }
    }
}
