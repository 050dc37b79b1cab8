//! A fixed set of threads that do the password hashing.
//!
//! Each argon2id computation allocates its whole memory cost (19 MiB by default). On tokio's
//! blocking pool those allocations land on whichever of its many threads runs the job, and the
//! allocator keeps a freed block in that thread's arena: a login storm left the service at
//! ~790 MiB RSS. With a fixed set of workers, at most one block per worker is ever retained.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Runs closures on `count` dedicated threads; cheap to clone.
#[derive(Clone)]
pub struct HashWorkers {
    jobs: mpsc::Sender<Job>,
}

impl HashWorkers {
    /// Starts `count` (at least one) worker threads; they end when every handle is dropped.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || {
                loop {
                    // The lock is held only while taking a job, not while running it.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a worker and waits for its result without blocking the async runtime;
    /// `None` if the workers are gone or the work panicked.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::HashWorkers;

    #[tokio::test]
    async fn work_runs_on_a_named_worker_thread_and_returns_its_result() {
        let workers = HashWorkers::start(2).unwrap();
        let name = workers.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.is_some_and(|name| name.starts_with("argon2-")));
        assert_eq!(workers.run(|| 6 * 7).await, Some(42));
    }
}
