//! The auth guard's counters as Prometheus series, read at each scrape.

use api_client::AuthGuard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use service_kit::metrics::encode_const;

/// Exposes `auth_client_cache_hits_total`, `auth_client_cache_misses_total` (validations asked
/// of the auth service), `auth_client_batch_calls_total` (ValidateTokens calls) and
/// `auth_client_batched_validations_total` (the validations within them).
#[derive(Debug)]
pub struct GuardCollector {
    guard: AuthGuard,
}

impl GuardCollector {
    /// Reads this guard's counters.
    pub fn new(guard: AuthGuard) -> Self {
        Self { guard }
    }
}

impl Collector for GuardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.guard.stats();
        encode_const(
            &mut encoder,
            "auth_client_cache_hits",
            "Token validations answered from the cache",
            &ConstCounter::new(stats.cache_hits),
        )?;
        encode_const(
            &mut encoder,
            "auth_client_cache_misses",
            "Token validations that called the auth service",
            &ConstCounter::new(stats.cache_misses),
        )?;
        encode_const(
            &mut encoder,
            "auth_client_batch_calls",
            "ValidateTokens calls: validations sent together because every call slot was taken",
            &ConstCounter::new(stats.batch_calls),
        )?;
        encode_const(
            &mut encoder,
            "auth_client_batched_validations",
            "Token validations sent within ValidateTokens calls",
            &ConstCounter::new(stats.batched_validations),
        )
    }
}
