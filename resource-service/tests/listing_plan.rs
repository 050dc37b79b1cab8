//! The plan PostgreSQL picks for one owner's page when that owner holds a large share of the
//! table but none of its newest rows: the owner's index, never a backward walk of the primary
//! key that reads every newer row (see `store::list`).

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use resource_service::store::{self, ListFilter};

type TestResult = anyhow::Result<()>;

const PAGE: i64 = 21;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Integer)]
    id: i32,
}

#[derive(QueryableByName)]
struct Scans {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    scans: i64,
}

/// 100 users. User 1 owns the first 1,000 rows (every 10th deleted); the other 99 then add
/// 5,000 newer ones. Analyzed, so the planner knows user 1 holds a sixth of the table.
async fn skewed_table(connection: &mut AsyncPgConnection) -> QueryResult<()> {
    for statement in [
        "INSERT INTO users (email, hashed_password, name, role, is_active, is_verified) \
         SELECT 'user' || g || '@plan.example', 'x', 'User ' || g, 'user', true, true FROM generate_series(1, 100) g",
        "INSERT INTO resources (user_id, title, content, deleted_at) \
         SELECT 1, 'Old ' || g, repeat('x', 200), CASE WHEN g % 10 = 0 THEN now() END FROM generate_series(1, 1000) g",
        "INSERT INTO resources (user_id, title, content) \
         SELECT 2 + g % 99, 'New ' || g, repeat('x', 200) FROM generate_series(1, 5000) g",
        "VACUUM ANALYZE resources",
    ] {
        diesel::sql_query(statement).execute(connection).await?;
    }
    Ok(())
}

/// Index scans of `index` this connection has counted and not yet reported to the statistics
/// (PostgreSQL 15 reports them, and starts again from 0, outside transactions at most once a
/// second: read differences within one transaction).
async fn scans_of(connection: &mut AsyncPgConnection, index: &str) -> QueryResult<i64> {
    let scans: Scans = diesel::sql_query("SELECT pg_stat_get_xact_numscans($1::regclass) AS scans")
        .bind::<Text, _>(index)
        .get_result(connection)
        .await?;
    Ok(scans.scans)
}

/// User 1's newest ids, as a plain query states them.
async fn expected_ids(connection: &mut AsyncPgConnection, show_deleted: bool, before: i32) -> QueryResult<Vec<i32>> {
    let live = if show_deleted { "" } else { "AND deleted_at IS NULL" };
    let query = format!("SELECT id FROM resources WHERE user_id = 1 {live} AND id < $1 ORDER BY id DESC LIMIT {PAGE}");
    let rows: Vec<Id> = diesel::sql_query(query).bind::<Integer, _>(before).load(connection).await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Serves user 1's page in a transaction (so that the counts are not reported, and reset,
/// in between) and returns its ids with the index scans of the primary key and of the owner
/// indexes it took.
async fn page_and_scans(
    connection: &mut AsyncPgConnection,
    filter: ListFilter,
    before: Option<i64>,
) -> anyhow::Result<(Vec<i32>, i64, i64)> {
    const OWNER_INDEXES: [&str; 2] = ["idx_resources_user_id_live", "idx_resources_user_id"];
    diesel::sql_query("BEGIN").execute(connection).await?;
    let primary_before = scans_of(connection, "resources_pkey").await?;
    let mut owner_before = 0;
    for index in OWNER_INDEXES {
        owner_before += scans_of(connection, index).await?;
    }
    let page = store::list(connection, filter, before, PAGE).await?;
    let primary = scans_of(connection, "resources_pkey").await? - primary_before;
    let mut owner = -owner_before;
    for index in OWNER_INDEXES {
        owner += scans_of(connection, index).await?;
    }
    diesel::sql_query("COMMIT").execute(connection).await?;
    Ok((page.iter().map(|resource| resource.id).collect(), primary, owner))
}

#[tokio::test]
async fn a_heavy_owner_with_old_rows_is_listed_through_its_index() -> TestResult {
    let db = devkit::test_database().await?;
    let mut connection = AsyncPgConnection::establish(&db.url).await?;
    let mut expected_from = AsyncPgConnection::establish(&db.url).await?;
    skewed_table(&mut connection).await?;
    let mut not_through_one_owner_index = Vec::new();
    // Plans made with the values (PostgreSQL's default) and without them (the resource
    // service's shared connections).
    for plan_cache_mode in ["auto", "force_generic_plan"] {
        diesel::sql_query(format!("SET plan_cache_mode = {plan_cache_mode}")).execute(&mut connection).await?;
        for show_deleted in [false, true] {
            // A cursor above all of user 1's rows, with 4,000 newer rows of others below it.
            for before in [None, Some(5_000)] {
                let case = format!("{plan_cache_mode}, show_deleted {show_deleted}, before {before:?}");
                let filter = ListFilter { owner: Some(1), show_deleted };
                let (ids, primary_key_scans, owner_index_scans) =
                    page_and_scans(&mut connection, filter, before).await?;
                let before = before.map_or(i32::MAX, |before| i32::try_from(before).unwrap_or(i32::MAX));
                assert_eq!(ids, expected_ids(&mut expected_from, show_deleted, before).await?, "{case}");
                assert_eq!(ids.len(), usize::try_from(PAGE)?, "{case}");
                if primary_key_scans > 0 || owner_index_scans != 1 {
                    not_through_one_owner_index
                        .push(format!("{case}: {primary_key_scans} and {owner_index_scans} scans"));
                }
            }
        }
    }
    assert!(
        not_through_one_owner_index.is_empty(),
        "these pages did not go through one owner index: {not_through_one_owner_index:?}"
    );
    Ok(())
}
