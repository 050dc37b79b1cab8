//! A balanced channel finds the service through DNS and serves calls.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn a_balanced_channel_reaches_the_service_its_name_resolves_to() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(Server::builder().add_service(health).serve_with_incoming(TcpListenerStream::new(listener)));

    let config = api_client::ClientConfig { request_timeout: Duration::from_secs(5), ..Default::default() };
    let channel =
        api_client::connect_balanced(&format!("http://localhost:{port}"), &config, Duration::from_millis(200))?;
    let mut client = HealthClient::new(channel);
    for _ in 0..5 {
        let answer = client.check(HealthCheckRequest { service: String::new() }).await?;
        assert_eq!(answer.into_inner().status, 1, "SERVING");
    }
    Ok(())
}

#[test]
fn a_bad_url_is_refused_before_any_resolution() {
    let error =
        api_client::connect_balanced("ftp://auth:21", &api_client::ClientConfig::default(), Duration::from_secs(1));
    assert!(matches!(error, Err(api_client::ConnectError::InvalidUrl { .. })));
}
