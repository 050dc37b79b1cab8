//! The one server per process that test databases live on, and its migrated template.
//!
//! Both are set up once per process, on threads of their own with runtimes of their own, so
//! they do not depend on the runtime of the test that happened to ask first. A failure is kept
//! and reported to every later caller.

use std::env;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

use crate::cluster::{ClusterOptions, PostgresCluster};
use crate::db_url::with_database;
use crate::migrate;
use crate::names::unique_name;
use crate::own_runtime::{block_on_own_runtime, run_blocking};
use crate::target_dir;

/// How long to retry `CREATE DATABASE` while its template is briefly in use.
const TEMPLATE_BUSY_RETRY: Duration = Duration::from_secs(10);
/// Pause between two such retries.
const TEMPLATE_BUSY_PAUSE: Duration = Duration::from_millis(100);
/// How long to wait for a server that is (re)starting, e.g. recovering after a crash.
const SERVER_STARTING_WAIT: Duration = Duration::from_secs(60);
/// Pause between two connection attempts to a starting server.
const SERVER_STARTING_PAUSE: Duration = Duration::from_millis(250);
/// What PostgreSQL answers while it starts up or recovers and refuses connections for now.
const SERVER_STARTING_ERRORS: &[&str] =
    &["the database system is starting up", "not yet accepting connections", "the database system is in recovery"];

/// The server, or why it could not be set up.
static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();
/// The migrated template's name, or why it could not be made.
static TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();

/// A PostgreSQL server on which tests may create databases.
#[derive(Debug)]
pub(crate) enum TestServer {
    /// The server of `$DATABASE_URL`.
    External {
        /// `$DATABASE_URL`.
        url: String,
    },
    /// A throwaway cluster that lives until the process exits.
    Private(PostgresCluster),
}

impl TestServer {
    /// The URL of `database` on this server.
    pub(crate) fn url(&self, database: &str) -> String {
        match self {
            Self::External { url } => with_database(url, database),
            Self::Private(cluster) => cluster.url(database),
        }
    }

    /// A database that exists, to run `CREATE DATABASE` from.
    fn admin_url(&self) -> String {
        match self {
            Self::External { url } => url.clone(),
            Self::Private(cluster) => cluster.url("postgres"),
        }
    }

    /// Creates database `name`, copied from `template` (PostgreSQL's default when `None`).
    ///
    /// `FILE_COPY` clones the template's files instead of writing them all to the WAL, which
    /// keeps a test run's disk use and I/O low. A failure quotes the private server's log.
    pub(crate) async fn create_database(&self, name: &str, template: Option<&str>) -> anyhow::Result<()> {
        let sql = match template {
            Some(template) => format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY"#),
            None => format!(r#"CREATE DATABASE "{name}" STRATEGY FILE_COPY"#),
        };
        self.run_create(&sql).await.map_err(|error| match self {
            Self::External { .. } => error,
            Self::Private(cluster) => error.context(cluster.log_tail()),
        })
    }

    /// Runs `CREATE DATABASE` statement `sql`, retrying while the template is briefly in use.
    async fn run_create(&self, sql: &str) -> anyhow::Result<()> {
        let mut connection = self.connect_admin().await?;
        let deadline = Instant::now() + TEMPLATE_BUSY_RETRY;
        loop {
            match diesel::sql_query(sql).execute(&mut connection).await {
                Ok(_) => return Ok(()),
                Err(error)
                    if error.to_string().contains("is being accessed by other users") && Instant::now() < deadline =>
                {
                    tokio::time::sleep(TEMPLATE_BUSY_PAUSE).await;
                }
                Err(error) => return Err(error).with_context(|| format!("{sql} failed")),
            }
        }
    }

    /// A connection to [`Self::admin_url`], waiting while the server starts up or recovers.
    async fn connect_admin(&self) -> anyhow::Result<AsyncPgConnection> {
        let admin_url = self.admin_url();
        let deadline = Instant::now() + SERVER_STARTING_WAIT;
        loop {
            match AsyncPgConnection::establish(&admin_url).await {
                Ok(connection) => return Ok(connection),
                Err(error)
                    if SERVER_STARTING_ERRORS.iter().any(|starting| error.to_string().contains(starting))
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(SERVER_STARTING_PAUSE).await;
                }
                Err(error) => return Err(error).with_context(|| format!("cannot connect to {admin_url}")),
            }
        }
    }
}

/// The process's test server, set up on first use.
pub(crate) async fn server() -> anyhow::Result<&'static TestServer> {
    let result = match SERVER.get() {
        Some(result) => result,
        None => run_blocking(|| SERVER.get_or_init(set_up_server)).await?,
    };
    result.as_ref().map_err(|message| anyhow!("{message}"))
}

/// The name of the process's migrated template database, made on first use.
pub(crate) async fn template() -> anyhow::Result<&'static str> {
    let server = server().await?;
    let result = match TEMPLATE.get() {
        Some(result) => result,
        None => {
            run_blocking(move || {
                TEMPLATE.get_or_init(|| {
                    block_on_own_runtime(|| make_template(server))
                        .map_err(|error| format!("cannot prepare the migrated template database: {error:#}"))
                })
            })
            .await?
        }
    };
    result.as_deref().map_err(|message| anyhow!("{message}"))
}

/// `$DATABASE_URL`'s server if set, else a throwaway cluster under the target directory.
fn set_up_server() -> Result<TestServer, String> {
    start_server().map_err(|error| format!("cannot set up the test database server: {error:#}"))
}

/// See [`set_up_server`].
fn start_server() -> anyhow::Result<TestServer> {
    if let Some(url) = env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) {
        return Ok(TestServer::External { url });
    }
    let devkit_dir = target_dir::devkit_dir()?;
    target_dir::remove_stale_test_dirs(&devkit_dir);
    let cluster = PostgresCluster::start(ClusterOptions {
        data_dir: target_dir::own_test_dir(&devkit_dir).join("pgdata"),
        port: None,
        throwaway: true,
    })?;
    Ok(TestServer::Private(cluster))
}

/// Creates a template database and migrates it.
async fn make_template(server: &TestServer) -> anyhow::Result<String> {
    let name = unique_name("tmpl");
    server.create_database(&name, None).await?;
    migrate::run_pending(&server.url(&name)).await.with_context(|| format!("cannot migrate database {name}"))?;
    Ok(name)
}
