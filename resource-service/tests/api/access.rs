//! Who may do what.

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use tonic::Code;

use crate::helpers::{Stack, TestResult, User, assert_error, spawn_stack};

/// Tries every RPC on `id` as `user`; returns the results in RPC order.
async fn every_rpc(stack: &Stack, user: &User, id: i64) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let patch = pb::Resource { id, title: "hijacked".into(), ..Default::default() };
    vec![
        ("GetResource", stack.get(user, id).await.map(drop)),
        ("UpdateResource", stack.update(user, patch, Some(&["title"])).await.map(drop)),
        ("DeleteResource", stack.delete(user, id).await.map(drop)),
        ("UndeleteResource", stack.undelete(user, id).await.map(drop)),
    ]
}

#[tokio::test]
async fn another_users_resource_is_not_found_on_every_rpc() -> TestResult {
    let stack = spawn_stack().await;
    let owner = stack.user(Role::User).await;
    let intruder = stack.user(Role::User).await;
    let resource = stack.create(&owner, "private", Some("secret")).await?;
    for (rpc, result) in every_rpc(&stack, &intruder, resource.id).await {
        let status = result.expect_err(rpc);
        assert_eq!(status.code(), Code::NotFound, "{rpc}: {status:?}");
        assert!(!status.message().contains("private"), "{rpc} leaks the title");
    }
    // The same answer as for an id that does not exist at all.
    let missing = stack.get(&intruder, resource.id + 1000).await;
    let hidden = stack.get(&intruder, resource.id).await;
    assert_eq!(
        assert_error(missing, Code::NotFound, "RESOURCE_NOT_FOUND")
            .message()
            .replace(&(resource.id + 1000).to_string(), "N"),
        assert_error(hidden, Code::NotFound, "RESOURCE_NOT_FOUND").message().replace(&resource.id.to_string(), "N")
    );
    let listed = stack.list(&intruder, pb::ListResourcesRequest::default()).await?;
    assert!(listed.resources.is_empty());
    assert_eq!(stack.get(&owner, resource.id).await?.title, "private");
    Ok(())
}

#[tokio::test]
async fn a_guest_reads_their_own_but_every_write_is_permission_denied() -> TestResult {
    let stack = spawn_stack().await;
    let guest = stack.user(Role::Guest).await;
    let admin = stack.user(Role::Admin).await;
    assert_error(stack.create(&guest, "mine", None).await, Code::PermissionDenied, "READ_ONLY_ROLE");
    let given = stack.create(&admin, "someone else's", None).await?;
    let own = stack.insert_resource(guest.id, "the guest's").await;
    assert_eq!(stack.get(&guest, i64::from(own)).await?.title, "the guest's");
    assert_eq!(stack.list(&guest, pb::ListResourcesRequest::default()).await?.resources.len(), 1);
    for (rpc, result) in every_rpc(&stack, &guest, i64::from(own)).await.into_iter().skip(1) {
        let status = result.expect_err(rpc);
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
    }
    assert_error(stack.get(&guest, given.id).await, Code::NotFound, "RESOURCE_NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn an_admin_does_everything_on_everyones_resources() -> TestResult {
    let stack = spawn_stack().await;
    let admin = stack.user(Role::Admin).await;
    let alice = stack.user(Role::User).await;
    let bob = stack.user(Role::User).await;
    let a = stack.create(&alice, "alice's", None).await?;
    let b = stack.create(&bob, "bob's", None).await?;
    assert_eq!(stack.get(&admin, a.id).await?.owner_id, alice.id);
    let edited = stack
        .update(&admin, pb::Resource { id: b.id, title: "edited by admin".into(), ..Default::default() }, None)
        .await?;
    assert_eq!((edited.title.as_str(), edited.owner_id), ("edited by admin", bob.id));
    stack.delete(&admin, a.id).await?;
    stack.undelete(&admin, a.id).await?;

    let everyone = stack.list(&admin, pb::ListResourcesRequest { all_owners: true, ..Default::default() }).await?;
    let ids: Vec<i64> = everyone.resources.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![b.id, a.id], "newest first");
    let only_bob = stack.list(&admin, pb::ListResourcesRequest { owner_id: bob.id, ..Default::default() }).await?;
    assert_eq!(only_bob.resources.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b.id]);
    assert!(stack.list(&admin, pb::ListResourcesRequest::default()).await?.resources.is_empty(), "the admin's own");
    Ok(())
}

#[tokio::test]
async fn a_non_admin_cannot_list_other_users_or_everyone() -> TestResult {
    let stack = spawn_stack().await;
    let alice = stack.user(Role::User).await;
    let bob = stack.user(Role::User).await;
    let everyone = stack.list(&alice, pb::ListResourcesRequest { all_owners: true, ..Default::default() }).await;
    assert_error(everyone, Code::PermissionDenied, "ADMIN_REQUIRED");
    let bobs = stack.list(&alice, pb::ListResourcesRequest { owner_id: bob.id, ..Default::default() }).await;
    assert_error(bobs, Code::PermissionDenied, "ADMIN_REQUIRED");
    stack.list(&alice, pb::ListResourcesRequest { owner_id: alice.id, ..Default::default() }).await?;
    Ok(())
}

#[tokio::test]
async fn an_inactive_user_is_permission_denied() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    stack.set_user_column(user.id, "is_active = false").await;
    assert_error(
        stack.list(&user, pb::ListResourcesRequest::default()).await,
        Code::PermissionDenied,
        "ACCOUNT_DISABLED",
    );
    Ok(())
}

#[tokio::test]
async fn missing_or_bad_tokens_are_unauthenticated() -> TestResult {
    let stack = spawn_stack().await;
    let status = stack.resources.clone().list_resources(pb::ListResourcesRequest::default()).await;
    assert_error(status, Code::Unauthenticated, "MISSING_TOKEN");
    let forged = User { id: 1, token: "not.a.token".into(), refresh_token: String::new() };
    assert_error(
        stack.list(&forged, pb::ListResourcesRequest::default()).await,
        Code::Unauthenticated,
        "INVALID_TOKEN",
    );
    Ok(())
}
