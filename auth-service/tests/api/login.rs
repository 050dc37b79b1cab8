use auth_service::passwords::HashCost;
use tonic::Code;

use crate::helpers::{
    TEST_HASH_COST, TestResult, assert_error, id, spawn_app, spawn_app_on, spawn_app_with, test_settings,
};

#[tokio::test]
async fn login_returns_both_tokens_their_lifetimes_and_the_user() -> TestResult {
    let app = spawn_app().await;
    app.register("login@example.com", "correct horse battery", "L").await?;
    let response = app.login(" LOGIN@example.com", "correct horse battery").await?;
    let tokens = response.tokens.ok_or("no tokens")?;
    let user = response.user.ok_or("no user")?;
    assert_eq!(user.email, "login@example.com");
    assert_eq!(tokens.token_type, "Bearer");
    assert!(tokens.refresh_token.starts_with("rt_"));
    assert_eq!(tokens.access_token.split('.').count(), 3);
    let access = tokens.access_token_lifetime.ok_or("no lifetime")?.seconds;
    let refresh = tokens.refresh_token_lifetime.ok_or("no lifetime")?.seconds;
    assert!((895..=900).contains(&access), "access lifetime {access}");
    assert!((30 * 86_400 - 5..=30 * 86_400).contains(&refresh), "refresh lifetime {refresh}");
    assert!(tokens.session_id > 0);
    Ok(())
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() -> TestResult {
    let app = spawn_app().await;
    app.register("known@example.com", "correct horse battery", "K").await?;
    let wrong_password = assert_error(
        app.login("known@example.com", "wrong password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let unknown = assert_error(
        app.login("nobody@example.com", "wrong password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let malformed =
        assert_error(app.login("not-an-email", "wrong password").await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert_eq!(wrong_password.message(), unknown.message());
    assert_eq!(unknown.message(), malformed.message());
    Ok(())
}

#[tokio::test]
async fn empty_credentials_are_invalid_arguments() -> TestResult {
    let app = spawn_app().await;
    let status = assert_error(app.login("", "").await, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = crate::helpers::violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["email", "password"]);
    Ok(())
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_but_only_learns_it_with_the_right_password() -> TestResult {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let mut request = crate::helpers::authed(
        api_client::auth::v1::UpdateUserRequest {
            user: Some(api_client::auth::v1::User { id: user.user.id, is_active: false, ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["is_active".into()] }),
        },
        &admin.tokens.access_token,
    );
    request.set_timeout(std::time::Duration::from_secs(10));
    app.users.clone().update_user(request).await?;
    assert_error(app.login(&user.user.email, &user.password).await, Code::PermissionDenied, "ACCOUNT_DISABLED");
    assert_error(app.login(&user.user.email, "wrong password").await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    Ok(())
}

#[tokio::test]
async fn a_hash_made_with_old_costs_is_upgraded_at_login() -> TestResult {
    let old = spawn_app().await;
    old.register("upgrade@example.com", "correct horse battery", "U").await?;
    let mut settings = test_settings(&old.database_url);
    settings.passwords.cost = HashCost { memory_kib: 8192, ..TEST_HASH_COST };
    let new = spawn_app_on(settings).await;
    let user = new.login("upgrade@example.com", "correct horse battery").await?.user.ok_or("no user")?;
    let conn = new.state.pool.get().await?;
    let stored = auth_service::store::users::find(&conn, id(user.id)).await?.ok_or("no user")?;
    assert!(stored.hashed_password.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{}", stored.hashed_password);
    new.login("upgrade@example.com", "correct horse battery").await?;
    Ok(())
}

#[tokio::test]
async fn the_production_cost_is_owasps_argon2id_minimum() -> TestResult {
    let app = spawn_app_with(|settings| settings.passwords.cost = HashCost::default()).await;
    let user = app.register("owasp@example.com", "correct horse battery", "O").await?;
    let conn = app.state.pool.get().await?;
    let stored = auth_service::store::users::find(&conn, id(user.id)).await?.ok_or("no user")?;
    assert!(stored.hashed_password.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", stored.hashed_password);
    app.login("owasp@example.com", "correct horse battery").await?;
    Ok(())
}

#[tokio::test]
async fn the_first_admin_from_settings_is_created_once_and_can_log_in() -> TestResult {
    use auth_service::secret::Secret;
    use auth_service::settings::AdminAccount;

    let account = AdminAccount {
        email: "First.Admin@example.com".into(),
        password: Secret::new("first admin passphrase"),
        name: "Boss".into(),
    };
    let first = spawn_app_with(|settings| settings.first_admin = Some(account.clone())).await;
    let login = first.login("first.admin@example.com", "first admin passphrase").await?;
    let admin = login.user.ok_or("no user")?;
    assert_eq!(admin.role, i32::from(api_client::auth::v1::Role::Admin));
    assert!(admin.is_verified && admin.is_active);

    // A second start with another password changes nothing.
    let mut settings = test_settings(&first.database_url);
    settings.first_admin = Some(AdminAccount { password: Secret::new("another passphrase"), ..account });
    let second = spawn_app_on(settings).await;
    second.login("first.admin@example.com", "first admin passphrase").await?;
    assert_error(
        second.login("first.admin@example.com", "another passphrase").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    Ok(())
}

#[tokio::test]
async fn a_login_storm_beyond_the_hashing_slots_is_refused_fast_with_hashing_busy() -> TestResult {
    let app = spawn_app_with(|settings| {
        settings.passwords.cost = HashCost::default();
        settings.passwords.max_concurrent = 1;
        settings.passwords.queue_timeout = std::time::Duration::from_millis(1);
    })
    .await;
    app.register("storm@example.com", "correct horse battery", "S").await?;
    let attempts = (0..12).map(|_| app.login("storm@example.com", "correct horse battery"));
    let results = futures::future::join_all(attempts).await;
    let busy: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    assert!(!busy.is_empty(), "12 logins at once on one hashing slot with a 1 ms queue must overflow");
    for status in busy {
        assert_error(Err::<(), _>(status), Code::ResourceExhausted, "HASHING_BUSY");
    }
    Ok(())
}
