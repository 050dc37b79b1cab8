//! The login ceiling: how many argon2id verifies of the stored hash the machine does per second
//! with as many threads as the auth service hashes at once (one per CPU by default), nothing
//! else running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordVerifier as _, Version};
use serde::Serialize;

/// The raw verify rate.
#[derive(Debug, Clone, Serialize)]
pub struct Argon2Rate {
    /// The PHC parameter string (`m=19456,t=2,p=1`).
    pub params: String,
    /// Threads verifying at once.
    pub threads: usize,
    /// Verifies completed.
    pub verifies: u64,
    /// Verifies per second, all threads together.
    pub per_second: f64,
    /// Mean time of one verify, ms.
    pub mean_ms: f64,
}

/// Verifies `password` against `phc` on `threads` threads for `duration`, the way the auth
/// service does (the parameters come from the stored hash).
pub fn measure(phc: &str, password: &str, threads: usize, duration: Duration) -> anyhow::Result<Argon2Rate> {
    let hash = PasswordHash::new(phc).map_err(|error| anyhow!("the stored hash does not parse: {error}"))?;
    let params = Params::try_from(&hash).map_err(|error| anyhow!("the stored hash's parameters: {error}"))?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    if hasher.verify_password(password.as_bytes(), &hash).is_err() {
        bail!("the password does not verify against the stored hash");
    }
    let verifies = AtomicU64::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    // Checked above: every verify succeeds; the work is what counts.
                    let _ = hasher.verify_password(password.as_bytes(), &hash);
                    verifies.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let verifies = verifies.into_inner();
    Ok(Argon2Rate {
        params: format!("m={},t={},p={}", params.m_cost(), params.t_cost(), params.p_cost()),
        threads,
        verifies,
        per_second: verifies as f64 / elapsed,
        mean_ms: if verifies == 0 { 0.0 } else { elapsed * 1000.0 * threads as f64 / verifies as f64 },
    })
}
