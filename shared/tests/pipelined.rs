//! The shared read connections against a real PostgreSQL: sharing, replacement of a lost
//! connection, and one connect attempt for all the reads waiting on an unreachable database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use shared::pipelined::{ConnectError, PipelinedConnections};
use shared::planning::Planning;
use shared::schema::users;
use shared::secret::Secret;

type TestResult = anyhow::Result<()>;

/// The backend serving `connection`, and `n` sent back, in one statement.
async fn backend_and_echo(connection: &AsyncPgConnection, n: i32) -> QueryResult<(i32, i32)> {
    diesel::select((sql::<Integer>("pg_backend_pid()"), n.into_sql::<Integer>())).get_result(&mut { connection }).await
}

/// Runs `reads` reads at once through `connections`; the backend each ran on, in order.
async fn concurrent_reads(connections: &Arc<PipelinedConnections>, reads: i32) -> anyhow::Result<Vec<i32>> {
    let tasks: Vec<_> = (0..reads)
        .map(|n| {
            let connections = Arc::clone(connections);
            tokio::spawn(async move {
                let connection = connections.get().await?;
                let (backend, echoed) = backend_and_echo(&connection, n).await?;
                anyhow::ensure!(echoed == n, "read {n} got the answer of read {echoed}");
                Ok(backend)
            })
        })
        .collect();
    let mut backends = Vec::new();
    for task in tasks {
        backends.push(task.await??);
    }
    Ok(backends)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_share_the_connections_and_each_gets_its_own_answer() -> TestResult {
    let db = devkit::test_database().await?;
    let one =
        Arc::new(PipelinedConnections::new(&Secret::new(&db.url), 1, Duration::from_secs(5), Planning::ServerDefault)?);
    let backends = concurrent_reads(&one, 64).await?;
    assert!(backends.iter().all(|&backend| backend == backends[0]), "one connection serves every read: {backends:?}");
    let stats = one.stats();
    assert_eq!((stats.open, stats.connects, stats.failed_connects), (1, 1, 0), "{stats:?}");

    let two =
        Arc::new(PipelinedConnections::new(&Secret::new(&db.url), 2, Duration::from_secs(5), Planning::ServerDefault)?);
    let mut distinct = concurrent_reads(&two, 64).await?;
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "reads are spread over both connections");
    Ok(())
}

#[tokio::test]
async fn a_lost_connection_is_replaced_on_next_use() -> TestResult {
    let db = devkit::test_database().await?;
    let connections =
        PipelinedConnections::new(&Secret::new(&db.url), 1, Duration::from_secs(5), Planning::ServerDefault)?;
    let held = connections.get().await?;
    let (first_backend, _) = backend_and_echo(&held, 1).await?;

    let mut admin = AsyncPgConnection::establish(&db.url).await?;
    let terminated: bool =
        diesel::select(sql::<Bool>(&format!("pg_terminate_backend({first_backend})"))).get_result(&mut admin).await?;
    assert!(terminated);
    let on_the_dead_connection = backend_and_echo(&held, 3).await;
    match on_the_dead_connection {
        Err(error) => assert!(shared::pool::is_connection_lost(&error), "{error:?}"),
        Ok(answer) => panic!("a terminated backend answered {answer:?}"),
    }

    // The first reads after the kill may still meet the dying connection; a new one follows.
    let mut replaced = None;
    for _ in 0..50 {
        if let Ok(connection) = connections.get().await
            && let Ok((backend, 2)) = backend_and_echo(&connection, 2).await
        {
            replaced = Some(backend);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replaced = replaced.ok_or_else(|| anyhow::anyhow!("no working connection after the kill"))?;
    assert_ne!(replaced, first_backend, "a new backend serves the reads");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_waiting_on_an_unreachable_database_share_one_attempt() -> TestResult {
    // A "database" that accepts connections and never answers: every attempt times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("postgres://nobody@{}/nothing", listener.local_addr()?);
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });

    let timeout = Duration::from_secs(1);
    let connections = Arc::new(PipelinedConnections::new(&Secret::new(&url), 1, timeout, Planning::ServerDefault)?);
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let connections = Arc::clone(&connections);
            tokio::spawn(async move { connections.get().await.map(|_| ()) })
        })
        .collect();
    for read in waiting {
        let outcome = tokio::time::timeout(Duration::from_secs(30), read).await??;
        assert!(matches!(outcome, Err(ConnectError::Timeout(t)) if t == timeout), "{outcome:?}");
    }
    let attempts = AtomicUsize::load(&accepted, Ordering::SeqCst);
    assert!(attempts <= 3, "20 waiting reads made {attempts} connect attempts instead of sharing one");

    // A later read tries again rather than repeating an old failure forever.
    assert!(connections.get().await.is_err());
    assert_eq!(AtomicUsize::load(&accepted, Ordering::SeqCst), attempts + 1);
    let stats = connections.stats();
    assert_eq!(stats.open, 0);
    assert_eq!(stats.failed_connects, stats.connects, "{stats:?}");
    assert_eq!(usize::try_from(stats.connects)?, attempts + 1, "{stats:?}");
    silent.abort();
    Ok(())
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_abandon_the_connect_attempt() -> TestResult {
    let db = devkit::test_database().await?;
    let connections =
        PipelinedConnections::new(&Secret::new(&db.url), 1, Duration::from_secs(5), Planning::ServerDefault)?;
    // Gives up long before a connection can be open (the startup handshake alone takes longer).
    let gave_up = tokio::time::timeout(Duration::from_micros(1), connections.get()).await;
    assert!(gave_up.is_err(), "the connection opened within a microsecond");

    let mut opened = false;
    for _ in 0..100 {
        if connections.stats().open == 1 {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(opened, "the attempt was abandoned with its caller: {:?}", connections.stats());
    backend_and_echo(&*connections.get().await?, 4).await?;
    assert_eq!(connections.stats().connects, 1, "the next read used the connection opened meanwhile");
    Ok(())
}

#[derive(QueryableByName)]
struct PlanCounts {
    #[diesel(sql_type = diesel::sql_types::Text)]
    mode: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom: i64,
}

/// The connection's `plan_cache_mode`, and the generic and custom plans its prepared
/// statements got so far.
async fn plan_counts(connection: &AsyncPgConnection) -> QueryResult<PlanCounts> {
    diesel::sql_query(
        "SELECT current_setting('plan_cache_mode') AS mode, \
         coalesce(sum(generic_plans), 0)::bigint AS generic, coalesce(sum(custom_plans), 0)::bigint AS custom \
         FROM pg_prepared_statements",
    )
    .get_result(&mut { connection })
    .await
}

#[tokio::test]
async fn statements_are_planned_once_per_connection_when_asked() -> TestResult {
    let db = devkit::test_database().await?;
    for (planning, mode) in [(Planning::ServerDefault, "auto"), (Planning::OncePerConnection, "force_generic_plan")] {
        let connections = PipelinedConnections::new(&Secret::new(&db.url), 1, Duration::from_secs(5), planning)?;
        let connection = connections.get().await?;
        // A statement diesel prepares and caches; under `auto` its first five calls are
        // always planned with their values.
        for limit in 0..8_i64 {
            let ids: Vec<i32> =
                users::table.select(users::id).order(users::id).limit(limit).load(&mut { &*connection }).await?;
            assert!(ids.is_empty(), "the test database has no users");
        }
        let counts = plan_counts(&connection).await?;
        assert_eq!(counts.mode, mode);
        if planning == Planning::OncePerConnection {
            assert!(
                counts.generic >= 8 && counts.custom == 0,
                "{mode}: {} generic, {} custom",
                counts.generic,
                counts.custom
            );
        } else {
            assert!(counts.custom >= 5, "{mode}: {} custom plans", counts.custom);
        }
    }
    Ok(())
}
