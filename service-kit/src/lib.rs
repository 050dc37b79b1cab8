//! What a gRPC service binary of ours needs around its handlers, written once for both services:
//!
//! * [`settings`]: the operational options (grace period, limits, TLS, metrics, reflection) as
//!   one clap argument group both command lines flatten;
//! * [`rpc`]: a tower layer giving every RPC a request id, a span and a log line, metrics, a
//!   deadline and load shedding;
//! * [`metrics`]: the Prometheus registry and its `/metrics` HTTP endpoint, and
//!   [`rpc_metrics`] the RPC layer's series in it, one set per method that
//!   [`served_methods`] finds in the services' descriptors;
//! * [`health`]: `grpc.health.v1.Health` driven by the database's reachability;
//! * [`serve`]: the server itself — TLS, reflection (v1 and v1alpha), graceful shutdown —
//!   over connections whose writes [`batched_writes`] sends once per pass of the run queue;
//! * [`runtime`]: the tokio runtime, single-threaded when the process has one CPU.

pub mod batched_writes;
pub mod health;
pub mod metrics;
pub mod rpc;
pub mod rpc_metrics;
pub mod runtime;
pub mod serve;
pub mod served_methods;
pub mod settings;

pub use metrics::Metrics;
pub use serve::{Served, ServiceInfo, serve};
pub use settings::{ServerArgs, ServerSettings, TlsFiles};
