//! Settings of the guard.

use std::time::Duration;

/// Settings of the guard.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Deadline of each `ValidateToken` call (sent as `grpc-timeout` and enforced locally too).
    pub call_timeout: Duration,
    /// How long a positive validation is reused for the same token; never past the token's own
    /// expiry. [`Duration::ZERO`] disables caching: every request calls the auth service.
    pub cache_ttl: Duration,
    /// Most tokens kept in the cache (bounds its memory).
    pub cache_capacity: u64,
    /// Most calls to the auth service in flight at once. A validation that finds them all
    /// taken waits, and goes with the others waiting in one `ValidateTokens` call when one ends
    /// (at least 1).
    pub calls_in_flight: usize,
    /// gRPC path prefixes that need no token, e.g. `/grpc.health.v1.Health/`.
    pub public_paths: Vec<String>,
}

impl Default for GuardConfig {
    /// 2 s calls, 2 of them in flight, 5 s cache of up to 10 000 tokens; health checks and
    /// reflection are public.
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(2),
            cache_ttl: Duration::from_secs(5),
            cache_capacity: 10_000,
            calls_in_flight: 2,
            public_paths: vec!["/grpc.health.v1.Health/".to_owned(), "/grpc.reflection.".to_owned()],
        }
    }
}

impl GuardConfig {
    /// Whether a request to this gRPC path (`/package.Service/Method`) needs no token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.iter().any(|prefix| path.starts_with(prefix.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_and_reflection_are_public_by_default() {
        let config = GuardConfig::default();
        assert!(config.is_public("/grpc.health.v1.Health/Check"));
        assert!(config.is_public("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
        assert!(config.is_public("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
        assert!(!config.is_public("/auth.v1.UserService/GetMe"));
        assert!(!config.is_public("/grpc.health.v2.Health/Check"));
    }
}
