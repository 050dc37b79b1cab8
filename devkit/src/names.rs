//! Database names no other test, process or run uses.

use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Counts names made by this process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `<prefix>_<pid>_<counter>_<time>`: lower-case letters, digits and `_` only, so it needs no
/// quoting rules beyond plain double quotes, and well under PostgreSQL's 63-byte limit.
pub(crate) fn unique_name(prefix: &str) -> String {
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // A clock before 1970 only weakens uniqueness across runs, not within this process.
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_micros()).unwrap_or(0);
    // Microseconds modulo ~36 years: short, and distinct for a process id reused later.
    let time = micros % (1 << 50);
    format!("{prefix}_{}_{count}_{time:x}", process::id())
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn names_differ_and_are_plain() {
        let first = unique_name("test");
        let second = unique_name("test");
        assert_ne!(first, second);
        assert!(first.len() <= 63);
        assert!(first.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
