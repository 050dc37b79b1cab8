use std::time::Duration;

use api_client::auth::v1 as pb;
use auth_service::secret::Secret;
use auth_service::settings::Settings;
use auth_service::tokens::AccessTokenKeys;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_fresh_access_token_validates_to_its_user_and_session() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let validated = app.validate(&user.tokens.access_token).await?;
    assert_eq!(validated.user_id, user.user.id);
    assert_eq!(validated.email, user.user.email);
    assert_eq!(validated.role, i32::from(pb::Role::User));
    assert!(validated.is_active);
    assert!(!validated.is_verified);
    assert_eq!(validated.session_id, user.tokens.session_id);
    let expires = validated.expire_time.ok_or("no expiry")?.seconds;
    let now = chrono::Utc::now().timestamp();
    assert!((now + 890..=now + 900).contains(&expires), "expires {expires}, now {now}");
    Ok(())
}

#[tokio::test]
async fn garbage_and_empty_tokens_are_invalid() -> TestResult {
    let app = spawn_app().await;
    for token in ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_error(app.validate(token).await, Code::Unauthenticated, "INVALID_TOKEN");
    }
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_invalid() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let forger = AccessTokenKeys::new(
        &Secret::new("an attacker's secret, 32 bytes long!"),
        None,
        &app.settings.tokens.issuer,
        &app.settings.tokens.audience,
        chrono::TimeDelta::minutes(15),
    )?;
    let forged = forger.issue(crate::helpers::id(user.user.id), crate::helpers::id(user.tokens.session_id))?;
    assert_error(app.validate(forged.token.expose()).await, Code::Unauthenticated, "INVALID_TOKEN");
    Ok(())
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_invalid() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let tokens = &app.settings.tokens;
    for (issuer, audience) in [("someone-else", tokens.audience.as_str()), (tokens.issuer.as_str(), "another-audience")]
    {
        let keys =
            AccessTokenKeys::new(&tokens.signing_secret, None, issuer, audience, chrono::TimeDelta::minutes(15))?;
        let token = keys.issue(crate::helpers::id(user.user.id), crate::helpers::id(user.tokens.session_id))?;
        assert_error(app.validate(token.token.expose()).await, Code::Unauthenticated, "INVALID_TOKEN");
    }
    Ok(())
}

#[tokio::test]
async fn an_expired_access_token_is_token_expired() -> TestResult {
    let app =
        spawn_app_with(|settings: &mut Settings| settings.tokens.access_token_lifetime = Duration::from_secs(1)).await;
    let user = app.new_user().await;
    app.validate(&user.tokens.access_token).await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(app.validate(&user.tokens.access_token).await, Code::Unauthenticated, "TOKEN_EXPIRED");
    Ok(())
}

#[tokio::test]
async fn validation_reports_the_current_role_not_the_one_at_login() -> TestResult {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let changes = auth_service::store::users::UserChanges { role: Some("guest".into()), ..Default::default() };
    let conn = app.state.pool.get().await?;
    auth_service::store::users::update(&conn, crate::helpers::id(user.user.id), &changes).await?;
    assert_eq!(app.validate(&user.tokens.access_token).await?.role, i32::from(pb::Role::Guest));
    Ok(())
}
