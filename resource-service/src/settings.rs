//! Everything the running service needs to know, already validated.

use std::net::SocketAddr;
use std::time::Duration;

use api_client::{ClientConfig, GuardConfig};
use service_kit::ServerSettings;
use shared::pool::PoolSettings;
use shared::secret::Secret;

/// Settings of the resource service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the gRPC server listens on (port 0 picks a free one).
    pub listen_addr: SocketAddr,
    /// PostgreSQL URL.
    pub database_url: Secret,
    /// Connection pool sizing (the purge, health checks; reads or writes when their shared
    /// connections are 0).
    pub pool: PoolSettings,
    /// Connections shared by all reads, their statements pipelined (`shared::pipelined`); 0
    /// sends reads through the pool.
    pub read_connections: usize,
    /// Connections shared by all writes, likewise; commits are flushed together only across
    /// connections, so writes need more than reads. 0 sends writes through the pool.
    pub write_connections: usize,
    /// URL of the auth service, e.g. `http://127.0.0.1:50051`.
    pub auth_url: String,
    /// How the channel to the auth service connects (timeouts, keep-alive, TLS / mutual TLS).
    pub auth_client: ClientConfig,
    /// Balance over every address the auth URL's host resolves to, re-resolving this often
    /// (for a Kubernetes headless Service); `None` keeps one connection.
    pub auth_dns_refresh: Option<Duration>,
    /// Token checking: call deadline, cache TTL and size.
    pub guard: GuardConfig,
    /// How long soft-deleted resources are kept before they are purged.
    pub retention: Duration,
    /// How often the purge runs.
    pub purge_interval: Duration,
    /// Health, limits, metrics, TLS, shutdown.
    pub server: ServerSettings,
}

impl Settings {
    /// Defaults: port 50052, one shared read connection and eight write connections, auth on
    /// `http://127.0.0.1:50051`, 30 days retention, hourly purge.
    pub fn new(database_url: Secret, auth_url: impl Into<String>) -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50052)),
            database_url,
            pool: PoolSettings::default(),
            read_connections: 1,
            write_connections: 8,
            auth_url: auth_url.into(),
            auth_client: auth_client_defaults(),
            auth_dns_refresh: None,
            guard: GuardConfig::default(),
            retention: Duration::from_secs(30 * 24 * 3600),
            purge_interval: Duration::from_secs(3600),
            server: ServerSettings::default(),
        }
    }
}

/// The channel to the auth service: the client crate's defaults, but a 1 s connect timeout, so
/// that an unreachable auth service is reported quickly.
pub fn auth_client_defaults() -> ClientConfig {
    ClientConfig { connect_timeout: Duration::from_secs(1), ..ClientConfig::default() }
}
