//! Queries on `resources`. Every query that reads or writes one resource takes the owner to
//! match (`None` for admins), so visibility is decided in the SQL, not after fetching.
//!
//! Every statement here stays in the connection's prepared-statement cache, so each shape is
//! parsed and planned once per connection and every later call is a single Bind/Execute round
//! trip (a test checks it). The reads are one statically typed query per shape (with or without
//! an owner, a cursor, deleted rows) rather than boxed, so the cache finds them by type instead
//! of hashing their SQL text; the insert and the updates are written so that diesel caches them
//! at all (see [`insert`] and `update_returning`).
//!
//! Each function takes the connection by shared reference and runs its statement through
//! `&mut &AsyncPgConnection` (written `&mut { conn }`): that is how diesel-async pipelines the
//! statements of concurrent requests on one connection, so the reads can run on the shared
//! connections of `shared::pipelined` as well as on a pooled one.

use chrono::{DateTime, Utc};
use diesel::expression::AppearsOnTable;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use shared::cached_update;
use shared::models::{NewResource, Resource};
use shared::schema::resources;

/// The connection every query runs on (pooled or shared).
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
pub async fn insert(conn: &Conn, resource: &NewResource<'_>) -> QueryResult<Resource> {
    // Column by column rather than `values(resource)`: an `Option` field of an `Insertable`
    // struct becomes `DEFAULT` when `None`, so diesel never caches that statement (two round
    // trips, a parse and a plan per call). `content` defaults to NULL, so binding `None` is
    // the same row.
    let values = (
        resources::user_id.eq(resource.user_id),
        resources::title.eq(resource.title),
        resources::content.eq(resource.content),
    );
    diesel::insert_into(resources::table)
        .values(values)
        .returning(Resource::as_returning())
        .get_result(&mut { conn })
        .await
}

/// The resource with this id, if `owner` (when given) owns it; deleted ones included.
pub async fn find(conn: &Conn, id: i32, owner: Option<i32>) -> QueryResult<Option<Resource>> {
    // `id` is the primary key: at most one row, so no LIMIT (one bind and one plan node less).
    let by_id = resources::table.filter(resources::id.eq(id)).select(Resource::as_select());
    match owner {
        Some(owner) => by_id.filter(resources::user_id.eq(owner)).get_result(&mut { conn }).await.optional(),
        None => by_id.get_result(&mut { conn }).await.optional(),
    }
}

/// Newest first, ids below `before`, at most `limit`.
///
/// One owner's rows are matched as `user_id BETWEEN owner AND owner` and ordered by
/// `(user_id, id DESC)`, which only the `(user_id, id DESC)` indexes can deliver. Written as
/// `user_id = owner … ORDER BY id DESC`, PostgreSQL may walk the primary key backwards and
/// filter: it expects a user who holds a large share of the table to show up among the newest
/// rows, and when that user's rows are older it reads every newer row first (a user with 9 % of
/// 275,000 rows: 20,000 rows read and 3.9 ms instead of 21 rows and 0.06 ms; the benchmark's
/// ListResources at 8×256 fell to half its rate on it). `tests/listing_plan.rs` checks the plan.
pub async fn list(conn: &Conn, filter: ListFilter, before: Option<i64>, limit: i64) -> QueryResult<Vec<Resource>> {
    // One static shape per combination (see the module comment); `deleted_at IS NULL` stays
    // literal SQL so the planner can use the partial index of live rows.
    let before = before.map(|before| i32::try_from(before).unwrap_or(i32::MAX));
    macro_rules! newest_first {
        ($rows:expr, $order:expr) => {
            match before {
                Some(before) => {
                    $rows
                        .filter(resources::id.lt(before))
                        .select(Resource::as_select())
                        .order($order)
                        .limit(limit)
                        .load(&mut { conn })
                        .await
                }
                None => $rows.select(Resource::as_select()).order($order).limit(limit).load(&mut { conn }).await,
            }
        };
    }
    let live = resources::deleted_at.is_null();
    let by_owner_newest_first = (resources::user_id.asc(), resources::id.desc());
    match (filter.owner, filter.show_deleted) {
        (Some(owner), show_deleted) => {
            let owned = resources::table.filter(resources::user_id.between(owner, owner));
            if show_deleted {
                newest_first!(owned, by_owner_newest_first)
            } else {
                newest_first!(owned.filter(live), by_owner_newest_first)
            }
        }
        (None, false) => newest_first!(resources::table.filter(live), resources::id.desc()),
        (None, true) => newest_first!(resources::table, resources::id.desc()),
    }
}

/// Applies changes to a live resource, if `owner` owns it and (when given) it is still at
/// `expected_version`; bumps the version. `None` when no row matched.
pub async fn update(
    conn: &Conn,
    id: i32,
    owner: Option<i32>,
    expected_version: Option<i32>,
    changes: &ResourceChanges,
) -> QueryResult<Option<Resource>> {
    let set = (changes, resources::version.eq(resources::version + 1));
    let live = resources::id.eq(id).and(resources::deleted_at.is_null());
    match (owner, expected_version) {
        (None, None) => update_returning(conn, set, live).await,
        (Some(owner), None) => update_returning(conn, set, live.and(resources::user_id.eq(owner))).await,
        (None, Some(version)) => update_returning(conn, set, live.and(resources::version.eq(version))).await,
        (Some(owner), Some(version)) => {
            let matching = live.and(resources::user_id.eq(owner)).and(resources::version.eq(version));
            update_returning(conn, set, matching).await
        }
    }
}

/// Soft-deletes (`deleted = true`) a live resource or restores a deleted one, if `owner` owns
/// it. `None` when no row was in the required state.
pub async fn set_deleted(conn: &Conn, id: i32, owner: Option<i32>, deleted: bool) -> QueryResult<Option<Resource>> {
    let deleted_at: Option<DateTime<Utc>> = deleted.then(Utc::now);
    let set = (resources::deleted_at.eq(deleted_at), resources::version.eq(resources::version + 1));
    let by_id = resources::id.eq(id);
    match (deleted, owner) {
        (true, None) => update_returning(conn, set, by_id.and(resources::deleted_at.is_null())).await,
        (true, Some(owner)) => {
            let matching = by_id.and(resources::deleted_at.is_null()).and(resources::user_id.eq(owner));
            update_returning(conn, set, matching).await
        }
        (false, None) => update_returning(conn, set, by_id.and(resources::deleted_at.is_not_null())).await,
        (false, Some(owner)) => {
            let matching = by_id.and(resources::deleted_at.is_not_null()).and(resources::user_id.eq(owner));
            update_returning(conn, set, matching).await
        }
    }
}

/// `UPDATE resources SET set WHERE filter RETURNING` the row; `None` when no row matched.
/// Through `shared::cached_update`: diesel never caches its own UPDATE, and ours have at
/// most a dozen shapes, cached by their SQL text.
async fn update_returning<Set, Filter>(conn: &Conn, set: Set, filter: Filter) -> QueryResult<Option<Resource>>
where
    Set: AsChangeset<Target = resources::table>,
    Set::Changeset: QueryFragment<Pg> + Send,
    Filter: Expression<SqlType = Bool> + AppearsOnTable<resources::table> + QueryFragment<Pg> + Send,
{
    let statement = cached_update::update(resources::table, set, filter).returning(Resource::as_select());
    statement.get_result(&mut { conn }).await.optional()
}

/// Deletes for good the resources soft-deleted before `cutoff`; how many.
pub async fn purge_deleted_before(conn: &Conn, cutoff: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(resources::table.filter(resources::deleted_at.lt(cutoff))).execute(&mut { conn }).await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::InstrumentationEvent;
    use diesel_async::AsyncConnection;
    use shared::schema::users;

    use super::*;

    /// Runs every shape of every query once; how many shapes that is.
    async fn every_shape(conn: &Conn, owner: i32) -> QueryResult<usize> {
        let new = NewResource { user_id: owner, title: "shapes", content: None };
        let id = insert(conn, &new).await?.id;
        find(conn, id, Some(owner)).await?;
        find(conn, id, None).await?;
        for owner in [Some(owner), None] {
            for show_deleted in [false, true] {
                for before in [None, Some(i64::from(id) + 1)] {
                    list(conn, ListFilter { owner, show_deleted }, before, 21).await?;
                }
            }
        }
        let title = ResourceChanges { title: Some("renamed".into()), content: None };
        for (owner, version) in [(None, None), (Some(owner), None), (None, Some(1)), (Some(owner), Some(1))] {
            update(conn, id, owner, version, &title).await?;
        }
        let content = ResourceChanges { title: None, content: Some(None) };
        update(conn, id, Some(owner), None, &content).await?;
        let both = ResourceChanges { title: Some("both".into()), content: Some(Some("text".into())) };
        update(conn, id, Some(owner), None, &both).await?;
        // No field at all still bumps the version.
        let bumped = update(conn, id, Some(owner), None, &ResourceChanges::default()).await?;
        assert!(bumped.is_some_and(|row| row.title == "both"), "an empty change set updates the row");
        for deleted in [true, false] {
            set_deleted(conn, id, Some(owner), deleted).await?;
            set_deleted(conn, id, None, deleted).await?;
        }
        Ok(1 + 2 + 8 + 7 + 4)
    }

    #[tokio::test]
    async fn every_query_is_prepared_once_per_connection_then_reused() -> anyhow::Result<()> {
        let db = devkit::test_database().await?;
        let mut conn = AsyncPgConnection::establish(&db.url).await?;
        let owner: i32 = diesel::insert_into(users::table)
            .values((users::email.eq("shapes@example.com"), users::hashed_password.eq("x"), users::name.eq("S")))
            .returning(users::id)
            .get_result(&mut conn)
            .await?;
        let prepared = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&prepared);
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                sink.lock().expect("not poisoned").push(sql.to_owned());
            }
        });

        let shapes = every_shape(&conn, owner).await?;
        let first_round = prepared.lock().expect("not poisoned").clone();
        assert_eq!(first_round.len(), shapes, "each shape is cached once: {first_round:#?}");
        every_shape(&conn, owner).await?;
        let second_round = prepared.lock().expect("not poisoned").len() - first_round.len();
        assert_eq!(second_round, 0, "the second round prepares nothing: {:#?}", prepared.lock().expect("not poisoned"));
        Ok(())
    }
}
