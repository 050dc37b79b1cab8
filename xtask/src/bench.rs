//! `cargo xtask bench`: both services, configured as deployed, measured side by side with their
//! ceilings in one run.
//!
//! The ceilings are a bare tonic server (the framework), pgbench on the same statements and data
//! (the database) and the raw argon2id verify rate (logins). Targets are ratios to those
//! ceilings within the run, never absolute numbers, so a slower or busier machine moves both
//! sides together. `docs/performance.md` explains the method and the figures.
//!
//! The steps: [`release`] builds the binaries and re-runs this command from the release build;
//! [`stack`] starts a private PostgreSQL, the two services and the echo server as child
//! processes; [`fill`] loads the data set and [`page`] builds the page the echo also serves;
//! [`scenarios`] drives each RPC through [`load`];
//! [`pgbench`] and [`argon2_rate`] measure the ceilings; [`report`] prints the table and writes
//! the JSON; [`soak`] repeats a mixed load and watches memory.

mod argon2_rate;
mod deployed;
mod echo;
mod fill;
mod load;
mod page;
mod pgbench;
mod plan;
mod proc_stats;
mod processes;
mod release;
mod report;
mod run;
mod scenarios;
mod soak;
mod stack;
mod sys;
mod targets;

use std::path::PathBuf;
use std::time::Duration;

pub use echo::{EchoArgs, serve_echo};

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A short run: one concurrency level, 1 s warm-up + 3 s per scenario (under 2 minutes once built).
    #[arg(long)]
    pub quick: bool,
    /// After the scenarios, run a mixed load this long and sample the services' memory each
    /// minute (e.g. `10m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub soak: Option<Duration>,
    /// Measured time of each scenario [default: 10s, or 3s with --quick].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Unmeasured warm-up before each scenario [default: 2s, or 1s with --quick].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub warmup: Option<Duration>,
    /// Measure the scenarios, with their baselines, this many times in turn and judge each
    /// target on its median round (an odd number: the verdict of most rounds).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub rounds: u32,
    /// Run only the scenarios whose name contains one of these (case-insensitive); the
    /// baselines they are compared with still run.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where the results go as JSON (relative paths are relative to the workspace).
    #[arg(long, default_value = "target/bench/results.json")]
    pub out: PathBuf,
    /// Keep the services' JSON logs in this directory; by default they go to /dev/null (every
    /// RPC logs a line, gigabytes over a long run).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// Serve the services' Prometheus /metrics (as deployed) or not.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Extra environment for both services, `KEY=VALUE` (repeatable), e.g.
    /// `DATABASE_READ_CONNECTIONS=0`; it overrides the deployed settings.
    #[arg(long = "service-env", value_parser = parse_key_value)]
    pub service_env: Vec<(String, String)>,
    /// Skip `cargo build --release` and use the binaries already in target/release.
    #[arg(long)]
    pub no_build: bool,
    /// Take auth-service and resource-service from this directory instead of target/release
    /// (to compare a change: build it elsewhere, point here; they are not built then).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// `KEY=VALUE` into its two halves.
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `cargo xtask bench`: builds the release binaries, then runs the benchmark from the release
/// build of this program (the load generator's own speed matters).
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    release::build_and_reexec(args)
}

/// The benchmark itself (`xtask bench-run`, started by [`run`] from the release build).
pub fn run_here(args: &BenchArgs) -> anyhow::Result<()> {
    run::run(args)
}
