//! Brings a database's schema up to date.

use anyhow::Context as _;

/// Runs the workspace's pending migrations on the database at `url`; returns their names.
pub(crate) async fn run_pending(url: &str) -> anyhow::Result<Vec<String>> {
    shared::migrate::run_pending(url).await.context("running the migrations failed")
}
