//! The `auth-service` binary: see `auth-service --help`.

use std::process::ExitCode;

use anyhow::Context as _;
use auth_service::cli::{self, Cli};
use clap::Parser;

/// mimalloc rather than glibc's allocator (see `auth_service::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    auth_service::allocator::return_freed_memory_at_once();
    let cli = Cli::parse();
    let outcome = service_kit::runtime::build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(cli::run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "auth-service failed");
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
