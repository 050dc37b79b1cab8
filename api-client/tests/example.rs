//! Runs the example backend (`examples/protected_service.rs`, included as a module, so this is
//! exactly the example's code) against the counting auth double, on real sockets (port 0), and
//! calls it the way a client of the crate would: `connect`, `BearerToken`, `StatusReason`.

mod support;

#[path = "../examples/protected_service.rs"]
#[expect(dead_code, reason = "the example's `main` is its entry point, not the test's")]
mod example;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use api_client::auth::v1::Role;
use api_client::{BearerToken, ClientConfig, ErrorReason, StatusReason, connect};
use example::greeter::SayHelloRequest;
use example::greeter::greeter_client::GreeterClient;
use support::{AuthDouble, Running, serve_auth_double, within};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn a_caller_with_a_valid_token_is_greeted_by_the_identity_the_auth_service_vouched_for() -> anyhow::Result<()> {
    let bed = ExampleBed::spawn().await?;
    bed.double.accept("ada-token", 42, Role::User, Duration::from_secs(3600));

    let mut greeter = GreeterClient::with_interceptor(bed.channel.clone(), BearerToken::new("ada-token")?);
    let hello = greeter.say_hello(SayHelloRequest {}).await?.into_inner();

    assert_eq!(hello.user_id, 42);
    assert_eq!(hello.email, "user42@example.com");
    assert_eq!(hello.message, "Hello, user42@example.com!");
    assert_eq!(bed.double.calls(), 1);
    Ok(())
}

#[tokio::test]
async fn a_call_without_a_token_is_refused_with_missing_token() -> anyhow::Result<()> {
    let bed = ExampleBed::spawn().await?;

    let refused = GreeterClient::new(bed.channel.clone())
        .say_hello(SayHelloRequest {})
        .await
        .expect_err("a call without a token must be refused");

    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.reason(), Some(ErrorReason::MissingToken));
    assert_eq!(refused.error_domain().as_deref(), Some("auth.v1"));
    assert_eq!(bed.double.calls(), 0, "the auth service is not asked about nothing");
    Ok(())
}

#[tokio::test]
async fn a_call_with_a_token_of_a_revoked_session_is_refused_with_session_revoked() -> anyhow::Result<()> {
    let bed = ExampleBed::spawn().await?;
    bed.double.refuse("revoked", Code::Unauthenticated, "SESSION_REVOKED", "the session has ended; log in again");

    let mut greeter = GreeterClient::with_interceptor(bed.channel.clone(), BearerToken::new("revoked")?);
    let refused = greeter.say_hello(SayHelloRequest {}).await.expect_err("a revoked session must be refused");

    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "the session has ended; log in again");
    assert_eq!(refused.reason(), Some(ErrorReason::SessionRevoked));
    assert_eq!(refused.reason().map(|reason| reason.code()), Some(refused.code()));
    Ok(())
}

#[tokio::test]
async fn health_checks_of_the_example_need_no_token() -> anyhow::Result<()> {
    let bed = ExampleBed::spawn().await?;

    let answer = HealthClient::new(bed.channel.clone())
        .check(HealthCheckRequest { service: "greeter.v1.Greeter".to_owned() })
        .await?
        .into_inner();

    assert_eq!(answer.status, ServingStatus::Serving as i32);
    assert_eq!(bed.double.calls(), 0);
    Ok(())
}

#[test]
fn the_example_takes_its_options_from_flags_then_environment_then_defaults() -> anyhow::Result<()> {
    let args = |list: &[&str]| list.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>().into_iter();
    let env: HashMap<&str, &str> = HashMap::from([("AUTH_SERVICE_URL", "http://auth:50051")]);
    let from_env = |name: &str| env.get(name).map(|value| (*value).to_owned());

    let flags = example::Options::parse(args(&["--auth-url", "http://a:1", "--listen", "0.0.0.0:9"]), from_env)?;
    assert_eq!(flags.auth_url, "http://a:1");
    assert_eq!(flags.listen, "0.0.0.0:9".parse::<SocketAddr>()?);

    let fallback = example::Options::parse(args(&[]), from_env)?;
    assert_eq!(fallback.auth_url, "http://auth:50051");
    assert_eq!(fallback.listen, "127.0.0.1:50053".parse::<SocketAddr>()?);

    assert!(example::Options::parse(args(&["--listen"]), from_env).is_err());
    assert!(example::Options::parse(args(&["--verbose"]), from_env).is_err());
    Ok(())
}

/// The auth double, the example serving on port 0 with its guard pointed at the double, and a
/// channel to the example made with the crate's `connect`.
struct ExampleBed {
    double: AuthDouble,
    channel: Channel,
    _auth: Running,
    /// Dropping it shuts the example down.
    _stop_example: oneshot::Sender<()>,
}

impl ExampleBed {
    async fn spawn() -> anyhow::Result<Self> {
        let double = AuthDouble::default();
        let auth = serve_auth_double(&double, "127.0.0.1:0".parse()?).await?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let example_addr = listener.local_addr()?;
        let auth_url = format!("http://{}", auth.addr);
        let (stop_example, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = example::serve(listener, &auth_url, shutdown).await {
                panic!("the example failed: {error:#}");
            }
        });

        let config = ClientConfig { connect_timeout: Duration::from_secs(2), ..ClientConfig::default() };
        let channel = within(Duration::from_secs(5), connect(&format!("http://{example_addr}"), &config)).await??;
        Ok(Self { double, channel, _auth: auth, _stop_example: stop_example })
    }
}
