//! The results: gathered while the run goes, linked to their baselines at the end, printed as
//! tables and written as JSON.

mod tables;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::argon2_rate::Argon2Rate;
use super::load::LoadStats;
use super::page::PageInfo;
use super::pgbench::{PgbenchResult, Statement};
use super::plan::{Level, PGBENCH_CLIENTS};
use super::proc_stats::{MACHINE, ProcessUsage};
use super::soak::SoakReport;
use super::targets::Check;

/// Scenario names, shared by the run, the baselines and the targets.
pub mod names {
    /// The framework ceiling.
    pub const ECHO: &str = "echo (bare tonic)";
    /// The framework's cost of a ListResources page: the echo server answering with one.
    pub const PAGE_ECHO: &str = "echo (20-resource page)";
    /// ValidateToken alone.
    pub const VALIDATE: &str = "ValidateToken";
    /// GetResource with the resource service's validation cache on (5 s, as deployed).
    pub const GET_CACHED: &str = "GetResource (cache on)";
    /// GetResource with AUTH_CACHE_TTL=0s: every call asks the auth service (alone, or in a batch
    /// under load).
    pub const GET_UNCACHED: &str = "GetResource (cache off)";
    /// A page of 20.
    pub const LIST: &str = "ListResources";
    /// One insert.
    pub const CREATE: &str = "CreateResource";
    /// One update.
    pub const UPDATE: &str = "UpdateResource";
    /// Logins alone.
    pub const LOGIN: &str = "Login";
    /// Refresh-token rotation.
    pub const REFRESH: &str = "Refresh";
    /// ValidateToken while logins saturate the hashing slots.
    pub const VALIDATE_UNDER_LOGINS: &str = "ValidateToken (logins saturating)";
    /// The logins of that mixed scenario.
    pub const LOGIN_UNDER_VALIDATE: &str = "Login (during ValidateToken)";
}

/// Labels of the processes in CPU and memory figures.
pub mod processes {
    /// The auth service.
    pub const AUTH: &str = "auth-service";
    /// The resource service.
    pub const RESOURCE: &str = "resource-service";
    /// The bare tonic server.
    pub const ECHO: &str = "echo";
    /// The PostgreSQL server and its backends.
    pub const POSTGRES: &str = "postgres";
    /// This program.
    pub const LOAD: &str = "load generator";
}

/// One scenario at one level.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Its name (see [`names`]).
    pub scenario: String,
    /// Connections × calls in flight.
    pub level: Level,
    /// Throughput, latency, errors.
    #[serde(flatten)]
    pub stats: LoadStats,
    /// CPU and memory of each process in the window.
    pub processes: Vec<ProcessUsage>,
    /// The machine's 1-minute load average when the scenario started.
    pub load_average: Option<f64>,
    /// Compared with the echo at the same level.
    pub vs_echo: Option<EchoRatio>,
    /// Compared with its own ceiling (pgbench's statement, or the raw argon2id rate).
    pub vs_baseline: Option<BaselineRatio>,
    /// Compared with what a service adding nothing of its own would reach.
    pub bound: Option<Bound>,
}

/// The processes of the CPU table, each a column.
pub(super) const CPU_COLUMNS: [&str; 5] =
    [processes::AUTH, processes::RESOURCE, processes::ECHO, processes::POSTGRES, processes::LOAD];

impl ScenarioResult {
    /// CPUs `process` kept busy on average during the measured window, if it was watched.
    pub fn cores_of(&self, process: &str) -> Option<f64> {
        let usage = self.processes.iter().find(|usage| usage.process == process)?;
        Some(usage.cpu_seconds / self.stats.seconds)
    }

    /// CPUs the rest of the machine kept busy meanwhile: the machine's busy time less that of
    /// the processes of the CPU table.
    pub fn others_cores(&self) -> Option<f64> {
        let ours: f64 = CPU_COLUMNS.iter().filter_map(|process| self.cores_of(process)).sum();
        self.cores_of(MACHINE).map(|machine| (machine - ours).max(0.0))
    }
}

/// The composition bound: a call made of `hops` gRPC calls and some SQL statements costs the
/// machine at least what as many echo calls and pgbench transactions cost it (each measured
/// saturating the same CPUs), so it cannot exceed `1 / (hops / echo + Σ 1 / pgbench)` per
/// second even if the services did nothing else. On a machine shared by client, servers and
/// PostgreSQL this, not the echo, is the real ceiling of an RPC that reads the database.
/// ListResources is composed with the echo of its page ([`names::PAGE_ECHO`]) when that ran:
/// carrying 20 resources costs the framework more than an empty message.
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    /// What the call is made of.
    pub made_of: String,
    /// The bound, calls per second.
    pub rps: f64,
    /// The scenario's rps over the bound.
    pub fraction: f64,
}

/// A scenario against the echo at the same level.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EchoRatio {
    /// Its rps over the echo's.
    pub rps: f64,
    /// Its p99 over the echo's.
    pub p99: f64,
}

/// A scenario against its own ceiling.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRatio {
    /// What the ceiling is.
    pub baseline: String,
    /// The ceiling's rate (per second).
    pub rate: f64,
    /// The scenario's rps over that rate.
    pub ratio: f64,
}

/// One pass over the scenarios, with the baselines measured next to them: with `--rounds N`
/// the run measures N of them in turn, so that a ratio is judged on several pairs of
/// measurements rather than on one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Round {
    /// Every scenario, in the order run.
    pub scenarios: Vec<ScenarioResult>,
    /// pgbench per statement.
    pub pgbench: Vec<PgbenchResult>,
    /// The raw argon2id verify rate.
    pub argon2: Option<Argon2Rate>,
}

impl Round {
    /// The result of `scenario` at `level`, if it ran.
    pub fn find(&self, scenario: &str, level: Level) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|result| result.scenario == scenario && result.level == level)
    }

    /// pgbench's figure for `statement`, if it ran.
    pub fn pgbench_of(&self, statement: Statement) -> Option<&PgbenchResult> {
        self.pgbench.iter().find(|result| result.statement == statement.name())
    }

    /// Fills in every scenario's ratios to the echo and to its own ceiling.
    fn link_baselines(&mut self) {
        let echo: BTreeMap<Level, LoadStats> = self
            .scenarios
            .iter()
            .filter(|result| result.scenario == names::ECHO)
            .map(|result| (result.level, result.stats.clone()))
            .collect();
        let baselines: Vec<(String, Option<BaselineRatio>)> =
            self.scenarios.iter().map(|result| (result.scenario.clone(), self.ceiling_of(&result.scenario))).collect();
        for (result, (_, ceiling)) in self.scenarios.iter_mut().zip(baselines) {
            if result.scenario != names::ECHO {
                result.vs_echo = echo.get(&result.level).filter(|echo| echo.rps > 0.0).map(|echo| EchoRatio {
                    rps: result.stats.rps / echo.rps,
                    p99: if echo.p99_ms > 0.0 { result.stats.p99_ms / echo.p99_ms } else { 0.0 },
                });
            }
            result.vs_baseline = ceiling.map(|ceiling| BaselineRatio {
                ratio: if ceiling.rate > 0.0 { result.stats.rps / ceiling.rate } else { 0.0 },
                ..ceiling
            });
        }
        let bounds: Vec<Option<Bound>> = self
            .scenarios
            .iter()
            .map(|result| {
                let page_echo =
                    if result.scenario == names::LIST { self.find(names::PAGE_ECHO, result.level) } else { None };
                let (hop, hop_rps) = match page_echo {
                    Some(page_echo) => ("page echo", page_echo.stats.rps),
                    None => ("echo", echo.get(&result.level)?.rps),
                };
                self.bound_of(&result.scenario, result.level, hop, hop_rps, result.stats.rps)
            })
            .collect();
        for (result, bound) in self.scenarios.iter_mut().zip(bounds) {
            result.bound = bound;
        }
    }

    /// The composition bound of `scenario` at `level` (see [`Bound`]), its gRPC hops costing
    /// what the baseline `hop` (at `hop_rps`) costs; none below pgbench's client count, where
    /// both sides are bound by latency rather than CPU.
    fn bound_of(&self, scenario: &str, level: Level, hop: &str, hop_rps: f64, rps: f64) -> Option<Bound> {
        let (hops, statements): (u32, &[Statement]) = match scenario {
            names::VALIDATE => (1, &[Statement::SessionWithUser]),
            names::GET_CACHED => (1, &[Statement::ResourceByIdAndOwner]),
            names::GET_UNCACHED => (2, &[Statement::SessionWithUser, Statement::ResourceByIdAndOwner]),
            names::LIST => (1, &[Statement::NewestLiveOfOwner]),
            names::CREATE => (1, &[Statement::InsertReturning]),
            _ => return None,
        };
        if level.in_flight < PGBENCH_CLIENTS || hop_rps <= 0.0 {
            return None;
        }
        let mut seconds_per_call = f64::from(hops) / hop_rps;
        for statement in statements {
            seconds_per_call += 1.0 / self.pgbench_of(*statement).filter(|pgbench| pgbench.tps > 0.0)?.tps;
        }
        let bound = 1.0 / seconds_per_call;
        let made_of = format!(
            "{hops} {hop} + {}",
            statements.iter().map(|statement| statement.name()).collect::<Vec<_>>().join(" + ")
        );
        Some(Bound { made_of, rps: bound, fraction: rps / bound })
    }

    /// The ceiling a scenario is compared with, ratio not yet computed.
    fn ceiling_of(&self, scenario: &str) -> Option<BaselineRatio> {
        let statement = match scenario {
            names::VALIDATE | names::VALIDATE_UNDER_LOGINS => Statement::SessionWithUser,
            names::GET_CACHED | names::GET_UNCACHED => Statement::ResourceByIdAndOwner,
            names::LIST => Statement::NewestLiveOfOwner,
            names::CREATE => Statement::InsertReturning,
            names::LOGIN | names::LOGIN_UNDER_VALIDATE => {
                let argon2 = self.argon2.as_ref()?;
                return Some(BaselineRatio {
                    baseline: format!("raw argon2id verify ({} threads)", argon2.threads),
                    rate: argon2.per_second,
                    ratio: 0.0,
                });
            }
            _ => return None,
        };
        let pgbench = self.pgbench_of(statement)?;
        Some(BaselineRatio { baseline: format!("pgbench {}", statement.name()), rate: pgbench.tps, ratio: 0.0 })
    }
}

/// Memory of one service process.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// The process.
    pub process: String,
    /// RSS once started and ready, before any load, MiB.
    pub idle_after_start_mib: Option<f64>,
    /// RSS a few seconds after the last load, MiB.
    pub idle_after_load_mib: Option<f64>,
    /// Highest RSS of any scenario, MiB.
    pub peak_mib: Option<f64>,
}

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs available (shared by the load generator, the servers and PostgreSQL).
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// The kernel release.
    pub kernel: String,
    /// The commit measured (`git describe --always --dirty`).
    pub commit: String,
}

/// How long a part of the run took.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What was done.
    pub phase: String,
    /// Seconds.
    pub seconds: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// A quick run?
    pub quick: bool,
    /// Warm-up per scenario, s.
    pub warmup_seconds: f64,
    /// Measured time per scenario, s.
    pub measure_seconds: f64,
    /// The services' environment (secrets left out).
    pub service_env: BTreeMap<String, String>,
    /// What each round measured (`--rounds`), in the order run.
    pub rounds: Vec<Round>,
    /// The page the echo answered ListResources with (when that ran).
    pub page_echo: Option<PageInfo>,
    /// Memory per service process.
    pub memory: Vec<Memory>,
    /// The soak, when asked for.
    pub soak: Option<SoakReport>,
    /// Each target and whether it was met.
    pub targets: Vec<Check>,
    /// Time per phase.
    pub phases: Vec<Phase>,
    /// Total time of the run, s (the release build excluded).
    pub total_seconds: f64,
}

impl Report {
    /// An empty report for this machine.
    pub fn new(machine: Machine, quick: bool, warmup_seconds: f64, measure_seconds: f64) -> Self {
        Self {
            machine,
            quick,
            warmup_seconds,
            measure_seconds,
            service_env: BTreeMap::new(),
            rounds: Vec::new(),
            page_echo: None,
            memory: Vec::new(),
            soak: None,
            targets: Vec::new(),
            phases: Vec::new(),
            total_seconds: 0.0,
        }
    }

    /// Starts the next round; what the run measures from here on goes into it.
    pub fn start_round(&mut self) {
        self.rounds.push(Round::default());
    }

    /// The round being measured (the first one if none was started).
    pub fn current_round(&mut self) -> &mut Round {
        if self.rounds.is_empty() {
            self.start_round();
        }
        let last = self.rounds.len() - 1;
        &mut self.rounds[last]
    }

    /// Links every round's scenarios to the baselines measured in the same round.
    pub fn link_baselines(&mut self) {
        for round in &mut self.rounds {
            round.link_baselines();
        }
    }

    /// Writes the JSON file.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

#[cfg(test)]
impl ScenarioResult {
    /// A result at 4×64 making `rps`, with made-up latencies, for tests.
    pub fn for_test(name: &str, rps: f64) -> Self {
        let stats = LoadStats {
            ok: rps as u64,
            errors: BTreeMap::new(),
            rps,
            p50_ms: 1.0,
            p99_ms: 2.0,
            max_ms: 3.0,
            mean_ms: 1.0,
            seconds: 1.0,
        };
        Self {
            scenario: name.to_owned(),
            level: Level::new(4, 64),
            stats,
            processes: Vec::new(),
            load_average: None,
            vs_echo: None,
            vs_baseline: None,
            bound: None,
        }
    }
}

#[cfg(test)]
impl PgbenchResult {
    /// pgbench making `tps` on `statement`, for tests.
    pub fn for_test(statement: Statement, tps: f64) -> Self {
        Self {
            statement: statement.name().to_owned(),
            clients: PGBENCH_CLIENTS,
            planned_once: true,
            tps,
            latency_ms: 0.5,
            failed: 0,
            postgres_cpu_seconds: 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    /// A round with the echo at 60k rps, ListResources at 12k and pgbench's page at 30k tps.
    fn round_with(extra: Option<ScenarioResult>) -> Round {
        let mut round = Round::default();
        round.scenarios.push(ScenarioResult::for_test(names::ECHO, 60_000.0));
        round.scenarios.extend(extra);
        round.scenarios.push(ScenarioResult::for_test(names::LIST, 12_000.0));
        round.pgbench.push(PgbenchResult::for_test(Statement::NewestLiveOfOwner, 30_000.0));
        round.link_baselines();
        round
    }

    #[test]
    fn list_resources_is_bounded_by_the_echo_of_its_page_when_that_ran() -> anyhow::Result<()> {
        let round = round_with(Some(ScenarioResult::for_test(names::PAGE_ECHO, 30_000.0)));
        let list = round.find(names::LIST, Level::new(4, 64)).context("ListResources")?;
        let bound = list.bound.as_ref().context("a bound")?;
        assert!((bound.rps - 15_000.0).abs() < 1e-6, "1 / (1/30k + 1/30k), got {}", bound.rps);
        assert!((bound.fraction - 0.8).abs() < 1e-9);
        assert!(bound.made_of.starts_with("1 page echo + "), "{}", bound.made_of);
        // Its ratio to the echo stays the plain echo's, as the issue defines it.
        assert!((list.vs_echo.context("×echo")?.rps - 0.2).abs() < 1e-9);
        let page_echo = round.find(names::PAGE_ECHO, Level::new(4, 64)).context("page echo")?;
        assert!((page_echo.vs_echo.context("×echo")?.rps - 0.5).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn without_the_page_echo_list_resources_is_bounded_by_the_plain_echo() -> anyhow::Result<()> {
        let round = round_with(None);
        let bound =
            round.find(names::LIST, Level::new(4, 64)).and_then(|list| list.bound.clone()).context("a bound")?;
        assert!((bound.rps - 20_000.0).abs() < 1e-6, "1 / (1/60k + 1/30k), got {}", bound.rps);
        assert!(bound.made_of.starts_with("1 echo + "), "{}", bound.made_of);
        Ok(())
    }
}
