//! One connection carries many small answers at once without being closed by h2's guard
//! against floods of small DATA frames.

use std::time::Duration;

use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Calls started together on one channel.
const CALLS: usize = 1000;

/// A unary gRPC answer is one small DATA frame before its trailers. h2 charges every small frame
/// to a budget until the caller reads it, and closes the whole connection (GOAWAY
/// ENHANCE_YOUR_CALM, "too_many_data_frames") when the budget runs out; the budget is half the
/// client's connection window. With a 64 KiB window (where hyper's adaptive window starts) about
/// 130 answers that arrive before their callers run were enough: the resource service lost its
/// connection to the auth service under 256 concurrent cache misses.
#[tokio::test(flavor = "current_thread")]
async fn a_thousand_small_answers_at_once_keep_the_connection() -> anyhow::Result<()> {
    // Bound here, registered with the server's own runtime in its thread.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    // The server answers from threads of its own, so answers pile up while the client is busy.
    let _server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            Server::builder().add_service(health).serve_with_incoming(TcpListenerStream::new(listener)).await?;
            anyhow::Ok(())
        })?;
        anyhow::Ok(())
    });

    let config = api_client::ClientConfig { request_timeout: Duration::from_secs(10), ..Default::default() };
    let channel = api_client::connect(&format!("http://{addr}"), &config).await?;
    for round in 0..3 {
        // Spawned on this one thread: the connection's task reads every answer that has arrived
        // before any caller runs to take its own.
        let calls: Vec<_> = (0..CALLS)
            .map(|_| {
                let mut client = HealthClient::new(channel.clone());
                tokio::spawn(async move { client.check(HealthCheckRequest { service: String::new() }).await })
            })
            .collect();
        for call in calls {
            let answer = call.await?.map_err(|status| anyhow::anyhow!("round {round}: {status:?}"))?;
            assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
        }
    }
    Ok(())
}
