use api_client::auth::v1 as pb;
use tonic::Code;

use crate::helpers::{TestResult, assert_error, spawn_app, unique, violated_fields};

#[tokio::test]
async fn registering_creates_an_active_unverified_user_with_a_normalised_email() -> TestResult {
    let app = spawn_app().await;
    let user = app.register("  Ada.Lovelace@Example.COM ", "correct horse battery", "  Ada  ").await?;
    assert_eq!(user.email, "ada.lovelace@example.com");
    assert_eq!(user.name, "Ada");
    assert_eq!(user.role, i32::from(pb::Role::User));
    assert!(user.is_active);
    assert!(!user.is_verified);
    assert!(user.id > 0 && user.create_time.is_some() && user.update_time.is_some());
    Ok(())
}

#[tokio::test]
async fn the_password_is_stored_as_an_argon2id_hash_only() -> TestResult {
    let app = spawn_app().await;
    let user = app.register("hash@example.com", "correct horse battery", "H").await?;
    let conn = app.state.pool.get().await?;
    let stored = auth_service::store::users::find(&conn, crate::helpers::id(user.id)).await?.ok_or("no user")?;
    assert!(stored.hashed_password.starts_with("$argon2id$v=19$"), "{}", stored.hashed_password);
    assert!(!stored.hashed_password.contains("correct horse"));
    Ok(())
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() -> TestResult {
    let app = spawn_app().await;
    let status =
        assert_error(app.register("not-an-email", "short", "   ").await, Code::InvalidArgument, "INVALID_ARGUMENT");
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["email", "name", "password"]);
    Ok(())
}

#[tokio::test]
async fn password_length_bounds_are_enforced() -> TestResult {
    let app = spawn_app().await;
    let too_long = "x".repeat(129);
    let status =
        assert_error(app.register("long@example.com", &too_long, "L").await, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&status), ["password"]);
    app.register("long@example.com", &"x".repeat(128), "L").await?;
    app.register("unicode@example.com", "pässwörd🔑", "U").await?;
    Ok(())
}

#[tokio::test]
async fn a_taken_email_is_already_exists_whatever_its_case() -> TestResult {
    let app = spawn_app().await;
    app.register("taken@example.com", "correct horse battery", "First").await?;
    let status = assert_error(
        app.register("TAKEN@example.com ", "another password", "Second").await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    assert!(!status.message().contains("First"));
    Ok(())
}

#[tokio::test]
async fn of_twenty_racing_registrations_of_one_email_exactly_one_wins() -> TestResult {
    let app = spawn_app().await;
    let email = format!("race-{}@example.com", unique());
    let attempts = (0..20).map(|i| {
        let app = &app;
        let email = email.clone();
        async move { app.register(&email, "correct horse battery", &format!("Racer {i}")).await }
    });
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|result| result.is_ok()).count();
    let conflicts = results.iter().filter(|r| r.as_ref().is_err_and(|s| s.code() == Code::AlreadyExists)).count();
    assert_eq!((wins, conflicts), (1, 19), "{results:?}");
    Ok(())
}

#[tokio::test]
async fn errors_name_the_auth_domain_and_bad_input_names_each_field() -> TestResult {
    use tonic_types::StatusExt;
    let app = spawn_app().await;
    let status = app.register("bad", "short", "").await.expect_err("invalid");
    let details = status.get_error_details();
    let info = details.error_info().ok_or("no ErrorInfo")?;
    assert_eq!((info.domain.as_str(), info.reason.as_str()), ("auth.v1", "INVALID_ARGUMENT"));
    let bad_request = details.bad_request().ok_or("no BadRequest")?;
    assert!(bad_request.field_violations.iter().all(|v| !v.description.is_empty()));
    Ok(())
}
