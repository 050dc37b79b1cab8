//! Recent positive validations, keyed by a hash of the token, with one call per token in flight.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use tonic::Status;

use super::caller::Caller;
use super::errors;
use super::stats::Counters;

/// SHA-256 of a token: the cache never holds a usable token.
type TokenKey = [u8; 32];

/// Bounded cache of callers by token. Errors are never cached; concurrent misses for one token
/// share a single validation (moka's `try_get_with` coalesces them).
pub(crate) struct ValidationCache {
    entries: Cache<TokenKey, Caller>,
}

impl ValidationCache {
    /// A cache reusing an answer for at most `ttl` (and never past the token's expiry), holding
    /// at most `capacity` tokens.
    pub(crate) fn new(ttl: Duration, capacity: u64) -> Self {
        Self { entries: Cache::builder().max_capacity(capacity).expire_after(UntilTokenExpiry { ttl }).build() }
    }

    /// The caller for `token`: cached, or from the future `validate` makes, which runs only
    /// when no other request is already validating the same token (those wait for its answer
    /// and count as hits).
    ///
    /// A hit is a plain lookup. moka's coalescing lookup (`try_get_with`) keeps the validation
    /// future inside its own several times over, so its future is kilobytes large; only a miss
    /// makes one, on the heap. Inline, every call's future was that large, and it is copied
    /// whenever it moves (into a box, into its caller's state): in `cargo xtask bench` the plain
    /// lookup cut the resource service's CPU per cached GetResource by 12–15 %.
    pub(crate) async fn get_or_validate<F>(
        &self,
        token: &str,
        counters: &Counters,
        validate: impl FnOnce() -> F,
    ) -> Result<Caller, Status>
    where
        F: Future<Output = Result<Caller, Status>>,
    {
        let key = token_key(token);
        if let Some(caller) = self.entries.get(&key).await {
            counters.hit();
            return Ok(caller);
        }
        let mut called = false;
        let result = Box::pin(self.entries.try_get_with(key, async {
            called = true;
            validate().await
        }))
        .await;
        if called {
            counters.miss()
        } else {
            counters.hit()
        }
        // Waiters share the error; rebuild it for each of them.
        result.map_err(|shared| Arc::try_unwrap(shared).unwrap_or_else(|shared| errors::duplicate(&shared)))
    }

    /// How many tokens the cache holds, after its pending housekeeping (eviction, expiry).
    pub(crate) async fn len(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }
}

fn token_key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// Keeps an entry for the configured TTL, or until its token expires if that comes first.
struct UntilTokenExpiry {
    ttl: Duration,
}

impl Expiry<TokenKey, Caller> for UntilTokenExpiry {
    fn expire_after_create(&self, _key: &TokenKey, caller: &Caller, _created_at: Instant) -> Option<Duration> {
        let token_lifetime = caller.token_expires_at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        Some(self.ttl.min(token_lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::v1::Role;

    fn caller_expiring_in(lifetime: Duration) -> Caller {
        Caller {
            user_id: 1,
            email: "ada@example.com".to_owned(),
            role: Role::User,
            is_active: true,
            is_verified: true,
            session_id: 1,
            token_expires_at: SystemTime::now() + lifetime,
        }
    }

    #[test]
    fn an_entry_lives_for_the_ttl_or_until_its_token_expires() {
        let expiry = UntilTokenExpiry { ttl: Duration::from_secs(5) };
        let key = token_key("t");
        let long_lived =
            expiry.expire_after_create(&key, &caller_expiring_in(Duration::from_secs(3600)), Instant::now());
        assert_eq!(long_lived, Some(Duration::from_secs(5)));
        let short_lived =
            expiry.expire_after_create(&key, &caller_expiring_in(Duration::from_secs(1)), Instant::now()).unwrap();
        assert!(short_lived <= Duration::from_secs(1));
        let expired = expiry.expire_after_create(&key, &caller_expiring_in(Duration::ZERO), Instant::now());
        assert_eq!(expired, Some(Duration::ZERO));
    }

    #[test]
    fn keys_are_hashes_not_tokens() {
        assert_eq!(token_key("abc").len(), 32);
        assert_ne!(token_key("abc"), token_key("abd"));
        assert!(!token_key("abc").starts_with(b"abc"));
    }
}
