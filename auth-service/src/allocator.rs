//! Tuning of the binary's global allocator, mimalloc (declared in `main.rs`).
//!
//! A profile of ValidateToken put glibc's malloc and free at 12 % of the service's CPU. mimalloc
//! took ValidateToken from about 31k to 36–38k rps in the benchmark. But argon2id's working
//! memory (19 MiB per hash) must go back to the system when a hashing worker lets its buffer go,
//! or a login storm stays in the service's RSS: mimalloc purges freed memory only after a delay
//! (1 s in mimalloc v3) and only when some thread calls into it again, which an idle service
//! never does. So a hashing worker asks for the purge right after freeing its buffer, and start-up
//! after its one hash outside the workers ([`return_freed_memory_now`]).
//!
//! Until session 13 the service set the purge delay to zero instead. That purged every freed
//! page of every thread at once: the RPC threads then paid for `madvise`, the TLB shootdowns it
//! sends to the other CPUs and the page faults that follow, 8 % of the service's CPU during
//! ValidateToken over one connection.

/// Hands the memory freed so far back to the system now rather than after the purge delay
/// (mimalloc's forced collection: this thread's free pages, then every arena's freed ranges).
/// It costs a walk of the thread's pages, so call it after freeing something large, not per call.
#[expect(unsafe_code, reason = "mi_collect is a plain C call that only makes the allocator tidy up")]
pub fn return_freed_memory_now() {
    // SAFETY: mi_collect has no preconditions, is thread-safe and touches only the allocator's
    // own state; if mimalloc is not the global allocator it finds nothing to collect.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
