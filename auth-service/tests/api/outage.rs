//! The database going away and coming back.

use std::time::Duration;

use devkit::{ClusterOptions, PostgresCluster};
use tonic::Code;

use crate::helpers::{TestResult, assert_error, spawn_app_on, test_settings, unique};

async fn start_cluster(options: ClusterOptions) -> Result<PostgresCluster, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tokio::task::spawn_blocking(move || PostgresCluster::start(options)).await??)
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_database_is_down_calls_are_unavailable_and_service_recovers_by_itself() -> TestResult {
    let data_dir = devkit::scratch_dir(&format!("outage-{}", unique()))?;
    let cluster = start_cluster(ClusterOptions { data_dir: data_dir.clone(), port: None, throwaway: true }).await?;
    let port = cluster.port();
    let url = cluster.url("postgres");
    shared::migrate::run_pending(&url).await?;
    let app = spawn_app_on(test_settings(&url)).await;
    let user = app.new_user().await;

    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    let during = tokio::time::timeout(Duration::from_secs(10), app.validate(&user.tokens.access_token)).await?;
    let status = assert_error(during, Code::Unavailable, "DATABASE_UNAVAILABLE");
    assert!(status.message().contains("database"), "{}", status.message());
    let register =
        tokio::time::timeout(Duration::from_secs(10), app.register("down@example.com", "correct horse battery", "D"))
            .await?;
    assert_error(register, Code::Unavailable, "DATABASE_UNAVAILABLE");

    let cluster = start_cluster(ClusterOptions { data_dir, port: Some(port), throwaway: false }).await?;
    let mut recovered = false;
    for _ in 0..50 {
        if app.validate(&user.tokens.access_token).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the service did not recover after the database came back");
    app.register("up-again@example.com", "correct horse battery", "U").await?;
    app.stop().await;
    tokio::task::spawn_blocking(move || cluster.stop()).await??;
    Ok(())
}
