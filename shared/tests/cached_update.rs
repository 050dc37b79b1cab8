//! An update built by `shared::cached_update` is prepared once per connection and shape, where
//! diesel's own UPDATE is parsed and planned on every call (real PostgreSQL).

use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::cached_update;
use shared::schema::users;

/// The SQL of every statement the connection puts into its cache.
fn record_cached(conn: &mut AsyncPgConnection) -> Arc<Mutex<Vec<String>>> {
    let cached = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&cached);
    let instrumentation: Box<dyn Instrumentation> = Box::new(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::CacheQuery { sql, .. } = event {
            sink.lock().expect("not poisoned").push(sql.to_owned());
        }
    });
    conn.set_instrumentation(instrumentation);
    cached
}

/// A database of its own, a connection to it, and the id of the one user in it.
async fn database_with_one_user() -> anyhow::Result<(devkit::TestDatabase, AsyncPgConnection, i32)> {
    let db = devkit::test_database().await?;
    let mut conn = AsyncPgConnection::establish(&db.url).await?;
    let id = diesel::insert_into(users::table)
        .values((users::email.eq("cached@example.com"), users::hashed_password.eq("x"), users::name.eq("C")))
        .returning(users::id)
        .get_result(&mut conn)
        .await?;
    Ok((db, conn, id))
}

#[tokio::test]
async fn a_cached_update_is_prepared_once_and_diesels_own_never() -> anyhow::Result<()> {
    let (_db, mut conn, id) = database_with_one_user().await?;
    let cached = record_cached(&mut conn);

    for name in ["first", "second", "third"] {
        let changed =
            cached_update::update(users::table, users::name.eq(name), users::id.eq(id)).execute(&mut conn).await?;
        assert_eq!(changed, 1);
    }
    let name: String = users::table.find(id).select(users::name).get_result(&mut conn).await?;
    assert_eq!(name, "third");
    let updates = |cached: &[String]| cached.iter().filter(|sql| sql.starts_with("UPDATE")).count();
    assert_eq!(updates(&cached.lock().expect("not poisoned")), 1, "one shape, prepared once");

    for name in ["fourth", "fifth"] {
        diesel::update(users::table.find(id)).set(users::name.eq(name)).execute(&mut conn).await?;
    }
    assert_eq!(updates(&cached.lock().expect("not poisoned")), 1, "diesel's own UPDATE is never cached");

    let missing =
        cached_update::update(users::table, users::name.eq("nobody"), users::id.eq(-1)).execute(&mut conn).await?;
    assert_eq!(missing, 0, "no row matched");
    Ok(())
}

#[tokio::test]
async fn a_cached_update_returns_the_changed_row_and_is_prepared_once() -> anyhow::Result<()> {
    let (_db, mut conn, id) = database_with_one_user().await?;
    let cached = record_cached(&mut conn);

    for name in ["first", "second"] {
        let (returned_id, returned_name): (i32, String) =
            cached_update::update(users::table, users::name.eq(name), users::id.eq(id))
                .returning((users::id, users::name))
                .get_result(&mut conn)
                .await?;
        assert_eq!((returned_id, returned_name.as_str()), (id, name));
    }
    let statements = cached.lock().expect("not poisoned").clone();
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(statements[0].ends_with(r#" RETURNING "users"."id", "users"."name""#), "{}", statements[0]);

    let nobody = cached_update::update(users::table, users::name.eq("nobody"), users::id.eq(-1))
        .returning(users::id)
        .get_result::<i32>(&mut conn)
        .await
        .optional()?;
    assert_eq!(nobody, None, "no row matched, none returned");
    Ok(())
}
