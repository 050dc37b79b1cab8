//! The operations, with the access rules: users own their resources, admins everyone's,
//! guests may only read their own. No tonic types here.

use shared::models::{NewResource, Resource, Role};
use shared::pagination::{Page, PageRequest};

use crate::error::ResourceError;
use crate::startup::AppState;
use crate::store::{self, ListFilter, ResourceChanges};

/// Who is calling, as the auth service said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The caller's user id.
    pub user_id: i32,
    /// The caller's role.
    pub role: Role,
}

impl Actor {
    /// The owner every single-resource query must match: the caller, or nobody in particular
    /// for admins. Another user's resource thus stays invisible (NOT_FOUND) to non-admins.
    fn owner_scope(self) -> Option<i32> {
        (self.role != Role::Admin).then_some(self.user_id)
    }

    /// Refuses writes by guests.
    fn require_write(self) -> Result<(), ResourceError> {
        if self.role == Role::Guest { Err(ResourceError::ReadOnlyRole) } else { Ok(()) }
    }
}

/// Whose resources a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// The caller's own.
    Mine,
    /// One user's (admins only, unless it is the caller).
    User(i32),
    /// Everyone's (admins only).
    All,
}

/// Creates a resource owned by the caller.
pub async fn create(
    state: &AppState,
    actor: Actor,
    title: &str,
    content: Option<&str>,
) -> Result<Resource, ResourceError> {
    actor.require_write()?;
    let row = NewResource { user_id: actor.user_id, title, content };
    Ok(store::insert(&*state.writes.get().await?, &row).await?)
}

/// One resource, deleted or not.
pub async fn get(state: &AppState, actor: Actor, id: i32) -> Result<Resource, ResourceError> {
    store::find(&*state.reads.get().await?, id, actor.owner_scope()).await?.ok_or(ResourceError::NotFound(id))
}

/// The filter a listing request means for this caller.
pub fn list_filter(actor: Actor, owners: Owners, show_deleted: bool) -> Result<ListFilter, ResourceError> {
    let owner = match owners {
        Owners::Mine => Some(actor.user_id),
        Owners::User(user_id) if user_id == actor.user_id => Some(user_id),
        Owners::User(user_id) if actor.role == Role::Admin => Some(user_id),
        Owners::All if actor.role == Role::Admin => None,
        Owners::User(_) | Owners::All => return Err(ResourceError::AdminRequired),
    };
    Ok(ListFilter { owner, show_deleted })
}

/// One page of resources, newest first.
pub async fn list(state: &AppState, filter: ListFilter, page: &PageRequest) -> Result<Page<Resource>, ResourceError> {
    let rows = store::list(&*state.reads.get().await?, filter, page.after, page.fetch_limit()).await?;
    Ok(page.finish(rows, |resource| i64::from(resource.id)))
}

/// Updates a live resource; with an expected version, only if it still is at that version.
pub async fn update(
    state: &AppState,
    actor: Actor,
    id: i32,
    expected_version: Option<i32>,
    changes: &ResourceChanges,
) -> Result<Resource, ResourceError> {
    actor.require_write()?;
    let conn = state.writes.get().await?;
    if let Some(updated) = store::update(&conn, id, actor.owner_scope(), expected_version, changes).await? {
        return Ok(updated);
    }
    // Nothing matched: say why, without revealing other users' rows.
    match store::find(&conn, id, actor.owner_scope()).await? {
        None => Err(ResourceError::NotFound(id)),
        Some(resource) if resource.deleted_at.is_some() => Err(ResourceError::Deleted(id)),
        Some(_) => Err(ResourceError::EtagMismatch(id)),
    }
}

/// Soft-deletes a resource; deleting a deleted one returns it unchanged.
pub async fn delete(state: &AppState, actor: Actor, id: i32) -> Result<Resource, ResourceError> {
    actor.require_write()?;
    let conn = state.writes.get().await?;
    if let Some(deleted) = store::set_deleted(&conn, id, actor.owner_scope(), true).await? {
        return Ok(deleted);
    }
    store::find(&conn, id, actor.owner_scope()).await?.ok_or(ResourceError::NotFound(id))
}

/// Restores a soft-deleted resource; a live one is ALREADY_EXISTS.
pub async fn undelete(state: &AppState, actor: Actor, id: i32) -> Result<Resource, ResourceError> {
    actor.require_write()?;
    let conn = state.writes.get().await?;
    if let Some(restored) = store::set_deleted(&conn, id, actor.owner_scope(), false).await? {
        return Ok(restored);
    }
    match store::find(&conn, id, actor.owner_scope()).await? {
        None => Err(ResourceError::NotFound(id)),
        Some(_) => Err(ResourceError::NotDeleted(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: Actor = Actor { user_id: 1, role: Role::Admin };
    const USER: Actor = Actor { user_id: 2, role: Role::User };

    #[test]
    fn only_admins_list_other_users_or_everyone() {
        assert_eq!(list_filter(USER, Owners::Mine, false).ok().map(|f| f.owner), Some(Some(2)));
        assert_eq!(list_filter(USER, Owners::User(2), false).ok().map(|f| f.owner), Some(Some(2)));
        assert!(matches!(list_filter(USER, Owners::User(3), false), Err(ResourceError::AdminRequired)));
        assert!(matches!(list_filter(USER, Owners::All, false), Err(ResourceError::AdminRequired)));
        assert_eq!(list_filter(ADMIN, Owners::All, true).ok(), Some(ListFilter { owner: None, show_deleted: true }));
        assert_eq!(list_filter(ADMIN, Owners::User(3), false).ok().map(|f| f.owner), Some(Some(3)));
    }

    #[test]
    fn admins_see_every_row_and_others_only_their_own() {
        assert_eq!(ADMIN.owner_scope(), None);
        assert_eq!(USER.owner_scope(), Some(2));
        assert!(Actor { user_id: 4, role: Role::Guest }.require_write().is_err());
        assert!(USER.require_write().is_ok());
    }
}
