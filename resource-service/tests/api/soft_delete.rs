//! Soft delete, undelete and the purge after the retention period.

use std::time::Duration;

use api_client::auth::v1::Role;
use tonic::Code;

use crate::helpers::{StackOptions, TestResult, assert_error, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn a_deleted_resource_can_still_be_read_and_restored_once() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let resource = stack.create(&user, "soft", None).await?;
    let deleted = stack.delete(&user, resource.id).await?;
    let delete_time = deleted.delete_time.ok_or("no delete_time")?;
    assert_eq!(stack.get(&user, resource.id).await?.delete_time, Some(delete_time));
    // Deleting again changes nothing.
    assert_eq!(stack.delete(&user, resource.id).await?.delete_time, Some(delete_time));
    let restored = stack.undelete(&user, resource.id).await?;
    assert!(restored.delete_time.is_none());
    assert_error(stack.undelete(&user, resource.id).await, Code::AlreadyExists, "RESOURCE_NOT_DELETED");
    assert_error(stack.undelete(&user, resource.id + 999).await, Code::NotFound, "RESOURCE_NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn soft_deleted_resources_are_purged_after_the_retention_period() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| {
            settings.retention = Duration::from_millis(300);
            settings.purge_interval = Duration::from_millis(100);
        })),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    let purged = stack.create(&user, "purged", None).await?;
    let live = stack.create(&user, "live", None).await?;
    stack.delete(&user, purged.id).await?;
    // Still there right after the delete, within the retention.
    stack.get(&user, purged.id).await?;
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stack.get(&user, purged.id).await.is_err_and(|status| status.code() == Code::NotFound) {
            gone = true;
            break;
        }
    }
    assert!(gone, "the soft-deleted resource was never purged");
    assert_eq!(stack.get(&user, live.id).await?.title, "live", "live resources are never purged");
    Ok(())
}
