//! The retention of ended sessions: what expired or was revoked longer ago than the retention
//! is deleted, with its refresh tokens; sessions in use and recently ended ones stay.

use std::time::{Duration, Instant};

use auth_service::purge;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::schema::{refresh_tokens, sessions};

use crate::helpers::{TestApp, TestResult, id, listen, spawn_app, spawn_app_with};

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

/// Sessions and refresh tokens of a user: (sessions, tokens).
async fn rows_of(app: &TestApp, user_id: i64) -> Result<(i64, i64), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = app.state.pool.get().await?;
    let sessions = sessions::table.filter(sessions::user_id.eq(id(user_id))).count().get_result(&mut conn).await?;
    let tokens =
        refresh_tokens::table.filter(refresh_tokens::user_id.eq(id(user_id))).count().get_result(&mut conn).await?;
    Ok((sessions, tokens))
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_and_tokens_past_the_retention_are_purged_and_the_rest_stays() -> TestResult {
    let app = spawn_app().await;
    let (expired, expired_lately, revoked_long_ago, revoked_lately, in_use) =
        (app.new_user().await, app.new_user().await, app.new_user().await, app.new_user().await, app.new_user().await);
    for (user, age) in [(&expired, "31 days"), (&expired_lately, "1 day")] {
        for table in ["sessions", "refresh_tokens"] {
            let sql =
                format!("UPDATE {table} SET expires_at = now() - interval '{age}' WHERE user_id = {}", user.user.id);
            app.run_sql(&sql).await?;
        }
    }
    app.run_sql(&format!(
        "UPDATE sessions SET revoked_at = now() - interval '31 days' WHERE user_id = {}",
        revoked_long_ago.user.id
    ))
    .await?;
    app.run_sql(&format!(
        "UPDATE sessions SET revoked_at = now() - interval '1 day' WHERE user_id = {}",
        revoked_lately.user.id
    ))
    .await?;
    // A session in use: its first token was rotated, and that token expired long ago.
    let current = app.refresh(&in_use.tokens.refresh_token).await?;
    let rotated = app
        .run_sql(&format!(
            "UPDATE refresh_tokens SET expires_at = now() - interval '31 days' \
             WHERE user_id = {} AND rotated_at IS NOT NULL",
            in_use.user.id
        ))
        .await?;
    assert_eq!(rotated, 1);

    // Two sessions with a token each, and the one rotated token.
    assert_eq!(purge::purge_once(&app.state, THIRTY_DAYS).await?, 5);
    assert_eq!(rows_of(&app, expired.user.id).await?, (0, 0));
    assert_eq!(rows_of(&app, expired_lately.user.id).await?, (1, 1), "expired a day ago: kept");
    assert_eq!(rows_of(&app, revoked_long_ago.user.id).await?, (0, 0));
    assert_eq!(rows_of(&app, revoked_lately.user.id).await?, (1, 1), "revoked a day ago: kept");
    assert_eq!(rows_of(&app, in_use.user.id).await?, (1, 1), "only the expired rotated token went");
    app.refresh(&current.refresh_token).await?;
    assert_eq!(purge::purge_once(&app.state, THIRTY_DAYS).await?, 0, "nothing is left to purge");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_larger_than_one_batch_goes_in_one_purge() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let inserted = app
        .run_sql(&format!(
            "INSERT INTO sessions (user_id, expires_at) \
             SELECT {}, now() - interval '40 days' FROM generate_series(1, 2500)",
            user.user.id
        ))
        .await?;
    assert_eq!(inserted, 2500);
    assert_eq!(purge::purge_once(&app.state, THIRTY_DAYS).await?, 2500);
    assert_eq!(rows_of(&app, user.user.id).await?, (1, 1), "the user's login session stays");
    app.validate(&user.tokens.access_token).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_purging_at_once_share_the_backlog() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.run_sql(&format!(
        "INSERT INTO sessions (user_id, expires_at) SELECT {}, now() - interval '40 days' FROM generate_series(1, 5000)",
        user.user.id
    ))
    .await?;
    let (first, second) =
        tokio::join!(purge::purge_once(&app.state, THIRTY_DAYS), purge::purge_once(&app.state, THIRTY_DAYS));
    assert_eq!(first? + second?, 5000, "every row deleted once, none twice");
    assert_eq!(rows_of(&app, user.user.id).await?, (1, 1), "nothing of the backlog is left, the live session is");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_of_tokens_goes_in_batches_within_one_purge() -> TestResult {
    let app = spawn_app().await;
    let (in_use, ended) = (app.new_user().await, app.new_user().await);
    // A session in use with 2,500 expired rotated tokens, and an ended one with 2,500 tokens.
    for (user, session_age) in [(&in_use, None), (&ended, Some("31 days"))] {
        let inserted = app
            .run_sql(&format!(
                "INSERT INTO refresh_tokens (user_id, session_id, token, expires_at, rotated_at) \
                 SELECT {0}, (SELECT id FROM sessions WHERE user_id = {0}), 'backlog-{0}-' || g, \
                 now() - interval '40 days', now() - interval '70 days' FROM generate_series(1, 2500) AS g",
                user.user.id
            ))
            .await?;
        assert_eq!(inserted, 2500);
        if let Some(age) = session_age {
            app.run_sql(&format!(
                "UPDATE sessions SET revoked_at = now() - interval '{age}' WHERE user_id = {}",
                user.user.id
            ))
            .await?;
        }
    }
    // The ended session's 2,501 tokens and itself, and the session in use's 2,500.
    assert_eq!(purge::purge_once(&app.state, THIRTY_DAYS).await?, 2501 + 1 + 2500);
    assert_eq!(rows_of(&app, ended.user.id).await?, (0, 0));
    assert_eq!(rows_of(&app, in_use.user.id).await?, (1, 1));
    app.refresh(&in_use.tokens.refresh_token).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_deletion_of_a_live_session_is_announced() -> TestResult {
    let app = spawn_app().await;
    let (revoked, expired, live) = (app.new_user().await, app.new_user().await, app.new_user().await);
    for (user, change) in [(&revoked, "revoked_at"), (&expired, "expires_at")] {
        let sql = format!("UPDATE sessions SET {change} = now() - interval '31 days' WHERE user_id = {}", user.user.id);
        app.run_sql(&sql).await?;
    }
    let mut announcements = listen(&app.database_url, "auth_changes").await?;
    // Two sessions and their tokens.
    assert_eq!(purge::purge_once(&app.state, THIRTY_DAYS).await?, 4);
    app.run_sql(&format!("DELETE FROM sessions WHERE user_id = {}", live.user.id)).await?;
    let first = tokio::time::timeout(Duration::from_secs(5), announcements.payloads.recv()).await?;
    assert_eq!(first, Some(live.user.id.to_string()), "the purge announced nothing; the live session's deletion was");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_purges_on_its_own_schedule() -> TestResult {
    let app = spawn_app_with(|settings| {
        settings.session_retention = Duration::from_secs(3600);
        settings.purge_interval = Duration::from_millis(100);
    })
    .await;
    let (ended, in_use) = (app.new_user().await, app.new_user().await);
    app.run_sql(&format!(
        "UPDATE sessions SET revoked_at = now() - interval '2 hours' WHERE user_id = {}",
        ended.user.id
    ))
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows_of(&app, ended.user.id).await? != (0, 0) {
        assert!(Instant::now() < deadline, "the ended session was never purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows_of(&app, in_use.user.id).await?, (1, 1), "a session in use is never purged");
    app.validate(&in_use.tokens.access_token).await?;
    Ok(())
}
