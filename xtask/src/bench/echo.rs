//! The framework ceiling: a bare tonic server whose only RPC is `grpc.health.v1.Health/Check`,
//! a unary call with a message of a few bytes each way — an echo in all but name.
//!
//! It runs as a process of its own (`xtask bench-echo`) on tokio's default multi-threaded
//! runtime with the server settings service-kit's `serve` asks for (TCP_NODELAY, HTTP/2
//! keep-alive every 30 s with a 10 s timeout), so its CPU and memory are read like the
//! services' and the only difference left is what they do per call.
//!
//! The listener goes through tonic's `TcpIncoming` with TCP_NODELAY set on every accepted
//! socket: with a plain `TcpListenerStream`, tonic ignores the builder's `tcp_nodelay` (its
//! documentation says so), Nagle's algorithm stays on, and responses finishing one by one wait
//! for delayed ACKs — 40 ms on Linux.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

/// Options of `xtask bench-echo`.
#[derive(Debug, Clone, clap::Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
}

/// Serves the echo until SIGTERM or SIGINT.
pub fn serve_echo(args: &EchoArgs) -> anyhow::Result<()> {
    // What `#[tokio::main]` builds for the services: one worker per CPU.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot bind {}", args.listen))?;
        let (_reporter, health) = tonic_health::server::health_reporter();
        Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(health)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                shared::shutdown::shutdown_signal(),
            )
            .await?;
        Ok(())
    })
}
