//! The `auth-service` binary: see `auth-service --help`.

use std::process::ExitCode;

use auth_service::cli::{self, Cli};
use clap::Parser;

/// mimalloc rather than glibc's allocator (see `auth_service::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    auth_service::allocator::return_freed_memory_at_once();
    match cli::run(Cli::parse()).await {
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
