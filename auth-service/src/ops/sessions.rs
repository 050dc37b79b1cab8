//! Refresh-token rotation, logout, access-token validation, and the caller's own sessions.

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use futures::StreamExt;
use shared::models::{NewRefreshToken, RefreshToken, Session, User};

use super::{Caller, TokenGrant};
use crate::error::AuthError;
use crate::state::AppState;
use crate::store::{self, Conn};
use crate::tokens::{RefreshTokenValue, VerifiedAccessToken};

/// Most rotations followed when a just-rotated token comes back within the grace interval.
const MAX_GRACE_CHAIN: usize = 16;

/// What a refresh attempt decided, inside its transaction.
enum Decision {
    /// Hand out these tokens.
    Grant { refresh: RefreshTokenValue, expires_at: DateTime<Utc>, session_id: i32, user_id: i32 },
    /// Refuse; nothing was written.
    Refuse(AuthError),
    /// The token was reused: the session of this user has been revoked (and that is committed).
    Reused {
        /// The session's owner.
        user_id: i32,
    },
}

/// Exchanges a refresh token for new tokens (RFC 9700 §4.14 rotation with reuse detection).
///
/// All refreshes of one session are serialised by a row lock on the session. A current token
/// is marked rotated and replaced by its successor. A rotated token presented again within
/// `reuse_grace` of its rotation (a retry whose answer was lost, two tabs at once) gets the
/// session's current token back; later, it is reuse: the whole session is revoked.
pub async fn refresh(state: &AppState, raw_token: &str) -> Result<TokenGrant, AuthError> {
    let presented = RefreshTokenValue::parse(raw_token).ok_or(AuthError::InvalidRefreshToken)?;
    let mut conn = state.pool.get().await?;
    let decision =
        conn.transaction::<_, AuthError, _>(async |conn| decide_refresh(state, conn, &presented).await).await?;
    match decision {
        Decision::Grant { refresh, expires_at, session_id, user_id } => {
            let access = state.access_tokens.issue(user_id, session_id)?;
            Ok(TokenGrant { access, refresh, refresh_expires_at: expires_at, session_id })
        }
        Decision::Refuse(error) => Err(error),
        Decision::Reused { user_id } => {
            state.live_sessions.forget_user(user_id);
            tracing::warn!("a rotated refresh token was presented again; its session was revoked");
            Err(AuthError::RefreshTokenReused)
        }
    }
}

async fn decide_refresh(state: &AppState, conn: &Conn, presented: &RefreshTokenValue) -> Result<Decision, AuthError> {
    let digest = presented.digest();
    let Some(found) = store::sessions::find_token(conn, &digest).await? else {
        return Ok(Decision::Refuse(AuthError::InvalidRefreshToken));
    };
    let Some(session) = store::sessions::lock(conn, found.session_id).await? else {
        return Ok(Decision::Refuse(AuthError::InvalidRefreshToken));
    };
    // Read again under the lock: a concurrent refresh may have rotated it meanwhile. The
    // token and the user are read in one round trip (pipelined).
    let (token, user) =
        futures::try_join!(store::sessions::find_token(conn, &digest), store::users::find(conn, session.user_id))?;
    let Some(token) = token else {
        return Ok(Decision::Refuse(AuthError::InvalidRefreshToken));
    };
    if session.revoked_at.is_some() {
        return Ok(Decision::Refuse(AuthError::SessionRevoked));
    }
    let Some(user) = user else {
        return Ok(Decision::Refuse(AuthError::SessionRevoked));
    };
    if !user.is_active() {
        return Ok(Decision::Refuse(AuthError::AccountDisabled));
    }
    let now = Utc::now();
    let Some(rotated_at) = token.rotated_at else {
        if token.expires_at <= now {
            return Ok(Decision::Refuse(AuthError::RefreshTokenExpired));
        }
        let successor = state.refresh_tokens.successor(presented);
        let expires_at = now + state.refresh_token_lifetime;
        let row = NewRefreshToken { user_id: user.id, session_id: session.id, token: &successor.digest(), expires_at };
        // Three independent writes under the lock, pipelined: one round trip.
        futures::try_join!(
            store::sessions::mark_rotated(conn, token.id, now),
            store::sessions::insert_token(conn, &row),
            store::sessions::touch(conn, session.id, now, expires_at)
        )?;
        return Ok(Decision::Grant { refresh: successor, expires_at, session_id: session.id, user_id: user.id });
    };
    if now - rotated_at <= state.reuse_grace
        && let Some((current, expires_at)) = current_token_of_chain(state, conn, presented, &session, now).await?
    {
        store::sessions::touch(conn, session.id, now, session.expires_at).await?;
        return Ok(Decision::Grant { refresh: current, expires_at, session_id: session.id, user_id: user.id });
    }
    store::sessions::revoke(conn, session.id, None).await?;
    Ok(Decision::Reused { user_id: session.user_id })
}

/// Follows the successors of a just-rotated token to the session's current one, as long as
/// each step was itself rotated within the grace interval.
async fn current_token_of_chain(
    state: &AppState,
    conn: &Conn,
    start: &RefreshTokenValue,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Option<(RefreshTokenValue, DateTime<Utc>)>, AuthError> {
    let mut token = start.clone();
    for _ in 0..MAX_GRACE_CHAIN {
        let Some((next, row)) = stored_successor(state, conn, &token).await? else {
            return Ok(None);
        };
        token = next;
        if row.session_id != session.id {
            return Ok(None);
        }
        match row.rotated_at {
            None if row.expires_at > now => return Ok(Some((token, row.expires_at))),
            Some(rotated_at) if now - rotated_at <= state.reuse_grace => {}
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// The stored successor of `token`, under the current rotation key or (across a rotation of
/// the signing secret) an earlier one.
async fn stored_successor(
    state: &AppState,
    conn: &Conn,
    token: &RefreshTokenValue,
) -> Result<Option<(RefreshTokenValue, RefreshToken)>, AuthError> {
    for candidate in state.refresh_tokens.possible_successors(token) {
        if let Some(row) = store::sessions::find_token(conn, &candidate.digest()).await? {
            return Ok(Some((candidate, row)));
        }
    }
    Ok(None)
}

/// Ends the session of a refresh token. Idempotent: unknown or already-ended sessions succeed.
pub async fn logout(state: &AppState, raw_token: &str) -> Result<(), AuthError> {
    let Some(presented) = RefreshTokenValue::parse(raw_token) else {
        return Ok(());
    };
    let conn = state.pool.get().await?;
    if let Some(token) = store::sessions::find_token(&conn, &presented.digest()).await? {
        store::sessions::revoke(&conn, token.session_id, None).await?;
        state.live_sessions.forget_user(token.user_id);
    }
    Ok(())
}

/// Checks an access token and that its session and user are still live: revocation,
/// deactivation and deletion take effect at once. The session and its user come from memory
/// ([`crate::live_sessions`]) when held, else from one indexed query.
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<Caller, AuthError> {
    let verified = state.access_tokens.verify(access_token)?;
    match judge_from_memory(state, &verified) {
        Some(outcome) => outcome,
        None => judge_from_database(state, &verified).await,
    }
}

/// Most tokens one [`authenticate_many`] call checks (AuthService.ValidateTokens' limit).
pub const MAX_TOKENS_PER_CHECK: usize = 1000;

/// How many sessions one [`authenticate_many`] call loads from the database at once.
const LOADS_AT_ONCE: usize = 8;

/// Checks every token as [`authenticate`] does and answers each in the tokens' order. Tokens
/// whose session is held in memory are judged at once; the others are loaded a few at a time.
/// The call as a whole is refused only when malformed: no tokens, or more than
/// [`MAX_TOKENS_PER_CHECK`].
pub async fn authenticate_many(
    state: &AppState,
    access_tokens: &[String],
) -> Result<Vec<Result<Caller, AuthError>>, AuthError> {
    if access_tokens.is_empty() {
        return Err(AuthError::invalid("access_tokens", "give at least one access token"));
    }
    if access_tokens.len() > MAX_TOKENS_PER_CHECK {
        return Err(AuthError::invalid(
            "access_tokens",
            format!("at most {MAX_TOKENS_PER_CHECK} access tokens per call, got {}", access_tokens.len()),
        ));
    }
    let mut outcomes = Vec::with_capacity(access_tokens.len());
    let mut to_load = Vec::new();
    for token in access_tokens {
        let outcome = match state.access_tokens.verify(token) {
            Ok(verified) => judge_from_memory(state, &verified).unwrap_or_else(|| {
                to_load.push((outcomes.len(), verified));
                Err(AuthError::SessionRevoked) // replaced once loaded
            }),
            Err(refused) => Err(refused),
        };
        outcomes.push(outcome);
    }
    let mut loads = futures::stream::iter(to_load)
        .map(|(index, verified)| async move { (index, judge_from_database(state, &verified).await) })
        .buffer_unordered(LOADS_AT_ONCE);
    while let Some((index, outcome)) = loads.next().await {
        outcomes[index] = outcome;
    }
    Ok(outcomes)
}

/// The verdict on a verified token from the session and user held in memory; `None` when they
/// are not held, or when the session held has expired: a refresh through another replica may
/// have extended it since, which is not announced (migration
/// `announce_only_shortened_session_expiry`), so the database decides.
fn judge_from_memory(state: &AppState, verified: &VerifiedAccessToken) -> Option<Result<Caller, AuthError>> {
    let (session, user) = state.live_sessions.get(verified.session_id, verified.user_id)?;
    let now = Utc::now();
    if session.expires_at <= now {
        return None;
    }
    Some(judge(&session, user, verified, now))
}

/// The verdict on a verified token from the database (one indexed query), remembering what it
/// read.
async fn judge_from_database(state: &AppState, verified: &VerifiedAccessToken) -> Result<Caller, AuthError> {
    let live = &state.live_sessions;
    let ticket = live.ticket();
    let conn = state.pool.get().await?;
    let Some((session, user)) = store::sessions::with_user(&conn, verified.session_id, verified.user_id).await? else {
        return Err(AuthError::SessionRevoked);
    };
    live.remember(ticket, &session, &user);
    judge(&session, user, verified, Utc::now())
}

/// The caller, if the session is live at `now` and the user active.
fn judge(
    session: &Session,
    user: User,
    verified: &VerifiedAccessToken,
    now: DateTime<Utc>,
) -> Result<Caller, AuthError> {
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(AuthError::SessionRevoked);
    }
    if !user.is_active() {
        return Err(AuthError::AccountDisabled);
    }
    Ok(Caller { user, session_id: session.id, token_expires_at: verified.expires_at })
}

/// The caller's live sessions, most recently used first.
pub async fn list_own(state: &AppState, caller: &Caller) -> Result<Vec<Session>, AuthError> {
    Ok(store::sessions::live_for_user(&*state.pool.get().await?, caller.user.id).await?)
}

/// Ends one of the caller's sessions.
pub async fn revoke_own(state: &AppState, caller: &Caller, session_id: i32) -> Result<(), AuthError> {
    let revoked = store::sessions::revoke(&*state.pool.get().await?, session_id, Some(caller.user.id)).await?;
    state.live_sessions.forget_user(caller.user.id);
    if revoked { Ok(()) } else { Err(AuthError::SessionNotFound(session_id)) }
}

/// Ends the caller's other sessions (`include_current = false`) or all of them.
pub async fn revoke_own_many(state: &AppState, caller: &Caller, include_current: bool) -> Result<usize, AuthError> {
    let keep = (!include_current).then_some(caller.session_id);
    let revoked = store::sessions::revoke_all(&*state.pool.get().await?, caller.user.id, keep).await?;
    state.live_sessions.forget_user(caller.user.id);
    Ok(revoked)
}
