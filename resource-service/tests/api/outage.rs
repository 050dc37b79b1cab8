//! The auth service or the database going away and coming back.

use std::time::Duration;

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use devkit::{ClusterOptions, PostgresCluster};
use tonic::Code;

use crate::helpers::{StackOptions, TestResult, assert_error, spawn_stack_with, unique};

#[tokio::test(flavor = "multi_thread")]
async fn with_the_auth_service_down_calls_are_unavailable_and_recover_when_it_returns() -> TestResult {
    let mut stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| settings.guard.cache_ttl = Duration::ZERO)),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    stack.create(&user, "before", None).await?;

    stack.auth.stop().await;
    let during =
        tokio::time::timeout(Duration::from_secs(5), stack.list(&user, pb::ListResourcesRequest::default())).await?;
    let status = assert_error(during, Code::Unavailable, "AUTH_UNAVAILABLE");
    assert!(status.message().contains("auth service"), "{}", status.message());

    stack.restart_auth().await;
    let mut recovered = false;
    for _ in 0..50 {
        if stack.list(&user, pb::ListResourcesRequest::default()).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the resource service did not recover after the auth service came back");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_database_down_calls_are_unavailable_and_recover_when_it_returns() -> TestResult {
    let data_dir = devkit::scratch_dir(&format!("resource-outage-{}", unique()))?;
    let options = ClusterOptions { data_dir: data_dir.clone(), port: None, throwaway: true };
    let cluster = tokio::task::spawn_blocking(move || PostgresCluster::start(options)).await??;
    let port = cluster.port();
    let url = cluster.url("postgres");
    shared::migrate::run_pending(&url).await?;
    // A long validation cache keeps the auth service out of the way: the resource service's
    // own database access is what is tested.
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| settings.guard.cache_ttl = Duration::from_secs(120))),
        database_url: Some(url),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    let created = stack.create(&user, "survives", None).await?;
    // The shared read connection is open when the database goes away, not opened after.
    stack.get(&user, created.id).await?;

    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    let during = tokio::time::timeout(Duration::from_secs(10), stack.get(&user, created.id)).await?;
    assert_error(during, Code::Unavailable, "DATABASE_UNAVAILABLE");

    let options = ClusterOptions { data_dir, port: Some(port), throwaway: false };
    let cluster = tokio::task::spawn_blocking(move || PostgresCluster::start(options)).await??;
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(resource) = stack.get(&user, created.id).await {
            recovered = Some(resource);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recovered.map(|r| r.title).as_deref(), Some("survives"));
    drop(stack);
    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    Ok(())
}
