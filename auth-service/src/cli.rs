//! The command line: `serve` (default), `migrate …`, `create-admin`. Every option is also an
//! environment variable; secrets can come from files, as Kubernetes mounts Secrets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use service_kit::ServerArgs;
use shared::config::{DatabaseArgs, read_secret};
use shared::migrate::{self, Revert};

use crate::ops::accounts;
use crate::passwords::HashCost;
use crate::secret::Secret;
use crate::settings::{self, AdminAccount, PasswordSettings, Settings, TokenSettings};
use crate::startup::{Application, shutdown_signal};
use crate::state::AppState;
use crate::telemetry::{self, LogFormat};

/// Where `/metrics` is served unless METRICS_ADDR says otherwise.
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Auth service: users, passwords, tokens, sessions and roles over gRPC.
#[derive(Debug, Parser)]
#[command(name = "auth-service", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve` (accepted without the subcommand name).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply or revert database migrations (embedded in this binary).
    Migrate {
        /// Which migration operation.
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create an admin account, or promote an existing one (idempotent).
    CreateAdmin(CreateAdminArgs),
}

/// `migrate` operations.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last N migrations (default 1), or all of them with --all.
    Down {
        /// How many to revert.
        #[arg(default_value_t = 1)]
        count: usize,
        /// Revert every migration, back to an empty schema.
        #[arg(long, conflicts_with = "count")]
        all: bool,
    },
    /// List migrations, applied and pending.
    Status,
    /// Revert the last migration and apply it again.
    Redo,
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AUTH_LISTEN_ADDR", default_value = "127.0.0.1:50051")]
    pub listen_addr: SocketAddr,
    /// Database location and pool.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// HMAC-SHA256 secret signing access tokens, at least 32 bytes.
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// File holding the signing secret (instead of AUTH_JWT_SECRET).
    #[arg(long, env = "AUTH_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// During a rotation, a second secret whose tokens are accepted but which never signs: the
    /// one being replaced, or its replacement before every replica has it.
    #[arg(long, env = "AUTH_JWT_PREVIOUS_SECRET", hide_env_values = true)]
    pub jwt_previous_secret: Option<Secret>,
    /// File holding the previous signing secret (instead of AUTH_JWT_PREVIOUS_SECRET).
    #[arg(long, env = "AUTH_JWT_PREVIOUS_SECRET_FILE")]
    pub jwt_previous_secret_file: Option<PathBuf>,
    /// Key id (`kid`) put in token headers; derived from the secret when unset.
    #[arg(long, env = "AUTH_JWT_KEY_ID")]
    pub jwt_key_id: Option<String>,
    /// Issuer (`iss`) of access tokens.
    #[arg(long, env = "AUTH_JWT_ISSUER", default_value = "auth-service")]
    pub jwt_issuer: String,
    /// Audience (`aud`) of access tokens.
    #[arg(long, env = "AUTH_JWT_AUDIENCE", default_value = "backend-services")]
    pub jwt_audience: String,
    /// Run with a random signing secret that dies with the process. Development only.
    #[arg(long, env = "AUTH_INSECURE_DEV_KEY")]
    pub insecure_dev_key: bool,
    /// Lifetime of access tokens.
    #[arg(long, env = "AUTH_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (renewed by each refresh).
    #[arg(long, env = "AUTH_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,
    /// How long a just-rotated refresh token still returns the session's current tokens.
    #[arg(long, env = "AUTH_REFRESH_REUSE_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub refresh_reuse_grace: Duration,
    /// argon2id memory cost in KiB.
    #[arg(long, env = "AUTH_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    #[arg(long, env = "AUTH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// argon2id lanes.
    #[arg(long, env = "AUTH_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Most password hashes computed at once (0: one per CPU).
    #[arg(long, env = "AUTH_MAX_CONCURRENT_HASHES", default_value_t = 0)]
    pub max_concurrent_hashes: usize,
    /// Sessions (with their users) held in memory so that token checks need no query; kept
    /// coherent across replicas by PostgreSQL notifications. 0 queries the database every time.
    #[arg(long, env = "AUTH_SESSION_CACHE_CAPACITY", default_value_t = settings::DEFAULT_SESSION_CACHE_CAPACITY)]
    pub session_cache_capacity: u64,
    /// How long sessions are kept after they expire or are revoked (and refresh tokens after
    /// they expire) before they are purged.
    #[arg(long, env = "AUTH_SESSION_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub session_retention: Duration,
    /// How often the purge of ended sessions runs.
    #[arg(long, env = "AUTH_PURGE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub purge_interval: Duration,
    /// Email of an admin to create on start-up if missing.
    #[arg(long, env = "AUTH_FIRST_ADMIN_EMAIL", requires = "first_admin_password")]
    pub first_admin_email: Option<String>,
    /// Password of that admin (used only when it is created).
    #[arg(long, env = "AUTH_FIRST_ADMIN_PASSWORD", hide_env_values = true)]
    pub first_admin_password: Option<Secret>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Health, limits, metrics, TLS, shutdown.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Options of `create-admin`.
#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    /// Email of the admin.
    #[arg(long, env = "AUTH_ADMIN_EMAIL")]
    pub email: String,
    /// Password, used only if the account is created.
    #[arg(long, env = "AUTH_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// File holding the password.
    #[arg(long, env = "AUTH_ADMIN_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Display name.
    #[arg(long, env = "AUTH_ADMIN_NAME", default_value = "Administrator")]
    pub name: String,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.serve.log_format);
    let database_url = || cli.serve.database.url();
    match cli.command {
        None | Some(Command::Serve) => {
            let settings = cli.serve.to_settings(database_url()?, cli.serve.signing_secret()?)?;
            let application = Application::build(settings).await?;
            application.run_until(shutdown_signal()).await
        }
        Some(Command::Migrate { action }) => run_migrate(&database_url()?, action).await,
        Some(Command::CreateAdmin(args)) => {
            let password = read_secret("AUTH_ADMIN_PASSWORD", args.password.as_ref(), args.password_file.as_deref())?;
            // The command never signs a token; a throwaway key keeps it from needing the real one.
            let settings = cli.serve.to_settings(database_url()?, settings::ephemeral_secret())?;
            let state = AppState::new(&settings)?;
            let account = AdminAccount { email: args.email, password, name: args.name };
            let (admin, created) =
                accounts::ensure_admin(&state, &account).await.map_err(|error| anyhow::anyhow!("{error}"))?;
            let outcome = if created { "created" } else { "already existed; ensured admin role" };
            println!("admin {} (id {}): {outcome}", admin.email, admin.id);
            Ok(())
        }
    }
}

async fn run_migrate(database_url: &Secret, action: MigrateAction) -> anyhow::Result<()> {
    let url = database_url.expose();
    match action {
        MigrateAction::Up => report("applied", &migrate::run_pending(url).await?),
        MigrateAction::Down { all: true, .. } => report("reverted", &migrate::revert(url, Revert::All).await?),
        MigrateAction::Down { count, .. } => report("reverted", &migrate::revert(url, Revert::Last(count)).await?),
        MigrateAction::Redo => match migrate::redo(url).await? {
            Some(version) => println!("redone {version}"),
            None => println!("nothing to redo: no migration is applied"),
        },
        MigrateAction::Status => {
            for migration in migrate::status(url).await? {
                let state = if migration.applied { "applied" } else { "pending" };
                println!("{state:8} {}", migration.name);
            }
        }
    }
    Ok(())
}

fn report(verb: &str, names: &[String]) {
    if names.is_empty() {
        println!("nothing {verb}: the database is up to date");
    }
    for name in names {
        println!("{verb} {name}");
    }
}

impl ServeArgs {
    /// The configured signing secret; without one, refuses unless `--insecure-dev-key`, which
    /// gets a loud warning and a random key.
    pub fn signing_secret(&self) -> anyhow::Result<Secret> {
        match read_secret("AUTH_JWT_SECRET", self.jwt_secret.as_ref(), self.jwt_secret_file.as_deref()) {
            Ok(secret) => Ok(secret),
            Err(_) if self.insecure_dev_key => {
                tracing::warn!(
                    "NO SIGNING KEY CONFIGURED: using an EPHEMERAL random key (--insecure-dev-key). Every token dies \
                     with this process and replicas reject each other's tokens. Never do this in production."
                );
                Ok(settings::ephemeral_secret())
            }
            Err(error) => {
                anyhow::bail!("{error}: a signing key is required (or pass --insecure-dev-key for development)")
            }
        }
    }

    /// The previous signing secret, when one is configured.
    fn previous_signing_secret(&self) -> anyhow::Result<Option<Secret>> {
        if self.jwt_previous_secret.is_none() && self.jwt_previous_secret_file.is_none() {
            return Ok(None);
        }
        let name = "AUTH_JWT_PREVIOUS_SECRET";
        read_secret(name, self.jwt_previous_secret.as_ref(), self.jwt_previous_secret_file.as_deref()).map(Some)
    }

    /// Validated settings around a database URL and a signing secret.
    pub fn to_settings(&self, database_url: Secret, signing_secret: Secret) -> anyhow::Result<Settings> {
        let first_admin = match (&self.first_admin_email, &self.first_admin_password) {
            (Some(email), Some(password)) => Some(AdminAccount {
                email: email.clone(),
                password: password.clone(),
                name: "Administrator".to_owned(),
            }),
            _ => None,
        };
        let mut passwords = PasswordSettings {
            cost: HashCost {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: self.argon2_parallelism,
            },
            ..PasswordSettings::default()
        };
        if self.max_concurrent_hashes > 0 {
            passwords.max_concurrent = self.max_concurrent_hashes;
        }
        Ok(Settings {
            listen_addr: self.listen_addr,
            database_url,
            pool: self.database.pool(),
            tokens: TokenSettings {
                key_id: self.jwt_key_id.clone(),
                issuer: self.jwt_issuer.clone(),
                audience: self.jwt_audience.clone(),
                access_token_lifetime: self.access_token_ttl,
                refresh_token_lifetime: self.refresh_token_ttl,
                reuse_grace: self.refresh_reuse_grace,
                previous_signing_secrets: self.previous_signing_secret()?.into_iter().collect(),
                ..TokenSettings::with_secret(signing_secret)
            },
            passwords,
            session_cache_capacity: self.session_cache_capacity,
            session_retention: self.session_retention,
            purge_interval: self.purge_interval,
            first_admin,
            server: self.server.to_settings(DEFAULT_METRICS_ADDR.parse()?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use service_kit::ServerSettings;

    use super::*;

    fn serve_settings(arguments: &[&str]) -> Settings {
        let cli = Cli::try_parse_from(std::iter::once("auth-service").chain(arguments.iter().copied()))
            .expect("valid options");
        cli.serve.to_settings(Secret::new("postgres://db"), Secret::new("s".repeat(32))).expect("valid settings")
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `--help` documents the defaults, and tests and embedders get `Settings::new`: a
    /// deployment that sets nothing runs what both say.
    #[test]
    fn the_command_lines_defaults_are_the_default_settings() {
        let parsed = serve_settings(&[]);
        let defaults = Settings::new(Secret::new("postgres://db"), Secret::new("s".repeat(32)));
        assert_eq!(parsed.listen_addr, defaults.listen_addr);
        assert_eq!(parsed.pool, defaults.pool);
        let (tokens, default_tokens) = (&parsed.tokens, &defaults.tokens);
        assert_eq!(tokens.issuer, default_tokens.issuer);
        assert_eq!(tokens.audience, default_tokens.audience);
        assert_eq!(tokens.key_id, default_tokens.key_id);
        assert_eq!(tokens.access_token_lifetime, default_tokens.access_token_lifetime);
        assert_eq!(tokens.refresh_token_lifetime, default_tokens.refresh_token_lifetime);
        assert_eq!(tokens.reuse_grace, default_tokens.reuse_grace);
        assert!(tokens.previous_signing_secrets.is_empty());
        assert_eq!(parsed.passwords, defaults.passwords);
        assert_eq!(parsed.session_cache_capacity, defaults.session_cache_capacity);
        assert_eq!(parsed.session_retention, defaults.session_retention);
        assert_eq!(parsed.purge_interval, defaults.purge_interval);
        assert!(parsed.first_admin.is_none());
        let metrics_addr = Some(DEFAULT_METRICS_ADDR.parse().unwrap());
        assert_eq!(parsed.server, ServerSettings { metrics_addr, ..defaults.server });
    }

    #[test]
    fn options_reach_the_settings() {
        let parsed = serve_settings(&[
            "--access-token-ttl=5m",
            "--argon2-memory-kib=8192",
            "--max-concurrent-hashes=3",
            "--jwt-previous-secret=previous-secret-of-thirty-two-bytes",
            "--first-admin-email=root@example.com",
            "--first-admin-password=correct horse",
        ]);
        assert_eq!(parsed.tokens.access_token_lifetime, Duration::from_secs(300));
        assert_eq!(parsed.passwords.cost, HashCost { memory_kib: 8192, ..HashCost::default() });
        assert_eq!(parsed.passwords.max_concurrent, 3);
        assert_eq!(parsed.tokens.previous_signing_secrets.len(), 1);
        assert_eq!(parsed.first_admin.map(|admin| admin.email).as_deref(), Some("root@example.com"));
        let without_password = Cli::try_parse_from(["auth-service", "--first-admin-email=root@example.com"]);
        assert!(without_password.is_err(), "an admin email needs its password");
    }
}
