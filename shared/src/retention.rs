//! Purges that keep tables bounded. Each service deletes for good what has outlived its
//! retention, on a timer, on every replica: a purge is idempotent, so replicas need no
//! coordination.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The instant before which rows have outlived `retention`; `None` when the retention is too
/// long to subtract from now (nothing has outlived it then).
pub fn cutoff(retention: Duration) -> Option<DateTime<Utc>> {
    TimeDelta::from_std(retention).ok().and_then(|retention| Utc::now().checked_sub_signed(retention))
}

/// Runs `purge` every `interval`, forever, starting at once. How many rows it removed is
/// logged; a failure is logged and retried at the next tick. `what` names the rows in the log.
pub async fn purge_periodically<F, Fut, E>(what: &'static str, interval: Duration, mut purge: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: Display,
{
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, what, "purged rows past their retention"),
            Err(error) => tracing::warn!(%error, what, "purge failed; retrying at the next tick"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_lies_one_retention_back() {
        let day = Duration::from_secs(24 * 3600);
        let cutoff = cutoff(day).expect("a day fits");
        let age = Utc::now() - cutoff;
        assert!(age >= TimeDelta::days(1) && age < TimeDelta::days(1) + TimeDelta::seconds(5), "{age}");
    }

    #[test]
    fn a_retention_beyond_the_calendar_has_no_cutoff() {
        assert_eq!(cutoff(Duration::from_secs(u64::MAX)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn purges_at_once_then_every_interval_and_survives_failures() {
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&runs);
        let task = tokio::spawn(purge_periodically("test rows", Duration::from_secs(60), move || {
            let run = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { if run.is_multiple_of(2) { Err("database down") } else { Ok(run) } }
        }));
        tokio::time::sleep(Duration::from_secs(150)).await;
        task.abort();
        // Ticks at 0, 60 and 120 s; the failed first run did not stop the others.
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
