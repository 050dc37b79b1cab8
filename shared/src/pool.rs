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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a checkout waits before failing (the database is then reported unavailable).
    pub connection_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_size: 16, connection_timeout: Duration::from_secs(3) }
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

/// Whether a query failed because the connection to the database is gone or going (the
/// database is unavailable) rather than because of the query itself.
///
/// Besides a closed socket, that is PostgreSQL's "operator intervention" errors (SQLSTATE class
/// 57P): the server shutting down or starting up, a terminated backend, the crash of another
/// backend. diesel-async keeps no SQLSTATE for them (they become `Unknown`), so they are known
/// by their messages as PostgreSQL words them in English, the usual `lc_messages` of a server.
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("terminating connection") || message.starts_with("the database system is")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::is_connection_lost;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_closed_connection_or_a_server_going_away_is_a_lost_connection() {
        for (kind, message) in [
            (DatabaseErrorKind::ClosedConnection, "connection closed"),
            (DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            (DatabaseErrorKind::Unknown, "terminating connection due to administrator command"),
            (DatabaseErrorKind::Unknown, "terminating connection because of crash of another server process"),
            (DatabaseErrorKind::Unknown, "the database system is shutting down"),
            (DatabaseErrorKind::Unknown, "the database system is starting up"),
        ] {
            assert!(is_connection_lost(&database_error(kind, message)), "{message}");
        }
    }

    #[test]
    fn a_failing_statement_is_not_a_lost_connection() {
        assert!(!is_connection_lost(&database_error(DatabaseErrorKind::UniqueViolation, "duplicate key value")));
        assert!(!is_connection_lost(&database_error(DatabaseErrorKind::Unknown, "division by zero")));
        assert!(!is_connection_lost(&Error::NotFound));
    }
}
