//! The retention of ended sessions: sessions that expired or were revoked more than the
//! retention ago go, with their refresh tokens, and so do the refresh tokens (above all the
//! rotated ones of sessions still in use) that expired that long ago. Without it both tables
//! grow by a row per login and per refresh, for ever. Deleting ended sessions announces nothing
//! to the replicas (migration `announce_only_live_session_deletes`): none of them accepts those.

use std::sync::Arc;
use std::time::Duration;

use shared::retention;

use crate::error::AuthError;
use crate::state::AppState;
use crate::store::sessions::{Ended, delete_ended};

/// Rows deleted per statement: a backlog goes in short transactions rather than one long one.
const BATCH: usize = 1000;

/// Deletes what ended more than `retention` ago; how many sessions and refresh tokens.
pub async fn purge_once(state: &AppState, retention: Duration) -> Result<usize, AuthError> {
    let Some(cutoff) = retention::cutoff(retention) else { return Ok(0) };
    let conn = state.pool.get().await?;
    let batch = i64::try_from(BATCH).unwrap_or(i64::MAX);
    let mut purged = 0;
    loop {
        let tokens_of_ended = delete_ended(&conn, Ended::TokensOfEndedSessions, cutoff, batch).await?;
        // A session goes once its tokens have, so that no statement cascades to the thousands a
        // long-lived session collects.
        let sessions =
            if tokens_of_ended < BATCH { delete_ended(&conn, Ended::Sessions, cutoff, batch).await? } else { 0 };
        let expired_tokens = delete_ended(&conn, Ended::ExpiredTokens, cutoff, batch).await?;
        purged += tokens_of_ended + sessions + expired_tokens;
        if tokens_of_ended < BATCH && sessions < BATCH && expired_tokens < BATCH {
            return Ok(purged);
        }
    }
}

/// Purges every `interval`, forever; failures are logged and retried at the next tick.
pub async fn run_periodically(state: Arc<AppState>, retention: Duration, interval: Duration) {
    retention::purge_periodically("ended sessions and expired refresh tokens", interval, || {
        purge_once(&state, retention)
    })
    .await;
}
