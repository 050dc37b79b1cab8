//! Admin-only operations on any user.

use shared::models::{Role, Session, User};
use shared::pagination::{Page, PageRequest};

use super::Caller;
use crate::error::AuthError;
use crate::state::AppState;
use crate::store::{self, users::UserChanges, users::UserFilter};

/// Lists users matching `filter`, one page at a time.
pub async fn list_users(state: &AppState, filter: &UserFilter, page: &PageRequest) -> Result<Page<User>, AuthError> {
    let rows = store::users::list(&*state.pool.get().await?, filter, page.after, page.fetch_limit()).await?;
    Ok(page.finish(rows, |user| i64::from(user.id)))
}

/// One user.
pub async fn get_user(state: &AppState, user_id: i32) -> Result<User, AuthError> {
    store::users::find(&*state.pool.get().await?, user_id).await?.ok_or(AuthError::UserNotFound(user_id))
}

/// Changes a user. Admins cannot demote or deactivate themselves (that could leave no admin).
pub async fn update_user(
    state: &AppState,
    caller: &Caller,
    user_id: i32,
    changes: &UserChanges,
) -> Result<User, AuthError> {
    if user_id == caller.user.id {
        if changes.role.as_deref().is_some_and(|role| role != Role::Admin.as_str()) {
            return Err(AuthError::CannotChangeSelf("demote"));
        }
        if changes.is_active == Some(false) {
            return Err(AuthError::CannotChangeSelf("deactivate"));
        }
    }
    let updated = store::users::update(&*state.pool.get().await?, user_id, changes).await?;
    state.live_sessions.forget_user(user_id);
    updated.ok_or(AuthError::UserNotFound(user_id))
}

/// Deletes a user and, by cascade, their sessions, tokens and resources.
pub async fn delete_user(state: &AppState, caller: &Caller, user_id: i32) -> Result<(), AuthError> {
    if user_id == caller.user.id {
        return Err(AuthError::CannotChangeSelf("delete"));
    }
    let deleted = store::users::delete(&*state.pool.get().await?, user_id).await?;
    state.live_sessions.forget_user(user_id);
    if deleted { Ok(()) } else { Err(AuthError::UserNotFound(user_id)) }
}

/// A user's live sessions.
pub async fn list_user_sessions(state: &AppState, user_id: i32) -> Result<Vec<Session>, AuthError> {
    let conn = state.pool.get().await?;
    store::users::find(&conn, user_id).await?.ok_or(AuthError::UserNotFound(user_id))?;
    Ok(store::sessions::live_for_user(&conn, user_id).await?)
}

/// Ends every session of a user; how many were ended.
pub async fn revoke_user_sessions(state: &AppState, user_id: i32) -> Result<usize, AuthError> {
    let conn = state.pool.get().await?;
    store::users::find(&conn, user_id).await?.ok_or(AuthError::UserNotFound(user_id))?;
    let revoked = store::sessions::revoke_all(&conn, user_id, None).await?;
    state.live_sessions.forget_user(user_id);
    Ok(revoked)
}
