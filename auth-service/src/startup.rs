//! Wiring: state, the gRPC services, and the server around them (service-kit).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use api_client::auth::v1::auth_service_server::AuthServiceServer;
use api_client::auth::v1::user_service_server::UserServiceServer;
use service_kit::{Metrics, Served, ServiceInfo};
use tonic::service::Routes;

use crate::change_listener;
use crate::error::ERROR_DOMAIN;
use crate::grpc::{AuthApi, UserApi};
use crate::ops::accounts;
use crate::purge;
use crate::settings::Settings;
use crate::state::AppState;
pub use shared::shutdown::shutdown_signal;

/// A built service, bound to its listeners, not yet serving.
pub struct Application {
    listeners: Served,
    state: Arc<AppState>,
    settings: Settings,
    metrics: Metrics,
}

impl Application {
    /// Builds the state, ensures the first admin when configured, and binds the listeners (port
    /// 0 picks a free port; [`Application::local_addr`] tells which).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = Arc::new(AppState::new(&settings)?);
        if let Some(account) = &settings.first_admin {
            let (admin, created) = accounts::ensure_admin(&state, account)
                .await
                .map_err(|error| anyhow::anyhow!("ensuring the first admin: {error}"))?;
            tracing::info!(user.id = admin.id, created, "first admin ensured");
        }
        let listeners = Served::bind(settings.listen_addr, &settings.server).await?;
        Ok(Self { listeners, state, settings, metrics: Metrics::new() })
    }

    /// The gRPC address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners.grpc_addr()
    }

    /// The metrics address actually bound, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listeners.metrics_addr()
    }

    /// The shared state (pool, keys), e.g. for a command that runs beside the server.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` completes, then drains within the grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let max_bytes = self.settings.server.max_message_bytes;
        let auth = AuthServiceServer::new(AuthApi::new(Arc::clone(&self.state)))
            .max_decoding_message_size(max_bytes)
            .max_encoding_message_size(max_bytes);
        let users = UserServiceServer::new(UserApi::new(Arc::clone(&self.state)))
            .max_decoding_message_size(max_bytes)
            .max_encoding_message_size(max_bytes);
        let info = ServiceInfo {
            name: "auth-service",
            grpc_services: vec!["auth.v1.AuthService", "auth.v1.UserService"],
            error_domain: ERROR_DOMAIN,
        };
        let routes = Routes::new(auth).add_service(users);
        let pool = self.state.pool.clone();
        let listener = (self.settings.session_cache_capacity > 0)
            .then(|| change_listener::spawn(self.settings.database_url.expose(), Arc::clone(&self.state.live_sessions)))
            .transpose()?;
        let purge = tokio::spawn(purge::run_periodically(
            Arc::clone(&self.state),
            self.settings.session_retention,
            self.settings.purge_interval,
        ));
        let served =
            service_kit::serve(info, &self.settings.server, self.listeners, routes, None, pool, self.metrics, shutdown)
                .await;
        purge.abort();
        if let Some(listener) = listener {
            listener.abort();
        }
        self.state.live_sessions.distrust();
        served
    }
}
