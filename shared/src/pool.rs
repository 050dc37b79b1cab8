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
/// Besides a closed socket, that is PostgreSQL's "operator intervention" errors (SQLSTATE
/// 57P01 to 57P05): the server shutting down or starting up, a terminated backend, the crash
/// of another backend, a dropped database, an idle session timed out. Known by their code, so
/// whatever language the server writes its messages in. (57014, a cancelled statement, is
/// the query's own failure.)
pub fn is_connection_lost(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => info.sqlstate().is_some_and(|code| code.as_str().starts_with("57P")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error, SqlState};

    use super::is_connection_lost;

    /// An error as PostgreSQL reports it: a code and a message (in any language).
    struct Reported {
        code: &'static str,
        message: &'static str,
    }

    impl DatabaseErrorInformation for Reported {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
        fn sqlstate(&self) -> Option<SqlState> {
            self.code.parse().ok()
        }
    }

    fn reported(kind: DatabaseErrorKind, code: &'static str, message: &'static str) -> Error {
        Error::DatabaseError(kind, Box::new(Reported { code, message }))
    }

    #[test]
    fn a_closed_connection_or_a_server_going_away_is_a_lost_connection() {
        let closed =
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("connection closed".to_owned()));
        assert!(is_connection_lost(&closed));
        let unsent = Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, Box::new("broken pipe".to_owned()));
        assert!(is_connection_lost(&unsent));
        for (code, message) in [
            ("57P01", "terminating connection due to administrator command"),
            ("57P01", "Verbindung wird abgebrochen aufgrund von Befehl des Administrators"),
            ("57P02", "terminating connection because of crash of another server process"),
            ("57P03", "the database system is starting up"),
            ("57P04", "database \"app\" does not exist"),
            ("57P05", "terminating connection due to idle-session timeout"),
        ] {
            assert!(is_connection_lost(&reported(DatabaseErrorKind::Unknown, code, message)), "{code} {message}");
        }
    }

    #[test]
    fn a_failing_statement_is_not_a_lost_connection() {
        assert!(!is_connection_lost(&reported(DatabaseErrorKind::UniqueViolation, "23505", "duplicate key value")));
        assert!(!is_connection_lost(&reported(DatabaseErrorKind::Unknown, "22012", "division by zero")));
        let cancelled = reported(DatabaseErrorKind::Unknown, "57014", "canceling statement due to statement timeout");
        assert!(!is_connection_lost(&cancelled), "a cancelled statement is the query's failure");
        let english_without_code = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_owned()),
        );
        assert!(!is_connection_lost(&english_without_code), "the code decides, not the wording");
        assert!(!is_connection_lost(&Error::NotFound));
    }
}
