//! The shared database connections (`shared::pipelined`) as Prometheus series, read at each
//! scrape; the pool has its own (service-kit).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use service_kit::metrics::encode_const;
use shared::pipelined::StatementConnections;

use crate::startup::AppState;

/// Exposes, for reads and writes that share connections, `db_shared_<use>_connections_open`
/// and `_configured`, `db_shared_<use>_connects_total` and `db_shared_<use>_connect_failures_total`.
pub struct SharedConnectionsCollector {
    state: Arc<AppState>,
}

impl std::fmt::Debug for SharedConnectionsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnectionsCollector").finish_non_exhaustive()
    }
}

impl SharedConnectionsCollector {
    /// Reads the connections of this state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl Collector for SharedConnectionsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (purpose, connections) in [("reads", &self.state.reads), ("writes", &self.state.writes)] {
            encode_shared(&mut encoder, purpose, connections)?;
        }
        Ok(())
    }
}

fn encode_shared(
    encoder: &mut DescriptorEncoder<'_>,
    purpose: &str,
    connections: &StatementConnections,
) -> Result<(), std::fmt::Error> {
    let Some(stats) = connections.stats() else { return Ok(()) };
    let gauge = |value: usize| ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    let name = |what: &str| format!("db_shared_{purpose}_{what}");
    encode_const(encoder, &name("connections_open"), "Shared connections open now", &gauge(stats.open))?;
    encode_const(encoder, &name("connections_configured"), "Shared connections configured", &gauge(stats.configured))?;
    encode_const(
        encoder,
        &name("connects"),
        "Attempts to open a shared connection",
        &ConstCounter::new(stats.connects),
    )?;
    encode_const(
        encoder,
        &name("connect_failures"),
        "Failed attempts to open a shared connection",
        &ConstCounter::new(stats.failed_connects),
    )
}
