//! Wiring: state, the auth guard, the gRPC services, the purge task, the listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api_client::AuthGuard;
use api_client::resource::v1::resource_service_server::ResourceServiceServer;
use shared::DbPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};

use crate::grpc::ResourceApi;
use crate::purge;
use crate::settings::Settings;

/// gRPC services this binary serves (reflection lists exactly these and health).
const SERVICE_NAMES: [&str; 2] = ["resource.v1.ResourceService", "grpc.health.v1.Health"];

/// What every call shares.
pub struct AppState {
    /// Database connections.
    pub pool: DbPool,
}

/// A built service, bound to its listener, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    guard: AuthGuard,
    settings: Settings,
}

impl Application {
    /// Builds the pool and the auth guard (its channel connects lazily, so the service starts
    /// while the auth service or the database is down) and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = shared::pool::build_pool(settings.database_url.expose(), settings.pool);
        let channel = Endpoint::from_shared(settings.auth_url.clone())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .connect_lazy();
        let guard = AuthGuard::new(channel, settings.guard.clone());
        let listener = TcpListener::bind(settings.listen_addr).await?;
        Ok(Self { listener, state: Arc::new(AppState { pool }), guard, settings })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The shared state.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// The auth guard (its counters, say).
    pub fn guard(&self) -> AuthGuard {
        self.guard.clone()
    }

    /// Serves until `shutdown` completes, then lets in-flight calls finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<ResourceServiceServer<ResourceApi>>().await;
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let purge = tokio::spawn(purge::run_periodically(
            Arc::clone(&self.state),
            self.settings.retention,
            self.settings.purge_interval,
        ));
        tracing::info!(address = %self.local_addr(), auth = %self.settings.auth_url, "resource-service listening");
        let served = Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(self.guard.layer())
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(ResourceServiceServer::new(ResourceApi::new(Arc::clone(&self.state))))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await;
        purge.abort();
        served?;
        tracing::info!("resource-service stopped");
        Ok(())
    }
}

/// Reflection over this service's protos; built once per protocol version.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(api_client::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    SERVICE_NAMES.iter().fold(builder, |builder, name| builder.with_service_name(*name))
}
