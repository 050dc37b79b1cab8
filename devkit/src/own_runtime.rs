//! Runs work away from the caller's thread and tokio runtime.
//!
//! Each `#[tokio::test]` has a runtime of its own that ends with the test; anything that must
//! outlive one test, or run where a runtime may already be active, runs through here.

use std::any::Any;
use std::future::Future;
use std::thread;

use anyhow::{Context as _, anyhow};

/// Runs the future made by `make` to completion on a new thread with its own small
/// multi-thread runtime, and waits.
///
/// Callable from anywhere, including from inside another runtime.
pub(crate) fn block_on_own_runtime<F, Fut, T>(make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send,
{
    thread::scope(|scope| {
        thread::Builder::new()
            .name("devkit-runtime".to_owned())
            .spawn_scoped(scope, move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("devkit-worker")
                    .enable_all()
                    .build()
                    .context("cannot build a tokio runtime")?;
                runtime.block_on(make())
            })
            .context("cannot start a thread")?
            .join()
            .map_err(|panic| anyhow!("devkit thread panicked: {}", panic_message(&*panic)))?
    })
}

/// Runs blocking `work` on a new thread and awaits its result without blocking the caller's
/// runtime (works with any executor).
pub(crate) async fn run_blocking<F, T>(work: F) -> anyhow::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    thread::Builder::new()
        .name("devkit-blocking".to_owned())
        .spawn(move || {
            // The caller may have been cancelled; then nobody wants the result.
            let _ = sender.send(work());
        })
        .context("cannot start a thread")?;
    receiver.await.map_err(|_| anyhow!("devkit thread panicked (see its output above)"))
}

/// The message of a panic payload, when it has one.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
