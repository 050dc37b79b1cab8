//! Admin-only calls of UserService.

use std::collections::HashSet;

use api_client::auth::v1 as pb;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::models::NewUser;
use shared::schema::{refresh_tokens, sessions, users};
use tonic::Code;

use crate::helpers::{LoggedIn, TestApp, TestResult, assert_error, authed, spawn_app, violated_fields};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() })
}

async fn update(
    app: &TestApp,
    admin: &LoggedIn,
    user: pb::User,
    paths: Option<&[&str]>,
) -> Result<pb::User, tonic::Status> {
    let request = pb::UpdateUserRequest { user: Some(user), update_mask: paths.and_then(mask) };
    Ok(app.users.clone().update_user(authed(request, &admin.tokens.access_token)).await?.into_inner())
}

async fn list(
    app: &TestApp,
    admin: &LoggedIn,
    request: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, tonic::Status> {
    Ok(app.users.clone().list_users(authed(request, &admin.tokens.access_token)).await?.into_inner())
}

#[tokio::test]
async fn non_admins_are_refused_every_admin_call() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let token = user.tokens.access_token.as_str();
    let mut users = app.users.clone();
    let denied = |result: Result<(), tonic::Status>| assert_error(result, Code::PermissionDenied, "ADMIN_REQUIRED");
    denied(users.list_users(authed(pb::ListUsersRequest::default(), token)).await.map(drop));
    denied(users.get_user(authed(pb::GetUserRequest { user_id: user.user.id }, token)).await.map(drop));
    let update = pb::UpdateUserRequest { user: Some(user.user.clone()), update_mask: mask(&["role"]) };
    denied(users.update_user(authed(update, token)).await.map(drop));
    denied(users.delete_user(authed(pb::DeleteUserRequest { user_id: user.user.id }, token)).await.map(drop));
    denied(
        users.list_user_sessions(authed(pb::ListUserSessionsRequest { user_id: user.user.id }, token)).await.map(drop),
    );
    denied(
        users
            .revoke_user_sessions(authed(pb::RevokeUserSessionsRequest { user_id: user.user.id }, token))
            .await
            .map(drop),
    );
    Ok(())
}

#[tokio::test]
async fn an_admin_reads_and_updates_users_through_a_field_mask() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let token = &admin.tokens.access_token;
    let fetched =
        app.users.clone().get_user(authed(pb::GetUserRequest { user_id: user.user.id }, token)).await?.into_inner();
    assert_eq!(fetched.email, user.user.email);

    // Only the masked field changes, whatever else the message carries.
    let wanted = pb::User {
        id: user.user.id,
        name: "Ignored".into(),
        role: pb::Role::Guest.into(),
        is_verified: true,
        ..Default::default()
    };
    let updated = update(&app, &admin, wanted, Some(&["role"])).await?;
    assert_eq!(
        (updated.role, updated.name.as_str(), updated.is_verified),
        (i32::from(pb::Role::Guest), "Test User", false)
    );

    // Without a mask, the populated fields change.
    let updated = update(
        &app,
        &admin,
        pb::User { id: user.user.id, name: "Renamed".into(), is_verified: true, ..Default::default() },
        None,
    )
    .await?;
    assert_eq!(
        (updated.name.as_str(), updated.is_verified, updated.role),
        ("Renamed", true, i32::from(pb::Role::Guest))
    );
    assert!(updated.is_active);
    Ok(())
}

#[tokio::test]
async fn bad_updates_are_refused_with_the_offending_field() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let target = pb::User { id: user.user.id, ..Default::default() };
    let status = assert_error(
        update(&app, &admin, target.clone(), Some(&["email"])).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let status = assert_error(
        update(&app, &admin, target.clone(), Some(&["role"])).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["user.role"]);
    let status =
        assert_error(update(&app, &admin, target, Some(&["name"])).await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["user.name"]);
    let missing = pb::User { id: 999_999, name: "X".into(), ..Default::default() };
    assert_error(update(&app, &admin, missing, Some(&["name"])).await, Code::NotFound, "USER_NOT_FOUND");
    let status = assert_error(
        update(&app, &admin, pb::User { id: 0, ..Default::default() }, Some(&["name"])).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["user.id"]);
    Ok(())
}

#[tokio::test]
async fn an_admin_cannot_demote_deactivate_or_delete_themselves() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let me = pb::User { id: admin.user.id, role: pb::Role::User.into(), ..Default::default() };
    assert_error(
        update(&app, &admin, me.clone(), Some(&["role"])).await,
        Code::FailedPrecondition,
        "CANNOT_CHANGE_SELF",
    );
    assert_error(update(&app, &admin, me, Some(&["is_active"])).await, Code::FailedPrecondition, "CANNOT_CHANGE_SELF");
    let delete = authed(pb::DeleteUserRequest { user_id: admin.user.id }, &admin.tokens.access_token);
    assert_error(app.users.clone().delete_user(delete).await, Code::FailedPrecondition, "CANNOT_CHANGE_SELF");
    Ok(())
}

#[tokio::test]
async fn deleting_a_user_cascades_to_sessions_and_refresh_tokens() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.login_again(&user).await;
    let user_id = crate::helpers::id(user.user.id);
    let mut conn = app.state.pool.get().await?;
    let count_sessions = sessions::table.filter(sessions::user_id.eq(user_id)).count();
    let count_tokens = refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id)).count();
    assert_eq!(count_sessions.get_result::<i64>(&mut conn).await?, 2);
    assert_eq!(count_tokens.get_result::<i64>(&mut conn).await?, 2);

    let token = &admin.tokens.access_token;
    app.users.clone().delete_user(authed(pb::DeleteUserRequest { user_id: user.user.id }, token)).await?;
    assert_eq!(count_sessions.get_result::<i64>(&mut conn).await?, 0);
    assert_eq!(count_tokens.get_result::<i64>(&mut conn).await?, 0);
    let again = app.users.clone().delete_user(authed(pb::DeleteUserRequest { user_id: user.user.id }, token)).await;
    assert_error(again, Code::NotFound, "USER_NOT_FOUND");
    let get = app.users.clone().get_user(authed(pb::GetUserRequest { user_id: user.user.id }, token)).await;
    assert_error(get, Code::NotFound, "USER_NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn an_admin_lists_and_revokes_another_users_sessions() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let second = app.login_again(&user).await;
    let token = &admin.tokens.access_token;
    let listed = app
        .users
        .clone()
        .list_user_sessions(authed(pb::ListUserSessionsRequest { user_id: user.user.id }, token))
        .await?
        .into_inner();
    let ids: HashSet<i64> = listed.sessions.iter().map(|s| s.id).collect();
    assert_eq!(ids, HashSet::from([user.tokens.session_id, second.session_id]));
    assert!(listed.sessions.iter().all(|s| !s.current));

    let revoked = app
        .users
        .clone()
        .revoke_user_sessions(authed(pb::RevokeUserSessionsRequest { user_id: user.user.id }, token))
        .await?
        .into_inner();
    assert_eq!(revoked.revoked_session_count, 2);
    assert_error(app.validate(&second.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    app.validate(token).await?;
    let missing =
        app.users.clone().list_user_sessions(authed(pb::ListUserSessionsRequest { user_id: 999_999 }, token)).await;
    assert_error(missing, Code::NotFound, "USER_NOT_FOUND");
    Ok(())
}

/// Inserts users directly (hashing 250 passwords would only slow the test down).
async fn insert_users(app: &TestApp, count: usize) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let emails: Vec<String> = (0..count)
        .map(|i| format!("walk-{i:03}@{}.example.com", if i % 3 == 0 { "guests" } else { "users" }))
        .collect();
    let rows: Vec<NewUser<'_>> = emails
        .iter()
        .enumerate()
        .map(|(i, email)| NewUser {
            email,
            hashed_password: "$argon2id$placeholder",
            name: "Walker",
            role: if i % 3 == 0 { "guest" } else { "user" },
        })
        .collect();
    let mut conn = app.state.pool.get().await?;
    diesel::insert_into(users::table).values(&rows).execute(&mut conn).await?;
    Ok(())
}

#[tokio::test]
async fn walking_250_users_with_a_filter_visits_each_match_exactly_once() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    insert_users(&app, 250).await?;
    let filter = pb::ListUsersRequest {
        role: pb::Role::User.into(),
        email_contains: "WALK-".into(),
        page_size: 7,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page =
            list(&app, &admin, pb::ListUsersRequest { page_token: page_token.clone(), ..filter.clone() }).await?;
        assert!(page.users.len() <= 7);
        seen.extend(page.users.iter().map(|u| u.id));
        assert!(page.users.iter().all(|u| u.role == i32::from(pb::Role::User) && u.email.starts_with("walk-")));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let expected = (0..250).filter(|i| i % 3 != 0).count();
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!((seen.len(), unique.len()), (expected, expected));
    assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "ids must come in order");
    assert_eq!(pages, expected.div_ceil(7));
    Ok(())
}

#[tokio::test]
async fn page_sizes_and_tokens_follow_aip_158() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    insert_users(&app, 60).await?;
    let default = list(&app, &admin, pb::ListUsersRequest::default()).await?;
    assert_eq!(default.users.len(), 50);
    assert!(!default.next_page_token.is_empty());
    let capped = list(&app, &admin, pb::ListUsersRequest { page_size: 5000, ..Default::default() }).await?;
    assert_eq!(capped.users.len(), 61);
    assert!(capped.next_page_token.is_empty());
    let negative = list(&app, &admin, pb::ListUsersRequest { page_size: -1, ..Default::default() }).await;
    assert_eq!(violated_fields(&assert_error(negative, Code::InvalidArgument, "INVALID_ARGUMENT")), ["page_size"]);
    let garbage = list(&app, &admin, pb::ListUsersRequest { page_token: "garbage".into(), ..Default::default() }).await;
    assert_eq!(violated_fields(&assert_error(garbage, Code::InvalidArgument, "INVALID_ARGUMENT")), ["page_token"]);
    let changed = pb::ListUsersRequest {
        page_token: default.next_page_token,
        role: pb::Role::Guest.into(),
        ..Default::default()
    };
    let status = assert_error(list(&app, &admin, changed).await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["page_token"]);
    let inactive = list(&app, &admin, pb::ListUsersRequest { is_active: Some(false), ..Default::default() }).await?;
    assert!(inactive.users.is_empty());
    let wildcard =
        list(&app, &admin, pb::ListUsersRequest { email_contains: "%".into(), ..Default::default() }).await?;
    assert!(wildcard.users.is_empty(), "LIKE wildcards must match literally");
    Ok(())
}
