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

#[tokio::test(flavor = "multi_thread")]
async fn during_the_second_rollout_both_kinds_of_replica_accept_each_others_tokens() -> TestResult {
    let first_step = spawn_app().await;
    let (old, new) = (first_step.settings.tokens.signing_secret.clone(), ephemeral_secret());
    // After the first rollout: the old secret signs, the new one is accepted.
    let mut settings = first_step.settings.clone();
    settings.tokens.previous_signing_secrets = vec![new.clone()];
    let not_yet_swapped = spawn_app_on(settings.clone()).await;
    // The second rollout under way: some replicas already sign with the new secret.
    settings.tokens.signing_secret = new;
    settings.tokens.previous_signing_secrets = vec![old];
    let swapped = spawn_app_on(settings).await;

    let (from_old, from_new) = (not_yet_swapped.new_user().await, swapped.new_user().await);
    for replica in [&not_yet_swapped, &swapped] {
        replica.validate(&from_old.tokens.access_token).await?;
        replica.validate(&from_new.tokens.access_token).await?;
    }
    // A replica that never heard of the new secret is the one that would refuse.
    assert_error(first_step.validate(&from_new.tokens.access_token).await, Code::Unauthenticated, "INVALID_TOKEN");
    Ok(())
}
