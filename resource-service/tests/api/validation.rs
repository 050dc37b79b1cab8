//! Bad input gets INVALID_ARGUMENT with the offending field.

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, spawn_stack, violated_fields};

fn fields_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Vec<String> {
    let status = assert_error(result, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = violated_fields(&status);
    fields.sort();
    fields
}

#[tokio::test]
async fn bad_titles_and_contents_are_refused_with_their_field() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    for title in ["", "   ", "\t\n", &"t".repeat(256), "nul\0byte"] {
        assert_eq!(fields_of(stack.create(&user, title, None).await), ["title"], "{title:?}");
    }
    let too_big = "x".repeat(1024 * 1024 + 1);
    assert_eq!(fields_of(stack.create(&user, "ok", Some(&too_big)).await), ["content"]);
    assert_eq!(fields_of(stack.create(&user, " ", Some(&too_big)).await), ["content", "title"]);
    stack.create(&user, &"t".repeat(255), None).await?;
    Ok(())
}

#[tokio::test]
async fn malformed_ids_are_invalid_arguments() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    for id in [0, -1, i64::from(i32::MAX) + 1] {
        assert_eq!(fields_of(stack.get(&user, id).await), ["id"], "{id}");
        assert_eq!(fields_of(stack.delete(&user, id).await), ["id"], "{id}");
        assert_eq!(fields_of(stack.undelete(&user, id).await), ["id"], "{id}");
        let update = stack.update(&user, pb::Resource { id, title: "x".into(), ..Default::default() }, None).await;
        assert_eq!(fields_of(update), ["resource.id"], "{id}");
    }
    let list = stack.list(&user, pb::ListResourcesRequest { owner_id: -5, ..Default::default() }).await;
    assert_eq!(fields_of(list), ["owner_id"]);
    Ok(())
}

#[tokio::test]
async fn bad_update_masks_and_values_are_refused() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let resource = stack.create(&user, "original", Some("text")).await?;
    let unknown =
        stack.update(&user, pb::Resource { id: resource.id, ..Default::default() }, Some(&["owner_id"])).await;
    assert_eq!(fields_of(unknown), ["update_mask"]);
    let blank = stack
        .update(&user, pb::Resource { id: resource.id, title: " ".into(), ..Default::default() }, Some(&["title"]))
        .await;
    assert_eq!(fields_of(blank), ["resource.title"]);
    let etag = stack
        .update(
            &user,
            pb::Resource { id: resource.id, title: "x".into(), etag: "W/garbage".into(), ..Default::default() },
            None,
        )
        .await;
    assert_eq!(fields_of(etag), ["resource.etag"]);
    let missing = stack
        .resources
        .clone()
        .update_resource(crate::helpers::authed(pb::UpdateResourceRequest::default(), &user.token))
        .await;
    assert_eq!(fields_of(missing), ["resource"]);
    assert_eq!(stack.get(&user, resource.id).await?.title, "original");
    Ok(())
}

#[tokio::test]
async fn bad_page_sizes_and_tokens_are_refused() -> TestResult {
    let stack = spawn_stack().await;
    let alice = stack.user(Role::User).await;
    let admin = stack.user(Role::Admin).await;
    for title in ["1", "2", "3"] {
        stack.create(&alice, title, None).await?;
    }
    let negative = stack.list(&alice, pb::ListResourcesRequest { page_size: -1, ..Default::default() }).await;
    assert_eq!(fields_of(negative), ["page_size"]);
    let garbage =
        stack.list(&alice, pb::ListResourcesRequest { page_token: "garbage".into(), ..Default::default() }).await;
    assert_eq!(fields_of(garbage), ["page_token"]);

    let first = stack.list(&alice, pb::ListResourcesRequest { page_size: 1, ..Default::default() }).await?;
    assert_eq!(first.resources.len(), 1);
    let token = first.next_page_token;
    // The same token with other filters, or by another caller, is refused.
    let other_filter =
        pb::ListResourcesRequest { page_size: 1, page_token: token.clone(), show_deleted: true, ..Default::default() };
    assert_eq!(fields_of(stack.list(&alice, other_filter).await), ["page_token"]);
    let other_caller =
        pb::ListResourcesRequest { page_size: 1, page_token: token.clone(), owner_id: alice.id, ..Default::default() };
    assert_eq!(fields_of(stack.list(&admin, other_caller).await), ["page_token"]);
    let next =
        stack.list(&alice, pb::ListResourcesRequest { page_size: 1, page_token: token, ..Default::default() }).await?;
    assert_eq!(next.resources.len(), 1);
    let huge = stack.list(&alice, pb::ListResourcesRequest { page_size: 100_000, ..Default::default() }).await?;
    assert_eq!(huge.resources.len(), 3);
    Ok(())
}
