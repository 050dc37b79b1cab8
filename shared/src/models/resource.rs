use diesel::prelude::*;

use super::UtcMicros;
use crate::schema::resources;

/// A row of `resources`: something a user owns.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = resources, check_for_backend(diesel::pg::Pg))]
pub struct Resource {
    /// Primary key.
    pub id: i32,
    /// Owner.
    pub user_id: i32,
    /// Title, 1 to 255 characters.
    pub title: String,
    /// Free text, stored exactly as given.
    pub content: Option<String>,
    /// When the row was inserted.
    pub created_at: Option<UtcMicros>,
    /// When the row last changed (kept by a trigger).
    pub updated_at: Option<UtcMicros>,
    /// Set by a soft delete.
    pub deleted_at: Option<UtcMicros>,
    /// Incremented by every update; the etag.
    pub version: i32,
}

/// A resource to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = resources)]
pub struct NewResource<'a> {
    /// Owner.
    pub user_id: i32,
    /// Title.
    pub title: &'a str,
    /// Content.
    pub content: Option<&'a str>,
}
