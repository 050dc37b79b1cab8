//! ValidateTokens: many tokens in one call, each answered as ValidateToken answers it; and the
//! guard of api-client sending its waiting validations that way.

use std::time::Duration;

use api_client::auth::v1 as pb;
use api_client::auth::v1::token_verdict::Outcome;
use api_client::{AuthGuard, GuardConfig};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use auth_service::settings::Settings;

use crate::helpers::{TestApp, TestResult, assert_error, spawn_app, spawn_app_with, violated_fields};

/// Two users' tokens, a token whose session was logged out, and garbage.
async fn mixed_tokens(app: &TestApp) -> [String; 4] {
    let ada = app.new_user().await.tokens.access_token;
    let bob = app.new_user().await;
    let logged_out = app.new_user().await;
    let logout = pb::LogoutRequest { refresh_token: logged_out.tokens.refresh_token.clone() };
    app.auth.clone().logout(logout).await.expect("logout");
    [ada, bob.tokens.access_token, logged_out.tokens.access_token, "garbage".to_owned()]
}

async fn validate_many(app: &TestApp, tokens: Vec<String>) -> Result<Vec<pb::TokenVerdict>, Status> {
    let request = pb::ValidateTokensRequest { access_tokens: tokens };
    Ok(app.auth.clone().validate_tokens(request).await?.into_inner().verdicts)
}

#[tokio::test]
async fn each_verdict_is_what_validate_token_answers_for_its_token() -> TestResult {
    verdicts_match_validate_token(&spawn_app().await).await
}

#[tokio::test]
async fn each_verdict_is_what_validate_token_answers_with_sessions_read_from_the_database() -> TestResult {
    // Nothing held in memory: every session of the batch is loaded.
    verdicts_match_validate_token(&spawn_app_with(|settings: &mut Settings| settings.session_cache_capacity = 0).await)
        .await
}

async fn verdicts_match_validate_token(app: &TestApp) -> TestResult {
    let [ada, bob, logged_out, garbage] = mixed_tokens(app).await;
    let tokens = vec![ada.clone(), garbage, bob, logged_out, ada];

    let verdicts = validate_many(app, tokens.clone()).await?;

    assert_eq!(verdicts.len(), tokens.len());
    let mut refused = Vec::new();
    for (token, verdict) in tokens.iter().zip(verdicts) {
        match (app.validate(token).await, verdict.outcome.ok_or("a verdict without outcome")?) {
            (Ok(alone), Outcome::Caller(together)) => assert_eq!(alone, together),
            (Err(alone), Outcome::Refusal(together)) => {
                assert_eq!(together.code, i32::from(alone.code()));
                assert_eq!(together.message, alone.message());
                assert_eq!(together.details, alone.details());
                let info = alone.get_error_details().error_info().cloned().ok_or("no ErrorInfo")?;
                assert_eq!(together.reason, info.reason);
                refused.push(together.reason);
            }
            (alone, together) => panic!("ValidateToken said {alone:?}, ValidateTokens {together:?}"),
        }
    }
    assert_eq!(refused, ["INVALID_TOKEN", "SESSION_REVOKED"]);
    Ok(())
}

#[tokio::test]
async fn a_call_without_tokens_or_with_more_than_a_thousand_is_invalid_argument() -> TestResult {
    let app = spawn_app().await;
    for count in [0, 1001] {
        let refused = assert_error(
            validate_many(&app, vec!["garbage".to_owned(); count]).await,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
        );
        assert_eq!(violated_fields(&refused), ["access_tokens"]);
    }
    let verdicts = validate_many(&app, vec!["garbage".to_owned(); 1000]).await?;
    assert_eq!(verdicts.len(), 1000);
    assert!(
        verdicts
            .iter()
            .all(|verdict| matches!(&verdict.outcome, Some(Outcome::Refusal(r)) if r.reason == "INVALID_TOKEN"))
    );
    Ok(())
}

#[tokio::test]
async fn the_guard_sends_validations_waiting_for_a_call_slot_together() -> TestResult {
    let app = spawn_app().await;
    let [ada, bob, logged_out, garbage] = mixed_tokens(&app).await;
    let config = GuardConfig { cache_ttl: Duration::ZERO, calls_in_flight: 1, ..GuardConfig::default() };
    let guard = AuthGuard::new(app.channel.clone(), config);
    let tokens = [&ada, &bob, &ada, &logged_out, &bob, &garbage];

    // Polled together: the first takes the only call slot, the five others wait for it.
    let answers = futures::future::join_all(tokens.iter().map(|token| guard.authenticate(token, None))).await;

    let expected = [app.validate(&ada).await?.user_id, app.validate(&bob).await?.user_id];
    let [first, second, third, fourth, fifth, sixth] = <[_; 6]>::try_from(answers).expect("six answers");
    assert_eq!(first?.user_id, expected[0]);
    assert_eq!(second?.user_id, expected[1]);
    assert_eq!(third?.user_id, expected[0]);
    assert_error(fourth, Code::Unauthenticated, "SESSION_REVOKED");
    assert_eq!(fifth?.user_id, expected[1]);
    assert_error(sixth, Code::Unauthenticated, "INVALID_TOKEN");
    let stats = guard.stats();
    assert_eq!((stats.cache_misses, stats.batch_calls, stats.batched_validations), (6, 1, 5));
    Ok(())
}
