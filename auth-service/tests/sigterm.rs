//! The real binary under load: SIGTERM drains in-flight calls, then the process exits 0, on
//! either of the runtimes `service_kit::runtime` picks (one worker: single-threaded).

use std::process::Stdio;
use std::time::Duration;

use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::{LoginRequest, RegisterRequest};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_lets_every_in_flight_call_finish_and_exits_zero() -> TestResult {
    drains_under_load("2", "work-stealing, 2 workers").await
}

#[tokio::test(flavor = "multi_thread")]
async fn on_one_worker_thread_the_service_serves_and_drains_alike() -> TestResult {
    drains_under_load("1", "single-threaded").await
}

#[tokio::test]
async fn a_worker_count_that_is_not_a_positive_number_stops_the_binary_with_the_variable_named() -> TestResult {
    let output = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .env_clear()
        .env("TOKIO_WORKER_THREADS", "0")
        .env("AUTH_JWT_SECRET", "a signing secret of at least thirty-two bytes")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TOKIO_WORKER_THREADS must be a positive whole number"), "{stderr}");
    Ok(())
}

/// Starts the binary with `worker_threads` (and checks it says it runs `scheduler`), puts 40
/// logins in flight, sends SIGTERM.
async fn drains_under_load(worker_threads: &str, scheduler: &str) -> TestResult {
    let database = devkit::test_database().await?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .env_clear()
        .env("TOKIO_WORKER_THREADS", worker_threads)
        .env("DATABASE_URL", &database.url)
        .env("AUTH_JWT_SECRET", "a signing secret of at least thirty-two bytes")
        .env("AUTH_LISTEN_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "")
        .env("AUTH_MAX_CONCURRENT_HASHES", "2")
        .env("SHUTDOWN_GRACE_PERIOD", "20s")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut logs = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
    let address = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = logs.next_line().await? {
            if line.contains("\"listening\"") {
                let expected = format!("\"scheduler\":\"{scheduler}\"");
                assert!(line.contains(&expected), "{line}");
                let address = line.split("\"address\":\"").nth(1).and_then(|rest| rest.split('"').next());
                return Ok::<_, std::io::Error>(address.map(str::to_owned));
            }
        }
        Ok(None)
    })
    .await??
    .ok_or("the service never said where it listens")?;
    let log_drain = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = logs.next_line().await {
            lines.push(line);
        }
        lines
    });

    let mut client = AuthServiceClient::connect(format!("http://{address}")).await?;
    let email = "drain@example.com".to_owned();
    let password = "correct horse battery".to_owned();
    client.register(RegisterRequest { email: email.clone(), password: password.clone(), name: "D".into() }).await?;

    // 40 logins at production argon2 cost on 2 hashing slots take several hundred milliseconds.
    let calls = (0..40).map(|_| {
        let mut client = client.clone();
        let request = LoginRequest { email: email.clone(), password: password.clone() };
        async move { client.login(request).await.map(drop) }
    });
    let load = tokio::spawn(futures::future::join_all(calls));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!load.is_finished(), "the logins must still be in flight when SIGTERM arrives");
    let pid = child.id().ok_or("no pid")?;
    let killed = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
    assert!(killed.success());

    let results = tokio::time::timeout(Duration::from_secs(30), load).await??;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{} of 40 in-flight calls failed: {failed:?}", failed.len());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    let lines = log_drain.await?;
    assert!(lines.iter().any(|l| l.contains("shutting down")), "{lines:#?}");
    // Nothing may be accepted after the drain: the port is closed.
    assert!(AuthServiceClient::connect(format!("http://{address}")).await.is_err());
    Ok(())
}
