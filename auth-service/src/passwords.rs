//! argon2id hashing on dedicated threads, with a bound on hashes running at once.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::AuthError;
use crate::hash_workers::HashWorkers;

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
        self.run_blocking(move || {
            argon2(&params)
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
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
        let verification = self
            .run_blocking(move || {
                let Ok(hash) = PasswordHash::new(&stored) else {
                    return Verification::Mismatch;
                };
                let Ok(stored_params) = Params::try_from(&hash) else {
                    return Verification::Mismatch;
                };
                let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, stored_params.clone());
                if hash.algorithm != Algorithm::Argon2id.ident()
                    || hasher.verify_password(password.as_bytes(), &hash).is_err()
                {
                    return Verification::Mismatch;
                }
                let same_cost = stored_params.m_cost() == params.m_cost()
                    && stored_params.t_cost() == params.t_cost()
                    && stored_params.p_cost() == params.p_cost();
                Verification::Match { needs_rehash: !same_cost || hash.version != Some(Version::V0x13.into()) }
            })
            .await?;
        Ok(if is_dummy { Verification::Mismatch } else { verification })
    }

    async fn run_blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
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

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = hasher(cheap());
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            hasher.verify(&password("correct horse"), Some(&hash)).await.unwrap(),
            Verification::Match { needs_rehash: false }
        );
        assert_eq!(hasher.verify(&password("wrong horse!"), Some(&hash)).await.unwrap(), Verification::Mismatch);
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

    #[test]
    fn the_default_cost_is_owasps_minimum() {
        assert_eq!(HashCost::default(), HashCost { memory_kib: 19_456, iterations: 2, parallelism: 1 });
    }
}
