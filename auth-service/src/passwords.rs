//! argon2id hashing on dedicated threads, with a bound on hashes running at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::password_hash::{self, try_generate_salt};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::AuthError;
use crate::hash_workers::{BlockBuffer, HashWorkers};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB (OWASP minimum: 19456).
    pub memory_kib: u32,
    /// Passes over memory (OWASP minimum with 19 MiB: 2).
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Wrong password (or an unusable stored hash).
    Mismatch,
    /// Right password; `needs_rehash` when the hash was made with other parameters.
    Match {
        /// The stored hash's algorithm or cost differs from the configured ones.
        needs_rehash: bool,
    },
}

/// Hashes and verifies passwords without blocking the async workers.
///
/// Each hash takes tens of milliseconds of CPU and ~19 MiB of memory, so hashing runs on
/// `max_concurrent` dedicated threads, never on the async workers; a login storm queues here (and
/// is refused with RESOURCE_EXHAUSTED after `queue_timeout`) while every other RPC keeps its
/// worker threads.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    slots: Arc<Semaphore>,
    /// As many dedicated threads as slots (see `hash_workers` for why not the blocking pool).
    workers: HashWorkers,
    queue_timeout: Duration,
    /// Verified when the email is unknown, so that case takes as long as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Builds the hasher and its dummy hash (one hash of work, done once at start-up).
    pub fn new(cost: HashCost, max_concurrent: usize, queue_timeout: Duration) -> Result<Self, String> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|error| format!("invalid argon2 parameters: {error}"))?;
        let dummy_hash = argon2(&params)
            .hash_password(b"dummy password used to equalise timing")
            .map_err(|error| format!("cannot hash with these argon2 parameters: {error}"))?
            .to_string();
        // That hash's memory was freed on this thread, outside the workers: give it back now,
        // or it would stay in the idle service's RSS until the allocator's next purge.
        crate::allocator::return_freed_memory_now();
        Ok(Self {
            params,
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            workers: HashWorkers::start(max_concurrent)
                .map_err(|error| format!("cannot start hashing threads: {error}"))?,
            queue_timeout,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a password into a PHC string (parameters and salt included).
    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let params = self.params.clone();
        let password = password.clone();
        self.run_blocking(move |buffer| {
            hash_in(&params, password.as_bytes(), buffer)
                .map_err(|error| AuthError::Unexpected(anyhow::anyhow!("hashing a password: {error}")))
        })
        .await?
    }

    /// Checks a password against a stored PHC string; `None` checks it against a dummy hash and
    /// always mismatches, taking the same time as a real check.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verification, AuthError> {
        let is_dummy = stored.is_none();
        let stored: Arc<str> = stored.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        let params = self.params.clone();
        let password = password.clone();
        let verification =
            self.run_blocking(move |buffer| verify_in(&params, password.as_bytes(), &stored, buffer)).await?;
        Ok(if is_dummy { Verification::Mismatch } else { verification })
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut BlockBuffer) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| AuthError::HashingBusy)?
            .map_err(|error| AuthError::Unexpected(error.into()))?;
        let result = self.workers.run(work).await;
        drop(permit);
        result.ok_or_else(|| AuthError::Unexpected(anyhow::anyhow!("a password hashing worker failed")))
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

// `hash_in` and `verify_in` do what argon2's `PasswordHasher` and `PasswordVerifier` do, but in the
// worker's reused memory: through those traits every hash allocated (and page-faulted) its whole
// memory cost afresh.

/// A new argon2id hash of `password` with `params` and a random salt, as a PHC string.
fn hash_in(params: &Params, password: &[u8], buffer: &mut BlockBuffer) -> password_hash::Result<String> {
    let salt = try_generate_salt()?;
    let mut output = [0; Output::MAX_LENGTH];
    let output = output
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or(password_hash::Error::OutputSize)?;
    argon2id_into(Version::V0x13, params.clone(), password, &salt, output, buffer)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(output)?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against the PHC string `stored`; anything but a valid argon2id hash of it
/// mismatches. `configured` are the parameters new hashes are made with.
fn verify_in(configured: &Params, password: &[u8], stored: &str, buffer: &mut BlockBuffer) -> Verification {
    let Ok(hash) = PasswordHash::new(stored) else {
        return Verification::Mismatch;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Verification::Mismatch;
    };
    // The parameters include the stored hash's length, which the computed one must have.
    let Ok(params) = Params::try_from(&hash) else {
        return Verification::Mismatch;
    };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else {
        return Verification::Mismatch;
    };
    let mut computed = [0; Output::MAX_LENGTH];
    let Some(computed) = computed.get_mut(..expected.len()) else {
        return Verification::Mismatch;
    };
    // A hash without a version is computed as v0x13 (argon2's default) and rehashed so it records one.
    let needs_rehash = params.m_cost() != configured.m_cost()
        || params.t_cost() != configured.t_cost()
        || params.p_cost() != configured.p_cost()
        || hash.version != Some(Version::V0x13.into());
    if hash.algorithm != Algorithm::Argon2id.ident()
        || argon2id_into(version, params, password, salt, computed, buffer).is_err()
    {
        return Verification::Mismatch;
    }
    // `Output`'s equality is constant-time, so how long it takes says nothing about the hash.
    match Output::new(computed) {
        Ok(computed) if computed == *expected => Verification::Match { needs_rehash },
        _ => Verification::Mismatch,
    }
}

/// argon2id of `password` and `salt` into `output`, computed in `buffer`.
fn argon2id_into(
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    output: &mut [u8],
    buffer: &mut BlockBuffer,
) -> argon2::Result<()> {
    let blocks = buffer.blocks(params.block_count()).map_err(|_| argon2::Error::OutOfMemory)?;
    Argon2::new(Algorithm::Argon2id, version, params).hash_password_into_with_memory(password, salt, output, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(cost: HashCost) -> PasswordHasher {
        PasswordHasher::new(cost, 2, Duration::from_secs(10)).unwrap()
    }

    fn cheap() -> HashCost {
        HashCost { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    fn cheap_params() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    /// argon2's own `PasswordHasher` / `PasswordVerifier`, which we no longer call but must agree with.
    fn plain(algorithm: Algorithm, version: Version, params: Params) -> Argon2<'static> {
        Argon2::new(algorithm, version, params)
    }

    /// `hash` verifies "correct horse" (with no rehash needed) and nothing else.
    async fn assert_verifies_correct_horse_only(hasher: &PasswordHasher, hash: &str) {
        assert_eq!(
            hasher.verify(&password("correct horse"), Some(hash)).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(hasher.verify(&password("wrong horse!"), Some(hash)).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher(cheap());
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_verifies_correct_horse_only(&hasher, &hash).await;
    }

    #[tokio::test]
    async fn a_hash_made_with_other_costs_asks_for_a_rehash() {
        let old = hasher(cheap()).hash(&password("correct horse")).await.unwrap();
        let stronger = hasher(HashCost { memory_kib: 2048, ..cheap() });
        assert_eq!(
            stronger.verify(&password("correct horse"), Some(&old)).await.unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches_even_with_the_dummy_password() {
        let hasher = hasher(cheap());
        let guess = password("dummy password used to equalise timing");
        assert_eq!(hasher.verify(&guess, None).await.unwrap(), Verification::Mismatch);
        assert_eq!(hasher.verify(&guess, Some("not a phc string")).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn hashes_made_one_after_another_in_a_workers_reused_memory_all_verify() {
        // One worker, so every hash and check below runs in the same buffer.
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(10)).unwrap();
        let first = hasher.hash(&password("correct horse")).await.unwrap();
        let second = hasher.hash(&password("battery staple")).await.unwrap();
        assert_ne!(first, second);
        for (raw, hash) in [("correct horse", &first), ("battery staple", &second), ("correct horse", &first)] {
            assert_eq!(
                hasher.verify(&password(raw), Some(hash)).await.unwrap(),
                Verification::Match { needs_rehash: false }
            );
        }
        assert_eq!(hasher.verify(&password("battery staple"), Some(&first)).await.unwrap(), Verification::Mismatch);
    }

    #[tokio::test]
    async fn a_worker_checks_hashes_needing_more_then_less_memory_than_its_buffer_holds() {
        let large = hasher(HashCost { memory_kib: 4096, ..cheap() }).hash(&password("correct horse")).await.unwrap();
        let hasher = PasswordHasher::new(cheap(), 1, Duration::from_secs(10)).unwrap();
        let small = hasher.hash(&password("correct horse")).await.unwrap();
        for hash in [&large, &small] {
            assert!(matches!(
                hasher.verify(&password("correct horse"), Some(hash)).await.unwrap(),
                Verification::Match { .. }
            ));
        }
    }

    #[tokio::test]
    async fn a_hash_made_by_the_argon2_crates_own_hasher_verifies() {
        let hash = plain(Algorithm::Argon2id, Version::V0x13, cheap_params())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let hasher = hasher(cheap());
        assert_verifies_correct_horse_only(&hasher, &hash).await;
    }

    #[tokio::test]
    async fn a_hash_made_here_verifies_with_the_argon2_crates_own_verifier() {
        use argon2::PasswordVerifier as _;

        let hash = hasher(cheap()).hash(&password("correct horse")).await.unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        let plain = Argon2::default();
        assert!(plain.verify_password(b"correct horse", &parsed).is_ok());
        assert!(plain.verify_password(b"wrong horse!", &parsed).is_err());
    }

    #[tokio::test]
    async fn a_hash_of_another_length_verifies_and_keeps_its_length() {
        let params = Params::new(1024, 1, 1, Some(64)).unwrap();
        let hash = plain(Algorithm::Argon2id, Version::V0x13, params).hash_password(b"correct horse").unwrap();
        assert_eq!(hash.hash.map(|output| output.len()), Some(64));
        let hasher = hasher(cheap());
        let hash = hash.to_string();
        assert_verifies_correct_horse_only(&hasher, &hash).await;
    }

    #[tokio::test]
    async fn every_parameter_that_differs_asks_for_a_rehash() {
        let hasher = hasher(cheap());
        let others = [
            (Version::V0x13, Params::new(2048, 1, 1, None).unwrap()),
            (Version::V0x13, Params::new(1024, 2, 1, None).unwrap()),
            (Version::V0x13, Params::new(1024, 1, 2, None).unwrap()),
            (Version::V0x10, cheap_params()),
        ];
        let mut hashes: Vec<String> = others
            .into_iter()
            .map(|(version, params)| {
                plain(Algorithm::Argon2id, version, params).hash_password(b"correct horse").unwrap().to_string()
            })
            .collect();
        // The same hash without its (optional) version field.
        hashes.push(hasher.hash(&password("correct horse")).await.unwrap().replacen("$v=19", "", 1));
        for hash in hashes {
            assert_eq!(
                hasher.verify(&password("correct horse"), Some(&hash)).await.unwrap(),
                Verification::Match { needs_rehash: true },
                "{hash}"
            );
            assert_eq!(hasher.verify(&password("wrong horse!"), Some(&hash)).await.unwrap(), Verification::Mismatch);
        }
    }

    #[tokio::test]
    async fn only_complete_argon2id_hashes_are_accepted() {
        let hasher = hasher(cheap());
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2d] {
            let hash = plain(algorithm, Version::V0x13, cheap_params()).hash_password(b"correct horse").unwrap();
            let hash = hash.to_string();
            assert_eq!(hasher.verify(&password("correct horse"), Some(&hash)).await.unwrap(), Verification::Mismatch);
        }
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        let without_output = hash.rsplit_once('$').unwrap().0;
        assert_eq!(
            hasher.verify(&password("correct horse"), Some(without_output)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn the_default_cost_is_owasps_minimum() {
        assert_eq!(HashCost::default(), HashCost { memory_kib: 19_456, iterations: 2, parallelism: 1 });
    }
}
