//! Token checks are served from memory, and that memory stays coherent: changes made through
//! another replica or directly in SQL are seen within moments, and memory is not used while
//! changes might go unheard.

use std::time::{Duration, Instant};

use api_client::auth::v1 as pb;
use shared::pool::PoolSettings;
use tonic::Code;

use crate::helpers::{TestApp, TestResult, assert_error, spawn_app, spawn_app_on, spawn_app_with};

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
