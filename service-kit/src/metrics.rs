//! Prometheus metrics, in the naming style of go-grpc-prometheus, served as text on `/metrics`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::DbPool;
use tokio::net::TcpListener;

/// Labels of the per-method series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
}

/// Labels of the per-method, per-code series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    grpc_type: &'static str,
    grpc_service: String,
    grpc_method: String,
    grpc_code: &'static str,
}

/// The metrics of one service; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    started: Family<MethodLabels, Counter>,
    handled: Family<CodeLabels, Counter>,
    handling_seconds: Family<MethodLabels, Histogram>,
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
        let started = Family::<MethodLabels, Counter>::default();
        let handled = Family::<CodeLabels, Counter>::default();
        let handling_seconds =
            Family::<MethodLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("grpc_server_started", "RPCs started on the server", started.clone());
        registry.register("grpc_server_handled", "RPCs completed on the server, by status code", handled.clone());
        registry.register("grpc_server_handling_seconds", "Time to handle an RPC", handling_seconds.clone());
        Self { registry: Arc::new(Mutex::new(registry)), started, handled, handling_seconds }
    }

    /// Counts an RPC that started.
    pub fn rpc_started(&self, service: &str, method: &str) {
        self.started.get_or_create(&method_labels(service, method)).inc();
    }

    /// Counts an RPC that finished with `code` after `elapsed`.
    pub fn rpc_handled(&self, service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
        let labels = CodeLabels {
            grpc_type: "unary",
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
            grpc_code: code_name(code),
        };
        self.handled.get_or_create(&labels).inc();
        self.handling_seconds.get_or_create(&method_labels(service, method)).observe(elapsed.as_secs_f64());
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

fn method_labels(service: &str, method: &str) -> MethodLabels {
    MethodLabels { grpc_type: "unary", grpc_service: service.to_owned(), grpc_method: method.to_owned() }
}

/// Buckets from 0.5 ms to ~16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The name go-grpc-prometheus uses for a status code.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handled_rpcs_appear_with_service_method_and_code() {
        let metrics = Metrics::new();
        metrics.rpc_started("auth.v1.AuthService", "Login");
        metrics.rpc_handled("auth.v1.AuthService", "Login", tonic::Code::Unauthenticated, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains(r#"grpc_server_started_total{grpc_type="unary",grpc_service="auth.v1.AuthService",grpc_method="Login"} 1"#), "{text}");
        assert!(text.contains(r#"grpc_code="Unauthenticated"} 1"#), "{text}");
        assert!(text.contains("grpc_server_handling_seconds_bucket"), "{text}");
    }
}
