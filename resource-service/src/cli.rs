//! The command line: every option is also an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use api_client::GuardConfig;
use clap::Parser;
use service_kit::ServerArgs;
use shared::config::DatabaseArgs;
use shared::shutdown::shutdown_signal;
use shared::telemetry::{self, LogFormat};

use crate::settings::Settings;
use crate::startup::Application;

/// Resource service: per-user resources over gRPC, callers checked by the auth service.
#[derive(Debug, Parser)]
#[command(name = "resource-service", version, about)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, env = "RESOURCE_LISTEN_ADDR", default_value = "127.0.0.1:50052")]
    pub listen_addr: SocketAddr,
    /// Database location and pool.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// URL of the auth service.
    #[arg(long, env = "AUTH_SERVICE_URL", default_value = "http://127.0.0.1:50051")]
    pub auth_service_url: String,
    /// Deadline of each ValidateToken call to the auth service.
    #[arg(long, env = "AUTH_CALL_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub auth_call_timeout: Duration,
    /// How long a positive token validation is reused (never past the token's expiry; 0 = off).
    #[arg(long, env = "AUTH_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: Duration,
    /// Most tokens kept in the validation cache.
    #[arg(long, env = "AUTH_CACHE_CAPACITY", default_value_t = 10_000)]
    pub auth_cache_capacity: u64,
    /// How long soft-deleted resources are kept before they are purged.
    #[arg(long, env = "RESOURCE_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// How often the purge of soft-deleted resources runs.
    #[arg(long, env = "RESOURCE_PURGE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub purge_interval: Duration,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Health, limits, metrics, TLS, shutdown.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Where `/metrics` is served unless METRICS_ADDR says otherwise.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9465";

/// Runs the service until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.log_format);
    let settings = Settings {
        listen_addr: cli.listen_addr,
        database_url: cli.database.url()?,
        pool: cli.database.pool(),
        auth_url: cli.auth_service_url,
        guard: GuardConfig {
            call_timeout: cli.auth_call_timeout,
            cache_ttl: cli.auth_cache_ttl,
            cache_capacity: cli.auth_cache_capacity,
            ..GuardConfig::default()
        },
        retention: cli.retention,
        purge_interval: cli.purge_interval,
        server: cli.server.to_settings(DEFAULT_METRICS_ADDR.parse()?)?,
    };
    Application::build(settings).await?.run_until(shutdown_signal()).await
}
