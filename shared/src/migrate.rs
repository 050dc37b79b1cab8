//! The embedded migrations (from `/migrations`) and the operations of the `migrate` command.
//!
//! Diesel's migration harness is synchronous; it runs here on the blocking pool over
//! diesel-async's connection wrapper, so it is safe on any tokio runtime flavour. Every
//! operation holds a PostgreSQL advisory lock, so replicas starting together migrate once.

use diesel::Connection;
use diesel::RunQueryDsl;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Every migration of the workspace, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Arbitrary, fixed key of the advisory lock that serialises migration runs.
const MIGRATION_LOCK_KEY: i64 = 0x006d_6967_7261_7465;
/// How long a run waits before trying the migration lock again.
const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

type SyncPgConnection = AsyncConnectionWrapper<AsyncPgConnection>;
type HarnessError = Box<dyn std::error::Error + Send + Sync>;

/// Why a migration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// A migration or the bookkeeping around it failed; nothing of that migration was applied.
    #[error("migration failed: {0}")]
    Migration(HarnessError),
    /// The blocking task running the migration panicked or was cancelled.
    #[error("migration task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// How far `down` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revert {
    /// The last `n` applied migrations.
    Last(usize),
    /// Every applied migration, back to an empty schema.
    All,
}

/// One migration and whether this database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Full name, `<version>_<name>`.
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
}

/// Applies every pending migration; returns the full names of those applied, oldest first.
pub async fn run_pending(database_url: &str) -> Result<Vec<String>, MigrateError> {
    with_harness(database_url, |conn| {
        let applied = conn.run_pending_migrations(MIGRATIONS)?;
        names_of(applied.iter().map(ToString::to_string))
    })
    .await
}

/// Reverts migrations, newest first; returns the full names reverted in that order.
pub async fn revert(database_url: &str, how_far: Revert) -> Result<Vec<String>, MigrateError> {
    with_harness(database_url, move |conn| {
        let reverted = match how_far {
            Revert::All => conn.revert_all_migrations(MIGRATIONS)?,
            Revert::Last(count) => {
                let mut reverted = Vec::with_capacity(count);
                for _ in 0..count {
                    if conn.applied_migrations()?.is_empty() {
                        break;
                    }
                    reverted.push(conn.revert_last_migration(MIGRATIONS)?);
                }
                reverted
            }
        };
        names_of(reverted.iter().map(ToString::to_string))
    })
    .await
}

/// Reverts the newest applied migration and applies it again; returns its full name.
pub async fn redo(database_url: &str) -> Result<Option<String>, MigrateError> {
    with_harness(database_url, |conn| {
        if conn.applied_migrations()?.is_empty() {
            return Ok(None);
        }
        let version = conn.revert_last_migration(MIGRATIONS)?.to_string();
        conn.run_next_migration(MIGRATIONS)?;
        Ok(names_of([version])?.pop())
    })
    .await
}

/// Every known migration, oldest first, with whether it is applied.
pub async fn status(database_url: &str) -> Result<Vec<MigrationStatus>, MigrateError> {
    with_harness(database_url, |conn| {
        let applied: Vec<String> = conn.applied_migrations()?.iter().map(ToString::to_string).collect();
        let mut known = MigrationSource::<Pg>::migrations(&MIGRATIONS)?;
        known.sort_by_key(|migration| migration.name().version().to_string());
        Ok(known
            .iter()
            .map(|migration| MigrationStatus {
                name: migration.name().to_string(),
                applied: applied.contains(&migration.name().version().to_string()),
            })
            .collect())
    })
    .await
}

/// Full names (`<version>_<name>`) of migrations given by version; unknown versions stay as they are.
fn names_of(versions: impl IntoIterator<Item = String>) -> Result<Vec<String>, HarnessError> {
    let known = MigrationSource::<Pg>::migrations(&MIGRATIONS)?;
    Ok(versions
        .into_iter()
        .map(|version| {
            known
                .iter()
                .find(|migration| migration.name().version().to_string() == version)
                .map_or(version, |migration| migration.name().to_string())
        })
        .collect())
}

/// Runs `operation` on a fresh connection on the blocking pool, under the migration lock.
async fn with_harness<T, F>(database_url: &str, operation: F) -> Result<T, MigrateError>
where
    T: Send + 'static,
    F: FnOnce(&mut SyncPgConnection) -> Result<T, HarnessError> + Send + 'static,
{
    let database_url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = SyncPgConnection::establish(&database_url)?;
        lock(&mut conn).map_err(MigrateError::Migration)?;
        let outcome = operation(&mut conn).map_err(MigrateError::Migration);
        // Closing the connection releases the lock too; unlocking is a courtesy.
        let _ = unlock(&mut conn);
        outcome
    })
    .await?
}

/// Takes the migration lock, waiting for any other run to finish.
fn lock(conn: &mut SyncPgConnection) -> Result<(), HarnessError> {
    // Tries rather than waits: a session blocked in `pg_advisory_lock` holds a snapshot, which
    // a `CREATE INDEX CONCURRENTLY` of the holder's run waits out, so the two would deadlock.
    let try_lock = diesel::dsl::sql::<diesel::sql_types::Bool>(&format!("pg_try_advisory_lock({MIGRATION_LOCK_KEY})"));
    while !diesel::select(try_lock.clone()).get_result::<bool>(conn)? {
        std::thread::sleep(LOCK_RETRY);
    }
    Ok(())
}

/// Releases the migration lock.
fn unlock(conn: &mut SyncPgConnection) -> Result<(), HarnessError> {
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn)?;
    Ok(())
}
