//! The allocator tuning the binary uses, in a process of its own with the same allocator: a
//! freed argon2id-sized block leaves the process's RSS at once.

use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn freed_hash_memory_goes_back_to_the_system() {
    #[expect(unsafe_code, reason = "reading an allocator option back")]
    // SAFETY: mi_option_get reads a process-wide setting; no preconditions.
    let default = unsafe { libmimalloc_sys::mi_option_get(auth_service::allocator::PURGE_DELAY) };
    assert_eq!(default, 1000, "PURGE_DELAY is not mimalloc v3's purge_delay option (default 1000 ms)");
    auth_service::allocator::return_freed_memory_at_once();

    // Freed on another thread that then sits idle, as a hashing worker does.
    let before = resident_kib();
    std::thread::spawn(move || {
        let block = vec![1_u8; 19 << 20];
        assert!(resident_kib() > before + 15 * 1024, "the block was touched");
        drop(std::hint::black_box(block));
        std::thread::sleep(Duration::from_millis(300));
    })
    .join()
    .expect("the thread ran");
    let after = resident_kib();
    assert!(after < before + 4 * 1024, "RSS {before} kB before, {after} kB after freeing 19 MiB");
}
