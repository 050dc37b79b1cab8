//! The command line: every option is also an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use api_client::{ClientConfig, ClientIdentity, GuardConfig, TlsConfig};
use clap::Parser;
use service_kit::ServerArgs;
use shared::config::DatabaseArgs;
use shared::shutdown::shutdown_signal;
use shared::telemetry::{self, LogFormat};

use crate::settings::{Settings, auth_client_defaults};
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
    /// Connections that all concurrent reads share, their statements pipelined (0 = each read
    /// takes a pool connection, e.g. behind a pooler in transaction mode).
    #[arg(long, env = "DATABASE_READ_CONNECTIONS", default_value_t = 1)]
    pub database_read_connections: usize,
    /// Connections that all concurrent writes share, likewise (commits are flushed together
    /// only across connections; 0 = each write takes a pool connection).
    #[arg(long, env = "DATABASE_WRITE_CONNECTIONS", default_value_t = 8)]
    pub database_write_connections: usize,
    /// URL of the auth service.
    #[arg(long, env = "AUTH_SERVICE_URL", default_value = "http://127.0.0.1:50051")]
    pub auth_service_url: String,
    /// Deadline of each call to the auth service (one ValidateToken, or a ValidateTokens batch;
    /// a queued validation waits no longer in all).
    #[arg(long, env = "AUTH_CALL_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub auth_call_timeout: Duration,
    /// How long a positive token validation is reused (never past the token's expiry; 0 = off).
    #[arg(long, env = "AUTH_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: Duration,
    /// Most calls to the auth service in flight at once; validations that find them all taken
    /// wait and go together in one ValidateTokens call (at least 1).
    #[arg(long, env = "AUTH_CALLS_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub auth_calls_in_flight: u16,
    /// Most tokens kept in the validation cache.
    #[arg(long, env = "AUTH_CACHE_CAPACITY", default_value_t = 10_000)]
    pub auth_cache_capacity: u64,
    /// Balance calls over every address AUTH_SERVICE_URL's host resolves to, re-resolved this
    /// often (point it at a headless Service); unset keeps one connection.
    #[arg(long, env = "AUTH_SERVICE_DNS_REFRESH", value_parser = humantime::parse_duration)]
    pub auth_service_dns_refresh: Option<Duration>,
    /// CA (PEM) that signed the auth service's certificate; with an https:// AUTH_SERVICE_URL.
    #[arg(long, env = "AUTH_TLS_CA_FILE")]
    pub auth_tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) presented to the auth service (mutual TLS).
    #[arg(long, env = "AUTH_TLS_CERT_FILE", requires = "auth_tls_key_file")]
    pub auth_tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of that client certificate.
    #[arg(long, env = "AUTH_TLS_KEY_FILE", requires = "auth_tls_cert_file")]
    pub auth_tls_key_file: Option<PathBuf>,
    /// Name the auth service's certificate must carry, when it differs from the URL's host.
    #[arg(long, env = "AUTH_TLS_DOMAIN")]
    pub auth_tls_domain: Option<String>,
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

/// TLS towards the auth service, when any of its files or names is given.
fn auth_tls(cli: &Cli) -> anyhow::Result<Option<TlsConfig>> {
    let read =
        |path: &PathBuf| std::fs::read(path).map_err(|error| anyhow::anyhow!("reading {}: {error}", path.display()));
    let client_identity = match (&cli.auth_tls_cert_file, &cli.auth_tls_key_file) {
        (Some(certificate), Some(key)) => {
            Some(ClientIdentity { certificate_pem: read(certificate)?, key_pem: read(key)? })
        }
        _ => None,
    };
    let ca_certificate_pem = cli.auth_tls_ca_file.as_ref().map(read).transpose()?;
    if ca_certificate_pem.is_none() && client_identity.is_none() && cli.auth_tls_domain.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsConfig { ca_certificate_pem, client_identity, domain_name: cli.auth_tls_domain.clone() }))
}

/// The auth guard's settings from the AUTH_* options; the rest as [`GuardConfig::default`].
fn guard_config(cli: &Cli) -> GuardConfig {
    GuardConfig {
        call_timeout: cli.auth_call_timeout,
        cache_ttl: cli.auth_cache_ttl,
        cache_capacity: cli.auth_cache_capacity,
        calls_in_flight: usize::from(cli.auth_calls_in_flight),
        ..GuardConfig::default()
    }
}

/// Runs the service until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.log_format);
    let settings = Settings {
        listen_addr: cli.listen_addr,
        database_url: cli.database.url()?,
        pool: cli.database.pool(),
        read_connections: cli.database_read_connections,
        write_connections: cli.database_write_connections,
        auth_client: ClientConfig { tls: auth_tls(&cli)?, ..auth_client_defaults() },
        auth_dns_refresh: cli.auth_service_dns_refresh,
        guard: guard_config(&cli),
        auth_url: cli.auth_service_url,
        retention: cli.retention,
        purge_interval: cli.purge_interval,
        server: cli.server.to_settings(DEFAULT_METRICS_ADDR.parse()?)?,
    };
    Application::build(settings).await?.run_until(shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The AUTH_* defaults are written in `--help` and in `GuardConfig::default()`; they must
    /// agree, or a deployment without those variables runs a guard other than the documented one.
    #[test]
    fn the_guard_defaults_are_the_libraries() {
        let cli = Cli::try_parse_from(["resource-service"]).expect("no option is required");
        let from_cli = guard_config(&cli);
        let library = GuardConfig::default();
        assert_eq!(from_cli.call_timeout, library.call_timeout);
        assert_eq!(from_cli.cache_ttl, library.cache_ttl);
        assert_eq!(from_cli.cache_capacity, library.cache_capacity);
        assert_eq!(from_cli.calls_in_flight, library.calls_in_flight);
    }

    #[test]
    fn the_guard_takes_the_auth_options() {
        let cli = Cli::try_parse_from([
            "resource-service",
            "--auth-call-timeout=750ms",
            "--auth-cache-ttl=0s",
            "--auth-cache-capacity=12",
            "--auth-calls-in-flight=3",
        ])
        .expect("valid options");
        let guard = guard_config(&cli);
        assert_eq!(guard.call_timeout, Duration::from_millis(750));
        assert_eq!(guard.cache_ttl, Duration::ZERO);
        assert_eq!(guard.cache_capacity, 12);
        assert_eq!(guard.calls_in_flight, 3);
        assert!(Cli::try_parse_from(["resource-service", "--auth-calls-in-flight=0"]).is_err());
    }
}
