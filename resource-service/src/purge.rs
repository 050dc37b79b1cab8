//! The retention of soft-deleted resources: the service purges them itself.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use crate::error::ResourceError;
use crate::startup::AppState;
use crate::store;

/// Deletes for good what was soft-deleted more than `retention` ago; how many rows.
pub async fn purge_once(state: &AppState, retention: Duration) -> Result<usize, ResourceError> {
    let retention = TimeDelta::from_std(retention).map_err(|error| ResourceError::Unexpected(error.into()))?;
    let cutoff = Utc::now() - retention;
    Ok(store::purge_deleted_before(&*state.pool.get().await?, cutoff).await?)
}

/// Purges every `interval`, forever; failures are logged and retried at the next tick.
pub async fn run_periodically(state: Arc<AppState>, retention: Duration, interval: Duration) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_once(&state, retention).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged soft-deleted resources past their retention"),
            Err(error) => tracing::warn!(%error, "purging soft-deleted resources failed; retrying later"),
        }
    }
}
