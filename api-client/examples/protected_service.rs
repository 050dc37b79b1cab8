//! A third backend that protects its own gRPC API with the auth service, in a few lines.
//!
//! It serves `greeter.v1.Greeter` (`examples/proto/greeter.proto`), which greets callers by the
//! identity the auth service vouches for, and gRPC health, which needs no token. With the
//! services running (`cargo xtask dev`):
//!
//! ```sh
//! cargo run -p api-client --example protected_service -- --auth-url http://127.0.0.1:50051 --listen 127.0.0.1:50053
//! grpcurl -plaintext -import-path api-client/examples/proto -proto greeter.proto \
//!   -H "authorization: Bearer $TOKEN" 127.0.0.1:50053 greeter.v1.Greeter/SayHello
//! ```
//!
//! The first line it prints is the address it listens on (useful with `--listen 127.0.0.1:0`).
//! The options can also come from `AUTH_SERVICE_URL` and `LISTEN_ADDR`. It serves until stopped.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use api_client::{AuthGuard, ClientConfig, GuardConfig, caller, connect_lazy};
use greeter::greeter_server::{Greeter, GreeterServer};
use greeter::{SayHelloRequest, SayHelloResponse};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// This backend's own API, generated from `examples/proto/greeter.proto` (by api-client's build
/// script here; a real backend generates its API in its own `build.rs`).
pub mod greeter {
    #![allow(missing_docs, clippy::all, unused_qualifications)]
    tonic::include_proto!("greeter.v1");
}

/// Serves the API behind the auth guard on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, auth_url: &str, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // One channel to the auth service, connected lazily: this backend starts even while the
    // auth service is down, and recovers by itself when it returns.
    let auth_channel = connect_lazy(auth_url, &ClientConfig::default())?;
    // Validates `authorization: Bearer …` with the auth service, reusing answers for 5 s.
    let guard = AuthGuard::new(auth_channel, GuardConfig::default());

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<GreeterServer<Greetings>>().await;

    Server::builder()
        .layer(guard.layer()) // every call needs a valid token, but health checks (public_paths)
        .add_service(health_service)
        .add_service(GreeterServer::new(Greetings))
        // TCP_NODELAY on the accepted sockets (tonic ignores the builder's setting for an incoming).
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
        .await?;
    Ok(())
}

/// The API itself: a plain struct implementing the generated trait.
struct Greetings;

#[tonic::async_trait]
impl Greeter for Greetings {
    async fn say_hello(&self, request: Request<SayHelloRequest>) -> Result<Response<SayHelloResponse>, Status> {
        // Only calls the auth service accepted get here; the guard stored who made them.
        let caller = caller(&request)?;
        Ok(Response::new(SayHelloResponse {
            message: format!("Hello, {}!", caller.email),
            user_id: caller.user_id,
            email: caller.email.clone(),
        }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1), |name| std::env::var(name).ok())?;
    let listener = TcpListener::bind(options.listen).await?;
    println!("{}", listener.local_addr()?);
    serve(listener, &options.auth_url, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Where the auth service is and where to listen.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// `--auth-url`, else `AUTH_SERVICE_URL`, else `http://127.0.0.1:50051`.
    pub auth_url: String,
    /// `--listen`, else `LISTEN_ADDR`, else `127.0.0.1:50053`.
    pub listen: SocketAddr,
}

impl Options {
    /// Reads `--auth-url URL` and `--listen ADDR` from `args`, falling back on `env`.
    pub fn parse(mut args: impl Iterator<Item = String>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut auth_url = env("AUTH_SERVICE_URL");
        let mut listen = env("LISTEN_ADDR");
        while let Some(flag) = args.next() {
            let slot = match flag.as_str() {
                "--auth-url" => &mut auth_url,
                "--listen" => &mut listen,
                _ => anyhow::bail!("unknown argument {flag:?}; usage: [--auth-url URL] [--listen ADDR]"),
            };
            *slot = Some(args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?);
        }
        Ok(Self {
            auth_url: auth_url.unwrap_or_else(|| "http://127.0.0.1:50051".to_owned()),
            listen: match listen {
                Some(listen) => listen.parse().with_context(|| format!("{listen:?} is not an address to listen on"))?,
                None => SocketAddr::from(([127, 0, 0, 1], 50053)),
            },
        })
    }
}
