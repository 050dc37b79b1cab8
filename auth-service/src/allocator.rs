//! Tuning of the binary's global allocator, mimalloc (declared in `main.rs`).
//!
//! A profile of ValidateToken put glibc's malloc and free at 12 % of the service's CPU. mimalloc
//! took ValidateToken from about 31k to 36–38k rps in the benchmark. But argon2id's working
//! memory (19 MiB per hash) must go back to the system when a hashing thread frees it, or a
//! login storm stays in the service's RSS: mimalloc purges freed memory only after a delay
//! (1 s in mimalloc v3) and only when the thread calls it again, which an idle hashing
//! thread never does. Purging at once keeps idle RSS where it was with glibc.

/// `mi_option_purge_delay` of mimalloc v3's `mi_option_e`; the Rust bindings name only some
/// options. A test reads its default back to check the number.
pub const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed memory to the system at once. Call it first thing in `main`.
#[expect(unsafe_code, reason = "mi_option_set is a plain C call that only tunes the allocator")]
pub fn return_freed_memory_at_once() {
    // SAFETY: mi_option_set changes a process-wide setting, takes any value, has no
    // preconditions and is thread-safe.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}
