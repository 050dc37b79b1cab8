//! Prometheus metrics, in the naming style of go-grpc-prometheus, served as text on `/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::DbPool;
use tokio::net::TcpListener;

use crate::rpc_metrics::{RpcFamilies, RpcSeries};
use crate::served_methods::ServedMethod;

/// The metrics of one service; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    rpc: RpcFamilies,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the gRPC server series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let started = Family::default();
        let handled = Family::default();
        let handling_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("grpc_server_started", "RPCs started on the server", started.clone());
        registry.register("grpc_server_handled", "RPCs completed on the server, by status code", handled.clone());
        registry.register("grpc_server_handling_seconds", "Time to handle an RPC", handling_seconds.clone());
        Self { registry: Arc::new(Mutex::new(registry)), rpc: RpcFamilies { started, handled, handling_seconds } }
    }

    /// The RPC layer's series for these served methods; any other path is counted as unknown
    /// (see [`RpcSeries`]).
    pub fn rpc_series(&self, methods: impl IntoIterator<Item = ServedMethod>) -> RpcSeries {
        RpcSeries::new(self.rpc.clone(), methods)
    }

    /// A latency histogram (seconds, 0.5 ms to ~16 s) registered under `name`.
    pub fn latency_histogram(&self, name: &str, help: &str) -> Histogram {
        let histogram = latency_histogram();
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, histogram.clone());
        }
        histogram
    }

    /// Adds the connection pool's state (read at each scrape).
    pub fn watch_pool(&self, pool: DbPool) {
        self.register_collector(PoolCollector { pool });
    }

    /// Adds series read at each scrape from something else (e.g. the auth guard).
    pub fn register_collector(&self, collector: impl Collector) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register_collector(Box::new(collector));
        }
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        }
        text
    }

    /// Serves `/metrics` on a bound listener until the future is dropped.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        let router =
            axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let metrics = self.clone();
                    async move {
                        ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
                    }
                }),
            );
        axum::serve(listener, router).await
    }

    /// Binds the metrics listener; the address actually bound is returned with it.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    }
}

/// Buckets from 0.5 ms to ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Encodes one constant series.
pub fn encode_const(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

/// The pool's connections and waits, read at scrape time.
#[derive(Debug)]
struct PoolCollector {
    pool: DbPool,
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.pool.state();
        let idle = i64::from(state.idle_connections);
        let in_use = i64::from(state.connections) - idle;
        let stats = &state.statistics;
        encode_const(
            &mut encoder,
            "db_pool_connections_in_use",
            "Connections checked out of the pool",
            &ConstGauge::new(in_use),
        )?;
        encode_const(&mut encoder, "db_pool_connections_idle", "Idle connections in the pool", &ConstGauge::new(idle))?;
        encode_const(
            &mut encoder,
            "db_pool_waits",
            "Checkouts that had to wait for a connection",
            &ConstCounter::new(stats.get_waited),
        )?;
        encode_const(
            &mut encoder,
            "db_pool_timeouts",
            "Checkouts that gave up waiting",
            &ConstCounter::new(stats.get_timed_out),
        )?;
        encode_const(
            &mut encoder,
            "db_pool_wait_seconds",
            "Time spent waiting for connections",
            &ConstCounter::new(stats.get_wait_time.as_secs_f64()),
        )
    }
}
