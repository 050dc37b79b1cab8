//! The soak: a mixed load, round after round, with the services' memory sampled after each
//! round (a minute, or a fifth of a shorter soak). Memory that keeps growing under a steady
//! load is a leak or an unbounded cache; the figures of each round also show whether
//! throughput or latency drift.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use api_client::BearerToken;
use api_client::auth::v1::auth_service_client::AuthServiceClient;
use api_client::auth::v1::{RefreshRequest, ValidateTokenRequest};
use api_client::resource::v1::resource_service_client::ResourceServiceClient;
use api_client::resource::v1::{
    CreateResourceRequest, GetResourceRequest, ListResourcesRequest, Resource, UpdateResourceRequest,
};
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::fill::Session;
use super::load::{LoadStats, LoadThreads, Schedule, Slot};
use super::page::PAGE_SIZE;
use super::pgbench::NEW_CONTENT;
use super::plan::Level;
use super::proc_stats::{Monitor, mib};
use super::report::processes;
use super::scenarios::Login;
use super::targets::Check;

/// Longest round between two memory samples.
const MAX_ROUND: Duration = Duration::from_secs(60);
/// Fewest rounds of a soak.
const MIN_ROUNDS: u32 = 5;
/// One call in this many of a slot is a Refresh (tokens renewed as a client renews them).
const REFRESH_EVERY: u64 = 500;
/// Pause of the login trickle between two logins.
const LOGIN_PAUSE: Duration = Duration::from_millis(200);
/// Growth allowed between the first and the last sample: allocator noise, not a trend.
const GROWTH_ALLOWED_FRACTION: f64 = 0.10;
/// …and never less than this, MiB.
const GROWTH_ALLOWED_MIB: f64 = 2.0;

/// Where the soak sends its load.
pub struct SoakTarget<'a> {
    /// The auth service's URL.
    pub auth_url: &'a str,
    /// The resource service's URL.
    pub resource_url: &'a str,
    /// One session per slot of `level`.
    pub sessions: Vec<Session>,
    /// Connections × calls in flight of the mixed load.
    pub level: Level,
    /// The processes to sample.
    pub monitor: &'a Monitor,
    /// Where the load generator's connections and slots run.
    pub load: &'a LoadThreads,
}

/// One round of the soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakSample {
    /// Minutes since the soak began, at the end of the round.
    pub minute: f64,
    /// The mixed load's figures in the round.
    #[serde(flatten)]
    pub stats: LoadStats,
    /// Logins (the trickle) that succeeded in the round.
    pub logins: u64,
    /// RSS of each service at the end of the round, MiB.
    pub rss_mib: BTreeMap<String, f64>,
}

/// How one service's memory moved over the soak.
#[derive(Debug, Clone, Serialize)]
pub struct Growth {
    /// The process.
    pub process: String,
    /// RSS after the first round, MiB.
    pub first_mib: f64,
    /// RSS after the last round, MiB.
    pub last_mib: f64,
    /// Least-squares slope over all samples, MiB per minute.
    pub slope_mib_per_minute: f64,
    /// Highest RSS during the soak, MiB.
    pub peak_mib: f64,
}

/// The whole soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Its length, s.
    pub seconds: f64,
    /// The mixed load's level.
    pub level: Level,
    /// Every round.
    pub samples: Vec<SoakSample>,
    /// Memory per service.
    pub growth: Vec<Growth>,
}

/// The mix of one slot: mostly token checks and reads, some writes, a rare refresh.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Validate,
    Get,
    List,
    Update,
    Create,
    Refresh,
}

impl Kind {
    /// Call number `step` of a slot: 8 validations, 5 gets, 3 lists, 2 updates and 2 creates
    /// in every 20, and a refresh every [`REFRESH_EVERY`].
    fn of(step: u64) -> Self {
        if step % REFRESH_EVERY == REFRESH_EVERY - 1 {
            return Kind::Refresh;
        }
        match step % 20 {
            0..=7 => Kind::Validate,
            8..=12 => Kind::Get,
            13..=15 => Kind::List,
            16 | 17 => Kind::Update,
            _ => Kind::Create,
        }
    }
}

/// A slot owning one session and cycling through the mix.
struct Mixed {
    auth: AuthServiceClient<Channel>,
    resources: ResourceServiceClient<Channel>,
    session: Session,
    bearer: BearerToken,
    rng: SmallRng,
    step: u64,
}

impl Mixed {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        self.bearer.authorize(&mut request);
        request
    }

    fn random_id(&mut self) -> i64 {
        self.session.live_ids[self.rng.random_range(0..self.session.live_ids.len())]
    }
}

impl Slot for Mixed {
    fn call(&mut self) -> impl Future<Output = Result<(), tonic::Status>> + Send {
        self.step += 1;
        let kind = Kind::of(self.step);
        let id = self.random_id();
        let step = self.step;
        async move {
            match kind {
                Kind::Validate => {
                    let request = ValidateTokenRequest { access_token: self.session.access_token.clone() };
                    self.auth.validate_token(request).await.map(drop)
                }
                Kind::Get => {
                    let request = self.request(GetResourceRequest { id });
                    self.resources.get_resource(request).await.map(drop)
                }
                Kind::List => {
                    let request =
                        self.request(ListResourcesRequest { page_size: PAGE_SIZE, ..ListResourcesRequest::default() });
                    self.resources.list_resources(request).await.map(drop)
                }
                Kind::Update => {
                    let resource = Resource { id, title: format!("Soaked #{step}"), ..Resource::default() };
                    let request = self.request(UpdateResourceRequest { resource: Some(resource), update_mask: None });
                    self.resources.update_resource(request).await.map(drop)
                }
                Kind::Create => {
                    let message =
                        CreateResourceRequest { title: format!("Soak #{step}"), content: Some(NEW_CONTENT.to_owned()) };
                    let request = self.request(message);
                    self.resources.create_resource(request).await.map(drop)
                }
                Kind::Refresh => {
                    let request = RefreshRequest { refresh_token: self.session.refresh_token.clone() };
                    let tokens = self.auth.refresh(request).await?.into_inner().tokens.unwrap_or_default();
                    self.bearer = BearerToken::new(&tokens.access_token)
                        .map_err(|error| tonic::Status::internal(error.to_string()))?;
                    self.session.access_token = tokens.access_token;
                    self.session.refresh_token = tokens.refresh_token;
                    Ok(())
                }
            }
        }
    }
}

/// Runs the soak for `length`.
pub async fn run(target: SoakTarget<'_>, length: Duration) -> anyhow::Result<SoakReport> {
    let level = target.level;
    let auth = target.load.connect(target.auth_url, level).await?;
    let resources = target.load.connect(target.resource_url, level).await?;
    let mut slots = Vec::with_capacity(level.in_flight);
    for (index, session) in target.sessions.into_iter().enumerate() {
        let channel = index % level.connections;
        slots.push(Mixed {
            auth: AuthServiceClient::new(auth[channel].clone()),
            resources: ResourceServiceClient::new(resources[channel].clone()),
            bearer: session.bearer()?,
            session,
            rng: SmallRng::seed_from_u64(0x50A_0000 + index as u64),
            step: index as u64,
        });
    }
    let login_channel = target.load.connect(target.auth_url, Level::new(1, 1)).await?;
    let mut logins = vec![Login::paced(0, login_channel[0].clone(), LOGIN_PAUSE)];

    let rounds = (length.as_secs_f64() / MAX_ROUND.as_secs_f64()).ceil().max(f64::from(MIN_ROUNDS)) as u32;
    let round = length / rounds;
    let started = Instant::now();
    let watched = [processes::AUTH, processes::RESOURCE];
    target.monitor.reset_peaks();
    let mut samples = Vec::new();
    for number in 1..=rounds {
        let schedule = Schedule::starting_now(Duration::ZERO, round);
        let ((mixed, returned), (trickle, returned_logins)) =
            tokio::join!(target.load.drive(slots, level.connections, schedule), target.load.drive(logins, 1, schedule));
        slots = returned;
        logins = returned_logins;
        let rss_mib: BTreeMap<String, f64> = watched
            .iter()
            .filter_map(|label| Some((label.to_string(), mib(target.monitor.sample_of(label)?.rss_kib?))))
            .collect();
        let sample = SoakSample {
            minute: started.elapsed().as_secs_f64() / 60.0,
            stats: mixed.stats(),
            logins: trickle.latency.len(),
            rss_mib,
        };
        println!(
            "bench: soak round {number}/{rounds}: {:.0} rps, p99 {:.2} ms, {} errors, RSS {}",
            sample.stats.rps,
            sample.stats.p99_ms,
            sample.stats.error_count(),
            sample.rss_mib.iter().map(|(label, rss)| format!("{label} {rss:.1} MiB")).collect::<Vec<_>>().join(", ")
        );
        samples.push(sample);
    }
    let growth = watched.iter().filter_map(|label| growth_of(label, &samples, target.monitor)).collect();
    Ok(SoakReport { seconds: started.elapsed().as_secs_f64(), level, samples, growth })
}

fn growth_of(label: &str, samples: &[SoakSample], monitor: &Monitor) -> Option<Growth> {
    let points: Vec<(f64, f64)> =
        samples.iter().filter_map(|sample| Some((sample.minute, *sample.rss_mib.get(label)?))).collect();
    let (first, last) = (points.first()?.1, points.last()?.1);
    Some(Growth {
        process: label.to_owned(),
        first_mib: first,
        last_mib: last,
        slope_mib_per_minute: slope(&points),
        peak_mib: monitor.sample_of(label).and_then(|sample| sample.peak_kib).map_or(last, mib),
    })
}

/// Least-squares slope of `points` (0 for fewer than two).
fn slope(points: &[(f64, f64)]) -> f64 {
    let count = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|(x, _)| x).sum::<f64>() / count;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / count;
    let covariance: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    if variance == 0.0 { 0.0 } else { covariance / variance }
}

impl SoakReport {
    /// No growth, and under the peak target, per service.
    pub fn checks(&self) -> Vec<Check> {
        self.growth
            .iter()
            .map(|growth| {
                let allowed = (growth.first_mib * GROWTH_ALLOWED_FRACTION).max(GROWTH_ALLOWED_MIB);
                Check::once(
                    format!(
                        "{}: no RSS growth over the {:.0}-minute soak (≤ {allowed:.1} MiB)",
                        growth.process,
                        self.seconds / 60.0
                    ),
                    format!(
                        "{:.1} → {:.1} MiB ({:+.2} MiB/min), peak {:.1} MiB",
                        growth.first_mib, growth.last_mib, growth.slope_mib_per_minute, growth.peak_mib
                    ),
                    growth.last_mib - growth.first_mib <= allowed,
                )
            })
            .collect()
    }

    /// The samples as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nSoak ({:.1} min, mixed load at {}, RSS in MiB)", self.seconds / 60.0, self.level);
        let labels: Vec<&String> =
            self.samples.first().map(|sample| sample.rss_mib.keys().collect()).unwrap_or_default();
        let _ = write!(out, "  {:>6} {:>9} {:>8} {:>7} {:>7}", "minute", "rps", "p99 ms", "errors", "logins");
        for label in &labels {
            let _ = write!(out, " {label:>17}");
        }
        out.push('\n');
        for sample in &self.samples {
            let _ = write!(
                out,
                "  {:>6.1} {:>9.0} {:>8.2} {:>7} {:>7}",
                sample.minute,
                sample.stats.rps,
                sample.stats.p99_ms,
                sample.stats.error_count(),
                sample.logins
            );
            for label in &labels {
                let rss = sample.rss_mib.get(*label).copied().unwrap_or(0.0);
                let _ = write!(out, " {rss:>17.1}");
            }
            out.push('\n');
        }
        out
    }
}

/// The soak's sessions must be its own: its refreshes rotate their tokens.
pub fn sessions_needed(level: Level) -> usize {
    level.in_flight
}
