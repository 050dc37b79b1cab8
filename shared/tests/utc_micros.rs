//! `UtcMicros` read from a real PostgreSQL agrees with chrono's reading of the same column.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::models::UtcMicros;

type TestResult = anyhow::Result<()>;

/// `literal` (SQL) read as chrono and as `UtcMicros`, in one statement.
async fn read_both(
    connection: &mut AsyncPgConnection,
    literal: &str,
) -> QueryResult<(Option<DateTime<Utc>>, Option<UtcMicros>)> {
    let column = format!("{literal}::timestamptz");
    diesel::select((sql::<Nullable<Timestamptz>>(&column), sql::<Nullable<Timestamptz>>(&column)))
        .get_result(connection)
        .await
}

#[tokio::test]
async fn reads_the_same_instant_as_chrono() -> TestResult {
    let db = devkit::test_database().await?;
    let mut connection = AsyncPgConnection::establish(&db.url).await?;
    // The session's zone must not matter: a timestamptz travels as UTC.
    diesel::sql_query("SET TIME ZONE 'America/St_Johns'").execute(&mut connection).await?;
    for literal in [
        "'2000-01-01 00:00:00+00'",
        "'1970-01-01 00:00:00+00'",
        "'1969-12-31 23:59:59.999999+00'",
        "'1900-02-28 12:34:56.5+03'",
        "'2026-11-28 05:00:00.123456+00'",
        "now()",
    ] {
        let (chrono, micros) = read_both(&mut connection, literal).await?;
        let (Some(chrono), Some(micros)) = (chrono, micros) else { anyhow::bail!("{literal} read as NULL") };
        assert_eq!(micros.unix_micros(), chrono.timestamp_micros(), "{literal}");
        assert_eq!(micros.to_datetime(), Some(chrono), "{literal}");
    }
    assert_eq!(read_both(&mut connection, "NULL").await?, (None, None));
    Ok(())
}

#[tokio::test]
async fn infinity_is_an_error_not_a_panic() -> TestResult {
    let db = devkit::test_database().await?;
    let mut connection = AsyncPgConnection::establish(&db.url).await?;
    for literal in ["'infinity'", "'-infinity'"] {
        let column = format!("{literal}::timestamptz");
        let read: QueryResult<UtcMicros> =
            diesel::select(sql::<Timestamptz>(&column)).get_result(&mut connection).await;
        let Err(error) = read else { anyhow::bail!("{literal} was read as {read:?}") };
        assert!(matches!(error, diesel::result::Error::DeserializationError(_)), "{literal}: {error:?}");
        assert!(format!("{error:?}").contains("out of range"), "{literal}: {error:?}");
    }
    Ok(())
}
