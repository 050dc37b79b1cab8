//! Token checks are served from memory, and that memory stays coherent: changes made through
//! another replica or directly in SQL are seen within moments, and memory is not used while
//! changes might go unheard.

use std::time::{Duration, Instant};

use api_client::auth::v1 as pb;
use shared::pool::PoolSettings;
use tonic::Code;

use crate::helpers::{TestApp, TestResult, assert_error, id, listen, spawn_app, spawn_app_on, spawn_app_with};

/// How long a change may take to reach another replica in these tests (it takes milliseconds).
const PROPAGATION: Duration = Duration::from_secs(5);

/// Waits until `app` hears changes (its listener is connected).
async fn until_listening(app: &TestApp) {
    let deadline = Instant::now() + PROPAGATION;
    while !app.state.live_sessions.is_trusted() {
        assert!(Instant::now() < deadline, "the change listener did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Validates `token` on `app` until it fails (or the propagation time is over); the failure.
async fn until_refused(app: &TestApp, token: &str) -> Result<pb::ValidateTokenResponse, tonic::Status> {
    let deadline = Instant::now() + PROPAGATION;
    loop {
        let outcome = app.validate(token).await;
        if outcome.is_err() || Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two replicas on one database with one signing key, both hearing changes.
async fn two_replicas() -> (TestApp, TestApp) {
    let first = spawn_app().await;
    let second = spawn_app_on(first.settings.clone()).await;
    until_listening(&first).await;
    until_listening(&second).await;
    (first, second)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_through_one_replica_is_refused_by_the_other() -> TestResult {
    let (first, second) = two_replicas().await;
    let user = first.new_user().await;
    // Twice: the second check is answered from the second replica's memory.
    second.validate(&user.tokens.access_token).await?;
    second.validate(&user.tokens.access_token).await?;
    let logout = pb::LogoutRequest { refresh_token: user.tokens.refresh_token.clone() };
    first.auth.clone().logout(logout).await?;
    assert_error(until_refused(&second, &user.tokens.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_in_sql_reaches_every_replica() -> TestResult {
    let (first, second) = two_replicas().await;
    let user = first.new_user().await;
    let token = &user.tokens.access_token;
    for replica in [&first, &second] {
        assert_eq!(replica.validate(token).await?.role(), pb::Role::User);
    }
    first.run_sql(&format!("UPDATE users SET role = 'guest' WHERE id = {}", user.user.id)).await?;
    for replica in [&first, &second] {
        let deadline = Instant::now() + PROPAGATION;
        while replica.validate(token).await?.role() != pb::Role::Guest {
            assert!(Instant::now() < deadline, "the new role was not seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    first.run_sql(&format!("UPDATE users SET is_active = false WHERE id = {}", user.user.id)).await?;
    for replica in [&first, &second] {
        assert_error(until_refused(replica, token).await, Code::PermissionDenied, "ACCOUNT_DISABLED");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_answered_from_memory_needs_no_database_connection() -> TestResult {
    let pool = PoolSettings { max_size: 1, connection_timeout: Duration::from_millis(300) };
    let app = spawn_app_with(|settings| settings.pool = pool).await;
    until_listening(&app).await;
    let held = app.new_user().await;
    let unseen = app.new_user().await;
    app.validate(&held.tokens.access_token).await?;

    // Take the only connection: a check that needs a query now waits out the pool and fails.
    let busy = app.state.pool.get().await?;
    let answer = app.validate(&held.tokens.access_token).await?;
    assert_eq!(answer.user_id, held.user.id);
    assert_error(app.validate(&unseen.tokens.access_token).await, Code::Unavailable, "DATABASE_UNAVAILABLE");
    drop(busy);
    app.validate(&unseen.tokens.access_token).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn after_losing_its_listener_a_replica_misses_no_change_and_listens_again() -> TestResult {
    let app = spawn_app().await;
    until_listening(&app).await;
    let user = app.new_user().await;
    let token = &user.tokens.access_token;
    app.validate(token).await?;

    // Cut the listening connection, then change the user while nobody listens.
    app.run_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'auth-service change listener' AND datname = current_database()",
    )
    .await?;
    app.run_sql(&format!("UPDATE users SET is_active = false WHERE id = {}", user.user.id)).await?;
    assert_error(until_refused(&app, token).await, Code::PermissionDenied, "ACCOUNT_DISABLED");

    until_listening(&app).await;
    app.run_sql(&format!("UPDATE users SET is_active = true WHERE id = {}", user.user.id)).await?;
    let deadline = Instant::now() + PROPAGATION;
    while app.validate(token).await.is_err() {
        assert!(Instant::now() < deadline, "the reactivation was not seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_session_expiry_is_not_announced_an_earlier_one_is() -> TestResult {
    let app = spawn_app().await;
    let (refreshed, extended, shortened) = (app.new_user().await, app.new_user().await, app.new_user().await);
    let mut announcements = listen(&app.database_url, "auth_changes").await?;

    // A refresh slides its session's expiry later, as does this update by hand; neither is
    // announced. Bringing an expiry earlier is.
    app.refresh(&refreshed.tokens.refresh_token).await?;
    let later =
        format!("UPDATE sessions SET expires_at = expires_at + interval '1 day' WHERE user_id = {}", extended.user.id);
    app.run_sql(&later).await?;
    let earlier =
        format!("UPDATE sessions SET expires_at = now() + interval '1 minute' WHERE user_id = {}", shortened.user.id);
    app.run_sql(&earlier).await?;

    let first = tokio::time::timeout(PROPAGATION, announcements.payloads.recv()).await?;
    assert_eq!(first, Some(shortened.user.id.to_string()), "only the earlier expiry is announced");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_extended_elsewhere_is_read_again_once_its_held_expiry_passes() -> TestResult {
    let (first, second) = two_replicas().await;
    let user = first.new_user().await;
    let token = &user.tokens.access_token;
    let ends_soon =
        format!("UPDATE sessions SET expires_at = now() + interval '2 seconds' WHERE user_id = {}", user.user.id);
    first.run_sql(&ends_soon).await?;
    // The second replica reads the session as it now is, and holds it.
    let deadline = Instant::now() + PROPAGATION;
    let session_id = loop {
        let session_id = id(second.validate(token).await?.session_id);
        let held = second.state.live_sessions.get(session_id, id(user.user.id));
        if held.is_some_and(|(session, _)| session.expires_at <= chrono::Utc::now() + chrono::TimeDelta::seconds(2)) {
            break session_id;
        }
        assert!(Instant::now() < deadline, "the second replica never held the shortened session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Extended through the first replica's database, unannounced; the held copy expires.
    let extended =
        format!("UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE user_id = {}", user.user.id);
    first.run_sql(&extended).await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (held, _) =
        second.state.live_sessions.get(session_id, id(user.user.id)).expect("still held: nothing was announced");
    assert!(held.expires_at <= chrono::Utc::now(), "the held copy has expired");

    let answer = second.validate(token).await?;
    assert_eq!(answer.user_id, user.user.id, "the database, not the expired copy, decides");
    let (reread, _) = second.state.live_sessions.get(session_id, id(user.user.id)).expect("held again");
    assert!(reread.expires_at > chrono::Utc::now() + chrono::TimeDelta::minutes(59), "the extension is held now");
    Ok(())
}
