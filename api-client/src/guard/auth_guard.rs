//! The guard itself: validation with the auth service, through the cache.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tonic::Status;
use tonic::transport::Channel;

use super::batch::Batcher;
use super::cache::ValidationCache;
use super::caller::Caller;
use super::config::GuardConfig;
use super::layer::AuthLayer;
use super::stats::GuardStats;

/// Validates bearer tokens against the auth service; cheap to clone (shares one channel + cache).
#[derive(Clone)]
pub struct AuthGuard {
    shared: Arc<Shared>,
}

struct Shared {
    config: GuardConfig,
    /// `None` when the TTL is zero: every request calls the auth service.
    cache: Option<ValidationCache>,
    /// The calls to the auth service (and the counters).
    calls: Batcher,
}

/// Receives the duration of every call the guard makes to the auth service (`ValidateToken`,
/// or `ValidateTokens` for a batch).
pub type CallObserver = Arc<dyn Fn(Duration) + Send + Sync>;

impl AuthGuard {
    /// A guard calling the auth service over `channel`: one shared HTTP/2 channel, cloned per
    /// call. Pass a lazily connected one (`Endpoint::connect_lazy`) so the backend starts while
    /// the auth service is down; the channel reconnects by itself when it returns. Starts the
    /// task that batches validations under load, so it needs a tokio runtime.
    pub fn new(channel: Channel, config: GuardConfig) -> Self {
        let cache =
            (!config.cache_ttl.is_zero()).then(|| ValidationCache::new(config.cache_ttl, config.cache_capacity));
        let calls = Batcher::new(channel, config.call_timeout, config.calls_in_flight);
        Self { shared: Arc::new(Shared { config, cache, calls }) }
    }

    /// Reports the duration of every call to the auth service to `observer` (say, a latency
    /// histogram). Only the first observer set is kept.
    pub fn observe_calls(&self, observer: CallObserver) {
        self.shared.calls.observe_calls(observer);
    }

    /// Validate one token (what the layer calls). `request_id` is forwarded as `x-request-id`
    /// metadata when the validation gets a call of its own (not within a batch).
    pub async fn authenticate(&self, access_token: &str, request_id: Option<&str>) -> Result<Caller, Status> {
        let shared = &self.shared;
        // Boxed when made: the call's future (a tonic client call under a timeout) is about 2 KB,
        // which every hit's future would otherwise carry and copy (see `get_or_validate`).
        let call = || Box::pin(shared.calls.validate(access_token, request_id));
        let counters = shared.calls.counters();
        match &shared.cache {
            Some(cache) => cache.get_or_validate(access_token, counters, call).await,
            None => {
                counters.miss();
                call().await
            }
        }
    }

    /// The tower layer for `tonic::transport::Server::builder().layer(guard.layer())`.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::new(self.clone())
    }

    /// Counters: cache hits, misses (validations asked of the auth service), batches; for
    /// metrics.
    pub fn stats(&self) -> GuardStats {
        self.shared.calls.counters().snapshot()
    }

    /// How many validated tokens the cache holds now (0 when caching is off). Runs the cache's
    /// pending housekeeping first, so the figure respects capacity and expiry exactly.
    pub async fn cached_tokens(&self) -> u64 {
        match &self.shared.cache {
            Some(cache) => cache.len().await,
            None => 0,
        }
    }

    /// The guard's settings.
    pub fn config(&self) -> &GuardConfig {
        &self.shared.config
    }
}

impl fmt::Debug for AuthGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthGuard").field("config", &self.shared.config).field("stats", &self.stats()).finish()
    }
}

#[cfg(test)]
mod tests {
    use tonic::transport::Endpoint;

    use super::*;

    /// Every request's future holds `authenticate`'s, and is copied as it moves: the large
    /// parts (the ValidateToken call, moka's coalescing lookup) must stay boxed on the miss
    /// path. It was 11,536 bytes with them inline, 1,032 after.
    #[tokio::test]
    async fn a_validation_future_stays_small_with_or_without_the_cache() {
        let channel = Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        for cache_ttl in [Duration::from_secs(5), Duration::ZERO] {
            let guard = AuthGuard::new(channel.clone(), GuardConfig { cache_ttl, ..GuardConfig::default() });
            let validation = guard.authenticate("token", None);
            let size = size_of_val(&validation);
            assert!(size <= 2048, "authenticate's future is {size} bytes with a {cache_ttl:?} cache");
        }
    }
}
