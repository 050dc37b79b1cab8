//! Revocation in the auth service reaches the resource service.

use std::time::{Duration, Instant};

use api_client::auth::v1 as auth_pb;
use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use tonic::Code;

use crate::helpers::{StackOptions, TestResult, assert_error, spawn_stack_with};

fn with_cache_ttl(ttl: Duration) -> StackOptions {
    StackOptions { resource: Some(Box::new(move |settings| settings.guard.cache_ttl = ttl)), ..StackOptions::default() }
}

#[tokio::test]
async fn with_the_cache_off_a_logout_is_refused_at_once() -> TestResult {
    let stack = spawn_stack_with(with_cache_ttl(Duration::ZERO)).await;
    let user = stack.user(Role::User).await;
    stack.list(&user, pb::ListResourcesRequest::default()).await?;
    stack.auth_client.clone().logout(auth_pb::LogoutRequest { refresh_token: user.refresh_token.clone() }).await?;
    assert_error(
        stack.list(&user, pb::ListResourcesRequest::default()).await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
    Ok(())
}

#[tokio::test]
async fn with_the_cache_on_a_logout_is_refused_within_the_ttl() -> TestResult {
    let ttl = Duration::from_secs(1);
    let stack = spawn_stack_with(with_cache_ttl(ttl)).await;
    let user = stack.user(Role::User).await;
    stack.list(&user, pb::ListResourcesRequest::default()).await?;
    let logged_out = Instant::now();
    stack.auth_client.clone().logout(auth_pb::LogoutRequest { refresh_token: user.refresh_token.clone() }).await?;
    loop {
        match stack.list(&user, pb::ListResourcesRequest::default()).await {
            Ok(_) => {
                // Served from the cache: allowed only within the TTL (plus scheduling slack).
                assert!(
                    logged_out.elapsed() < ttl + Duration::from_millis(500),
                    "still accepted after {:?}",
                    logged_out.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                return Ok(());
            }
        }
    }
}
