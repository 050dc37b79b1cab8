//! Every way of ending access takes effect at once in ValidateToken.

use api_client::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, authed, spawn_app};

#[tokio::test]
async fn logout_ends_the_session_at_once_and_is_idempotent() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login_again(&user).await;
    let logout = pb::LogoutRequest { refresh_token: user.tokens.refresh_token.clone() };
    app.auth.clone().logout(logout.clone()).await?;
    assert_error(app.validate(&user.tokens.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    app.auth.clone().logout(logout).await?;
    app.auth.clone().logout(pb::LogoutRequest { refresh_token: "not even a token".into() }).await?;
    // Only that session ended.
    app.validate(&other.access_token).await?;
    Ok(())
}

#[tokio::test]
async fn revoking_a_session_ends_it_at_once() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let phone = app.login_again(&user).await;
    let request = authed(pb::RevokeSessionRequest { session_id: phone.session_id }, &user.tokens.access_token);
    app.users.clone().revoke_session(request).await?;
    assert_error(app.validate(&phone.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    app.validate(&user.tokens.access_token).await?;
    Ok(())
}

#[tokio::test]
async fn revoking_all_sessions_ends_them_at_once() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let phone = app.login_again(&user).await;
    let request = authed(pb::RevokeSessionsRequest { scope: pb::RevokeScope::All.into() }, &user.tokens.access_token);
    let revoked = app.users.clone().revoke_sessions(request).await?.into_inner();
    assert_eq!(revoked.revoked_session_count, 2);
    assert_error(app.validate(&phone.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    assert_error(app.validate(&user.tokens.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    Ok(())
}

#[tokio::test]
async fn deactivation_refuses_the_users_tokens_at_once() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let request = authed(
        pb::UpdateUserRequest {
            user: Some(pb::User { id: user.user.id, is_active: false, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["is_active".into()] }),
        },
        &admin.tokens.access_token,
    );
    app.users.clone().update_user(request).await?;
    assert_error(app.validate(&user.tokens.access_token).await, Code::PermissionDenied, "ACCOUNT_DISABLED");
    assert_error(
        app.users.clone().get_me(authed(pb::GetMeRequest {}, &user.tokens.access_token)).await,
        Code::PermissionDenied,
        "ACCOUNT_DISABLED",
    );
    Ok(())
}

#[tokio::test]
async fn deletion_refuses_the_users_tokens_at_once() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let request = authed(pb::DeleteUserRequest { user_id: user.user.id }, &admin.tokens.access_token);
    app.users.clone().delete_user(request).await?;
    assert_error(app.validate(&user.tokens.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    assert_error(app.refresh(&user.tokens.refresh_token).await, Code::Unauthenticated, "INVALID_REFRESH_TOKEN");
    Ok(())
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_at_once() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let laptop = app.login_again(&user).await;
    let phone = app.login_again(&user).await;
    let request = authed(
        pb::ChangePasswordRequest {
            current_password: user.password.clone(),
            new_password: "a brand new passphrase".into(),
        },
        &user.tokens.access_token,
    );
    let response = app.users.clone().change_password(request).await?.into_inner();
    assert_eq!(response.revoked_session_count, 2);
    for other in [&laptop, &phone] {
        assert_error(app.validate(&other.access_token).await, Code::Unauthenticated, "SESSION_REVOKED");
    }
    app.validate(&user.tokens.access_token).await?;
    assert_error(app.login(&user.user.email, &user.password).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    app.login(&user.user.email, "a brand new passphrase").await?;
    Ok(())
}
