//! A fixed set of threads that do the password hashing, each keeping its argon2 memory between jobs.
//!
//! Each argon2id computation needs its whole memory cost (19 MiB by default). On tokio's
//! blocking pool those allocations landed on whichever of its many threads ran the job, and the
//! allocator kept a freed block in that thread's arena: a login storm left the service at
//! ~790 MiB RSS. Handing each freed block straight back to the system made every hash pay again
//! for mapping and page-faulting 19 MiB, a large share of a verify's time.
//! So each worker lends its own [`BlockBuffer`] to every job it runs and frees it only once it has
//! been idle for [`IDLE_RELEASE`], then has the allocator return it to the system at once: under
//! load no hash allocates, and at rest RSS falls back to the baseline.

use std::collections::TryReserveError;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use argon2::Block;
use priority::yield_to_rpc_threads;
pub use priority::{HASHING_NICE, HASHING_SLICE};

mod priority;

/// How long a worker keeps its buffer without a job before handing it back to the system.
pub const IDLE_RELEASE: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut BlockBuffer) + Send>;

/// argon2 memory a worker lends to each job it runs and keeps between jobs.
#[derive(Debug, Default)]
pub struct BlockBuffer {
    blocks: Vec<Block>,
}

impl BlockBuffer {
    /// `count` blocks, reused from earlier jobs when the buffer is large enough; they hold earlier
    /// jobs' leftovers, which argon2 overwrites before it reads them.
    pub fn blocks(&mut self, count: usize) -> Result<&mut [Block], TryReserveError> {
        if self.blocks.len() < count {
            // Let the old buffer go first, so that growing never holds both.
            self.release();
            self.blocks.try_reserve_exact(count)?;
            self.blocks.resize(count, Block::new());
        }
        Ok(&mut self.blocks[..count])
    }

    /// How many blocks the buffer holds now.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the buffer holds no memory.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Hands the memory back to the allocator and the allocator's free memory to the system.
    fn release(&mut self) {
        if !self.blocks.is_empty() {
            self.blocks = Vec::new();
            crate::allocator::return_freed_memory_now();
        }
    }
}

/// Runs closures on a fixed set of dedicated threads; cheap to clone.
#[derive(Clone)]
pub struct HashWorkers {
    handle: Arc<Handle>,
}

impl HashWorkers {
    /// Starts `count` (at least one) worker threads; they end when every handle is dropped.
    pub fn start(count: usize) -> std::io::Result<Self> {
        // Made first so that, if a thread cannot start, dropping it ends those already started.
        let handle = Arc::new(Handle { queue: Arc::new(Queue::default()) });
        for index in 0..count.max(1) {
            let queue = Arc::clone(&handle.queue);
            std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || work(&queue))?;
        }
        Ok(Self { handle })
    }

    /// Runs `work` on a worker, with that worker's buffer, and waits for its result without
    /// blocking the async runtime; `None` if the workers are gone or the work panicked.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut BlockBuffer) -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |buffer| {
            // A caller that gave up (its RPC timed out or was cancelled) no longer waits: its
            // hash would only take the time of those still waiting.
            if !done.is_closed() {
                let _ = done.send(work(buffer));
            }
        });
        if !self.handle.queue.push(job) {
            return None;
        }
        result.await.ok()
    }
}

/// Closes the queue when the last [`HashWorkers`] clone goes, which ends the threads.
struct Handle {
    queue: Arc<Queue>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// Jobs waiting for a worker. Not an `mpsc` receiver behind a mutex: a worker waiting for that
/// mutex cannot time out, so it could never notice it is idle and free its buffer.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl Queue {
    // Nothing panics while the lock is held (jobs run outside it), so a poisoned lock still
    // guards a consistent queue.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a job for the next free worker; `false` once the workers are ending.
    fn push(&self, job: Job) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Waits for the next job (`None` once closed), freeing `buffer` after [`IDLE_RELEASE`] without one.
    fn next(&self, buffer: &mut BlockBuffer) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            if buffer.is_empty() {
                state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let (next, waited) = self.ready.wait_timeout(state, IDLE_RELEASE).unwrap_or_else(PoisonError::into_inner);
            state = next;
            if waited.timed_out() && state.jobs.is_empty() {
                // Outside the lock: unmapping 19 MiB takes a moment the other workers need not wait.
                drop(state);
                buffer.release();
                state = self.lock();
            }
        }
    }
}

/// A worker thread's life: run jobs with its buffer until the queue closes.
fn work(queue: &Queue) {
    yield_to_rpc_threads();
    let mut buffer = BlockBuffer::default();
    while let Some(job) = queue.next(&mut buffer) {
        // A panicking job loses only its own result (its caller gets `None`), not the worker.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| job(&mut buffer)));
    }
}

#[cfg(test)]
mod tests {
    use super::{HashWorkers, IDLE_RELEASE};

    #[tokio::test]
    async fn work_runs_on_a_named_worker_thread_and_returns_its_result() {
        let workers = HashWorkers::start(2).unwrap();
        let name = workers.run(|_| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.is_some_and(|name| name.starts_with("argon2-")));
        assert_eq!(workers.run(|_| 6 * 7).await, Some(42));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn work_runs_at_the_hashing_priority() {
        let workers = HashWorkers::start(1).unwrap();
        let nice = workers.run(|_| super::priority::tests::own_nice_value()).await;
        assert_eq!(nice, Some(super::HASHING_NICE));
    }

    #[tokio::test]
    async fn a_job_whose_caller_gave_up_is_skipped() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::Duration;

        let workers = HashWorkers::start(1).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        // Keeps the only worker busy until released.
        let busy = tokio::spawn({
            let workers = workers.clone();
            async move { workers.run(move |_| held.recv_timeout(Duration::from_secs(10)).is_ok()).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = {
            let ran = Arc::clone(&ran);
            workers.run(move |_| ran.store(true, Ordering::SeqCst))
        };
        // The caller waits a moment (its job is queued), then gives up.
        assert!(tokio::time::timeout(Duration::from_millis(50), abandoned).await.is_err());
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Some(true));
        // The next job runs after the abandoned one would have.
        assert_eq!(workers.run(|_| 1).await, Some(1));
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }

    #[tokio::test]
    async fn a_worker_keeps_its_buffer_between_jobs_and_frees_it_when_idle() {
        let workers = HashWorkers::start(1).unwrap();
        let first = workers.run(|buffer| buffer.blocks(64).map(|blocks| blocks.as_ptr() as usize)).await.unwrap();
        let second = workers.run(|buffer| buffer.blocks(16).map(|blocks| blocks.as_ptr() as usize)).await.unwrap();
        assert_eq!(first.unwrap(), second.unwrap(), "a smaller job reuses the same memory");
        assert_eq!(workers.run(|buffer| buffer.len()).await, Some(64));
        tokio::time::sleep(IDLE_RELEASE * 3).await;
        assert_eq!(workers.run(|buffer| buffer.len()).await, Some(0));
    }

    #[tokio::test]
    async fn a_buffer_grows_for_a_job_that_needs_more() {
        let workers = HashWorkers::start(1).unwrap();
        let blocks = workers.run(|buffer| buffer.blocks(8).map(|blocks| blocks.len()).ok()).await.unwrap();
        assert_eq!(blocks, Some(8));
        let blocks = workers.run(|buffer| buffer.blocks(32).map(|blocks| blocks.len()).ok()).await.unwrap();
        assert_eq!(blocks, Some(32));
    }

    #[tokio::test]
    async fn a_panicking_job_returns_nothing_and_leaves_its_worker_running() {
        let workers = HashWorkers::start(1).unwrap();
        assert_eq!(workers.run(|_| -> u8 { panic!("a job that fails") }).await, None);
        assert_eq!(workers.run(|_| 6 * 7).await, Some(42));
    }
}
