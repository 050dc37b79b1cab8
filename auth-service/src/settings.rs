//! Everything the running service needs to know, already validated. The command line and the
//! environment fill it in (`cli`); tests build it directly.

use std::net::SocketAddr;
use std::time::Duration;

use service_kit::ServerSettings;
use shared::pool::PoolSettings;

use crate::passwords::HashCost;
use crate::secret::Secret;

/// Default of [`Settings::session_cache_capacity`]: about 5 MiB at most.
pub const DEFAULT_SESSION_CACHE_CAPACITY: u64 = 10_000;

/// Settings of the auth service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the gRPC server listens on (port 0 picks a free one).
    pub listen_addr: SocketAddr,
    /// PostgreSQL URL.
    pub database_url: Secret,
    /// Connection pool sizing.
    pub pool: PoolSettings,
    /// Token signing and lifetimes.
    pub tokens: TokenSettings,
    /// Password hashing.
    pub passwords: PasswordSettings,
    /// Most sessions held in memory for token checks (0: every check queries the database).
    pub session_cache_capacity: u64,
    /// How long ended sessions and expired refresh tokens are kept before they are purged.
    pub session_retention: Duration,
    /// How often the purge runs.
    pub purge_interval: Duration,
    /// An admin to create at start-up if missing.
    pub first_admin: Option<AdminAccount>,
    /// Health, limits, metrics, TLS, shutdown.
    pub server: ServerSettings,
}

/// Token signing and lifetimes.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// HMAC secret for access tokens (also the root of the refresh-rotation key).
    pub signing_secret: Secret,
    /// Secrets whose tokens are accepted but which never sign: during a rotation, the one being
    /// replaced (or, before every replica has it, the replacement), so that nobody is logged out.
    pub previous_signing_secrets: Vec<Secret>,
    /// `kid` header; derived from the secret when `None`.
    pub key_id: Option<String>,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_token_lifetime: Duration,
    /// Lifetime of a refresh token (renewed by each rotation).
    pub refresh_token_lifetime: Duration,
    /// How long a just-rotated refresh token still returns the session's current tokens.
    pub reuse_grace: Duration,
}

/// Password hashing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSettings {
    /// argon2id cost.
    pub cost: HashCost,
    /// Most hashes computed at once.
    pub max_concurrent: usize,
    /// How long a login waits for a hashing slot before RESOURCE_EXHAUSTED.
    pub queue_timeout: Duration,
}

/// An administrator account to ensure.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    /// Email address.
    pub email: String,
    /// Password (used only if the account is created).
    pub password: Secret,
    /// Display name.
    pub name: String,
}

impl TokenSettings {
    /// Defaults around a given secret: 15 min access, 30 days refresh, 10 s reuse grace.
    pub fn with_secret(signing_secret: Secret) -> Self {
        Self {
            signing_secret,
            previous_signing_secrets: Vec::new(),
            key_id: None,
            issuer: "auth-service".to_owned(),
            audience: "backend-services".to_owned(),
            access_token_lifetime: Duration::from_secs(15 * 60),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            reuse_grace: Duration::from_secs(10),
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            cost: HashCost::default(),
            max_concurrent: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            queue_timeout: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// Defaults for a database and a secret: loopback port 50051, default pool and hashing,
    /// ended sessions kept 30 days and purged hourly.
    pub fn new(database_url: Secret, signing_secret: Secret) -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url,
            pool: PoolSettings::default(),
            tokens: TokenSettings::with_secret(signing_secret),
            passwords: PasswordSettings::default(),
            session_cache_capacity: DEFAULT_SESSION_CACHE_CAPACITY,
            session_retention: Duration::from_secs(30 * 24 * 3600),
            purge_interval: Duration::from_secs(3600),
            first_admin: None,
            server: ServerSettings::default(),
        }
    }
}

/// A random signing secret for development; tokens die with the process.
pub fn ephemeral_secret() -> Secret {
    use rand::TryRngCore;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random source failed");
    Secret::new(shared::hex::lower(&bytes))
}
