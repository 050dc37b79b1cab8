//! `grpc.health.v1.Health`, driven by whether the database answers.
//!
//! The name [`LIVENESS`] is different: SERVING for as long as the process serves, whatever the
//! database does, for liveness and startup probes (a database outage must not restart pods).
//!
//! Only the database counts: for the resource service, the auth service being down must not take
//! its pods out of rotation (its calls then fail with UNAVAILABLE on their own).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shared::DbPool;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Health name that answers SERVING while the process runs, for liveness and startup probes.
pub const LIVENESS: &str = "liveness";

/// Sets the health of the overall server (`""`) and of each named service.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Arc<Vec<String>>,
    shutting_down: Arc<AtomicBool>,
}

impl Health {
    /// Health for these gRPC service names (plus the overall `""`), initially NOT_SERVING.
    pub async fn new(reporter: HealthReporter, services: &[&str]) -> Self {
        let health = Self {
            reporter,
            services: Arc::new(services.iter().map(|name| (*name).to_owned()).collect()),
            shutting_down: Arc::new(AtomicBool::new(false)),
        };
        health.set(ServingStatus::NotServing).await;
        health.reporter.set_service_status(LIVENESS, ServingStatus::Serving).await;
        health
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for name in self.services.iter() {
            self.reporter.set_service_status(name, status).await;
        }
    }

    /// NOT_SERVING for good: the server is draining.
    pub async fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.set(ServingStatus::NotServing).await;
    }

    /// Checks the database every `interval` (right away first) and reports SERVING while it
    /// answers, NOT_SERVING while it does not. Runs until dropped.
    pub async fn watch_database(self, pool: DbPool, interval: Duration) {
        let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_up = None;
        loop {
            ticks.tick().await;
            let up = database_answers(&pool, interval.max(Duration::from_secs(1))).await;
            if self.shutting_down.load(Ordering::SeqCst) {
                return;
            }
            if was_up != Some(up) {
                if up {
                    tracing::info!("database reachable: health SERVING");
                } else {
                    tracing::warn!("database unreachable: health NOT_SERVING");
                }
                self.set(if up { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
                was_up = Some(up);
            }
        }
    }
}

async fn database_answers(pool: &DbPool, timeout: Duration) -> bool {
    use diesel_async::RunQueryDsl;
    let check = async {
        let mut conn = pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut *conn).await.ok()
    };
    matches!(tokio::time::timeout(timeout, check).await, Ok(Some(_)))
}
