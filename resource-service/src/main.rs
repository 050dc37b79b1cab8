//! The `resource-service` binary: see `resource-service --help`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use resource_service::cli::{self, Cli};

/// glibc's allocator took 18 % of the CPU per call in a profile of ListResources.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = service_kit::runtime::build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(cli::run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "resource-service failed");
            #[expect(
                clippy::print_stderr,
                reason = "the last word must reach the terminal even without a log subscriber"
            )]
            {
                eprintln!("error: {error:#}");
            }
            ExitCode::FAILURE
        }
    }
}
