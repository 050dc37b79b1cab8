//! The run, phase by phase: PostgreSQL, data, servers, scenarios, ceilings, memory, soak,
//! report.

use std::fs;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use devkit::{ClusterOptions, PostgresCluster};
use tonic::transport::Channel;

use super::BenchArgs;
use super::argon2_rate;
use super::deployed::Deployment;
use super::fill::{self, Session};
use super::load::{LoadThreads, Schedule, Slot, watch};
use super::page;
use super::pgbench::{self, Statement};
use super::plan::{Level, Plan};
use super::proc_stats::{self, Monitor, Scope, mib};
use super::processes::ServerProcess;
use super::release::Paths;
use super::report::{Machine, Memory, Phase, Report, ScenarioResult, names, processes};
use super::scenarios::{
    CreateResource, Echo, GetResource, ListResources, Login, Refresh, UpdateResource, ValidateToken,
};
use super::soak::{self, SoakTarget};
use super::stack::{CACHE_OFF, CACHE_ON, StackConfig};
use super::sys;
use super::targets;

/// The benchmark's database on the private server.
const DATABASE: &str = "bench";
/// Sessions the scenarios send tokens of (one per slot at the primary level, shared round-robin
/// beyond it).
const SCENARIO_SESSIONS: usize = 64;
/// First user of the sessions Refresh rotates (its own: rotation would revoke shared ones).
const REFRESH_USERS_FROM: i64 = 101;
/// First user of the soak's sessions.
const SOAK_USERS_FROM: i64 = 301;
/// The error of a run stopped by SIGINT or SIGTERM.
const INTERRUPTED: &str = "interrupted by a signal: the servers and PostgreSQL are stopped, no report was written";
/// Quiet time before idle memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs the whole benchmark and prints its report.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let paths = Paths::discover()?;
    let plan = Plan::from_args(args);
    println!(
        "bench: {} run, {:?} warm-up + {:?} measured per scenario, levels {}",
        if plan.quick { "quick" } else { "full" },
        plan.warmup,
        plan.measure,
        plan.levels.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    // Two runs at once would share the cluster directory and the machine's CPUs.
    let bench_dir = paths.target.join("bench");
    fs::create_dir_all(&bench_dir)?;
    let lock = fs::File::create(bench_dir.join(".lock"))?;
    anyhow::ensure!(sys::try_lock_exclusive(&lock)?, "another `cargo xtask bench` is running on this workspace");
    let cluster_dir = devkit::devkit_dir()?.join("bench");
    // A fresh cluster every run, with production durability (fsync on), unlike test clusters.
    match fs::remove_dir_all(&cluster_dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("cannot remove {}", cluster_dir.display()));
        }
        _ => {}
    }
    let phase = Instant::now();
    let cluster =
        PostgresCluster::start(ClusterOptions { data_dir: cluster_dir.join("pgdata"), port: None, throwaway: false })
            .context("starting the private PostgreSQL (is PostgreSQL installed? set PG_BIN_DIR)")?;
    let cluster_seconds = phase.elapsed().as_secs_f64();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let run = async {
            let mut bench = Bench::new(args, plan, &paths, &cluster)?;
            bench.report.phases.push(Phase { phase: "start PostgreSQL".to_owned(), seconds: cluster_seconds });
            bench.run_all().await?;
            anyhow::Ok(bench.report)
        };
        // Ctrl-C or SIGTERM drops the run where it is, and with it the servers it started.
        tokio::select! {
            outcome = run => outcome,
            () = shared::shutdown::shutdown_signal() => Err(anyhow!(INTERRUPTED)),
        }
    });
    // A measurement still running on a blocking thread (pgbench, the argon2id rate) is not waited
    // for: pgbench ends with the server, the threads with this process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    // The run's own error comes first: after a Ctrl-C in a terminal PostgreSQL got the SIGINT too
    // and has already shut down, which `stop` reports as an error of its own.
    let stopped = cluster.stop();
    let mut report = outcome?;
    stopped?;
    report.total_seconds = started.elapsed().as_secs_f64();
    print!("{}", report.tables());
    let out = paths.in_workspace(&args.out);
    report.write_json(&out)?;
    println!(
        "\nbench: {:.0} s in all (the release build excluded); results in {}",
        report.total_seconds,
        out.display()
    );
    Ok(())
}

/// What the phases share.
struct Bench {
    plan: Plan,
    stack: StackConfig,
    monitor: Monitor,
    ticks: f64,
    database_url: String,
    cluster_port: u16,
    script_dir: std::path::PathBuf,
    /// The page the echo answers ListResources with.
    page_file: std::path::PathBuf,
    report: Report,
    /// Which resource-service instance runs: its name in the memory figures.
    resource_instance: String,
    /// The password hash every user has.
    phc: String,
    /// Where the load generator's connections and slots run.
    load: LoadThreads,
}

/// The servers of the run.
struct Servers {
    echo: ServerProcess,
    auth: ServerProcess,
    resource: ServerProcess,
    /// A connection for set-up calls (logins, token refreshes).
    auth_channel: Channel,
}

impl Bench {
    fn new(args: &BenchArgs, plan: Plan, paths: &Paths, cluster: &PostgresCluster) -> anyhow::Result<Self> {
        let database_url = cluster.url(DATABASE);
        let stack = StackConfig {
            log_dir: args.log_dir.as_deref().map(|dir| paths.in_workspace(dir)),
            metrics: args.metrics,
            extra_env: args.service_env.clone(),
            database_url: database_url.clone(),
            jwt_secret: auth_service::settings::ephemeral_secret().expose().to_owned(),
            service_bin_dir: args.bin_dir.as_deref().map_or_else(|| paths.release_dir(), |dir| paths.in_workspace(dir)),
            auth_deployment: Deployment::read(&paths.workspace, "auth-service")?,
            resource_deployment: Deployment::read(&paths.workspace, "resource-service")?,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
        };
        let mut monitor = Monitor::default();
        monitor.watch(processes::LOAD, std::process::id(), Scope::Process);
        if let Some(postmaster) = proc_stats::postmaster_pid(cluster.data_dir()) {
            monitor.watch(processes::POSTGRES, postmaster, Scope::Tree);
        }
        let mut report = Report::new(machine(paths), plan.quick, plan.warmup.as_secs_f64(), plan.measure.as_secs_f64());
        report.service_env = stack.public_env();
        Ok(Self {
            stack,
            monitor,
            ticks: proc_stats::ticks_per_second(),
            cluster_port: cluster.port(),
            script_dir: paths.target.join("bench").join("pgbench"),
            page_file: paths.target.join("bench").join("page.pb"),
            database_url,
            report,
            resource_instance: String::new(),
            phc: String::new(),
            load: LoadThreads::start()?,
            plan,
        })
    }

    /// Whether the echo of a ListResources page runs: with ListResources, or asked for by name.
    fn wants_page_echo(&self) -> bool {
        self.plan.wants(names::LIST) || self.plan.wants(names::PAGE_ECHO)
    }

    fn phase_done(&mut self, name: &str, since: Instant) {
        let seconds = since.elapsed().as_secs_f64();
        println!("bench: {name}: {seconds:.1} s");
        self.report.phases.push(Phase { phase: name.to_owned(), seconds });
    }

    async fn run_all(&mut self) -> anyhow::Result<()> {
        let phase = Instant::now();
        let maintenance_url = self.database_url.replace(&format!("/{DATABASE}"), "/postgres");
        let auth_binary = self.stack.service_binary("auth-service");
        fill::create_database(&maintenance_url, DATABASE, &auth_binary, &self.database_url).await?;
        self.phc = tokio::task::spawn_blocking(fill::password_hash).await??;
        fill::load(&self.database_url, &self.phc).await?;
        self.phase_done("database, migrations and fill (1,000 users, 100,000 resources)", phase);
        if self.wants_page_echo() {
            let scenario_users = 1..=i32::try_from(SCENARIO_SESSIONS)?;
            let (page_info, page) = page::median_first_page(&self.database_url, scenario_users).await?;
            page::write(&self.page_file, &page)?;
            self.report.page_echo = Some(page_info);
        }

        let phase = Instant::now();
        let mut servers = self.start_servers().await?;
        self.phase_done("start the servers", phase);

        let phase = Instant::now();
        let mut sessions = fill::log_in(servers.auth_channel.clone(), &self.database_url, 1, SCENARIO_SESSIONS).await?;
        self.phase_done("log in the scenarios' users", phase);

        for round in 1..=self.plan.rounds {
            let phase = Instant::now();
            self.report.start_round();
            if round > 1 {
                // Each round starts as the first did: the resource service with its cache off.
                let uncached = self.stack.start_resource(servers.auth.addr(), CACHE_OFF).await?;
                self.switch_resource(&mut servers, uncached, CACHE_OFF).await?;
            }
            self.uncached_scenarios(&mut servers, &sessions).await?;
            self.scenarios(&mut servers, &mut sessions).await?;
            self.remaining_ceilings().await?;
            self.argon2_rate().await?;
            let rounds = self.plan.rounds;
            let of_rounds = if rounds > 1 { format!(", round {round} of {rounds}") } else { String::new() };
            self.phase_done(&format!("scenarios and their ceilings{of_rounds}"), phase);
        }

        tokio::time::sleep(SETTLE).await;
        self.record_idle(false);

        if let Some(length) = self.plan.soak {
            let phase = Instant::now();
            let level = self.plan.primary;
            let sessions = fill::log_in(
                servers.auth_channel.clone(),
                &self.database_url,
                SOAK_USERS_FROM,
                soak::sessions_needed(level),
            )
            .await?;
            let target = SoakTarget {
                auth_url: &servers.auth.url(),
                resource_url: &servers.resource.url(),
                sessions,
                level,
                monitor: &self.monitor,
                load: &self.load,
            };
            self.report.soak = Some(soak::run(target, length).await?);
            self.phase_done("soak", phase);
        }
        self.stop(servers)?;
        self.report.link_baselines();
        self.report.targets = targets::evaluate(&self.report, &self.plan);
        Ok(())
    }

    /// Echo, then the auth service, then the resource service with its cache off (the first
    /// scenarios need it so; it is restarted with the cache on afterwards).
    async fn start_servers(&mut self) -> anyhow::Result<Servers> {
        let page = self.wants_page_echo().then_some(self.page_file.as_path());
        let echo = self.stack.start_echo(page).await?;
        let auth = self.stack.start_auth().await?;
        let resource = self.stack.start_resource(auth.addr(), CACHE_OFF).await?;
        self.resource_instance = resource_instance(CACHE_OFF);
        self.monitor.watch(processes::ECHO, echo.pid(), Scope::Process);
        self.monitor.watch(processes::AUTH, auth.pid(), Scope::Process);
        self.monitor.watch(processes::RESOURCE, resource.pid(), Scope::Process);
        let auth_channel = self.load.connect(&auth.url(), Level::new(1, 1)).await?.remove(0);
        let servers = Servers { echo, auth, resource, auth_channel };
        tokio::time::sleep(SETTLE).await;
        self.record_idle(true);
        Ok(servers)
    }

    /// GetResource with every call validated by the auth service.
    async fn uncached_scenarios(&mut self, servers: &mut Servers, sessions: &[Session]) -> anyhow::Result<()> {
        let url = servers.resource.url();
        for level in self.plan.levels.clone() {
            self.measure(names::GET_UNCACHED, level, &url, |slot, channel| {
                GetResource::new(slot, channel, &sessions[slot % sessions.len()])
            })
            .await?;
        }
        // As deployed from here on: the validation cache on.
        let cached = self.stack.start_resource(servers.auth.addr(), CACHE_ON).await?;
        self.switch_resource(servers, cached, CACHE_ON).await
    }

    /// Replaces the running resource service with `fresh`, started with the validation cache
    /// kept `cache_ttl` ([`CACHE_ON`] or [`CACHE_OFF`]), and reads its idle memory once it has
    /// settled.
    async fn switch_resource(
        &mut self,
        servers: &mut Servers,
        fresh: ServerProcess,
        cache_ttl: &str,
    ) -> anyhow::Result<()> {
        let previous = std::mem::replace(&mut servers.resource, fresh);
        check_stopped(previous)?;
        self.resource_instance = resource_instance(cache_ttl);
        self.monitor.watch(processes::RESOURCE, servers.resource.pid(), Scope::Process);
        tokio::time::sleep(SETTLE).await;
        self.record_idle(true);
        Ok(())
    }

    /// Every other scenario, level by level with the echo first, then logins, refreshes and
    /// the mixed scenario.
    async fn scenarios(&mut self, servers: &mut Servers, sessions: &mut [Session]) -> anyhow::Result<()> {
        let (echo_url, auth_url, resource_url) = (servers.echo.url(), servers.auth.url(), servers.resource.url());
        for level in self.plan.all_levels() {
            self.measure(names::ECHO, level, &echo_url, |_, channel| Ok(Echo::new(channel))).await?;
            if !self.plan.levels.contains(&level) {
                continue;
            }
            fill::keep_fresh(&servers.auth_channel, sessions).await?;
            let sessions: &[Session] = sessions;
            let session = |slot: usize| &sessions[slot % sessions.len()];
            if self.wants_page_echo() {
                self.measure(names::PAGE_ECHO, level, &echo_url, |slot, channel| {
                    ListResources::new(channel, session(slot))
                })
                .await?;
            }
            self.measure(names::VALIDATE, level, &auth_url, |slot, channel| {
                Ok(ValidateToken::new(channel, session(slot)))
            })
            .await?;
            self.ceilings_after(names::VALIDATE, level).await?;
            self.measure(names::GET_CACHED, level, &resource_url, |slot, channel| {
                GetResource::new(slot, channel, session(slot))
            })
            .await?;
            self.ceilings_after(names::GET_CACHED, level).await?;
            self.measure(names::LIST, level, &resource_url, |slot, channel| ListResources::new(channel, session(slot)))
                .await?;
            self.ceilings_after(names::LIST, level).await?;
            self.measure(names::CREATE, level, &resource_url, |slot, channel| {
                CreateResource::new(slot, channel, session(slot))
            })
            .await?;
            self.ceilings_after(names::CREATE, level).await?;
            self.measure(names::UPDATE, level, &resource_url, |slot, channel| {
                UpdateResource::new(slot, channel, session(slot))
            })
            .await?;
        }
        let login = self.plan.login;
        self.argon2_rate().await?;
        self.measure(names::LOGIN, login, &auth_url, |slot, channel| Ok(Login::new(slot, channel))).await?;

        let primary = self.plan.primary;
        if self.plan.wants(names::REFRESH) {
            let own =
                fill::log_in(servers.auth_channel.clone(), &self.database_url, REFRESH_USERS_FROM, primary.in_flight)
                    .await?;
            self.measure(names::REFRESH, primary, &auth_url, |slot, channel| Ok(Refresh::new(channel, &own[slot])))
                .await?;
        }
        if self.plan.wants(names::VALIDATE_UNDER_LOGINS) {
            fill::keep_fresh(&servers.auth_channel, sessions).await?;
            self.mixed(&auth_url, sessions).await?;
        }
        Ok(())
    }

    /// ValidateToken at the primary level while logins keep every hashing slot busy.
    async fn mixed(&mut self, auth_url: &str, sessions: &[Session]) -> anyhow::Result<()> {
        let (primary, login) = (self.plan.primary, self.plan.login);
        let validate = self
            .slots(auth_url, primary, |slot, channel| Ok(ValidateToken::new(channel, &sessions[slot % sessions.len()])))
            .await?;
        let logins = self.slots(auth_url, login, |slot, channel| Ok(Login::new(slot, channel))).await?;
        let load_average = load_average();
        let schedule = Schedule::starting_now(self.plan.warmup, self.plan.measure);
        let ((validated, _), (logged_in, _), usage) = tokio::join!(
            self.load.drive(validate, primary.connections, schedule),
            self.load.drive(logins, login.connections, schedule),
            watch(&self.monitor, schedule, self.ticks)
        );
        for (scenario, level, tally) in
            [(names::VALIDATE_UNDER_LOGINS, primary, validated), (names::LOGIN_UNDER_VALIDATE, login, logged_in)]
        {
            self.record(ScenarioResult {
                scenario: scenario.to_owned(),
                level,
                stats: tally.stats(),
                processes: usage.clone(),
                load_average,
                vs_echo: None,
                vs_baseline: None,
                bound: None,
            });
        }
        Ok(())
    }

    /// `level.in_flight` slots over `level.connections` fresh connections to `url`, slot `i` on
    /// connection `i % connections` (as [`LoadThreads::drive`] expects).
    async fn slots<S: Slot>(
        &self,
        url: &str,
        level: Level,
        mut make: impl FnMut(usize, Channel) -> anyhow::Result<S>,
    ) -> anyhow::Result<Vec<S>> {
        let channels = self.load.connect(url, level).await?;
        (0..level.in_flight).map(|slot| make(slot, channels[slot % channels.len()].clone())).collect()
    }

    /// Runs one scenario if the plan wants it, and records it.
    async fn measure<S: Slot>(
        &mut self,
        scenario: &str,
        level: Level,
        url: &str,
        make: impl FnMut(usize, Channel) -> anyhow::Result<S>,
    ) -> anyhow::Result<()> {
        let baseline = scenario == names::ECHO || scenario == names::PAGE_ECHO;
        if !baseline && !self.plan.wants(scenario) {
            return Ok(());
        }
        let slots = self.slots(url, level, make).await?;
        let load_average = load_average();
        let schedule = Schedule::starting_now(self.plan.warmup, self.plan.measure);
        let ((tally, _), usage) = tokio::join!(
            self.load.drive(slots, level.connections, schedule),
            watch(&self.monitor, schedule, self.ticks)
        );
        self.record(ScenarioResult {
            scenario: scenario.to_owned(),
            level,
            stats: tally.stats(),
            processes: usage,
            load_average,
            vs_echo: None,
            vs_baseline: None,
            bound: None,
        });
        Ok(())
    }

    fn record(&mut self, result: ScenarioResult) {
        let stats = &result.stats;
        println!(
            "bench: {:<34} {:>7}  {:>8.0} rps  p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.1} ms  {} errors",
            result.scenario,
            result.level.to_string(),
            stats.rps,
            stats.p50_ms,
            stats.p99_ms,
            stats.max_ms,
            stats.error_count()
        );
        for usage in &result.processes {
            let instance = match usage.process.as_str() {
                processes::RESOURCE => self.resource_instance.clone(),
                processes::AUTH | processes::ECHO => usage.process.clone(),
                _ => continue,
            };
            let memory = self.memory_of(&instance);
            memory.peak_mib = match (memory.peak_mib, usage.peak_rss_mib) {
                (Some(old), Some(new)) => Some(old.max(new)),
                (old, new) => old.or(new),
            };
        }
        self.report.current_round().scenarios.push(result);
    }

    fn memory_of(&mut self, instance: &str) -> &mut Memory {
        let index = match self.report.memory.iter().position(|memory| memory.process == instance) {
            Some(index) => index,
            None => {
                self.report.memory.push(Memory {
                    process: instance.to_owned(),
                    idle_after_start_mib: None,
                    idle_after_load_mib: None,
                    peak_mib: None,
                });
                self.report.memory.len() - 1
            }
        };
        &mut self.report.memory[index]
    }

    /// Reads the RSS of the servers now, as their idle figure after start or after the load.
    fn record_idle(&mut self, after_start: bool) {
        let instances = [
            (processes::AUTH, processes::AUTH.to_owned()),
            (processes::RESOURCE, self.resource_instance.clone()),
            (processes::ECHO, processes::ECHO.to_owned()),
        ];
        for (label, instance) in instances {
            let Some(rss) = self.monitor.sample_of(label).and_then(|sample| sample.rss_kib).map(mib) else {
                continue;
            };
            let memory = self.memory_of(&instance);
            let slot = if after_start { &mut memory.idle_after_start_mib } else { &mut memory.idle_after_load_mib };
            // Only the first reading after start counts (a server restarted later has its own row).
            if !after_start || slot.is_none() {
                *slot = Some(rss);
            }
        }
    }

    /// The pgbench statements of scenarios that ran (or of all, with `--only pgbench`) that
    /// have not run yet, in report order.
    async fn remaining_ceilings(&mut self) -> anyhow::Result<()> {
        for statement in Statement::ALL {
            let wanted = self.plan.wants("pgbench")
                || [names::VALIDATE, names::GET_CACHED, names::GET_UNCACHED, names::LIST, names::CREATE]
                    .into_iter()
                    .any(|scenario| self.plan.wants(scenario) && ceilings_of(scenario).contains(&statement));
            if wanted {
                self.pgbench(statement).await?;
            }
        }
        self.report
            .current_round()
            .pgbench
            .sort_by_key(|result| Statement::ALL.iter().position(|statement| statement.name() == result.statement));
        Ok(())
    }

    /// Right after a scenario at the primary level, pgbench on its statements: side by side in
    /// time, so that whatever else the machine does affects both alike.
    async fn ceilings_after(&mut self, scenario: &str, level: Level) -> anyhow::Result<()> {
        if level != self.plan.primary || !self.plan.wants(scenario) {
            return Ok(());
        }
        for statement in ceilings_of(scenario) {
            self.pgbench(*statement).await?;
        }
        Ok(())
    }

    /// pgbench on `statement`, unless it ran already.
    async fn pgbench(&mut self, statement: Statement) -> anyhow::Result<()> {
        if self.report.current_round().pgbench_of(statement).is_some() {
            return Ok(());
        }
        let program = pgbench::find_pgbench()?;
        let before = self.monitor.snapshot();
        let (port, dir, duration) = (self.cluster_port, self.script_dir.clone(), self.plan.measure);
        let mut result =
            tokio::task::spawn_blocking(move || pgbench::run(&program, &dir, port, DATABASE, statement, duration))
                .await??;
        // pgbench's backends exit as it ends; their CPU counts once the postmaster reaps them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = self.monitor.snapshot();
        result.postgres_cpu_seconds = proc_stats::usage(&before, &after, self.ticks)
            .into_iter()
            .find(|usage| usage.process == processes::POSTGRES)
            .map_or(0.0, |usage| usage.cpu_seconds);
        println!("bench: pgbench {:<49} {:>8.0} tps", result.statement, result.tps);
        self.report.current_round().pgbench.push(result);
        Ok(())
    }

    /// The raw argon2id verify rate, with the servers idle (right before the logins).
    async fn argon2_rate(&mut self) -> anyhow::Result<()> {
        if self.report.current_round().argon2.is_some() || !(self.plan.wants(names::LOGIN) || self.plan.wants("argon2"))
        {
            return Ok(());
        }
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let (phc, duration) = (self.phc.clone(), self.plan.measure);
        let rate = tokio::task::spawn_blocking(move || argon2_rate::measure(&phc, fill::PASSWORD, threads, duration))
            .await??;
        println!("bench: argon2id verify on {} threads: {:.1}/s", rate.threads, rate.per_second);
        self.report.current_round().argon2 = Some(rate);
        Ok(())
    }

    fn stop(&mut self, servers: Servers) -> anyhow::Result<()> {
        let Servers { echo, auth, resource, auth_channel } = servers;
        drop(auth_channel);
        for server in [resource, auth, echo] {
            check_stopped(server)?;
        }
        self.monitor.forget(processes::RESOURCE);
        Ok(())
    }
}

/// The pgbench statements a scenario is compared with.
fn ceilings_of(scenario: &str) -> &'static [Statement] {
    match scenario {
        names::VALIDATE => &[Statement::SessionWithUser, Statement::UserById],
        names::GET_CACHED => &[Statement::ResourceByIdAndOwner],
        names::GET_UNCACHED => &[Statement::SessionWithUser, Statement::ResourceByIdAndOwner],
        names::LIST => &[Statement::NewestLiveOfOwner],
        names::CREATE => &[Statement::InsertReturning],
        _ => &[],
    }
}

/// The resource service's name in the memory figures: one row per cache setting.
fn resource_instance(cache_ttl: &str) -> String {
    if cache_ttl == CACHE_ON { processes::RESOURCE.to_owned() } else { format!("{} (cache off)", processes::RESOURCE) }
}

/// Stops a server and fails unless it exited cleanly.
fn check_stopped(server: ServerProcess) -> anyhow::Result<()> {
    let label = server.label().to_owned();
    let status = server.stop()?;
    anyhow::ensure!(status.success(), "{label} exited with {status} when stopped");
    Ok(())
}

/// The 1-minute load average: how busy the machine already was.
fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn machine(paths: &Paths) -> Machine {
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(&paths.workspace)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        cpu_model,
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease").map(|text| text.trim().to_owned()).unwrap_or_default(),
        commit,
    }
}
