//! Operating both services: health, reflection, request ids across services, logs free of
//! secrets, metrics, load shedding. Its own test binary, because it captures the process's logs.

#[allow(dead_code, unused_imports, reason = "shared with the api tests; each binary uses a part")]
#[path = "support/mod.rs"]
mod helpers;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use api_client::auth::v1::Role;
use api_client::resource::v1 as pb;
use devkit::{ClusterOptions, PostgresCluster};
use helpers::{StackOptions, TestResult, authed, spawn_stack, spawn_stack_with, unique};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Every log line of this process, as JSON.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let filter = tracing_subscriber::EnvFilter::new("debug,h2=info,hyper=info,tower=info,tokio_postgres=info");
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .init();
        logs
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    captured_logs().lock().map(|logs| String::from_utf8_lossy(&logs).into_owned()).unwrap_or_default()
}

fn with_metrics() -> StackOptions {
    StackOptions {
        auth: Some(Box::new(|settings| settings.server.metrics_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0))))),
        resource: Some(Box::new(|settings| {
            settings.server.metrics_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
            settings.guard.cache_ttl = Duration::from_secs(60);
        })),
        ..StackOptions::default()
    }
}

async fn scrape(addr: SocketAddr) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    Ok(response)
}

/// The value of the first series line starting with `prefix`.
fn series(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|line| line.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

async fn health_of(addr: SocketAddr, service: &str) -> Result<ServingStatus, Box<dyn std::error::Error + Send + Sync>> {
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: service.into() }).await?;
    Ok(response.into_inner().status())
}

async fn wait_for_health(addr: SocketAddr, service: &str, wanted: ServingStatus) -> TestResult {
    for _ in 0..100 {
        if health_of(addr, service).await? == wanted {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{service:?} never became {wanted:?}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn one_request_id_joins_the_log_lines_of_both_services_and_comes_back() -> TestResult {
    captured_logs();
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| settings.guard.cache_ttl = Duration::ZERO)),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    let request_id = format!("join-{}", unique());
    let mut request = authed(pb::CreateResourceRequest { title: "joined".into(), content: None }, &user.token);
    request.metadata_mut().insert("x-request-id", request_id.parse()?);
    let response = stack.resources.clone().create_resource(request).await?;
    assert_eq!(response.metadata().get("x-request-id").and_then(|v| v.to_str().ok()), Some(request_id.as_str()));

    let logs = log_text();
    let lines: Vec<&str> = logs.lines().filter(|line| line.contains(&request_id)).collect();
    assert!(
        lines.iter().any(|l| l.contains("resource.v1.ResourceService") && l.contains("rpc finished")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("auth.v1.AuthService") && l.contains("ValidateToken")), "{lines:#?}");

    // A call without an id gets one generated, and returned.
    let plain =
        stack.resources.clone().list_resources(authed(pb::ListResourcesRequest::default(), &user.token)).await?;
    let generated = plain.metadata().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(generated.len(), 36, "{generated:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_password_token_or_hash_ever_reaches_a_log_line() -> TestResult {
    captured_logs();
    let stack = spawn_stack().await;
    let password = format!("pw-{}-very-secret", unique());
    let email = format!("secret-{}@example.com", unique());
    let mut auth = stack.auth_client.clone();
    auth.register(api_client::auth::v1::RegisterRequest {
        email: email.clone(),
        password: password.clone(),
        name: "S".into(),
    })
    .await?;
    let login = auth
        .login(api_client::auth::v1::LoginRequest { email: email.clone(), password: password.clone() })
        .await?
        .into_inner();
    let tokens = login.tokens.ok_or("no tokens")?;
    let wrong = auth
        .login(api_client::auth::v1::LoginRequest { email: email.clone(), password: format!("{password}-wrong") })
        .await;
    assert_eq!(wrong.map(drop).map_err(|s| s.code()), Err(Code::Unauthenticated));
    stack.resources.clone().list_resources(authed(pb::ListResourcesRequest::default(), &tokens.access_token)).await?;
    let refreshed =
        auth.refresh(api_client::auth::v1::RefreshRequest { refresh_token: tokens.refresh_token.clone() }).await?;
    let refreshed = refreshed.into_inner().tokens.ok_or("no tokens")?;
    auth.logout(api_client::auth::v1::LogoutRequest { refresh_token: refreshed.refresh_token.clone() }).await?;
    // Reuse: the service logs a warning about it, without the token.
    let _ = auth.refresh(api_client::auth::v1::RefreshRequest { refresh_token: tokens.refresh_token.clone() }).await;

    let logs = log_text();
    assert!(logs.contains("rpc finished"), "the logs were not captured");
    let hash = stack.password_hash_of(&email).await;
    let secrets = [
        ("password", password.as_str()),
        ("access token", tokens.access_token.as_str()),
        ("refresh token", tokens.refresh_token.as_str()),
        ("new access token", refreshed.access_token.as_str()),
        ("new refresh token", refreshed.refresh_token.as_str()),
        ("password hash", hash.as_str()),
        ("hash salt+digest", hash.rsplit('$').next().unwrap_or("x")),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "a {what} reached the logs");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_and_count_calls_pool_and_cache() -> TestResult {
    let stack = spawn_stack_with(with_metrics()).await;
    let user = stack.user(Role::User).await;
    let resource_metrics = stack.resource.metrics_addr.ok_or("resource metrics off")?;
    let auth_metrics = stack.auth.metrics_addr.ok_or("auth metrics off")?;
    let handled = r#"grpc_server_handled_total{grpc_type="unary",grpc_service="resource.v1.ResourceService",grpc_method="ListResources",grpc_code="OK"}"#;
    let before = series(&scrape(resource_metrics).await?, handled).unwrap_or(0.0);
    for _ in 0..3 {
        stack.list(&user, pb::ListResourcesRequest::default()).await?;
    }
    let text = scrape(resource_metrics).await?;
    assert_eq!(series(&text, handled), Some(before + 3.0), "{text}");
    assert!(text.contains("grpc_server_handling_seconds_bucket"), "{text}");
    assert!(series(&text, "auth_client_cache_hits_total").unwrap_or(0.0) >= 2.0, "{text}");
    assert!(series(&text, "auth_client_cache_misses_total").unwrap_or(0.0) >= 1.0, "{text}");
    assert!(series(&text, "auth_client_validation_seconds_count").unwrap_or(0.0) >= 1.0, "{text}");
    // One request at a time never waits for a call slot, so nothing went in a batch.
    assert_eq!(series(&text, "auth_client_batch_calls_total"), Some(0.0), "{text}");
    assert_eq!(series(&text, "auth_client_batched_validations_total"), Some(0.0), "{text}");
    assert!(text.contains("db_pool_connections_idle"), "{text}");
    assert!(text.contains("db_pool_waits_total"), "{text}");
    // The three listings shared one read connection, opened once.
    assert_eq!(series(&text, "db_shared_reads_connections_open"), Some(1.0), "{text}");
    assert_eq!(series(&text, "db_shared_reads_connects_total"), Some(1.0), "{text}");
    assert_eq!(series(&text, "db_shared_reads_connect_failures_total"), Some(0.0), "{text}");
    assert!(series(&text, "db_shared_writes_connections_configured").is_some(), "{text}");

    let auth_text = scrape(auth_metrics).await?;
    let validate = r#"grpc_server_handled_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="ValidateToken",grpc_code="OK"}"#;
    assert!(series(&auth_text, validate).unwrap_or(0.0) >= 1.0, "{auth_text}");
    let unauthenticated = stack
        .list(
            &helpers::User { id: 0, token: "bad".into(), refresh_token: String::new() },
            pb::ListResourcesRequest::default(),
        )
        .await;
    assert!(unauthenticated.is_err());
    let text = scrape(resource_metrics).await?;
    assert!(text.contains(r#"grpc_method="ListResources",grpc_code="Unauthenticated"}"#), "{text}");
    Ok(())
}

/// Calls `path` with an empty message over `channel`, as a caller inventing methods would.
async fn call_path(channel: Channel, path: &str) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let path = path.parse().map_err(|_| tonic::Status::invalid_argument("path"))?;
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    grpc.unary(tonic::Request::new(()), path, codec).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn made_up_paths_share_one_unknown_series() -> TestResult {
    let stack = spawn_stack_with(with_metrics()).await;
    let user = stack.user(Role::User).await;
    let resource_metrics = stack.resource.metrics_addr.ok_or("resource metrics off")?;
    let channel = Channel::from_shared(format!("http://{}", stack.resource.addr))?.connect().await?;
    for index in 0..20 {
        let status = call_path(channel.clone(), &format!("/ghost.v{index}.Ghost/Haunt{index}")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    stack.list(&user, pb::ListResourcesRequest::default()).await?;
    let text = scrape(resource_metrics).await?;
    assert!(!text.contains("ghost"), "{text}");
    let started = r#"grpc_server_started_total{grpc_type="unary",grpc_service="unknown",grpc_method="unknown"}"#;
    assert_eq!(series(&text, started), Some(20.0), "{text}");
    let refused = r#"grpc_server_handled_total{grpc_type="unary",grpc_service="unknown",grpc_method="unknown",grpc_code="Unauthenticated"}"#;
    assert_eq!(series(&text, refused), Some(20.0), "{text}");
    let listed = r#"grpc_server_started_total{grpc_type="unary",grpc_service="resource.v1.ResourceService",grpc_method="ListResources"}"#;
    assert_eq!(series(&text, listed), Some(1.0), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_watch_is_counted_as_a_server_stream() -> TestResult {
    use tokio_stream::StreamExt;
    let stack = spawn_stack_with(with_metrics()).await;
    let resource_metrics = stack.resource.metrics_addr.ok_or("resource metrics off")?;
    let channel = Channel::from_shared(format!("http://{}", stack.resource.addr))?.connect().await?;
    let mut updates = HealthClient::new(channel).watch(HealthCheckRequest::default()).await?.into_inner();
    // The first update is the current status (not yet Serving while the first checks run).
    let first = updates.next().await.ok_or("the watch ended at once")??;
    assert_ne!(first.status(), ServingStatus::Unknown);
    let text = scrape(resource_metrics).await?;
    let watched = r#"grpc_server_started_total{grpc_type="server_stream",grpc_service="grpc.health.v1.Health",grpc_method="Watch"}"#;
    assert_eq!(series(&text, watched), Some(1.0), "{text}");
    assert!(!text.contains(r#"grpc_type="unary",grpc_service="grpc.health.v1.Health",grpc_method="Watch""#), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_v1_and_v1alpha_list_every_service() -> TestResult {
    use tokio_stream::StreamExt;
    let stack = spawn_stack().await;
    for (addr, expected) in [
        (stack.auth.addr, vec!["auth.v1.AuthService", "auth.v1.UserService", "grpc.health.v1.Health"]),
        (stack.resource.addr, vec!["grpc.health.v1.Health", "resource.v1.ResourceService"]),
    ] {
        let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
        // v1
        {
            use tonic_reflection::pb::v1::ServerReflectionRequest;
            use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = ServerReflectionClient::new(channel.clone())
                .server_reflection_info(tokio_stream::iter([request]))
                .await?
                .into_inner();
            let Some(MessageResponse::ListServicesResponse(list)) =
                stream.next().await.transpose()?.and_then(|r| r.message_response)
            else {
                return Err("no v1 list".into());
            };
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            assert!(expected.iter().all(|e| names.iter().any(|n| n == e)), "v1 on {addr}: {names:?}");
        }
        // v1alpha
        {
            use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
            use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
            use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = ServerReflectionClient::new(channel)
                .server_reflection_info(tokio_stream::iter([request]))
                .await?
                .into_inner();
            let Some(MessageResponse::ListServicesResponse(list)) =
                stream.next().await.transpose()?.and_then(|r| r.message_response)
            else {
                return Err("no v1alpha list".into());
            };
            let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            assert!(expected.iter().all(|e| names.iter().any(|n| n == e)), "v1alpha on {addr}: {names:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_can_be_switched_off() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| settings.server.reflection = false)),
        ..StackOptions::default()
    })
    .await;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let channel = Channel::from_shared(format!("http://{}", stack.resource.addr))?.connect().await?;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let result = ServerReflectionClient::new(channel).server_reflection_info(tokio_stream::iter([request])).await;
    assert_eq!(result.map(drop).map_err(|s| s.code()), Err(Code::Unimplemented));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn health_follows_the_database_and_not_the_auth_service() -> TestResult {
    let data_dir = devkit::scratch_dir(&format!("health-{}", unique()))?;
    let options = ClusterOptions { data_dir: data_dir.clone(), port: None, throwaway: true };
    let cluster = tokio::task::spawn_blocking(move || PostgresCluster::start(options)).await??;
    let port = cluster.port();
    let url = cluster.url("postgres");
    shared::migrate::run_pending(&url).await?;
    let fast_checks = |interval| move |settings: &mut service_kit::ServerSettings| settings.health_interval = interval;
    let mut stack = spawn_stack_with(StackOptions {
        auth: Some(Box::new(move |settings| fast_checks(Duration::from_millis(100))(&mut settings.server))),
        resource: Some(Box::new(move |settings| fast_checks(Duration::from_millis(100))(&mut settings.server))),
        database_url: Some(url),
    })
    .await;
    let (auth, resource) = (stack.auth.addr, stack.resource.addr);
    for (addr, service) in [
        (auth, ""),
        (auth, "auth.v1.AuthService"),
        (auth, "auth.v1.UserService"),
        (resource, ""),
        (resource, "resource.v1.ResourceService"),
    ] {
        wait_for_health(addr, service, ServingStatus::Serving).await?;
    }
    // The auth service going away leaves the resource service in rotation.
    stack.auth.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health_of(resource, "resource.v1.ResourceService").await?, ServingStatus::Serving);
    stack.restart_auth().await;

    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    for (addr, service) in
        [(auth, ""), (auth, "auth.v1.AuthService"), (resource, ""), (resource, "resource.v1.ResourceService")]
    {
        wait_for_health(addr, service, ServingStatus::NotServing).await?;
    }
    let options = ClusterOptions { data_dir, port: Some(port), throwaway: false };
    let cluster = tokio::task::spawn_blocking(move || PostgresCluster::start(options)).await??;
    for (addr, service) in [(auth, ""), (resource, "resource.v1.ResourceService")] {
        wait_for_health(addr, service, ServingStatus::Serving).await?;
    }
    drop(stack);
    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_is_refused_at_once_with_resource_exhausted() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        auth: Some(Box::new(|settings| {
            settings.server.max_concurrent_rpcs = 2;
            settings.passwords.cost = auth_service::passwords::HashCost::default();
        })),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    let _ = user;
    let login = |auth: &mut api_client::auth::v1::auth_service_client::AuthServiceClient<Channel>| {
        let mut auth = auth.clone();
        async move {
            let started = Instant::now();
            let result = auth
                .login(api_client::auth::v1::LoginRequest {
                    email: "nobody@example.com".into(),
                    password: "whatever pw".into(),
                })
                .await;
            (result.map(drop), started.elapsed())
        }
    };
    let mut client = stack.auth_client.clone();
    let results = futures::future::join_all((0..30).map(|_| login(&mut client))).await;
    let shed: Vec<Duration> = results
        .iter()
        .filter(|(result, _)| result.as_ref().is_err_and(|s| s.code() == Code::ResourceExhausted))
        .map(|(_, elapsed)| *elapsed)
        .collect();
    let served: Vec<Duration> = results
        .iter()
        .filter(|(result, _)| result.as_ref().is_err_and(|s| s.code() == Code::Unauthenticated))
        .map(|(_, elapsed)| *elapsed)
        .collect();
    assert!(!shed.is_empty() && !served.is_empty(), "shed {} / served {}", shed.len(), served.len());
    assert_eq!(shed.len() + served.len(), 30, "{results:?}");
    for (result, _) in &results {
        if let Err(status) = result
            && status.code() == Code::ResourceExhausted
        {
            helpers::assert_error(Err::<(), _>(status.clone()), Code::ResourceExhausted, "OVERLOADED");
        }
    }
    // Shedding does not queue: a refused call comes back before the slowest served one.
    let slowest_served = served.iter().max().copied().unwrap_or_default();
    let slowest_shed = shed.iter().max().copied().unwrap_or_default();
    assert!(slowest_shed < slowest_served, "shed {slowest_shed:?} vs served {slowest_served:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_past_the_server_deadline_is_deadline_exceeded() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        auth: Some(Box::new(|settings| {
            settings.server.rpc_timeout = Duration::from_millis(5);
            settings.passwords.cost = auth_service::passwords::HashCost::default();
        })),
        ..StackOptions::default()
    })
    .await;
    let slow = stack
        .auth_client
        .clone()
        .login(api_client::auth::v1::LoginRequest { email: "nobody@example.com".into(), password: "a password".into() })
        .await;
    helpers::assert_error(slow, Code::DeadlineExceeded, "RPC_TIMEOUT");
    // Health checks are exempt from the deadline and the limit.
    assert_eq!(health_of(stack.auth.addr, "liveness").await?, ServingStatus::Serving);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_over_the_size_limit_is_refused() -> TestResult {
    let stack = spawn_stack_with(StackOptions {
        resource: Some(Box::new(|settings| settings.server.max_message_bytes = 64 * 1024)),
        ..StackOptions::default()
    })
    .await;
    let user = stack.user(Role::User).await;
    let big = "x".repeat(100 * 1024);
    let refused = stack.create(&user, "too big", Some(&big)).await.expect_err("over the limit");
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{}", refused.message());
    stack.create(&user, "small enough", Some(&"x".repeat(1024))).await?;
    Ok(())
}
