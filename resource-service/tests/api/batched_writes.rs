//! Responses written together (`BATCH_WRITES`, on by default) reach every caller whole: many
//! pages answered in one pass over one connection, and a page larger than the batch's
//! high-water mark.

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use shared::models::NewResource;

use crate::helpers::{Stack, StackOptions, TestResult, User, spawn_stack_with};

/// A stack whose resource service batches its writes or not.
async fn stack(batch_writes: bool) -> Stack {
    spawn_stack_with(StackOptions {
        resource: Some(Box::new(move |settings| settings.server.batch_writes = batch_writes)),
        ..StackOptions::default()
    })
    .await
}

/// `count` resources of `user`, each with `content_len` bytes of content (unlike the API,
/// written directly, so that a page can be made as large as needed).
async fn fill(stack: &Stack, user: &User, count: usize, content_len: usize) {
    let conn = stack.state.pool.get().await.expect("a connection");
    let owner = i32::try_from(user.id).expect("an INTEGER id");
    for i in 0..count {
        let content = format!("{i:06}").repeat(content_len / 6);
        let title = format!("resource {i}");
        let row = NewResource { user_id: owner, title: &title, content: Some(&content) };
        resource_service::store::insert(&conn, &row).await.expect("insert a resource");
    }
}

fn first_page(page_size: i32) -> pb::ListResourcesRequest {
    pb::ListResourcesRequest { page_size, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_pages_at_once_on_one_connection_arrive_whole_with_and_without_batching() -> TestResult {
    for batch_writes in [true, false] {
        let stack = stack(batch_writes).await;
        let user = stack.user(Role::User).await;
        // 20 resources of ~300 bytes: each page is one DATA frame of ~7 KB, which h2 sends
        // without copying, and which used to cost a system call of its own.
        fill(&stack, &user, 20, 300).await;
        let expected = stack.list(&user, first_page(20)).await?;
        assert_eq!(expected.resources.len(), 20);

        let pages = futures::future::join_all((0..200).map(|_| stack.list(&user, first_page(20)))).await;
        for page in pages {
            assert_eq!(page?, expected, "batch_writes = {batch_writes}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_page_larger_than_the_high_water_mark_arrives_whole() -> TestResult {
    let stack = stack(true).await;
    let user = stack.user(Role::User).await;
    let (count, content_len) = (200, 2_400);
    fill(&stack, &user, count, content_len).await;
    assert!(count * content_len > service_kit::batched_writes::HIGH_WATER);

    let page = stack.list(&user, first_page(1000)).await?;
    assert_eq!(page.resources.len(), count);
    let newest = page.resources.first().expect("a resource");
    assert_eq!(newest.content.as_deref().map(str::len), Some(content_len));
    assert!(newest.content.as_deref().is_some_and(|content| content.starts_with(&format!("{:06}", count - 1))));
    Ok(())
}
