//! The caller's own account and sessions.

use api_client::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, authed, spawn_app, violated_fields};

#[tokio::test]
async fn every_user_service_call_needs_a_valid_bearer_token() -> TestResult {
    let app = spawn_app().await;
    let mut users = app.users.clone();
    assert_error(users.get_me(pb::GetMeRequest {}).await, Code::Unauthenticated, "MISSING_TOKEN");
    assert_error(users.get_me(authed(pb::GetMeRequest {}, "nonsense")).await, Code::Unauthenticated, "INVALID_TOKEN");
    let mut basic = tonic::Request::new(pb::GetMeRequest {});
    basic.metadata_mut().insert("authorization", "Basic dXNlcjpwYXNz".parse()?);
    assert_error(users.get_me(basic).await, Code::Unauthenticated, "INVALID_TOKEN");
    Ok(())
}

#[tokio::test]
async fn get_me_and_update_me_work_on_the_caller() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let token = &user.tokens.access_token;
    let me = app.users.clone().get_me(authed(pb::GetMeRequest {}, token)).await?.into_inner();
    assert_eq!(me.id, user.user.id);
    let renamed = app
        .users
        .clone()
        .update_me(authed(pb::UpdateMeRequest { name: "  Grace Hopper ".into() }, token))
        .await?
        .into_inner();
    assert_eq!(renamed.name, "Grace Hopper");
    let seconds = |user: &pb::User| user.update_time.as_ref().map_or(0, |t| t.seconds);
    assert!(seconds(&renamed) >= seconds(&me));
    let status = assert_error(
        app.users.clone().update_me(authed(pb::UpdateMeRequest { name: " ".into() }, token)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["name"]);
    Ok(())
}

#[tokio::test]
async fn change_password_needs_the_current_password_and_a_valid_new_one() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let token = &user.tokens.access_token;
    let wrong = pb::ChangePasswordRequest {
        current_password: "not my password".into(),
        new_password: "whatever long enough".into(),
    };
    assert_error(
        app.users.clone().change_password(authed(wrong, token)).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let short = pb::ChangePasswordRequest { current_password: user.password.clone(), new_password: "short".into() };
    let status = assert_error(
        app.users.clone().change_password(authed(short, token)).await,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
    );
    assert_eq!(violated_fields(&status), ["new_password"]);
    app.login(&user.user.email, &user.password).await?;
    Ok(())
}

#[tokio::test]
async fn list_sessions_shows_each_login_with_its_client_and_marks_the_current_one() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = app.login_again(&user).await;
    let listed = app
        .users
        .clone()
        .list_sessions(authed(pb::ListSessionsRequest {}, &user.tokens.access_token))
        .await?
        .into_inner();
    let ids: Vec<i64> = listed.sessions.iter().map(|s| s.id).collect();
    assert_eq!(listed.sessions.len(), 2, "{ids:?}");
    assert!(ids.contains(&user.tokens.session_id) && ids.contains(&second.session_id));
    let current: Vec<i64> = listed.sessions.iter().filter(|s| s.current).map(|s| s.id).collect();
    assert_eq!(current, [user.tokens.session_id]);
    for session in &listed.sessions {
        assert_eq!(session.ip_address, "127.0.0.1");
        assert!(session.user_agent.contains("tonic"), "{}", session.user_agent);
        assert!(session.create_time.is_some() && session.last_use_time.is_some() && session.expire_time.is_some());
    }
    Ok(())
}

#[tokio::test]
async fn revoking_others_keeps_the_current_session() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login_again(&user).await;
    let request =
        authed(pb::RevokeSessionsRequest { scope: pb::RevokeScope::Others.into() }, &user.tokens.access_token);
    assert_eq!(app.users.clone().revoke_sessions(request).await?.into_inner().revoked_session_count, 1);
    app.validate(&user.tokens.access_token).await?;
    assert_error(app.validate(&other.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    let unspecified = authed(pb::RevokeSessionsRequest { scope: 0 }, &user.tokens.access_token);
    let status =
        assert_error(app.users.clone().revoke_sessions(unspecified).await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["scope"]);
    Ok(())
}

#[tokio::test]
async fn another_users_session_cannot_be_revoked_and_is_not_found() -> TestResult {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let request = authed(pb::RevokeSessionRequest { session_id: bob.tokens.session_id }, &alice.tokens.access_token);
    assert_error(app.users.clone().revoke_session(request).await, Code::NotFound, "SESSION_NOT_FOUND");
    app.validate(&bob.tokens.access_token).await?;
    let malformed = authed(pb::RevokeSessionRequest { session_id: -1 }, &alice.tokens.access_token);
    let status =
        assert_error(app.users.clone().revoke_session(malformed).await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["session_id"]);
    Ok(())
}
