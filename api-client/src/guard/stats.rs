//! Counters of the guard's work, for metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the guard's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Validations answered without a call of their own: from the cache, or by joining a call
    /// already in flight for the same token.
    pub cache_hits: u64,
    /// Validations that made a `ValidateToken` call.
    pub cache_misses: u64,
}

/// The live counters behind [`GuardStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    /// Counts a validation answered without a call.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a `ValidateToken` call.
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> GuardStats {
        GuardStats { cache_hits: self.hits.load(Ordering::Relaxed), cache_misses: self.misses.load(Ordering::Relaxed) }
    }
}
