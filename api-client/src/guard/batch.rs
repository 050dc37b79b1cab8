//! Calls to the auth service, batched under load.
//!
//! At most [`GuardConfig::calls_in_flight`](super::GuardConfig) calls run at once. A check
//! that finds a free slot makes its own `ValidateToken` call, as it would without batching, so
//! a lightly loaded guard adds no hop and no delay. A check that finds every slot taken joins a
//! queue; a task sends whatever has queued in one `ValidateTokens` call as soon as a slot
//! frees. Both sides then spend per token a fraction of what a call costs (HTTP/2 stream,
//! headers, framing, a task each), which is what lets one auth service keep up with backends
//! that serve thousands of requests in flight.
//!
//! A batch goes with the request id of its first check (the one that waited longest), so the
//! auth service's log line of the call carries an id the backend's logs know; a debug line
//! names the requests whose tokens went with it, and each refused token is logged with the id
//! of the request that brought it.
//!
//! An auth service without `ValidateTokens` (an older version, during a rolling upgrade)
//! answers UNIMPLEMENTED: the queued checks then go one call each, and batches are tried again
//! a minute later.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::auth_guard::CallObserver;
use super::caller::Caller;
use super::errors;
use super::stats::Counters;
use super::validate::{caller_from_verdict, failed_call, validate_token, validate_tokens};

/// Most tokens sent in one `ValidateTokens` call (the auth service takes up to 1,000): large
/// enough that a batch costs little per token, small enough that its answers come back soon.
const MAX_TOKENS_PER_CALL: usize = 256;

/// Most bytes of tokens in one `ValidateTokens` call, well under the 4 MiB a gRPC server takes
/// by default: whoever sends huge tokens must not make the batch they share with other
/// people's validations too large to be read. A token larger than this goes alone.
const MAX_TOKEN_BYTES_PER_CALL: usize = 1024 * 1024;

/// How long checks go one call each after the auth service answered UNIMPLEMENTED to a batch.
const RETRY_BATCHES_AFTER: Duration = Duration::from_secs(60);

/// The guard's calls to the auth service: direct while a slot is free, batched beyond.
pub(crate) struct Batcher {
    calls: Arc<Calls>,
    slots: Arc<Semaphore>,
    queue: mpsc::UnboundedSender<QueuedCheck>,
}

/// What every call needs; shared by the guard and the batching task.
struct Calls {
    channel: Channel,
    timeout: Duration,
    counters: Counters,
    observer: OnceLock<CallObserver>,
    /// Set when the auth service answered a batch with UNIMPLEMENTED.
    batches_refused_at: Mutex<Option<Instant>>,
}

/// A check waiting for a slot.
struct QueuedCheck {
    token: String,
    request_id: Option<String>,
    answer: oneshot::Sender<Result<Caller, Status>>,
}

impl Batcher {
    /// Calls over `channel`, each within `timeout`, at most `calls_in_flight` (at least one) at
    /// once. Starts the batching task, so it needs a tokio runtime; the task ends with the
    /// batcher.
    pub(crate) fn new(channel: Channel, timeout: Duration, calls_in_flight: usize) -> Self {
        let calls = Arc::new(Calls {
            channel,
            timeout,
            counters: Counters::default(),
            observer: OnceLock::new(),
            batches_refused_at: Mutex::new(None),
        });
        let slots = Arc::new(Semaphore::new(calls_in_flight.max(1)));
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(send_batches(queued, Arc::clone(&slots), Arc::clone(&calls)));
        Self { calls, slots, queue }
    }

    /// Who bears `access_token`, as the auth service says. `request_id` is forwarded with the
    /// call (or, batched, names the batch when this check is its first). Answers within the
    /// call timeout, queueing included.
    pub(crate) async fn validate(&self, access_token: &str, request_id: Option<&str>) -> Result<Caller, Status> {
        if let Ok(_slot) = self.slots.try_acquire() {
            return self.calls.one(access_token, request_id).await;
        }
        let (answer, answered) = oneshot::channel();
        let check = QueuedCheck { token: access_token.to_owned(), request_id: request_id.map(str::to_owned), answer };
        if self.queue.send(check).is_err() {
            return Err(errors::auth_unavailable("the guard's batching task has stopped"));
        }
        match tokio::time::timeout(self.calls.timeout, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_dropped)) => Err(errors::auth_unavailable("the guard's batching task dropped the check")),
            Err(_elapsed) => Err(errors::auth_timeout(self.calls.timeout)),
        }
    }

    /// The guard's counters (the batcher counts the batches; the guard, hits and misses).
    pub(crate) fn counters(&self) -> &Counters {
        &self.calls.counters
    }

    /// Reports the duration of every call, single or batched, to `observer`; only the first
    /// observer set is kept.
    pub(crate) fn observe_calls(&self, observer: CallObserver) {
        let _ = self.calls.observer.set(observer);
    }
}

/// The batching task: waits for a queued check and a free slot, then sends the checks queued
/// by then (up to [`MAX_TOKENS_PER_CALL`] and [`MAX_TOKEN_BYTES_PER_CALL`]) in one call, on a
/// task of its own. A check that would overflow the call starts the next one.
async fn send_batches(mut queued: mpsc::UnboundedReceiver<QueuedCheck>, slots: Arc<Semaphore>, calls: Arc<Calls>) {
    let mut next = queued.recv().await;
    while let Some(first) = next.take() {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let mut bytes = first.token.len();
        let mut checks = vec![first];
        while checks.len() < MAX_TOKENS_PER_CALL {
            let Ok(check) = queued.try_recv() else { break };
            bytes += check.token.len();
            if bytes > MAX_TOKEN_BYTES_PER_CALL {
                next = Some(check);
                break;
            }
            checks.push(check);
        }
        // Checks whose requests gave up (deadline, cancelled call) are not worth asking about.
        checks.retain(|check| !check.answer.is_closed());
        let calls = Arc::clone(&calls);
        tokio::spawn(async move {
            calls.answer(checks).await;
            drop(slot);
        });
        if next.is_none() {
            next = queued.recv().await;
        }
    }
}

impl Calls {
    /// One `ValidateToken` call, its duration reported to the observer.
    async fn one(&self, access_token: &str, request_id: Option<&str>) -> Result<Caller, Status> {
        let started = Instant::now();
        let answer = validate_token(self.channel.clone(), access_token, request_id, self.timeout).await;
        self.observe(started);
        answer
    }

    /// Answers queued checks: in one `ValidateTokens` call when there are several and the auth
    /// service takes batches, else one call each, concurrently.
    async fn answer(&self, checks: Vec<QueuedCheck>) {
        if checks.len() > 1 && !self.batches_refused() {
            let tokens = checks.iter().map(|check| check.token.clone()).collect();
            let batch_id = checks[0].request_id.as_deref();
            tracing::debug!(
                batch.request_id = batch_id,
                request.ids = %BatchedRequestIds(&checks),
                "{} validations sent in one ValidateTokens call",
                checks.len()
            );
            let started = Instant::now();
            let outcome = validate_tokens(self.channel.clone(), tokens, batch_id, self.timeout).await;
            self.observe(started);
            match outcome {
                Err(status) if status.code() == Code::Unimplemented => {
                    tracing::info!("the auth service has no ValidateTokens; checking tokens one call each for now");
                    *self.batches_refused_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                        Some(Instant::now());
                }
                Ok(verdicts) => {
                    self.counters.batch(checks.len());
                    for (check, verdict) in checks.into_iter().zip(verdicts) {
                        let answer = caller_from_verdict(verdict, self.timeout, check.request_id.as_deref());
                        let _ = check.answer.send(answer);
                    }
                    return;
                }
                Err(status) => {
                    self.counters.batch(checks.len());
                    let failure = failed_call(&status, self.timeout, batch_id);
                    for check in checks {
                        let _ = check.answer.send(Err(errors::duplicate(&failure)));
                    }
                    return;
                }
            }
        }
        futures::future::join_all(checks.into_iter().map(|check| async move {
            let answer = self.one(&check.token, check.request_id.as_deref()).await;
            let _ = check.answer.send(answer);
        }))
        .await;
    }

    /// Whether the auth service refused a batch less than [`RETRY_BATCHES_AFTER`] ago.
    fn batches_refused(&self) -> bool {
        let refused_at = *self.batches_refused_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        refused_at.is_some_and(|at| at.elapsed() < RETRY_BATCHES_AFTER)
    }

    fn observe(&self, started: Instant) {
        if let Some(observer) = self.observer.get() {
            observer(started.elapsed());
        }
    }
}

/// The request ids of a batch's checks, comma-separated (`-` for a check without one); written
/// only when the debug line is.
struct BatchedRequestIds<'a>(&'a [QueuedCheck]);

impl std::fmt::Display for BatchedRequestIds<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, check) in self.0.iter().enumerate() {
            let separator = if index == 0 { "" } else { "," };
            write!(f, "{separator}{}", check.request_id.as_deref().unwrap_or("-"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(request_id: Option<&str>) -> QueuedCheck {
        let (answer, _answered) = oneshot::channel();
        QueuedCheck { token: "token".to_owned(), request_id: request_id.map(str::to_owned), answer }
    }

    #[test]
    fn a_batchs_request_ids_are_listed_in_order_with_a_dash_for_a_missing_one() {
        let checks = [check(Some("req-1")), check(None), check(Some("req-3"))];
        assert_eq!(BatchedRequestIds(&checks).to_string(), "req-1,-,req-3");
        assert_eq!(BatchedRequestIds(&[]).to_string(), "");
    }
}
