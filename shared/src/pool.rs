//! The bb8 pool of diesel-async PostgreSQL connections.

use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};

/// A pool of PostgreSQL connections.
pub type DbPool = Pool<AsyncPgConnection>;

/// One connection checked out of a [`DbPool`].
pub type DbConnection<'a> = PooledConnection<'a, AsyncPgConnection>;

/// Failure to hand out a connection (database unreachable, or every connection busy too long).
pub type PoolError = diesel_async::pooled_connection::bb8::RunError;

/// How the pool is sized and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a checkout waits before failing (the database is then reported unavailable).
    pub connection_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_size: 16, connection_timeout: Duration::from_secs(5) }
    }
}

/// Builds a pool without connecting: the service starts even while the database is down and
/// recovers by itself when it returns.
pub fn build_pool(database_url: &str, settings: PoolSettings) -> DbPool {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(database_url);
    Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connection_timeout)
        .test_on_check_out(false)
        // A refused connection fails the call at once (UNAVAILABLE) instead of waiting out the timeout.
        .retry_connection(false)
        .build_unchecked(manager)
}

/// Whether a query failed because the connection to the database is gone (the database is
/// unavailable) rather than because of the query itself.
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        error,
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _)
    )
}
