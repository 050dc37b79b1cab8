//! The auth guard's counters as Prometheus series, read at each scrape.

use api_client::AuthGuard;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use service_kit::metrics::encode_const;

/// Exposes `auth_client_cache_hits_total` and `auth_client_cache_misses_total` (each miss is
/// one ValidateToken call to the auth service).
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
        )
    }
}
