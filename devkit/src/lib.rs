//! Private PostgreSQL clusters and per-test databases for local runs and tests.
//!
//! * [`PostgresCluster`] starts a PostgreSQL server of its own (used by `cargo xtask dev`, whose
//!   data lives under `target/`, and by the tests).
//! * [`test_database`] gives each test a fresh database cloned from a migrated template, so tests
//!   can run in parallel; [`empty_database`] gives an unmigrated one and [`server_url`] reaches any
//!   database on the same server.
//!
//! Servers run as the current user, or as `postgres` when the current user is root. On Linux
//! they are tied to the life of the process that starts them: they shut down when it exits,
//! however it exits. [`spawn_tied_to_process`] ties any other child the same way (the
//! benchmark's servers).

mod binaries;
mod cluster;
mod db_url;
pub mod grpc;
mod migrate;
mod names;
mod own_runtime;
pub mod pki;
mod port;
mod ready;
mod server_log;
mod server_user;
mod spawner;
mod sys;
mod target_dir;
mod test_db;
mod test_server;

pub use cluster::{ClusterOptions, PostgresCluster};
pub use spawner::spawn_tied_to_process;
pub use target_dir::devkit_dir;
pub use test_db::{TestDatabase, empty_database, server_url, test_database};

/// A directory for extra clusters of this process (say, one a test stops and restarts); it lives
/// beside this process's test cluster and is cleaned up with it by a later run.
pub fn scratch_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = target_dir::own_test_dir(&devkit_dir()?).join("scratch").join(name);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(dir)
}
