//! Wiring: state, the auth guard, the gRPC service, the purge task, and the server around them
//! (service-kit).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use api_client::AuthGuard;
use api_client::resource::v1::resource_service_server::ResourceServiceServer;
use service_kit::{Metrics, Served, ServiceInfo};
use shared::DbPool;
use shared::pipelined::StatementConnections;
use shared::planning::Planning;
use tonic::service::Routes;

use crate::connection_metrics::SharedConnectionsCollector;
use crate::error::ERROR_DOMAIN;
use crate::grpc::ResourceApi;
use crate::purge;
use crate::settings::Settings;

/// What every call shares.
pub struct AppState {
    /// Database connections held for a whole task (the purge, health checks).
    pub pool: DbPool,
    /// Connections for reads (one statement each).
    pub reads: StatementConnections,
    /// Connections for writes (one statement each).
    pub writes: StatementConnections,
}

/// A built service, bound to its listeners, not yet serving.
pub struct Application {
    listeners: Served,
    state: Arc<AppState>,
    guard: AuthGuard,
    settings: Settings,
    metrics: Metrics,
}

impl Application {
    /// Builds the pool, the shared connections and the auth guard, and binds the
    /// listeners. Nothing connects yet, so the service starts while the auth service or the
    /// database is down.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = shared::pool::build_pool(settings.database_url.expose(), settings.pool);
        // Every statement on the shared connections is a lookup by key or one owner's page
        // through its index: one plan fits every value, so each is planned once per connection
        // (see `shared::planning`). The pool, which also runs the purge's range delete, keeps
        // the server's default.
        let statement_connections = |count| {
            StatementConnections::new(
                &settings.database_url,
                count,
                settings.pool.connection_timeout,
                Planning::OncePerConnection,
                pool.clone(),
            )
        };
        let reads = statement_connections(settings.read_connections)?;
        let writes = statement_connections(settings.write_connections)?;
        let channel = match settings.auth_dns_refresh {
            Some(refresh) => api_client::connect_balanced(&settings.auth_url, &settings.auth_client, refresh)?,
            None => api_client::connect_lazy(&settings.auth_url, &settings.auth_client)?,
        };
        let guard = AuthGuard::new(channel, settings.guard.clone());
        let metrics = Metrics::new();
        metrics.register_collector(crate::guard_metrics::GuardCollector::new(guard.clone()));
        let call_seconds = metrics.latency_histogram(
            "auth_client_validation_seconds",
            "Time of calls to the auth service (ValidateToken, and ValidateTokens for a batch)",
        );
        guard.observe_calls(Arc::new(move |elapsed| call_seconds.observe(elapsed.as_secs_f64())));
        let listeners = Served::bind(settings.listen_addr, &settings.server).await?;
        let state = Arc::new(AppState { pool, reads, writes });
        metrics.register_collector(SharedConnectionsCollector::new(Arc::clone(&state)));
        Ok(Self { listeners, state, guard, settings, metrics })
    }

    /// The gRPC address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners.grpc_addr()
    }

    /// The metrics address actually bound, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.listeners.metrics_addr()
    }

    /// The shared state.
    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// The auth guard (its counters, say).
    pub fn guard(&self) -> AuthGuard {
        self.guard.clone()
    }

    /// Serves until `shutdown` completes, then drains within the grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let purge = tokio::spawn(purge::run_periodically(
            Arc::clone(&self.state),
            self.settings.retention,
            self.settings.purge_interval,
        ));
        let max_bytes = self.settings.server.max_message_bytes;
        let resources = ResourceServiceServer::new(ResourceApi::new(Arc::clone(&self.state)))
            .max_decoding_message_size(max_bytes)
            .max_encoding_message_size(max_bytes);
        let info = ServiceInfo {
            name: "resource-service",
            grpc_services: vec!["resource.v1.ResourceService"],
            error_domain: ERROR_DOMAIN,
        };
        tracing::info!(auth = %self.settings.auth_url, "validating callers with the auth service");
        let pool = self.state.pool.clone();
        let served = service_kit::serve(
            info,
            &self.settings.server,
            self.listeners,
            Routes::new(resources),
            Some(self.guard),
            pool,
            self.metrics,
            shutdown,
        )
        .await;
        purge.abort();
        served
    }
}
