//! Developer commands, run as `cargo xtask <command>`:
//!
//! * `dev`: the services on a private PostgreSQL (or on `DATABASE_URL`), ready for grpcurl.

mod dev;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev(args) => dev::run(&args),
    }
}
