//! The `auth-service` binary: see `auth-service --help`.

use std::process::ExitCode;

use auth_service::cli::{self, Cli};
use clap::Parser;

/// mimalloc rather than glibc's allocator (see `auth_service::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    service_kit::runtime::run_to_exit("auth-service", cli::run(Cli::parse()))
}
