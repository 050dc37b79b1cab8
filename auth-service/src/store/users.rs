//! Queries on `users`.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::models::{NewUser, User};
use shared::schema::users;

use super::Conn;

/// Columns an admin (or the user, for `name`) may change; `None` leaves a column alone.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New display name.
    pub name: Option<String>,
    /// New role name.
    pub role: Option<String>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New verified flag.
    pub is_verified: Option<bool>,
}

impl UserChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.role.is_none() && self.is_active.is_none() && self.is_verified.is_none()
    }
}

/// Filters of the admin listing.
#[derive(Debug, Default, Clone)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Only this active state.
    pub is_active: Option<bool>,
    /// Only emails containing this (already lower-cased) text.
    pub email_contains: Option<String>,
}

/// Inserts a user.
pub async fn insert(conn: &Conn, new_user: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table).values(new_user).returning(User::as_returning()).get_result(&mut { conn }).await
}

/// The user with this id.
pub async fn find(conn: &Conn, id: i32) -> QueryResult<Option<User>> {
    users::table.find(id).select(User::as_select()).first(&mut { conn }).await.optional()
}

/// The user with this (normalised) email.
pub async fn find_by_email(conn: &Conn, email: &str) -> QueryResult<Option<User>> {
    users::table.filter(users::email.eq(email)).select(User::as_select()).first(&mut { conn }).await.optional()
}

/// Replaces the password hash.
pub async fn set_password_hash(conn: &Conn, id: i32, hash: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id)).set(users::hashed_password.eq(hash)).execute(&mut { conn }).await
}

/// Applies changes; `None` when the user does not exist.
pub async fn update(conn: &Conn, id: i32, changes: &UserChanges) -> QueryResult<Option<User>> {
    if changes.is_empty() {
        return find(conn, id).await;
    }
    diesel::update(users::table.find(id))
        .set(changes)
        .returning(User::as_returning())
        .get_result(&mut { conn })
        .await
        .optional()
}

/// Deletes a user (sessions and tokens go with it by cascade); whether one was deleted.
pub async fn delete(conn: &Conn, id: i32) -> QueryResult<bool> {
    Ok(diesel::delete(users::table.find(id)).execute(&mut { conn }).await? > 0)
}

/// Users matching the filter with an id above `after`, in id order, at most `limit`.
pub async fn list(conn: &Conn, filter: &UserFilter, after: Option<i64>, limit: i64) -> QueryResult<Vec<User>> {
    let mut query = users::table.select(User::as_select()).order(users::id.asc()).limit(limit).into_boxed();
    if let Some(after) = after {
        // Ids are INTEGER; a cursor beyond that range simply matches nothing.
        query = query.filter(users::id.gt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    if let Some(role) = &filter.role {
        query = query.filter(users::role.eq(role.clone()));
    }
    if let Some(is_active) = filter.is_active {
        query = query.filter(users::is_active.eq(is_active));
    }
    if let Some(fragment) = &filter.email_contains {
        query = query.filter(users::email.like(format!("%{}%", escape_like(fragment))));
    }
    query.load(&mut { conn }).await
}

/// Escapes LIKE's wildcards so the text matches literally (backslash is the default escape).
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_match_literally() {
        assert_eq!(super::escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
