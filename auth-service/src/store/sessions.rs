//! Queries on `sessions` and `refresh_tokens`.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::RunQueryDsl;
use shared::cached_update;
use shared::models::{NewRefreshToken, NewSession, RefreshToken, Session, User};
use shared::schema::{refresh_tokens, sessions, users};

use super::Conn;

// The inserts list their columns rather than `values(struct)`: diesel writes every field of
// an `Insertable` struct as a value that may be `DEFAULT`, and never caches such a statement
// (a parse and a plan per login and per refresh). Binding `None` to `user_agent` or
// `ip_address` stores the same NULL their default would.

/// Inserts a session.
pub async fn insert(conn: &Conn, new_session: &NewSession<'_>) -> QueryResult<Session> {
    let values = (
        sessions::user_id.eq(new_session.user_id),
        sessions::user_agent.eq(new_session.user_agent),
        sessions::ip_address.eq(new_session.ip_address),
        sessions::expires_at.eq(new_session.expires_at),
    );
    diesel::insert_into(sessions::table)
        .values(values)
        .returning(Session::as_returning())
        .get_result(&mut { conn })
        .await
}

/// Inserts a refresh token (by digest).
pub async fn insert_token(conn: &Conn, token: &NewRefreshToken<'_>) -> QueryResult<RefreshToken> {
    let values = (
        refresh_tokens::user_id.eq(token.user_id),
        refresh_tokens::session_id.eq(token.session_id),
        refresh_tokens::token.eq(token.token),
        refresh_tokens::expires_at.eq(token.expires_at),
    );
    diesel::insert_into(refresh_tokens::table)
        .values(values)
        .returning(RefreshToken::as_returning())
        .get_result(&mut { conn })
        .await
}

/// The refresh token with this digest.
pub async fn find_token(conn: &Conn, digest: &str) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token.eq(digest))
        .select(RefreshToken::as_select())
        .first(&mut { conn })
        .await
        .optional()
}

/// The session with this id, locked until the transaction ends: refreshes of one session
/// are serialised here.
pub async fn lock(conn: &Conn, session_id: i32) -> QueryResult<Option<Session>> {
    sessions::table.find(session_id).select(Session::as_select()).for_update().first(&mut { conn }).await.optional()
}

/// Marks a token as exchanged for its successor.
pub async fn mark_rotated(conn: &Conn, token_id: i32, at: DateTime<Utc>) -> QueryResult<usize> {
    let rotated = refresh_tokens::rotated_at.eq(at);
    cached_update::update(refresh_tokens::table, rotated, refresh_tokens::id.eq(token_id)).execute(&mut { conn }).await
}

/// Records a use of the session and its new expiry.
pub async fn touch(
    conn: &Conn,
    session_id: i32,
    used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<usize> {
    let used = (sessions::last_used_at.eq(used_at), sessions::expires_at.eq(expires_at));
    cached_update::update(sessions::table, used, sessions::id.eq(session_id)).execute(&mut { conn }).await
}

/// Ends one session if it is live and (when given) belongs to `user_id`; whether it was live.
pub async fn revoke(conn: &Conn, session_id: i32, user_id: Option<i32>) -> QueryResult<bool> {
    let mut update = diesel::update(sessions::table)
        .set(sessions::revoked_at.eq(now))
        .filter(sessions::id.eq(session_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .into_boxed();
    if let Some(user_id) = user_id {
        update = update.filter(sessions::user_id.eq(user_id));
    }
    Ok(update.execute(&mut { conn }).await? > 0)
}

/// Ends every live session of a user except `keep`; how many were ended.
pub async fn revoke_all(conn: &Conn, user_id: i32, keep: Option<i32>) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::id.ne(keep.unwrap_or(0))),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(&mut { conn })
    .await
}

/// A user's live sessions, most recently used first.
pub async fn live_for_user(conn: &Conn, user_id: i32) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((sessions::last_used_at.desc(), sessions::id.desc()))
        .select(Session::as_select())
        .load(&mut { conn })
        .await
}

/// A session and its user, found by session id and owner in one indexed query.
pub async fn with_user(conn: &Conn, session_id: i32, user_id: i32) -> QueryResult<Option<(Session, User)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .select((Session::as_select(), User::as_select()))
        .first(&mut { conn })
        .await
        .optional()
}

/// What one statement of the purge deletes: at most a batch of rows that ended before a
/// cutoff, skipping rows another replica's purge holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Refresh tokens of sessions that expired or were revoked.
    TokensOfEndedSessions,
    /// Sessions that expired or were revoked (any tokens left go with them).
    Sessions,
    /// Refresh tokens that expired: above all the rotated ones of sessions still in use, which
    /// would otherwise pile up one per refresh. Presented again, such a token is refused as
    /// unknown instead of revoking its session as reused.
    ExpiredTokens,
}

impl Ended {
    /// The statement, `$1` the cutoff and `$2` the batch. Raw SQL because diesel's DSL cannot
    /// select from the table a DELETE deletes from.
    const fn sql(self) -> &'static str {
        match self {
            Self::TokensOfEndedSessions => {
                "DELETE FROM refresh_tokens WHERE id IN (SELECT refresh_tokens.id FROM refresh_tokens \
                 JOIN sessions ON sessions.id = refresh_tokens.session_id \
                 WHERE sessions.expires_at < $1 OR sessions.revoked_at < $1 \
                 LIMIT $2 FOR UPDATE OF refresh_tokens SKIP LOCKED)"
            }
            Self::Sessions => {
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                 WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            }
            Self::ExpiredTokens => {
                "DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens \
                 WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            }
        }
    }
}

/// Deletes at most `batch` rows of `what` that ended before `cutoff`; how many.
pub async fn delete_ended(conn: &Conn, what: Ended, cutoff: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(what.sql()).bind::<Timestamptz, _>(cutoff).bind::<BigInt, _>(batch).execute(&mut { conn }).await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::TimeDelta;
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use diesel_async::AsyncConnection;
    use shared::models::NewUser;

    use super::*;
    use crate::store::users;

    /// A login's and a refresh's statements, as `ops::sessions` runs them.
    async fn login_then_refresh(conn: &Conn, user_id: i32, digest: &str) -> QueryResult<()> {
        let expires_at = Utc::now() + TimeDelta::days(30);
        let new_session = NewSession { user_id, user_agent: Some("tests"), ip_address: None, expires_at };
        let session = insert(conn, &new_session).await?;
        let first = NewRefreshToken { user_id, session_id: session.id, token: &format!("{digest}-1"), expires_at };
        let token = insert_token(conn, &first).await?;
        find_token(conn, &token.token).await?;
        lock(conn, session.id).await?;
        users::find(conn, user_id).await?;
        mark_rotated(conn, token.id, Utc::now()).await?;
        let next = NewRefreshToken { token: &format!("{digest}-2"), ..first };
        insert_token(conn, &next).await?;
        touch(conn, session.id, Utc::now(), expires_at).await?;
        with_user(conn, session.id, user_id).await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_login_and_a_refresh_are_prepared_once_per_connection() -> anyhow::Result<()> {
        let db = devkit::test_database().await?;
        let mut conn = Conn::establish(&db.url).await?;
        let new_user = NewUser { email: "cache@example.com", hashed_password: "x", name: "C", role: "user" };
        let user = users::insert(&conn, &new_user).await?;
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&cached);
        let instrumentation: Box<dyn Instrumentation> = Box::new(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                sink.lock().expect("not poisoned").push(sql.to_owned());
            }
        });
        conn.set_instrumentation(instrumentation);

        login_then_refresh(&conn, user.id, "first").await?;
        let first_round = cached.lock().expect("not poisoned").clone();
        // Two inserts, four reads, two updates: each statement once.
        assert_eq!(first_round.len(), 8, "{first_round:#?}");
        login_then_refresh(&conn, user.id, "second").await?;
        let all = cached.lock().expect("not poisoned").clone();
        assert_eq!(all.len(), first_round.len(), "the second round prepares nothing: {all:#?}");
        Ok(())
    }
}
