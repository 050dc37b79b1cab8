//! Serving: TLS, health, reflection, the RPC layer (and an optional auth guard), metrics, and a
//! graceful shutdown bounded by the grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use api_client::AuthGuard;
use shared::DbPool;
use tokio::net::TcpListener;
use tonic::codegen::tokio_stream::StreamExt as _;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::batched_writes::BatchedWrites;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::rpc::RpcLayer;
use crate::served_methods::{self, DESCRIPTOR_SETS};
use crate::settings::{ServerSettings, TlsFiles};

/// What is being served.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// Binary name, for logs (`auth-service`).
    pub name: &'static str,
    /// The gRPC services in `routes` (health reports each; reflection lists them).
    pub grpc_services: Vec<&'static str>,
    /// ErrorInfo domain of the statuses the server itself answers (overload, timeout).
    pub error_domain: &'static str,
}

/// Listeners bound ahead of serving, so callers learn the real ports (tests bind port 0).
#[derive(Debug)]
pub struct Served {
    /// The gRPC listener.
    pub grpc: TcpListener,
    /// The metrics listener, when metrics are on.
    pub metrics: Option<TcpListener>,
}

impl Served {
    /// Binds the gRPC address and, when configured, the metrics address.
    pub async fn bind(grpc_addr: SocketAddr, settings: &ServerSettings) -> std::io::Result<Self> {
        let grpc = TcpListener::bind(grpc_addr).await?;
        let metrics = match settings.metrics_addr {
            Some(addr) => Some(Metrics::bind(addr).await?.0),
            None => None,
        };
        Ok(Self { grpc, metrics })
    }

    /// The gRPC address actually bound.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The metrics address actually bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|listener| listener.local_addr().ok())
    }
}

/// Serves `routes` until `shutdown` completes, then: health NOT_SERVING, no new connections,
/// in-flight calls get up to the grace period, and the function returns.
#[expect(clippy::too_many_arguments, reason = "each is a distinct part of the server; a struct would only rename them")]
pub async fn serve(
    info: ServiceInfo,
    settings: &ServerSettings,
    listeners: Served,
    routes: Routes,
    guard: Option<AuthGuard>,
    pool: DbPool,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health::new(reporter, &info.grpc_services).await;
    let watcher = tokio::spawn(health.clone().watch_database(pool.clone(), settings.health_interval));
    metrics.watch_pool(pool);
    let metrics_server = listeners.metrics.map(|listener| tokio::spawn(metrics.clone().serve(listener)));

    let mut routes = routes.add_service(health_service);
    if settings.reflection {
        routes = routes.add_service(reflection(&info).build_v1()?).add_service(reflection(&info).build_v1alpha()?);
    }
    let services = served_services(&info, settings.reflection);
    let methods = served_methods::methods_of(&services, &DESCRIPTOR_SETS);
    for service in services.iter().filter(|service| !methods.iter().any(|served| served.service == **service)) {
        tracing::warn!(service, "no descriptor lists this service's methods; its calls are counted as unknown");
    }
    let series = metrics.rpc_series(methods);
    let mut builder = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = &settings.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }
    let layers = tower::ServiceBuilder::new()
        .layer(RpcLayer::new(series, settings.max_concurrent_rpcs, settings.rpc_timeout, info.error_domain))
        .option_layer(guard.map(|guard| guard.layer()))
        .into_inner();

    let (draining, mut drain_started) = tokio::sync::watch::channel(false);
    let on_shutdown = {
        let health = health.clone();
        async move {
            shutdown.await;
            health.shutting_down().await;
            tracing::info!(service = info.name, "shutting down: NOT_SERVING, finishing in-flight calls");
            let _ = draining.send(true);
        }
    };
    let grace = settings.shutdown_grace;
    let grace_over = async move {
        let _ = drain_started.wait_for(|started| *started).await;
        tokio::time::sleep(grace).await;
    };
    tracing::info!(
        service = info.name,
        address = %listeners.grpc.local_addr()?,
        tls = settings.tls.is_some(),
        scheduler = crate::runtime::scheduler(),
        "listening"
    );
    let batch_writes = settings.batches_writes();
    // tonic ignores `tcp_nodelay` for a stream of incoming connections: set it on the incoming
    // itself, or Nagle's algorithm meets the client's delayed ACK (40 ms per call).
    let incoming = TcpIncoming::from(listeners.grpc)
        .with_nodelay(Some(true))
        .map(move |accepted| accepted.map(|io| BatchedWrites::new(io, batch_writes)));
    let server = builder.layer(layers).add_routes(routes).serve_with_incoming_shutdown(incoming, on_shutdown);
    let outcome = tokio::select! {
        served = server => served.map_err(anyhow::Error::from),
        () = grace_over => {
            tracing::warn!(service = info.name, ?grace, "grace period over; dropping the calls still in flight");
            Ok(())
        }
    };
    watcher.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!(service = info.name, "stopped");
    outcome
}

/// Every gRPC service the server answers: the routes', health and, when on, reflection.
fn served_services(info: &ServiceInfo, reflection: bool) -> Vec<&'static str> {
    let mut services = info.grpc_services.clone();
    services.push("grpc.health.v1.Health");
    if reflection {
        services.extend(["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);
    }
    services
}

/// Reflection over our protos, the health protocol and google.rpc error details, listing
/// exactly this server's services.
fn reflection(info: &ServiceInfo) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(api_client::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    info.grpc_services
        .iter()
        .chain(["grpc.health.v1.Health"].iter())
        .fold(builder, |builder, name| builder.with_service_name(*name))
}

fn tls_config(files: &TlsFiles) -> anyhow::Result<ServerTlsConfig> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|error| anyhow::anyhow!("reading TLS file {}: {error}", path.display()))
    };
    let identity = Identity::from_pem(read(&files.certificate)?, read(&files.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &files.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?)).client_auth_optional(false);
    }
    Ok(config)
}
