//! Private clusters and per-test databases, against real PostgreSQL servers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use devkit::{ClusterOptions, PostgresCluster, empty_database, server_url, test_database};
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

/// A directory of its own for each cluster a test starts, removed when dropped (declare it before
/// the cluster, so that the cluster stops first).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        Self(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("devkit-{test}-{}-{count}", std::process::id())))
    }

    fn data_dir(&self) -> PathBuf {
        self.0.join("pgdata")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `bigint` column called `n`.
#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One `text` column called `s`.
#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    s: String,
}

async fn select_one(url: &str) -> anyhow::Result<i64> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let row: Number = sql_query("SELECT 1::bigint AS n").get_result(&mut conn).await?;
    Ok(row.n)
}

async fn current_database(url: &str) -> anyhow::Result<String> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let row: Name = sql_query("SELECT current_database()::text AS s").get_result(&mut conn).await?;
    Ok(row.s)
}

#[tokio::test(flavor = "multi_thread")]
async fn throwaway_cluster_answers_queries() -> anyhow::Result<()> {
    let scratch = Scratch::new("answers");
    let cluster = PostgresCluster::start(ClusterOptions { data_dir: scratch.data_dir(), port: None, throwaway: true })?;
    assert_eq!(select_one(&cluster.url("postgres")).await?, 1);
    assert!(cluster.url("x").ends_with(&format!(":{}/x", cluster.port())));
    cluster.stop()
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_cluster_refuses_connections() -> anyhow::Result<()> {
    let scratch = Scratch::new("stop");
    let cluster = PostgresCluster::start(ClusterOptions { data_dir: scratch.data_dir(), port: None, throwaway: true })?;
    let url = cluster.url("postgres");
    let mut open = AsyncPgConnection::establish(&url).await?;
    cluster.stop()?;
    assert!(AsyncPgConnection::establish(&url).await.is_err());
    assert!(sql_query("SELECT 1").execute(&mut open).await.is_err(), "a session open during the stop must be gone");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_cluster_keeps_its_data_across_restarts() -> anyhow::Result<()> {
    let scratch = Scratch::new("keep");
    let options = ClusterOptions { data_dir: scratch.data_dir(), port: None, throwaway: false };
    let cluster = PostgresCluster::start(options.clone())?;
    let mut conn = AsyncPgConnection::establish(&cluster.url("postgres")).await?;
    sql_query("CREATE TABLE kept (id int)").execute(&mut conn).await?;
    drop(conn);
    cluster.stop()?;

    let cluster = PostgresCluster::start(options.clone())?;
    let mut conn = AsyncPgConnection::establish(&cluster.url("postgres")).await?;
    sql_query("SELECT * FROM kept").execute(&mut conn).await?;
    drop(conn);
    // Dropping stops the server too.
    drop(cluster);

    let cluster = PostgresCluster::start(ClusterOptions { throwaway: true, ..options })?;
    let mut conn = AsyncPgConnection::establish(&cluster.url("postgres")).await?;
    assert!(sql_query("SELECT * FROM kept").execute(&mut conn).await.is_err(), "a throwaway start wipes the data");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn fixed_port_is_used_and_a_taken_one_is_reported() -> anyhow::Result<()> {
    let scratch = Scratch::new("port");
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = holder.local_addr()?.port();
    let options = ClusterOptions { data_dir: scratch.data_dir(), port: Some(port), throwaway: true };
    let error = PostgresCluster::start(options.clone()).expect_err("the port is taken").to_string();
    assert!(error.contains("could not bind"), "the error quotes the server log: {error}");

    drop(holder);
    let cluster = PostgresCluster::start(options)?;
    assert_eq!(cluster.port(), port);
    assert_eq!(select_one(&cluster.url("postgres")).await?, 1);
    cluster.stop()
}

#[tokio::test(flavor = "multi_thread")]
async fn test_databases_are_distinct_and_exist() -> anyhow::Result<()> {
    let first = test_database().await?;
    let second = test_database().await?;
    assert_ne!(first.name, second.name);
    assert_ne!(first.url, second.url);
    assert_eq!(current_database(&first.url).await?, first.name);
    assert_eq!(current_database(&second.url).await?, second.name);

    let mut admin = AsyncPgConnection::establish(&server_url("postgres").await?).await?;
    let listed: Number = sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1 OR datname = $2")
        .bind::<Text, _>(&first.name)
        .bind::<Text, _>(&second.name)
        .get_result(&mut admin)
        .await?;
    assert_eq!(listed.n, 2);
    Ok(())
}

/// Count of the migrations recorded in `url`'s database (0 when never migrated).
async fn applied_migrations(url: &str) -> anyhow::Result<i64> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    let table: Number = sql_query("SELECT count(*) AS n FROM pg_tables WHERE tablename = '__diesel_schema_migrations'")
        .get_result(&mut conn)
        .await?;
    if table.n == 0 {
        return Ok(0);
    }
    let row: Number = sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations").get_result(&mut conn).await?;
    Ok(row.n)
}

#[tokio::test(flavor = "multi_thread")]
async fn test_database_is_migrated_and_empty_database_is_not() -> anyhow::Result<()> {
    let migrated = test_database().await?;
    let empty = empty_database().await?;
    assert!(applied_migrations(&migrated.url).await? > 0);
    assert_eq!(applied_migrations(&empty.url).await?, 0);
    Ok(())
}

/// Many tests at once, each with its own runtime, all cloning the template.
#[test]
fn parallel_test_databases_from_separate_runtimes() -> anyhow::Result<()> {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
                    let database = test_database().await?;
                    assert_eq!(current_database(&database.url).await?, database.name);
                    anyhow::Ok(database.name)
                })
            })
        })
        .collect();
    let mut names = Vec::new();
    for thread in threads {
        names.push(thread.join().map_err(|_| anyhow::anyhow!("thread panicked"))??);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8);
    Ok(())
}
