//! Rotating the signing secret: replicas start with a new secret and the old one as their
//! previous secret, and nobody is logged out.

use auth_service::settings::{Settings, ephemeral_secret};
use tonic::Code;

use crate::helpers::{TestApp, TestResult, assert_error, spawn_app, spawn_app_on};

/// A replica on `before`'s database whose signing secret replaced `before`'s; with
/// `keep_previous`, it still accepts what `before` signed.
async fn rotated_replica(before: &TestApp, keep_previous: bool) -> TestApp {
    let mut settings: Settings = before.settings.clone();
    if keep_previous {
        settings.tokens.previous_signing_secrets = vec![settings.tokens.signing_secret.clone()];
    }
    settings.tokens.signing_secret = ephemeral_secret();
    spawn_app_on(settings).await
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_rotation_earlier_tokens_still_work_and_new_ones_carry_the_new_secret() -> TestResult {
    let before = spawn_app().await;
    let user = before.new_user().await;
    // A refresh just before the rotation, whose answer the client never received.
    let current = before.refresh(&user.tokens.refresh_token).await?;

    let after = rotated_replica(&before, true).await;
    after.validate(&user.tokens.access_token).await?;
    let retried = after.refresh(&user.tokens.refresh_token).await?;
    assert_eq!(
        retried.refresh_token, current.refresh_token,
        "the retry within the grace interval gets the current token"
    );

    let fresh = after.refresh(&current.refresh_token).await?;
    after.validate(&fresh.access_token).await?;
    // Signed with the new secret: a replica that has only the old one refuses it.
    assert_error(before.validate(&fresh.access_token).await, Code::Unauthenticated, "INVALID_TOKEN");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_previous_secret_earlier_tokens_are_refused() -> TestResult {
    let before = spawn_app().await;
    let user = before.new_user().await;
    let after = rotated_replica(&before, false).await;
    assert_error(after.validate(&user.tokens.access_token).await, Code::Unauthenticated, "INVALID_TOKEN");
    // Refresh tokens are looked up by digest, not signed: the session itself goes on.
    let next = after.refresh(&user.tokens.refresh_token).await?;
    after.validate(&next.access_token).await?;
    Ok(())
}
