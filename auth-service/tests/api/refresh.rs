use std::time::Duration;

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::schema::refresh_tokens;
use tonic::Code;

use crate::helpers::{TestApp, TestResult, assert_error, id, spawn_app, spawn_app_with};

/// Refresh tokens of a session that have not been rotated.
async fn live_refresh_tokens(app: &TestApp, session_id: i64) -> Result<i64, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = app.state.pool.get().await?;
    Ok(refresh_tokens::table
        .filter(refresh_tokens::session_id.eq(id(session_id)))
        .filter(refresh_tokens::rotated_at.is_null())
        .count()
        .get_result(&mut conn)
        .await?)
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token_and_issues_a_working_access_token() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let next = app.refresh(&user.tokens.refresh_token).await?;
    assert_ne!(next.refresh_token, user.tokens.refresh_token);
    assert_eq!(next.session_id, user.tokens.session_id);
    assert_eq!(app.validate(&next.access_token).await?.user_id, user.user.id);
    let third = app.refresh(&next.refresh_token).await?;
    assert_ne!(third.refresh_token, next.refresh_token);
    assert_eq!(live_refresh_tokens(&app, user.tokens.session_id).await?, 1);
    Ok(())
}

#[tokio::test]
async fn only_the_digest_of_a_refresh_token_is_stored() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut conn = app.state.pool.get().await?;
    let stored: Vec<String> = refresh_tokens::table.select(refresh_tokens::token).load(&mut conn).await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 64);
    assert!(stored[0].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(stored[0], user.tokens.refresh_token);
    Ok(())
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() -> TestResult {
    let app = spawn_app_with(|settings| settings.tokens.reuse_grace = Duration::ZERO).await;
    let user = app.new_user().await;
    let next = app.refresh(&user.tokens.refresh_token).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
    // The legitimate holder's tokens die with the session too.
    assert_error(app.refresh(&next.refresh_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    assert_error(app.validate(&next.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    assert_error(app.validate(&user.tokens.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    Ok(())
}

#[tokio::test]
async fn a_retried_refresh_within_the_grace_interval_gets_the_current_token_back() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = app.refresh(&user.tokens.refresh_token).await?;
    let retried = app.refresh(&user.tokens.refresh_token).await?;
    assert_eq!(retried.refresh_token, first.refresh_token);
    app.validate(&retried.access_token).await?;
    // Even after the client moved on once more, the old token still finds the current one.
    let second = app.refresh(&first.refresh_token).await?;
    let again = app.refresh(&user.tokens.refresh_token).await?;
    assert_eq!(again.refresh_token, second.refresh_token);
    assert_eq!(live_refresh_tokens(&app, user.tokens.session_id).await?, 1);
    Ok(())
}

#[tokio::test]
async fn fifty_concurrent_refreshes_of_one_token_all_succeed_and_leave_one_live_token() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let attempts = (0..50).map(|_| app.refresh(&user.tokens.refresh_token));
    let results = futures::future::join_all(attempts).await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    let handed_out: std::collections::HashSet<_> =
        results.iter().filter_map(|r| r.as_ref().ok()).map(|t| t.refresh_token.clone()).collect();
    assert_eq!(handed_out.len(), 1, "every client must end up with the same current token");
    assert_eq!(live_refresh_tokens(&app, user.tokens.session_id).await?, 1);
    let current = handed_out.into_iter().next().ok_or("no token")?;
    app.refresh(&current).await?;
    Ok(())
}

#[tokio::test]
async fn after_the_grace_interval_a_rotated_token_is_reuse() -> TestResult {
    let app = spawn_app_with(|settings| settings.tokens.reuse_grace = Duration::from_millis(300)).await;
    let user = app.new_user().await;
    app.refresh(&user.tokens.refresh_token).await?;
    app.refresh(&user.tokens.refresh_token).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::Unauthenticated, "REFRESH_TOKEN_REUSED");
    Ok(())
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() -> TestResult {
    let app = spawn_app_with(|settings| settings.tokens.refresh_token_lifetime = Duration::from_secs(1)).await;
    let user = app.new_user().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::Unauthenticated, "REFRESH_TOKEN_EXPIRED");
    Ok(())
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_are_invalid() -> TestResult {
    let app = spawn_app().await;
    assert_error(app.refresh("").await, Code::Unauthenticated, "INVALID_REFRESH_TOKEN");
    assert_error(app.refresh("not a token").await, Code::Unauthenticated, "INVALID_REFRESH_TOKEN");
    let unknown = format!("rt_{}", "A".repeat(43));
    assert_error(app.refresh(&unknown).await, Code::Unauthenticated, "INVALID_REFRESH_TOKEN");
    Ok(())
}

#[tokio::test]
async fn a_deactivated_user_cannot_refresh() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let changes = auth_service::store::users::UserChanges { is_active: Some(false), ..Default::default() };
    auth_service::store::users::update(&*app.state.pool.get().await?, id(user.user.id), &changes).await?;
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::PermissionDenied, "ACCOUNT_DISABLED");
    Ok(())
}
