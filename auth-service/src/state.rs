//! What every call shares: the pool, the hasher, the token keys and the lifetimes.

use std::sync::Arc;

use chrono::TimeDelta;
use shared::DbPool;

use crate::live_sessions::LiveSessions;
use crate::passwords::PasswordHasher;
use crate::settings::Settings;
use crate::tokens::{AccessTokenKeys, RefreshTokens};

/// Shared state of the service, built once at start-up.
pub struct AppState {
    /// Database connections.
    pub pool: DbPool,
    /// argon2id on the blocking pool.
    pub passwords: PasswordHasher,
    /// Access-token signing and checking.
    pub access_tokens: AccessTokenKeys,
    /// Refresh-token generation and rotation.
    pub refresh_tokens: RefreshTokens,
    /// Lifetime of a refresh token.
    pub refresh_token_lifetime: TimeDelta,
    /// Grace interval after a rotation (see `ops::sessions::refresh`).
    pub reuse_grace: TimeDelta,
    /// Sessions and users in memory for token checks, trusted while `change_listener` runs.
    pub live_sessions: Arc<LiveSessions>,
}

impl AppState {
    /// Builds the state; fails on invalid key or hashing settings. Does not touch the database.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let tokens = &settings.tokens;
        let access_tokens = AccessTokenKeys::new(
            &tokens.signing_secret,
            tokens.key_id.as_deref(),
            &tokens.issuer,
            &tokens.audience,
            TimeDelta::from_std(tokens.access_token_lifetime)?,
        )
        .and_then(|keys| keys.with_previous(&tokens.previous_signing_secrets))
        .map_err(anyhow::Error::msg)?;
        let passwords = PasswordHasher::new(
            settings.passwords.cost,
            settings.passwords.max_concurrent,
            settings.passwords.queue_timeout,
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Self {
            pool: shared::pool::build_pool(settings.database_url.expose(), settings.pool),
            passwords,
            access_tokens,
            refresh_tokens: RefreshTokens::new(&tokens.signing_secret, &tokens.previous_signing_secrets),
            refresh_token_lifetime: TimeDelta::from_std(tokens.refresh_token_lifetime)?,
            reuse_grace: TimeDelta::from_std(tokens.reuse_grace)?,
            live_sessions: Arc::new(LiveSessions::new(settings.session_cache_capacity)),
        })
    }
}
