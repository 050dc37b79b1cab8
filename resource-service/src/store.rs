//! Queries on `resources`. Every query that reads or writes one resource takes the owner to
//! match (`None` for admins), so visibility is decided in the SQL, not after fetching.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shared::models::{NewResource, Resource};
use shared::schema::resources;

/// The connection type every query takes.
pub type Conn = AsyncPgConnection;

/// Column changes of an update; `None` leaves a column alone, `Some(None)` clears `content`.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = resources)]
pub struct ResourceChanges {
    /// New title.
    pub title: Option<String>,
    /// New content (`Some(None)` sets NULL).
    pub content: Option<Option<String>>,
}

/// Which rows a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFilter {
    /// Only this owner's rows; `None` for every owner.
    pub owner: Option<i32>,
    /// Include soft-deleted rows.
    pub show_deleted: bool,
}

/// Inserts a resource.
pub async fn insert(conn: &mut Conn, resource: &NewResource<'_>) -> QueryResult<Resource> {
    diesel::insert_into(resources::table).values(resource).returning(Resource::as_returning()).get_result(conn).await
}

/// The resource with this id, if `owner` (when given) owns it; deleted ones included.
pub async fn find(conn: &mut Conn, id: i32, owner: Option<i32>) -> QueryResult<Option<Resource>> {
    let mut query = resources::table.filter(resources::id.eq(id)).select(Resource::as_select()).into_boxed();
    if let Some(owner) = owner {
        query = query.filter(resources::user_id.eq(owner));
    }
    query.first(conn).await.optional()
}

/// Newest first, ids below `before`, at most `limit`.
pub async fn list(conn: &mut Conn, filter: ListFilter, before: Option<i64>, limit: i64) -> QueryResult<Vec<Resource>> {
    let mut query =
        resources::table.select(Resource::as_select()).order(resources::id.desc()).limit(limit).into_boxed();
    if let Some(owner) = filter.owner {
        query = query.filter(resources::user_id.eq(owner));
    }
    if !filter.show_deleted {
        query = query.filter(resources::deleted_at.is_null());
    }
    if let Some(before) = before {
        query = query.filter(resources::id.lt(i32::try_from(before).unwrap_or(i32::MAX)));
    }
    query.load(conn).await
}

/// Applies changes to a live resource, if `owner` owns it and (when given) it is still at
/// `expected_version`; bumps the version. `None` when no row matched.
pub async fn update(
    conn: &mut Conn,
    id: i32,
    owner: Option<i32>,
    expected_version: Option<i32>,
    changes: &ResourceChanges,
) -> QueryResult<Option<Resource>> {
    let mut update = diesel::update(resources::table)
        .set((changes, resources::version.eq(resources::version + 1)))
        .filter(resources::id.eq(id))
        .filter(resources::deleted_at.is_null())
        .into_boxed();
    if let Some(owner) = owner {
        update = update.filter(resources::user_id.eq(owner));
    }
    if let Some(version) = expected_version {
        update = update.filter(resources::version.eq(version));
    }
    update.returning(Resource::as_returning()).get_result(conn).await.optional()
}

/// Soft-deletes (`deleted = true`) a live resource or restores a deleted one, if `owner` owns
/// it. `None` when no row was in the required state.
pub async fn set_deleted(conn: &mut Conn, id: i32, owner: Option<i32>, deleted: bool) -> QueryResult<Option<Resource>> {
    let deleted_at: Option<DateTime<Utc>> = deleted.then(Utc::now);
    let mut update = diesel::update(resources::table)
        .set((resources::deleted_at.eq(deleted_at), resources::version.eq(resources::version + 1)))
        .filter(resources::id.eq(id))
        .into_boxed();
    update = if deleted {
        update.filter(resources::deleted_at.is_null())
    } else {
        update.filter(resources::deleted_at.is_not_null())
    };
    if let Some(owner) = owner {
        update = update.filter(resources::user_id.eq(owner));
    }
    update.returning(Resource::as_returning()).get_result(conn).await.optional()
}

/// Deletes for good the resources soft-deleted before `cutoff`; how many.
pub async fn purge_deleted_before(conn: &mut Conn, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(resources::table.filter(resources::deleted_at.lt(cutoff))).execute(conn).await
}
