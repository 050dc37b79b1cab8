//! A few PostgreSQL connections that all requests share for their single statements.
//!
//! A pooled connection serves one request at a time. Each statement goes out in its own write,
//! wakes its own backend and comes back in its own read, and under load most calls first wait
//! for a connection to be free. tokio-postgres (under diesel-async) pipelines instead: the
//! statements that concurrent requests send over one shared connection leave in one write, the
//! backend executes them back to back without sleeping in between, and their results come back
//! together. Under load that costs PostgreSQL and the service about half the CPU per statement
//! (figures in `docs/performance.md`).
//!
//! A statement waits behind those sent before it on its connection, so only short, indexed
//! statements outside transactions belong here. Writes need more connections than reads: a
//! commit waits for its WAL flush before the backend reads the next statement, so commits are
//! flushed together only across connections, as with a pool of the same size.
//!
//! A connection is opened on first use and replaced on the first use after it is lost (the
//! database restarted, the backend was terminated): the service starts while the database is
//! down and recovers by itself. While the database is unreachable, the requests waiting on one
//! connection attempt all get its error instead of each trying again in turn. A database host
//! that vanishes without closing the socket is noticed by TCP keep-alives and a TCP user timeout
//! within about half a minute (unless the URL sets them), not after the kernel's default 2 hours.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use diesel_async::AsyncPgConnection;

use crate::planning::Planning;
use crate::pool::{DbConnection, DbPool, PoolError};
use crate::secret::Secret;

/// Failure to hand out a connection for a statement: the database is unavailable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The pool had no connection to give (statements through the pool).
    #[error("{0}")]
    Pool(String),
    /// Opening a shared connection took longer than the connect timeout.
    #[error("connecting to the database timed out after {0:?}")]
    Timeout(Duration),
    /// Opening a shared connection failed.
    #[error("connecting to the database: {0}")]
    Failed(String),
}

impl From<PoolError> for ConnectError {
    fn from(error: PoolError) -> Self {
        Self::Pool(error.to_string())
    }
}

/// Connections shared by every concurrent statement, handed out in turn.
pub struct PipelinedConnections {
    connector: Arc<Connector>,
    slots: Box<[Arc<Slot>]>,
    next: AtomicUsize,
}

/// How a connection is opened, and how many attempts failed.
struct Connector {
    config: tokio_postgres::Config,
    /// Set once on every new connection (see [`Planning::setting`]).
    setting: Option<&'static str>,
    connect_timeout: Duration,
    failed_connects: AtomicU64,
}

/// What shared connections are doing, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SharedStats {
    /// Connections open now.
    pub open: usize,
    /// Connections configured.
    pub configured: usize,
    /// Attempts to open one, ever.
    pub connects: u64,
    /// Those that failed.
    pub failed_connects: u64,
}

/// One shared connection: the live one, if any, and the lock that serialises replacing it.
#[derive(Default)]
struct Slot {
    live: RwLock<Option<Arc<Live>>>,
    connecting: tokio::sync::Mutex<Option<ConnectError>>,
    attempts: AtomicU64,
}

/// An open connection and whether its socket has closed since.
struct Live {
    connection: AsyncPgConnection,
    closed: Arc<AtomicBool>,
}

/// A shared connection lent to one request: use it through `&` (diesel-async pipelines the
/// statements sent through shared references). Dropping it returns nothing: others keep using it.
pub struct SharedConnection(Arc<Live>);

impl Deref for SharedConnection {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.0.connection
    }
}

impl std::fmt::Debug for PipelinedConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelinedConnections").field("connections", &self.slots.len()).finish_non_exhaustive()
    }
}

impl PipelinedConnections {
    /// `count` shared connections (at least one) to the database at `database_url`, none
    /// opened yet, their statements planned as `planning` says; opening one gives up after
    /// `connect_timeout`. Fails only on a malformed URL.
    pub fn new(
        database_url: &Secret,
        count: usize,
        connect_timeout: Duration,
        planning: Planning,
    ) -> Result<Self, ConnectError> {
        let config = database_url
            .expose()
            .parse::<tokio_postgres::Config>()
            .map_err(|error| ConnectError::Failed(format!("the database URL is not valid: {error}")))?;
        let connector = Arc::new(Connector {
            config: with_liveness_checks(config),
            setting: planning.setting(),
            connect_timeout,
            failed_connects: AtomicU64::new(0),
        });
        let slots = (0..count.max(1)).map(|_| Arc::new(Slot::default())).collect();
        Ok(Self { connector, slots, next: AtomicUsize::new(0) })
    }

    /// The next shared connection in turn, opened (again) if it is not open.
    pub async fn get(&self) -> Result<SharedConnection, ConnectError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(live) = slot.current() {
            return Ok(SharedConnection(live));
        }
        // On a task of its own: a caller cancelled meanwhile (its deadline passed) does not
        // abandon the attempt half-way, and the connection is kept for the next callers.
        let opening = tokio::spawn(Arc::clone(slot).open(Arc::clone(&self.connector)));
        opening.await.unwrap_or_else(|failure| Err(ConnectError::Failed(failure.to_string())))
    }

    /// Open connections and connect attempts so far.
    pub fn stats(&self) -> SharedStats {
        SharedStats {
            open: self.slots.iter().filter(|slot| slot.current().is_some()).count(),
            configured: self.slots.len(),
            connects: self.slots.iter().map(|slot| slot.attempts.load(Ordering::Relaxed)).sum(),
            failed_connects: self.connector.failed_connects.load(Ordering::Relaxed),
        }
    }
}

/// Keep-alives after 10 s idle (then every 5 s, 3 probes) and a 20 s TCP user timeout, unless
/// the URL sets them: a vanished host is then noticed in about half a minute.
fn with_liveness_checks(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    const KERNEL_DEFAULT_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
    if config.get_keepalives_idle() == KERNEL_DEFAULT_IDLE {
        config.keepalives_idle(Duration::from_secs(10));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(5));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(20));
    }
    config
}

impl Connector {
    /// Opens a connection and drives it on its own task, which marks it closed when it ends.
    async fn connect(&self) -> Result<Live, ConnectError> {
        let connecting = async {
            let (client, connection) = self
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|error| ConnectError::Failed(error.to_string()))?;
            let closed = Arc::new(AtomicBool::new(false));
            let closed_when_done = Arc::clone(&closed);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(error = %error, "shared database connection lost");
                }
                closed_when_done.store(true, Ordering::Release);
            });
            if let Some(setting) = self.setting {
                let set = format!("SET {setting}");
                client.batch_execute(&set).await.map_err(|error| ConnectError::Failed(error.to_string()))?;
            }
            let connection =
                AsyncPgConnection::try_from(client).await.map_err(|error| ConnectError::Failed(error.to_string()))?;
            Ok(Live { connection, closed })
        };
        let outcome = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .unwrap_or(Err(ConnectError::Timeout(self.connect_timeout)));
        if outcome.is_err() {
            self.failed_connects.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }
}

impl Slot {
    /// The open connection, unless there is none or its socket has closed.
    fn current(&self) -> Option<Arc<Live>> {
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.as_ref().filter(|live| !live.closed.load(Ordering::Acquire)).cloned()
    }

    /// Opens this slot's connection, unless someone else did or an attempt failed while this
    /// one waited its turn (its error is shared rather than one more connect timeout queued).
    async fn open(self: Arc<Self>, connector: Arc<Connector>) -> Result<SharedConnection, ConnectError> {
        let attempts_before = self.attempts.load(Ordering::Acquire);
        let mut last_error = self.connecting.lock().await;
        if let Some(live) = self.current() {
            return Ok(SharedConnection(live));
        }
        if self.attempts.load(Ordering::Acquire) != attempts_before
            && let Some(error) = last_error.clone()
        {
            return Err(error);
        }
        let outcome = connector.connect().await;
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok(live) => {
                let live = Arc::new(live);
                *self.live.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&live));
                *last_error = None;
                Ok(SharedConnection(live))
            }
            Err(error) => {
                *last_error = Some(error.clone());
                Err(error)
            }
        }
    }
}

/// Where single statements get their connection: shared pipelined connections, or the pool
/// when there are none (`count` 0, e.g. behind a pooler in transaction mode).
#[derive(Debug)]
pub enum StatementConnections {
    /// Statements share these.
    Pipelined(PipelinedConnections),
    /// Each statement checks out a pool connection.
    Pool(DbPool),
}

/// A connection for one statement.
pub enum StatementConnection<'a> {
    /// Shared with other statements.
    Shared(SharedConnection),
    /// Checked out of the pool for this statement alone (boxed: a pooled connection is large).
    Pooled(Box<DbConnection<'a>>),
}

impl Deref for StatementConnection<'_> {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        match self {
            Self::Shared(shared) => shared,
            Self::Pooled(pooled) => pooled,
        }
    }
}

impl StatementConnections {
    /// `count` shared connections to `database_url` (see [`PipelinedConnections::new`]), or
    /// statements through `pool` when `count` is 0 (`planning` then does not apply: the pool's
    /// connections keep their own). Fails only on a malformed URL.
    pub fn new(
        database_url: &Secret,
        count: usize,
        connect_timeout: Duration,
        planning: Planning,
        pool: DbPool,
    ) -> Result<Self, ConnectError> {
        if count == 0 {
            Ok(Self::Pool(pool))
        } else {
            Ok(Self::Pipelined(PipelinedConnections::new(database_url, count, connect_timeout, planning)?))
        }
    }

    /// The shared connections' figures; `None` when statements use the pool.
    pub fn stats(&self) -> Option<SharedStats> {
        match self {
            Self::Pipelined(shared) => Some(shared.stats()),
            Self::Pool(_) => None,
        }
    }

    /// A connection for one statement.
    pub async fn get(&self) -> Result<StatementConnection<'_>, ConnectError> {
        match self {
            Self::Pipelined(shared) => Ok(StatementConnection::Shared(shared.get().await?)),
            Self::Pool(pool) => Ok(StatementConnection::Pooled(Box::new(pool.get().await?))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::with_liveness_checks;

    #[test]
    fn a_vanished_host_is_noticed_in_seconds_unless_the_url_says_otherwise() -> Result<(), tokio_postgres::Error> {
        let plain = with_liveness_checks("postgres://app@db/app".parse()?);
        assert_eq!(plain.get_keepalives_idle(), Duration::from_secs(10));
        assert_eq!(plain.get_tcp_user_timeout(), Some(&Duration::from_secs(20)));
        assert_eq!(
            (plain.get_keepalives_interval(), plain.get_keepalives_retries()),
            (Some(Duration::from_secs(5)), Some(3))
        );

        let chosen = with_liveness_checks("postgres://app@db/app?keepalives_idle=60&tcp_user_timeout=90".parse()?);
        assert_eq!(chosen.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(chosen.get_tcp_user_timeout(), Some(&Duration::from_secs(90)));
        Ok(())
    }
}
