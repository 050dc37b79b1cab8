//! Registration, login, and changes to one's own account.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncConnection;
use shared::models::{NewSession, NewUser, Role, User};

use super::{Caller, ClientInfo, TokenGrant};
use crate::domain::{DisplayName, Email, FieldViolations, Password};
use crate::error::AuthError;
use crate::passwords::Verification;
use crate::settings::AdminAccount;
use crate::state::AppState;
use crate::store::{self, users::UserChanges};

/// What Register needs.
#[derive(Debug)]
pub struct Registration<'a> {
    /// Raw email.
    pub email: &'a str,
    /// Raw password.
    pub password: &'a str,
    /// Raw display name.
    pub name: &'a str,
}

/// Creates an account with role `user`, active, not verified.
pub async fn register(state: &AppState, registration: &Registration<'_>) -> Result<User, AuthError> {
    let mut violations = FieldViolations::default();
    let email = violations.check("email", Email::parse(registration.email));
    let password = violations.check("password", Password::parse(registration.password));
    let name = violations.check("name", DisplayName::parse(registration.name));
    violations.finish()?;
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    create_user(state, &email, &password, &name, Role::User).await
}

async fn create_user(
    state: &AppState,
    email: &Email,
    password: &Password,
    name: &DisplayName,
    role: Role,
) -> Result<User, AuthError> {
    let hash = state.passwords.hash(password).await?;
    let new_user = NewUser { email: email.as_str(), hashed_password: &hash, name: name.as_str(), role: role.as_str() };
    let conn = state.pool.get().await?;
    match store::users::insert(&conn, &new_user).await {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(AuthError::EmailTaken),
        other => Ok(other?),
    }
}

/// Checks credentials and starts a session.
///
/// An unknown (or malformed) email costs one password verification against a dummy hash and
/// fails exactly like a wrong password, so neither answer nor timing tells whether an account
/// exists. The account's state is revealed only to someone who knows its password.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<(User, TokenGrant), AuthError> {
    let mut violations = FieldViolations::default();
    if email.trim().is_empty() {
        violations.add("email", "must not be empty");
    }
    if password.is_empty() {
        violations.add("password", "must not be empty");
    }
    let password = violations.check("password", Password::parse_for_check(password));
    violations.finish()?;
    let Some(password) = password else { unreachable!("finish() returned Ok") };

    let user = match Email::parse(email) {
        Ok(email) => store::users::find_by_email(&*state.pool.get().await?, email.as_str()).await?,
        Err(_) => None,
    };
    // The pool connection is released before hashing: a slow hash must not hold one.
    let verification = state.passwords.verify(&password, user.as_ref().map(|u| u.hashed_password.as_str())).await?;
    let (Verification::Match { needs_rehash }, Some(user)) = (verification, user) else {
        return Err(AuthError::InvalidCredentials);
    };
    if !user.is_active() {
        return Err(AuthError::AccountDisabled);
    }
    if needs_rehash {
        let hash = state.passwords.hash(&password).await?;
        store::users::set_password_hash(&*state.pool.get().await?, user.id, &hash).await?;
        state.live_sessions.forget_user(user.id);
        tracing::info!(user.id = user.id, "password rehashed with the configured argon2 parameters");
    }
    let grant = start_session(state, &user, client).await?;
    Ok((user, grant))
}

/// Creates a session with its first refresh token, and an access token for it.
async fn start_session(state: &AppState, user: &User, client: &ClientInfo) -> Result<TokenGrant, AuthError> {
    let refresh = state.refresh_tokens.generate();
    let refresh_expires_at = chrono::Utc::now() + state.refresh_token_lifetime;
    let user_agent = client.user_agent.as_deref().map(|agent| truncate(agent, 512));
    let new_session = NewSession {
        user_id: user.id,
        user_agent,
        ip_address: client.ip_address.as_deref().map(|ip| truncate(ip, 64)),
        expires_at: refresh_expires_at,
    };
    let digest = refresh.digest();
    let mut conn = state.pool.get().await?;
    let session = conn
        .transaction::<_, AuthError, _>(async |conn| {
            let session = store::sessions::insert(conn, &new_session).await?;
            let token = shared::models::NewRefreshToken {
                user_id: user.id,
                session_id: session.id,
                token: &digest,
                expires_at: refresh_expires_at,
            };
            store::sessions::insert_token(conn, &token).await?;
            Ok(session)
        })
        .await?;
    let access = state.access_tokens.issue(user.id, session.id)?;
    Ok(TokenGrant { access, refresh, refresh_expires_at, session_id: session.id })
}

fn truncate(text: &str, max_chars: usize) -> &str {
    text.char_indices().nth(max_chars).map_or(text, |(cut, _)| &text[..cut])
}

/// Changes the caller's display name.
pub async fn update_name(state: &AppState, caller: &Caller, name: &str) -> Result<User, AuthError> {
    let name = DisplayName::parse(name).map_err(|description| AuthError::invalid("name", description))?;
    let changes = UserChanges { name: Some(name.as_str().to_owned()), ..UserChanges::default() };
    let updated = store::users::update(&*state.pool.get().await?, caller.user.id, &changes).await?;
    state.live_sessions.forget_user(caller.user.id);
    updated.ok_or(AuthError::SessionRevoked)
}

/// Changes the caller's password and ends their other sessions, in one transaction; returns how
/// many sessions were ended.
pub async fn change_password(state: &AppState, caller: &Caller, current: &str, new: &str) -> Result<usize, AuthError> {
    let mut violations = FieldViolations::default();
    let current = violations.check("current_password", Password::parse_for_check(current));
    let new = violations.check("new_password", Password::parse(new));
    violations.finish()?;
    let (Some(current), Some(new)) = (current, new) else { unreachable!("finish() returned Ok") };

    // The hash is read afresh: the caller's row may come from memory, and the password is what
    // must not be checked against a stale value.
    let stored =
        store::users::find(&*state.pool.get().await?, caller.user.id).await?.ok_or(AuthError::SessionRevoked)?;
    let verification = state.passwords.verify(&current, Some(&stored.hashed_password)).await?;
    if verification == Verification::Mismatch {
        return Err(AuthError::InvalidCredentials);
    }
    let hash = state.passwords.hash(&new).await?;
    let (user_id, keep) = (caller.user.id, caller.session_id);
    let mut conn = state.pool.get().await?;
    let ended = conn
        .transaction::<_, AuthError, _>(async |conn| {
            store::users::set_password_hash(conn, user_id, &hash).await?;
            Ok(store::sessions::revoke_all(conn, user_id, Some(keep)).await?)
        })
        .await;
    state.live_sessions.forget_user(user_id);
    ended
}

/// Makes sure an admin with this email exists: creates it (active, verified) or, if the
/// account exists, gives it the admin role and activates it without touching its password.
/// Returns the admin and whether it was created.
pub async fn ensure_admin(state: &AppState, account: &AdminAccount) -> Result<(User, bool), AuthError> {
    let mut violations = FieldViolations::default();
    let email = violations.check("email", Email::parse(&account.email));
    let name = violations.check("name", DisplayName::parse(&account.name));
    violations.finish()?;
    let (Some(email), Some(name)) = (email, name) else { unreachable!("finish() returned Ok") };

    let existing = store::users::find_by_email(&*state.pool.get().await?, email.as_str()).await?;
    let promote =
        UserChanges { role: Some(Role::Admin.as_str().to_owned()), is_active: Some(true), ..UserChanges::default() };
    if let Some(user) = existing {
        let updated = store::users::update(&*state.pool.get().await?, user.id, &promote).await?;
        state.live_sessions.forget_user(user.id);
        return Ok((updated.ok_or(AuthError::UserNotFound(user.id))?, false));
    }
    let password = Password::parse(account.password.expose())
        .map_err(|description| AuthError::invalid("password", description))?;
    match create_user(state, &email, &password, &name, Role::Admin).await {
        Ok(user) => {
            let verified = UserChanges { is_verified: Some(true), ..UserChanges::default() };
            let user = store::users::update(&*state.pool.get().await?, user.id, &verified).await?.unwrap_or(user);
            Ok((user, true))
        }
        // Another replica created it at the same moment: the goal is met.
        Err(AuthError::EmailTaken) => {
            let user = store::users::find_by_email(&*state.pool.get().await?, email.as_str()).await?;
            user.map(|user| (user, false)).ok_or(AuthError::EmailTaken)
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(super::truncate("héllo", 2), "hé");
        assert_eq!(super::truncate("hi", 5), "hi");
    }
}
