//! Databases for tests.

use anyhow::Context as _;

use crate::names::unique_name;
use crate::test_server::{server, template};

/// A fresh database for one test, cloned from a migrated template.
///
/// It is not dropped afterwards: a throwaway test cluster is wiped by the next run, but on a
/// `$DATABASE_URL` server test databases accumulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDatabase {
    /// `postgres://…/<name>`, ready to connect to.
    pub url: String,
    /// The database name (`test_…`).
    pub name: String,
}

/// A new database with every migration applied, for one test.
///
/// On the first call in a process, uses the server of `$DATABASE_URL` if set (it must allow
/// `CREATE DATABASE`), else starts a throwaway cluster under `<target>/devkit/test-<pid>` that
/// lives until the process exits; then creates and migrates a template database once. Every call
/// then clones that template. Safe to call from many tests, threads and runtimes at once; if the
/// set-up failed, every call returns its error.
pub async fn test_database() -> anyhow::Result<TestDatabase> {
    let template = template().await?;
    create(Some(template)).await
}

/// A new empty, unmigrated database on the same server as [`test_database`] (for migration
/// tests).
pub async fn empty_database() -> anyhow::Result<TestDatabase> {
    create(None).await
}

/// The URL of `database` on the server [`test_database`] uses, e.g. `server_url("postgres")`
/// for the maintenance database.
pub async fn server_url(database: &str) -> anyhow::Result<String> {
    Ok(server().await?.url(database))
}

/// Creates a uniquely named database from `template` (PostgreSQL's default when `None`).
async fn create(template: Option<&str>) -> anyhow::Result<TestDatabase> {
    let server = server().await?;
    let name = unique_name("test");
    server.create_database(&name, template).await.with_context(|| format!("cannot create test database {name}"))?;
    Ok(TestDatabase { url: server.url(&name), name })
}
