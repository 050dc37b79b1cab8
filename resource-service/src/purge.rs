//! The retention of soft-deleted resources: the service purges them itself.

use std::sync::Arc;
use std::time::Duration;

use shared::retention;

use crate::error::ResourceError;
use crate::startup::AppState;
use crate::store;

/// Deletes for good what was soft-deleted more than `retention` ago; how many rows.
pub async fn purge_once(state: &AppState, retention: Duration) -> Result<usize, ResourceError> {
    let Some(cutoff) = retention::cutoff(retention) else { return Ok(0) };
    Ok(store::purge_deleted_before(&*state.pool.get().await?, cutoff).await?)
}

/// Purges every `interval`, forever; failures are logged and retried at the next tick.
pub async fn run_periodically(state: Arc<AppState>, retention: Duration, interval: Duration) {
    retention::purge_periodically("soft-deleted resources", interval, || purge_once(&state, retention)).await;
}
