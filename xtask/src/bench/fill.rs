//! The data set: 1,000 users (one real argon2id hash, computed once and shared, so the fill
//! takes a second and every login costs a real verify), one live session each with the chain
//! of refresh tokens its rotations left, and 100,000 resources spread evenly over them (5 %
//! soft-deleted). Then real logins for tokens.
//!
//! Resource `n` (ids 1..=100000) belongs to user `1 + (n - 1) % 1000`, which pgbench's scripts
//! rely on to pick a matching (id, owner) pair; [`load`] checks that this holds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use api_client::BearerToken;
use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::{LoginRequest, RefreshRequest};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use auth_service::passwords::HashCost;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use tonic::transport::Channel;

/// Users in the data set.
pub const USERS: i64 = 1_000;
/// Resources in the data set.
pub const RESOURCES: i64 = 100_000;
/// Refresh tokens of each filled session: its current one and those it was rotated from
/// (kept until the session ends). Without them `refresh_tokens` would be analysed empty, and a
/// connection's cached plan for the token lookup would stay a sequential scan while Refresh
/// grows the table, which no deployment in use sees.
const TOKENS_PER_SESSION: i64 = 20;
/// The password of every user.
pub const PASSWORD: &str = "correct horse battery staple";
/// Access tokens are refreshed once older than this (they live 15 minutes).
const TOKEN_REFRESH_AGE: Duration = Duration::from_secs(10 * 60);

/// The email of user `n` (1-based; equal to its id in a fresh database).
pub fn email(n: i64) -> String {
    format!("user{n}@bench.example")
}

/// Creates the database and applies the migrations with the auth-service binary, as the
/// deployment's migrate Job does.
pub async fn create_database(
    maintenance_url: &str,
    database: &str,
    auth_binary: &Path,
    url: &str,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(maintenance_url).await?;
    diesel::sql_query(format!("CREATE DATABASE \"{database}\"")).execute(&mut conn).await?;
    let output = Command::new(auth_binary)
        .args(["migrate", "up"])
        .env_clear()
        .env("DATABASE_URL", url)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} migrate up", auth_binary.display()))?;
    if !output.status.success() {
        bail!("`auth-service migrate up` failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// One argon2id hash of [`PASSWORD`] with the auth service's default parameters, so logins
/// verify at the configured cost and never rehash.
pub fn password_hash() -> anyhow::Result<String> {
    let cost = HashCost::default();
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes())
        .map_err(|error| anyhow::anyhow!("hashing: {error}"))?;
    Ok(hash.to_string())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// Fills users, sessions, refresh tokens and resources in one transaction each, then VACUUM
/// ANALYZE.
pub async fn load(url: &str, phc: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    diesel::sql_query(
        "INSERT INTO users (email, hashed_password, name, role, is_active, is_verified) \
         SELECT 'user' || g || '@bench.example', $1, 'Bench user ' || g, 'user', true, true \
         FROM generate_series(1, $2) AS g",
    )
    .bind::<Text, _>(phc)
    .bind::<BigInt, _>(USERS)
    .execute(&mut conn)
    .await
    .context("filling users")?;
    // Everyone already signed in once: ValidateToken's join has a realistic sessions table.
    diesel::sql_query(
        "INSERT INTO sessions (user_id, user_agent, ip_address, expires_at) \
         SELECT id, 'bench-fill', '127.0.0.1', now() + interval '30 days' FROM users ORDER BY id",
    )
    .execute(&mut conn)
    .await
    .context("filling sessions")?;
    // An hour between rotations; the last token is the current one.
    diesel::sql_query(
        "INSERT INTO refresh_tokens (user_id, session_id, token, expires_at, created_at, rotated_at) \
         SELECT s.user_id, s.id, encode(sha256(convert_to('bench-fill ' || s.id || ' ' || k, 'UTF8')), 'hex'), \
                s.expires_at - make_interval(hours => ($1 - k)::integer), \
                now() - make_interval(hours => ($1 - k)::integer), \
                CASE WHEN k < $1 THEN now() - make_interval(hours => ($1 - k - 1)::integer) END \
         FROM sessions AS s CROSS JOIN generate_series(1, $1) AS k ORDER BY s.id, k",
    )
    .bind::<BigInt, _>(TOKENS_PER_SESSION)
    .execute(&mut conn)
    .await
    .context("filling refresh tokens")?;
    // 120 to 350 bytes of content, creation times one second apart, every user's every 20th
    // resource soft-deleted (5 of each user's 100).
    diesel::sql_query(
        "INSERT INTO resources (user_id, title, content, created_at, updated_at, deleted_at) \
         SELECT 1 + (g - 1) % $1, 'Resource ' || g, repeat('lorem ipsum ', (10 + g % 20)::integer), \
                now() - make_interval(secs => ($2 - g)::float8), now() - make_interval(secs => ($2 - g)::float8), \
                CASE WHEN ((g - 1) / $1) % 20 = 19 THEN now() END \
         FROM generate_series(1, $2) AS g",
    )
    .bind::<BigInt, _>(USERS)
    .bind::<BigInt, _>(RESOURCES)
    .execute(&mut conn)
    .await
    .context("filling resources")?;
    let misplaced: Count =
        diesel::sql_query("SELECT count(*) AS count FROM resources WHERE user_id <> 1 + (id - 1) % $1")
            .bind::<BigInt, _>(USERS)
            .get_result(&mut conn)
            .await?;
    ensure!(misplaced.count == 0, "{} resources do not follow id → owner = 1 + (id - 1) % {USERS}", misplaced.count);
    let missing: Count = diesel::sql_query("SELECT count(*) AS count FROM users WHERE id NOT BETWEEN 1 AND $1")
        .bind::<BigInt, _>(USERS)
        .get_result(&mut conn)
        .await?;
    ensure!(missing.count == 0, "user ids are not 1..={USERS}");
    diesel::sql_query("VACUUM ANALYZE").execute(&mut conn).await.context("VACUUM ANALYZE")?;
    Ok(())
}

/// A signed-in user whose tokens the scenarios send.
#[derive(Debug, Clone)]
pub struct Session {
    /// The current access token.
    pub access_token: String,
    /// The current refresh token (each slot that refreshes owns its session).
    pub refresh_token: String,
    /// The ids of the user's live resources.
    pub live_ids: Arc<[i64]>,
    /// When the access token was issued.
    pub issued: Instant,
}

impl Session {
    /// The bearer interceptor of its access token.
    pub fn bearer(&self) -> anyhow::Result<BearerToken> {
        Ok(BearerToken::new(&self.access_token)?)
    }
}

/// Logs in `count` users from `first` on (a few at a time: every login is a real argon2id
/// verify) and reads each one's live resource ids.
pub async fn log_in(auth: Channel, url: &str, first: i64, count: usize) -> anyhow::Result<Vec<Session>> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let users: Vec<i64> = (first..first + i64::try_from(count)?).collect();
    ensure!(users.last().is_none_or(|&last| last <= USERS), "only {USERS} users to log in");
    let sessions: Vec<(i64, String, String, Instant)> = stream::iter(users)
        .map(|user| {
            let mut client = AuthServiceClient::new(auth.clone());
            async move {
                let request = LoginRequest { email: email(user), password: PASSWORD.to_owned() };
                let tokens = client.login(request).await?.into_inner().tokens.unwrap_or_default();
                anyhow::Ok((user, tokens.access_token, tokens.refresh_token, Instant::now()))
            }
        })
        .buffered(4)
        .try_collect()
        .await?;
    let mut result = Vec::with_capacity(sessions.len());
    for (user, access_token, refresh_token, issued) in sessions {
        let user_id = i32::try_from(user)?;
        let ids: Vec<Id> =
            diesel::sql_query("SELECT id FROM resources WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id")
                .bind::<Integer, _>(user_id)
                .load(&mut conn)
                .await?;
        ensure!(!ids.is_empty(), "user {user_id} has no live resource");
        let live_ids: Arc<[i64]> = ids.into_iter().map(|row| i64::from(row.id)).collect();
        result.push(Session { access_token, refresh_token, live_ids, issued });
    }
    Ok(result)
}

/// Refreshes the sessions whose access tokens are getting old, so a long run never sends an
/// expired one.
pub async fn keep_fresh(auth: &Channel, sessions: &mut [Session]) -> anyhow::Result<()> {
    for session in sessions.iter_mut().filter(|session| session.issued.elapsed() >= TOKEN_REFRESH_AGE) {
        let request = RefreshRequest { refresh_token: session.refresh_token.clone() };
        let tokens =
            AuthServiceClient::new(auth.clone()).refresh(request).await?.into_inner().tokens.unwrap_or_default();
        session.access_token = tokens.access_token;
        session.refresh_token = tokens.refresh_token;
        session.issued = Instant::now();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count(*)`-like answer of one statement.
    async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
        let row: Count = diesel::sql_query(sql).get_result(conn).await.with_context(|| sql.to_owned())?;
        Ok(row.count)
    }

    #[tokio::test]
    async fn every_session_gets_its_rotated_tokens_and_one_current_and_every_table_is_analysed_with_rows()
    -> anyhow::Result<()> {
        let database = devkit::test_database().await?;
        load(&database.url, "a hash no test logs in with").await?;
        let mut conn = AsyncPgConnection::establish(&database.url).await?;

        let tokens = USERS * TOKENS_PER_SESSION;
        assert_eq!(count(&mut conn, "SELECT count(*) AS count FROM refresh_tokens").await?, tokens);
        let distinct_digests =
            "SELECT count(DISTINCT token) AS count FROM refresh_tokens WHERE token ~ '^[0-9a-f]{64}$'";
        assert_eq!(count(&mut conn, distinct_digests).await?, tokens, "hex SHA-256 digests, all distinct");
        // The current token of each session is its only unrotated one, and expires with it.
        let current = "SELECT count(*) AS count FROM refresh_tokens AS t JOIN sessions AS s ON s.id = t.session_id \
                       WHERE t.rotated_at IS NULL AND t.user_id = s.user_id AND t.expires_at = s.expires_at";
        assert_eq!(count(&mut conn, current).await?, USERS);
        let rotated_before_created = "SELECT count(*) AS count FROM refresh_tokens WHERE rotated_at <= created_at";
        assert_eq!(count(&mut conn, rotated_before_created).await?, 0);

        // What the planner will see: no table the scenarios read is analysed as empty.
        let analysed_with_rows = "SELECT count(*) AS count FROM pg_class \
             WHERE relname IN ('users', 'sessions', 'refresh_tokens', 'resources') AND reltuples > 0";
        assert_eq!(count(&mut conn, analysed_with_rows).await?, 4);
        Ok(())
    }
}
