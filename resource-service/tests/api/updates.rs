//! Field masks and optimistic concurrency.

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, spawn_stack};

#[tokio::test]
async fn only_masked_fields_change_and_no_mask_means_the_populated_ones() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let original = stack.create(&user, "title", Some("content")).await?;
    let masked = pb::Resource {
        id: original.id,
        title: "new title".into(),
        content: Some("ignored".into()),
        ..Default::default()
    };
    let updated = stack.update(&user, masked, Some(&["title"])).await?;
    assert_eq!((updated.title.as_str(), updated.content.as_deref()), ("new title", Some("content")));

    let unmasked = pb::Resource { id: original.id, content: Some("new content".into()), ..Default::default() };
    let updated = stack.update(&user, unmasked, None).await?;
    assert_eq!((updated.title.as_str(), updated.content.as_deref()), ("new title", Some("new content")));

    // Naming `content` in the mask while leaving it unset clears it.
    let cleared =
        stack.update(&user, pb::Resource { id: original.id, ..Default::default() }, Some(&["content"])).await?;
    assert_eq!(cleared.content, None);
    Ok(())
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_a_fresh_one_succeeds() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let read = stack.create(&user, "v1", None).await?;
    let first = stack
        .update(
            &user,
            pb::Resource { id: read.id, title: "v2".into(), etag: read.etag.clone(), ..Default::default() },
            None,
        )
        .await?;
    let stale = stack
        .update(
            &user,
            pb::Resource { id: read.id, title: "v3".into(), etag: read.etag.clone(), ..Default::default() },
            None,
        )
        .await;
    assert_error(stale, Code::Aborted, "ETAG_MISMATCH");
    let fresh = stack
        .update(&user, pb::Resource { id: read.id, title: "v3".into(), etag: first.etag, ..Default::default() }, None)
        .await?;
    assert_eq!(fresh.title, "v3");
    Ok(())
}

#[tokio::test]
async fn of_two_concurrent_updates_with_one_etag_exactly_one_wins() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    for round in 0..5 {
        let read = stack.create(&user, &format!("round {round}"), None).await?;
        let attempt = |title: &'static str| {
            stack.update(
                &user,
                pb::Resource { id: read.id, title: title.into(), etag: read.etag.clone(), ..Default::default() },
                None,
            )
        };
        let (a, b) = tokio::join!(attempt("writer A"), attempt("writer B"));
        assert_eq!(usize::from(a.is_ok()) + usize::from(b.is_ok()), 1, "round {round}: {a:?} / {b:?}");
        let (winner, loser) = if a.is_ok() { (a, b) } else { (b, a) };
        assert_error(loser, Code::Aborted, "ETAG_MISMATCH");
        assert_eq!(stack.get(&user, read.id).await?.title, winner?.title);
    }
    Ok(())
}

#[tokio::test]
async fn updating_a_deleted_resource_is_a_failed_precondition() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let resource = stack.create(&user, "doomed", None).await?;
    stack.delete(&user, resource.id).await?;
    let update =
        stack.update(&user, pb::Resource { id: resource.id, title: "x".into(), ..Default::default() }, None).await;
    assert_error(update, Code::FailedPrecondition, "RESOURCE_DELETED");
    let missing = stack
        .update(&user, pb::Resource { id: resource.id + 999, title: "x".into(), ..Default::default() }, None)
        .await;
    assert_error(missing, Code::NotFound, "RESOURCE_NOT_FOUND");
    Ok(())
}
