//! Counters of the guard's work, for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the guard's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Validations answered without a call of their own: from the cache, or by joining a call
    /// already in flight for the same token.
    pub cache_hits: u64,
    /// Validations that asked the auth service: in a `ValidateToken` call of their own, or
    /// within a `ValidateTokens` batch.
    pub cache_misses: u64,
    /// `ValidateTokens` calls made: batches of validations that found every call slot taken.
    pub batch_calls: u64,
    /// Validations sent within those batches.
    pub batched_validations: u64,
}

/// The live counters behind [`GuardStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    batch_calls: AtomicU64,
    batched_validations: AtomicU64,
}

impl Counters {
    /// Counts a validation answered without a call.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a validation that asks the auth service.
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a `ValidateTokens` call carrying `validations`.
    pub(crate) fn batch(&self, validations: usize) {
        self.batch_calls.fetch_add(1, Ordering::Relaxed);
        self.batched_validations.fetch_add(validations as u64, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> GuardStats {
        GuardStats {
            cache_hits: self.hits.load(Ordering::Relaxed),
            cache_misses: self.misses.load(Ordering::Relaxed),
            batch_calls: self.batch_calls.load(Ordering::Relaxed),
            batched_validations: self.batched_validations.load(Ordering::Relaxed),
        }
    }
}
