//! Developer commands, run as `cargo xtask <command>`:
//!
//! * `dev`: the services on a private PostgreSQL (or on `DATABASE_URL`), ready for grpcurl.
//! * `bench`: both services measured against bare tonic, pgbench and raw argon2id in one run.

mod bench;
mod dev;

use clap::{Parser, Subcommand};

/// mimalloc, as in the services: glibc's malloc and free were a sixth of the load generator's
/// CPU, and the echo server allocates as the services do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Developer commands of the workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the services locally on a private PostgreSQL (data under target/), until Ctrl-C.
    Dev(dev::DevArgs),
    /// Measure both services (release build) against their ceilings: bare tonic, pgbench, argon2id.
    Bench(bench::BenchArgs),
    /// The benchmark itself, run by `bench` from the release build.
    #[command(hide = true)]
    BenchRun(bench::BenchArgs),
    /// The bare tonic server the benchmark compares the services with.
    #[command(hide = true)]
    BenchEcho(bench::EchoArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev(args) => dev::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::BenchRun(args) => bench::run_here(&args),
        Command::BenchEcho(args) => bench::serve_echo(&args),
    }
}
