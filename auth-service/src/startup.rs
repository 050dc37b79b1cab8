//! Wiring: state, gRPC services, health, reflection, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api_client::auth::v1::auth_service_server::AuthServiceServer;
use api_client::auth::v1::user_service_server::UserServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::grpc::{AuthApi, UserApi};
use crate::ops::accounts;
use crate::settings::Settings;
use crate::state::AppState;
pub use shared::shutdown::shutdown_signal;

/// gRPC services this binary serves (reflection lists exactly these and health).
const SERVICE_NAMES: [&str; 3] = ["auth.v1.AuthService", "auth.v1.UserService", "grpc.health.v1.Health"];

/// A built service, bound to its listener, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Application {
    /// Builds the state, ensures the first admin when configured, and binds the listener (port
    /// 0 picks a free port; [`Application::local_addr`] tells which).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = Arc::new(AppState::new(&settings)?);
        if let Some(account) = &settings.first_admin {
            let (admin, created) = accounts::ensure_admin(&state, account)
                .await
                .map_err(|error| anyhow::anyhow!("ensuring the first admin: {error}"))?;
            tracing::info!(user.id = admin.id, created, "first admin ensured");
        }
        let listener = TcpListener::bind(settings.listen_addr).await?;
        Ok(Self { listener, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The shared state (pool, keys), e.g. for a command that runs beside the server.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` completes, then lets in-flight calls finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<AuthServiceServer<AuthApi>>().await;
        health.set_serving::<UserServiceServer<UserApi>>().await;

        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        tracing::info!(address = %self.local_addr(), "auth-service listening");
        Server::builder()
            .tcp_nodelay(true)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(AuthServiceServer::new(AuthApi::new(Arc::clone(&self.state))))
            .add_service(UserServiceServer::new(UserApi::new(Arc::clone(&self.state))))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await?;
        tracing::info!("auth-service stopped");
        Ok(())
    }
}

/// Reflection over this service's protos; built once per protocol version (each build consumes it).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(api_client::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // google.rpc.ErrorInfo and BadRequest, so grpcurl can print error details.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    SERVICE_NAMES.iter().fold(builder, |builder, name| builder.with_service_name(*name))
}
