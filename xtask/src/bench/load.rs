//! The load generator: closed-loop slots over separate HTTP/2 connections.
//!
//! A slot makes one call after another, each as soon as the previous one answered; `in_flight`
//! slots share `connections` channels round-robin. Calls that start during the warm-up are not
//! counted; calls that start in the measured window are, latency from send to answer. The
//! connections, and with each its slots, are dealt out over [`LoadThreads`], one per CPU.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::plan::Level;
use super::proc_stats::{Monitor, ProcessUsage, usage};

/// Latencies are recorded in microseconds, up to a minute, with 3 significant digits.
const HIGHEST_MICROS: u64 = 60_000_000;

/// One client of the closed loop: owns its request material (token, ids, RNG).
pub trait Slot: Send + 'static {
    /// Makes one call; `Err` carries the gRPC status it failed with.
    fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send;

    /// A pause before the next call, outside the measured latency (paced slots); none by default.
    fn pause(&self) -> Option<Duration> {
        None
    }
}

/// When a scenario starts, when measuring starts and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Start of the measured window.
    pub measure_from: Instant,
    /// End of the measured window: no call starts after it.
    pub until: Instant,
}

impl Schedule {
    /// Starting now: `warmup`, then `measure`.
    pub fn starting_now(warmup: Duration, measure: Duration) -> Self {
        let start = Instant::now();
        Self { measure_from: start + warmup, until: start + warmup + measure }
    }

    /// Length of the measured window.
    pub fn measured(&self) -> Duration {
        self.until - self.measure_from
    }
}

/// What the slots of one load saw in the measured window.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latencies of successful calls, µs.
    pub latency: Histogram<u64>,
    /// Failed calls by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Length of the window.
    pub window: Duration,
}

impl Tally {
    fn new(window: Duration) -> Self {
        Self { latency: new_histogram(), errors: BTreeMap::new(), window }
    }

    fn absorb(&mut self, other: &Tally) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (code, count) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += count;
        }
    }

    /// The summary that goes into the report.
    pub fn stats(&self) -> LoadStats {
        let ok = self.latency.len();
        let millis = |micros: u64| micros as f64 / 1000.0;
        let quantile = |q: f64| if ok == 0 { 0.0 } else { millis(self.latency.value_at_quantile(q)) };
        LoadStats {
            ok,
            errors: self.errors.clone(),
            rps: ok as f64 / self.window.as_secs_f64(),
            p50_ms: quantile(0.50),
            p99_ms: quantile(0.99),
            max_ms: if ok == 0 { 0.0 } else { millis(self.latency.max()) },
            mean_ms: if ok == 0 { 0.0 } else { self.latency.mean() / 1000.0 },
            seconds: self.window.as_secs_f64(),
        }
    }
}

/// Throughput and latency of one load.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    /// Successful calls in the measured window.
    pub ok: u64,
    /// Failed calls by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Successful calls per second.
    pub rps: f64,
    /// Median latency of successful calls, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Length of the measured window, s.
    pub seconds: f64,
}

impl LoadStats {
    /// Failed calls, all codes together.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn new_histogram() -> Histogram<u64> {
    // Fixed, valid bounds: construction cannot fail.
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3).unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

/// The load generator's threads, one per CPU, each running a single-threaded runtime of its
/// own. A connection, its channel's tasks and every slot that calls through it live on one
/// thread, so a call and its answer never wake another thread. On one shared multi-threaded
/// runtime the slot, the channel's buffer task and the connection task of a call ran on
/// whichever worker was free, and the workers woke each other thousands of times a second.
pub struct LoadThreads {
    runtimes: Vec<Handle>,
    /// Dropping these ends the threads (and the connections and slots left on them).
    _stop: Vec<oneshot::Sender<()>>,
}

impl LoadThreads {
    /// One thread per CPU (`available_parallelism`).
    pub fn start() -> anyhow::Result<Self> {
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        let mut runtimes = Vec::with_capacity(count);
        let mut stop = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtimes.push(runtime.handle().clone());
            let (stop_sender, stopped) = oneshot::channel::<()>();
            stop.push(stop_sender);
            std::thread::Builder::new().name(format!("load-{index}")).spawn(move || {
                // Returns when the sender is dropped; the runtime's tasks are dropped with it.
                let _ = runtime.block_on(stopped);
            })?;
        }
        Ok(Self { runtimes, _stop: stop })
    }

    /// The thread that runs connection `index` (and every slot that calls through it).
    fn runtime_of(&self, connection: usize) -> &Handle {
        &self.runtimes[connection % self.runtimes.len()]
    }

    /// `level.connections` separate HTTP/2 connections to `url`, with the production client
    /// settings of `api-client` (TCP_NODELAY, keep-alive, fixed receive windows, 30 s call
    /// timeout), spread over the threads.
    pub async fn connect(&self, url: &str, level: Level) -> anyhow::Result<Vec<Channel>> {
        let endpoint = api_client::ClientConfig::default().endpoint(url)?;
        let mut channels = Vec::with_capacity(level.connections);
        for index in 0..level.connections {
            // Each connect() dials its own TCP connection (clones of one channel would share
            // it) and spawns the channel's tasks on the runtime it runs on.
            let endpoint = endpoint.clone();
            let channel = self.runtime_of(index).spawn(async move { endpoint.connect().await }).await?;
            channels.push(channel.with_context(|| format!("cannot connect to {url}"))?);
        }
        Ok(channels)
    }

    /// Runs `slots` closed-loop on the schedule and tallies the measured window; hands the
    /// slots back (with their connections and state) for another round. Slot `i` must call
    /// through connection `i % connections` of one [`connect`](Self::connect), as the
    /// scenarios deal them out: it then runs on that connection's thread.
    pub async fn drive<S: Slot>(&self, slots: Vec<S>, connections: usize, schedule: Schedule) -> (Tally, Vec<S>) {
        let tasks: Vec<_> = slots
            .into_iter()
            .enumerate()
            .map(|(index, slot)| self.runtime_of(index % connections.max(1)).spawn(run_slot(slot, schedule)))
            .collect();
        let mut total = Tally::new(schedule.measured());
        let mut slots = Vec::with_capacity(tasks.len());
        for task in tasks {
            match task.await {
                Ok((tally, slot)) => {
                    total.absorb(&tally);
                    slots.push(slot);
                }
                // A slot that panicked counts as one failure; the others' figures stand.
                Err(_) => *total.errors.entry("PANIC".to_owned()).or_default() += 1,
            }
        }
        (total, slots)
    }
}

async fn run_slot<S: Slot>(mut slot: S, schedule: Schedule) -> (Tally, S) {
    let mut tally = Tally::new(schedule.measured());
    loop {
        if let Some(pause) = slot.pause() {
            tokio::time::sleep(pause).await;
        }
        let started = Instant::now();
        if started >= schedule.until {
            return (tally, slot);
        }
        let outcome = slot.call().await;
        if started < schedule.measure_from {
            continue;
        }
        match outcome {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latency.saturating_record(micros.max(1));
            }
            Err(status) => *tally.errors.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }
}

/// Samples the watched processes around the measured window: peaks are reset when the
/// scenario starts, CPU is counted between the window's start and end.
pub async fn watch(monitor: &Monitor, schedule: Schedule, ticks_per_second: f64) -> Vec<ProcessUsage> {
    monitor.reset_peaks();
    tokio::time::sleep_until(schedule.measure_from).await;
    let before = monitor.snapshot();
    tokio::time::sleep_until(schedule.until).await;
    let after = monitor.snapshot();
    usage(&before, &after, ticks_per_second)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use tokio::net::TcpListener;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    /// Checks the echo's health and notes the threads its calls ran on.
    struct NotingSlot {
        client: HealthClient<Channel>,
        threads: BTreeSet<String>,
    }

    impl Slot for NotingSlot {
        async fn call(&mut self) -> Result<(), tonic::Status> {
            let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
            self.threads.insert(thread);
            self.client.check(HealthCheckRequest::default()).await.map(drop)
        }
    }

    #[tokio::test]
    async fn every_slot_runs_on_the_thread_of_the_connection_it_calls_through() -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(super::super::echo::serve(listener, None, std::future::pending()));
        let load = LoadThreads::start()?;
        let level = Level::new(3, 12);

        let channels = load.connect(&url, level).await?;
        let slots = (0..level.in_flight)
            .map(|slot| NotingSlot {
                client: HealthClient::new(channels[slot % level.connections].clone()),
                threads: BTreeSet::new(),
            })
            .collect();
        let schedule = Schedule::starting_now(Duration::from_millis(50), Duration::from_millis(300));
        let (tally, slots) = load.drive(slots, level.connections, schedule).await;

        assert!(tally.latency.len() >= 12, "{} calls answered", tally.latency.len());
        assert!(tally.errors.is_empty(), "{:?}", tally.errors);
        assert_eq!(slots.len(), level.in_flight);
        for (index, slot) in slots.iter().enumerate() {
            let thread = format!("load-{}", (index % level.connections) % load.runtimes.len());
            assert_eq!(slot.threads, BTreeSet::from([thread]), "slot {index}");
        }
        server.abort();
        Ok(())
    }
}
