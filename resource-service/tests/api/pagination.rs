//! Keyset pagination holds while rows are inserted.

use std::collections::HashSet;

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;

use crate::helpers::{TestResult, spawn_stack};

#[tokio::test]
async fn a_walk_over_250_rows_never_repeats_or_skips_while_rows_are_inserted() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let mut originals = HashSet::new();
    for i in 0..250 {
        originals.insert(stack.insert_resource(user.id, &format!("row {i}")).await);
    }
    // Another user deletes nothing and an admin is not involved: only inserts race the walk.
    let writer = async {
        for i in 0..60 {
            stack.create(&user, &format!("new {i}"), None).await.expect("insert during the walk");
            tokio::task::yield_now().await;
        }
    };
    let walker = async {
        let mut seen = Vec::new();
        let mut page_token = String::new();
        loop {
            let request =
                pb::ListResourcesRequest { page_size: 20, page_token: page_token.clone(), ..Default::default() };
            let page = stack.list(&user, request).await.expect("a page");
            assert!(page.resources.len() <= 20);
            seen.extend(page.resources.iter().map(|r| r.id));
            if page.next_page_token.is_empty() {
                return seen;
            }
            page_token = page.next_page_token;
        }
    };
    let ((), seen) = tokio::join!(writer, walker);
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a row came twice");
    assert!(seen.windows(2).all(|pair| pair[0] > pair[1]), "newest first");
    let missing: Vec<_> = originals.iter().filter(|id| !unique.contains(&i64::from(**id))).collect();
    assert!(missing.is_empty(), "rows skipped: {missing:?}");
    Ok(())
}

#[tokio::test]
async fn deleted_rows_are_hidden_unless_asked_for() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let kept = stack.create(&user, "kept", None).await?;
    let gone = stack.create(&user, "gone", None).await?;
    stack.delete(&user, gone.id).await?;
    let live = stack.list(&user, pb::ListResourcesRequest::default()).await?;
    assert_eq!(live.resources.iter().map(|r| r.id).collect::<Vec<_>>(), vec![kept.id]);
    let all = stack.list(&user, pb::ListResourcesRequest { show_deleted: true, ..Default::default() }).await?;
    assert_eq!(all.resources.iter().map(|r| r.id).collect::<Vec<_>>(), vec![gone.id, kept.id]);
    assert!(all.resources[0].delete_time.is_some());
    Ok(())
}
