//! End to end: a counting double of the auth service (in `support`), a small protected service
//! behind the guard's layer, both on real sockets (port 0), called with the generated clients.

mod support;

use std::time::{Duration, Instant};

use api_client::GuardConfig;
use api_client::auth::v1::*;
use support::bed::{TestBed, bearer, reason};
use support::within;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_caller() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    bed.double.accept("ada-token", 42, Role::Admin, Duration::from_secs(3600));

    let me = bed.get_me(Some("ada-token")).await?;

    assert_eq!(me.id, 42);
    assert_eq!(me.email, "user42@example.com");
    assert_eq!(me.role, Role::Admin as i32);
    assert!(me.is_active);
    assert_eq!(bed.double.calls(), 1);
    Ok(())
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_is_refused_without_asking_the_auth_service() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;

    let missing = bed.get_me(None).await.expect_err("no token must be refused");
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(reason(&missing), "MISSING_TOKEN");

    let mut basic = Request::new(GetMeRequest {});
    basic.metadata_mut().insert("authorization", "Basic x".parse()?);
    let not_bearer = bed.client().get_me(basic).await.expect_err("a Basic credential must be refused");
    assert_eq!(not_bearer.code(), Code::Unauthenticated);
    assert_eq!(reason(&not_bearer), "INVALID_TOKEN");

    assert_eq!(bed.double.calls(), 0);
    Ok(())
}

#[tokio::test]
async fn a_refusal_of_the_auth_service_reaches_the_client_with_its_reason() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    bed.double.refuse("revoked", Code::Unauthenticated, "SESSION_REVOKED", "the session has ended; log in again");
    bed.double.refuse("disabled", Code::PermissionDenied, "ACCOUNT_DISABLED", "this account is disabled");

    let revoked = bed.get_me(Some("revoked")).await.expect_err("a revoked session must be refused");
    assert_eq!(revoked.code(), Code::Unauthenticated);
    assert_eq!(revoked.message(), "the session has ended; log in again");
    let info = revoked.get_details_error_info().expect("an ErrorInfo");
    assert_eq!((info.reason.as_str(), info.domain.as_str()), ("SESSION_REVOKED", "auth.v1"));

    let disabled = bed.get_me(Some("disabled")).await.expect_err("a disabled account must be refused");
    assert_eq!(disabled.code(), Code::PermissionDenied);
    assert_eq!(reason(&disabled), "ACCOUNT_DISABLED");
    Ok(())
}

#[tokio::test]
async fn refusals_are_never_cached() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    bed.double.refuse("expired", Code::Unauthenticated, "TOKEN_EXPIRED", "the access token has expired; refresh it");

    for _ in 0..3 {
        let refused = bed.get_me(Some("expired")).await.expect_err("an expired token must be refused");
        assert_eq!(reason(&refused), "TOKEN_EXPIRED");
    }

    assert_eq!(bed.double.calls(), 3);
    Ok(())
}

#[tokio::test]
async fn one_token_is_validated_once_while_its_answer_is_cached() -> anyhow::Result<()> {
    let config = GuardConfig { cache_ttl: Duration::from_secs(5), ..GuardConfig::default() };
    let bed = TestBed::spawn(config).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));

    for _ in 0..20 {
        assert_eq!(bed.get_me(Some("ada-token")).await?.id, 42);
    }

    assert_eq!(bed.double.calls(), 1);
    let stats = bed.guard.stats();
    assert_eq!((stats.cache_hits, stats.cache_misses), (19, 1));
    Ok(())
}

#[tokio::test]
async fn with_a_zero_ttl_every_request_asks_the_auth_service() -> anyhow::Result<()> {
    let config = GuardConfig { cache_ttl: Duration::ZERO, ..GuardConfig::default() };
    let bed = TestBed::spawn(config).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));

    for _ in 0..5 {
        assert_eq!(bed.get_me(Some("ada-token")).await?.id, 42);
    }

    assert_eq!(bed.double.calls(), 5);
    assert_eq!(bed.guard.cached_tokens().await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_for_one_token_share_a_single_validation() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));
    bed.double.delay(Duration::from_millis(200));

    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let mut client = bed.client();
        requests.spawn(async move { client.get_me(bearer("ada-token")).await });
    }
    let mut answered = 0;
    while let Some(answer) = requests.join_next().await {
        assert_eq!(answer??.into_inner().id, 42);
        answered += 1;
    }

    assert_eq!(answered, 20);
    assert_eq!(bed.double.calls(), 1);
    assert_eq!(bed.guard.stats().cache_misses, 1);
    Ok(())
}

#[tokio::test]
async fn a_cached_answer_is_not_used_after_its_token_expires() -> anyhow::Result<()> {
    let config = GuardConfig { cache_ttl: Duration::from_secs(60), ..GuardConfig::default() };
    let bed = TestBed::spawn(config).await?;
    bed.double.accept("short-lived", 42, Role::User, Duration::from_secs(1));

    bed.get_me(Some("short-lived")).await?;
    bed.get_me(Some("short-lived")).await?;
    assert_eq!(bed.double.calls(), 1, "within its lifetime the answer is cached");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    bed.double.refuse(
        "short-lived",
        Code::Unauthenticated,
        "TOKEN_EXPIRED",
        "the access token has expired; refresh it",
    );
    let expired = bed.get_me(Some("short-lived")).await.expect_err("an expired token must be refused");

    assert_eq!(reason(&expired), "TOKEN_EXPIRED");
    assert_eq!(bed.double.calls(), 2);
    Ok(())
}

#[tokio::test]
async fn the_cache_holds_no_more_tokens_than_its_capacity() -> anyhow::Result<()> {
    let config = GuardConfig { cache_capacity: 10, ..GuardConfig::default() };
    let bed = TestBed::spawn(config).await?;
    for user in 0..50 {
        bed.double.accept(&format!("token-{user}"), user, Role::User, Duration::from_secs(3600));
    }

    for user in 0..50 {
        assert_eq!(bed.get_me(Some(&format!("token-{user}"))).await?.id, user);
    }

    let cached = bed.guard.cached_tokens().await;
    assert!((1..=10).contains(&cached), "{cached} tokens cached");
    assert_eq!(bed.double.calls(), 50);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_auth_service_gives_unavailable_quickly() -> anyhow::Result<()> {
    // A port that was free a moment ago: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let config = GuardConfig::default();
    let bed = TestBed::spawn_with_auth_at(closed, config.clone()).await?;

    let started = Instant::now();
    let refused = within(config.call_timeout + Duration::from_secs(1), bed.get_me(Some("ada-token")))
        .await?
        .expect_err("nobody can vouch for the token");

    assert!(started.elapsed() < config.call_timeout + Duration::from_secs(1));
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(refused.message().starts_with("auth service unavailable: "), "{}", refused.message());
    assert_eq!(reason(&refused), "AUTH_UNAVAILABLE");
    Ok(())
}

#[tokio::test]
async fn a_stopped_auth_service_gives_unavailable_and_the_guard_recovers_when_it_returns() -> anyhow::Result<()> {
    let config = GuardConfig { cache_ttl: Duration::ZERO, ..GuardConfig::default() };
    let limit = config.call_timeout + Duration::from_secs(1);
    let mut bed = TestBed::spawn(config).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));
    bed.get_me(Some("ada-token")).await?;

    bed.stop_auth().await?;
    let refused = within(limit, bed.get_me(Some("ada-token"))).await?.expect_err("the auth service is down");
    assert_eq!(refused.code(), Code::Unavailable);
    assert_eq!(reason(&refused), "AUTH_UNAVAILABLE");

    bed.restart_auth().await?;
    let me = within(limit, bed.get_me(Some("ada-token"))).await??;
    assert_eq!(me.id, 42);
    Ok(())
}

#[tokio::test]
async fn a_slow_auth_service_gives_deadline_exceeded_at_the_call_timeout() -> anyhow::Result<()> {
    let config = GuardConfig { call_timeout: Duration::from_millis(300), ..GuardConfig::default() };
    let bed = TestBed::spawn(config).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));
    bed.double.delay(Duration::from_secs(3));

    let started = Instant::now();
    let late =
        within(Duration::from_secs(2), bed.get_me(Some("ada-token"))).await?.expect_err("the answer comes too late");

    assert!(started.elapsed() < Duration::from_millis(1300), "took {:?}", started.elapsed());
    assert_eq!(late.code(), Code::DeadlineExceeded);
    assert_eq!(late.message(), "auth service did not answer within 300ms");
    assert_eq!(reason(&late), "AUTH_TIMEOUT");
    Ok(())
}

#[tokio::test]
async fn health_checks_need_no_token() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    let mut health = HealthClient::new(bed.app_channel.clone());

    for service in ["", "auth.v1.UserService"] {
        let answer = health.check(HealthCheckRequest { service: service.to_owned() }).await?.into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32);
    }

    assert_eq!(bed.double.calls(), 0);
    Ok(())
}

#[tokio::test]
async fn the_request_id_of_the_incoming_call_reaches_the_auth_service() -> anyhow::Result<()> {
    let bed = TestBed::spawn(GuardConfig::default()).await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));

    let mut request = bearer("ada-token");
    request.metadata_mut().insert("x-request-id", "req-7f3a".parse()?);
    bed.client().get_me(request).await?;

    assert_eq!(bed.double.request_ids(), vec!["req-7f3a".to_owned()]);
    Ok(())
}
