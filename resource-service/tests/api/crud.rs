use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;

use shared::pipelined::StatementConnections;

use crate::helpers::{StackOptions, TestResult, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn a_user_creates_reads_lists_updates_deletes_and_undeletes_a_resource() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let before = std::time::SystemTime::now();
    let created = stack.create(&user, "First", Some("hello")).await?;
    let after = std::time::SystemTime::now();
    assert!(created.id > 0);
    assert_eq!(
        (created.owner_id, created.title.as_str(), created.content.as_deref()),
        (user.id, "First", Some("hello"))
    );
    assert!(created.create_time.is_some() && created.update_time.is_some() && created.delete_time.is_none());
    // The database's clock and the test's are the same machine's; allow a second of rounding.
    let create_time = std::time::SystemTime::try_from(created.create_time.unwrap_or_default())?;
    let second = std::time::Duration::from_secs(1);
    assert!(
        before - second <= create_time && create_time <= after + second,
        "{create_time:?} not in {before:?}..{after:?}"
    );
    assert!(!created.etag.is_empty());

    assert_eq!(stack.get(&user, created.id).await?, created);
    let listed = stack.list(&user, pb::ListResourcesRequest::default()).await?;
    assert_eq!(listed.resources, vec![created.clone()]);
    assert!(listed.next_page_token.is_empty());

    let renamed = stack
        .update(&user, pb::Resource { id: created.id, title: "Renamed".into(), ..Default::default() }, Some(&["title"]))
        .await?;
    assert_eq!((renamed.title.as_str(), renamed.content.as_deref()), ("Renamed", Some("hello")));
    assert_ne!(renamed.etag, created.etag);

    let deleted = stack.delete(&user, created.id).await?;
    assert!(deleted.delete_time.is_some());
    let restored = stack.undelete(&user, created.id).await?;
    assert!(restored.delete_time.is_none());
    assert_eq!(restored.title, "Renamed");
    Ok(())
}

#[tokio::test]
async fn titles_and_contents_come_back_byte_identical() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let samples = [
        ("  spaced  title  ", "  leading and trailing spaces\n\n"),
        ("Ünïcödé ✓ 漢字 🦀", "emoji 🦀🦀 and RTL שלום and combining e\u{301}"),
        ("quotes ' \" ` \\", "it's \"quoted\" \\ back\\slash"),
        ("'; DROP TABLE resources; --", "SELECT * FROM users WHERE '1'='1'; -- %_"),
        ("tabs\tand\nnewlines", "\r\n\t\u{7f}"),
    ];
    for (title, content) in samples {
        let created = stack.create(&user, title, Some(content)).await?;
        let fetched = stack.get(&user, created.id).await?;
        assert_eq!(fetched.title.as_bytes(), title.as_bytes());
        assert_eq!(fetched.content.as_deref().map(str::as_bytes), Some(content.as_bytes()));
    }
    let big = "x".repeat(1024 * 1024);
    let created = stack.create(&user, "one mebibyte", Some(&big)).await?;
    assert_eq!(stack.get(&user, created.id).await?.content.map(|c| c.len()), Some(big.len()));
    Ok(())
}

#[tokio::test]
async fn content_is_optional_and_empty_differs_from_none() -> TestResult {
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    let none = stack.create(&user, "no content", None).await?;
    let empty = stack.create(&user, "empty content", Some("")).await?;
    assert_eq!(stack.get(&user, none.id).await?.content, None);
    assert_eq!(stack.get(&user, empty.id).await?.content, Some(String::new()));
    Ok(())
}

#[tokio::test]
async fn deleting_the_owner_deletes_their_resources() -> TestResult {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use shared::schema::resources;

    let stack = spawn_stack().await;
    let admin = stack.user(Role::Admin).await;
    let user = stack.user(Role::User).await;
    for title in ["a", "b", "c"] {
        stack.create(&user, title, None).await?;
    }
    let count = resources::table.filter(resources::user_id.eq(i32::try_from(user.id)?)).count();
    let mut conn = stack.state.pool.get().await?;
    assert_eq!(count.get_result::<i64>(&mut conn).await?, 3);
    let delete = crate::helpers::authed(api_client::auth::v1::DeleteUserRequest { user_id: user.id }, &admin.token);
    api_client::auth::v1::user_service_client::UserServiceClient::connect(format!("http://{}", stack.auth.addr))
        .await?
        .delete_user(delete)
        .await?;
    assert_eq!(count.get_result::<i64>(&mut conn).await?, 0);
    Ok(())
}

#[tokio::test]
async fn the_auth_service_can_be_reached_through_dns_balancing() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| {
            settings.auth_url = settings.auth_url.replace("127.0.0.1", "localhost");
            settings.auth_dns_refresh = Some(std::time::Duration::from_millis(200));
            settings.guard.cache_ttl = std::time::Duration::ZERO;
        })),
        ..Default::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    for title in ["one", "two", "three"] {
        stack.create(&user, title, None).await?;
    }
    assert_eq!(stack.list(&user, pb::ListResourcesRequest::default()).await?.resources.len(), 3);
    Ok(())
}

#[tokio::test]
async fn reads_and_writes_go_through_the_pool_when_no_connection_is_shared() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| {
            settings.read_connections = 0;
            settings.write_connections = 0;
        })),
        ..StackOptions::default()
    })
    .await;
    assert!(matches!(stack.state.reads, StatementConnections::Pool(_)));
    assert!(matches!(stack.state.writes, StatementConnections::Pool(_)));
    let user = stack.user(Role::User).await;
    let created = stack.create(&user, "Pooled", None).await?;
    assert_eq!(stack.get(&user, created.id).await?, created);
    assert_eq!(stack.list(&user, pb::ListResourcesRequest::default()).await?.resources, vec![created.clone()]);
    let renamed = stack
        .update(&user, pb::Resource { id: created.id, title: "Renamed".into(), ..Default::default() }, Some(&["title"]))
        .await?;
    assert_eq!(renamed.title, "Renamed");
    assert!(stack.delete(&user, created.id).await?.delete_time.is_some());
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[tokio::test]
async fn shared_connections_force_generic_plans() -> TestResult {
    use diesel_async::RunQueryDsl as _;
    let stack = spawn_stack().await;
    let user = stack.user(Role::User).await;
    stack.create(&user, "Planned", None).await?;
    assert_eq!(stack.list(&user, pb::ListResourcesRequest::default()).await?.resources.len(), 1);
    for connections in [&stack.state.reads, &stack.state.writes] {
        assert!(matches!(connections, StatementConnections::Pipelined(_)));
        let connection = connections.get().await?;
        let mode: Setting = diesel::sql_query("SELECT current_setting('plan_cache_mode') AS value")
            .get_result(&mut { &*connection })
            .await?;
        assert_eq!(mode.value, "force_generic_plan");
    }
    Ok(())
}
