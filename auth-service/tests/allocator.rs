//! The allocator as the binary uses it (mimalloc, in a process of its own): argon2id-sized
//! blocks that a hashing worker or start-up lets go leave the process's RSS, and only because
//! they ask.

use std::sync::Mutex;
use std::time::Duration;

use auth_service::hash_workers::{HashWorkers, IDLE_RELEASE};
use auth_service::passwords::{HashCost, PasswordHasher};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The tests read the process's RSS, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// argon2id's default memory cost, 19 MiB, in KiB.
const BLOCK_KIB: u64 = 19 * 1024;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn freed_memory_stays_until_the_purge_is_asked_for() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = resident_kib();
    // Freed on a thread that then makes no allocation, as an idle hashing worker.
    std::thread::spawn(move || {
        let block = vec![1_u8; 19 << 20];
        assert!(resident_kib() > before + BLOCK_KIB * 3 / 4, "the block was touched");
        drop(std::hint::black_box(block));
        std::thread::sleep(Duration::from_millis(300));
        let kept = resident_kib();
        assert!(kept > before + BLOCK_KIB * 3 / 4, "mimalloc purges after a delay: {before} kB before, {kept} kB kept");
        auth_service::allocator::return_freed_memory_now();
        let after = resident_kib();
        assert!(after < before + 4 * 1024, "RSS {before} kB before, {after} kB after the purge");
    })
    .join()
    .expect("the thread ran");
}

#[test]
fn an_idle_hashing_worker_returns_its_buffer_to_the_system() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let before = resident_kib();
    let workers = HashWorkers::start(1).unwrap();
    let blocks = (BLOCK_KIB as usize) * 1024 / size_of::<argon2::Block>();
    let held = runtime.block_on(workers.run(move |buffer| buffer.blocks(blocks).map(|held| held.len()).ok()));
    assert_eq!(held, Some(Some(blocks)));
    let busy = resident_kib();
    assert!(busy > before + BLOCK_KIB * 3 / 4, "{before} kB before, {busy} kB with the buffer");
    std::thread::sleep(IDLE_RELEASE * 3);
    let idle = resident_kib();
    assert!(idle < before + 4 * 1024, "{before} kB before, {idle} kB once the worker was idle");
}

#[test]
fn the_start_up_hash_leaves_no_memory_behind() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = resident_kib();
    let hasher = PasswordHasher::new(HashCost::default(), 1, Duration::from_secs(1)).unwrap();
    let after = resident_kib();
    assert!(after < before + 4 * 1024, "{before} kB before, {after} kB after the dummy hash");
    drop(hasher);
}
