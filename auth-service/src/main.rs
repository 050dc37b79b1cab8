//! The `auth-service` binary: see `auth-service --help`.

use std::process::ExitCode;

use auth_service::cli::{self, Cli};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    return_large_blocks_to_the_system();
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

/// argon2id allocates its whole memory cost (19 MiB) per hash. glibc raises its mmap threshold
/// after the first such block is freed and then keeps later ones in the hashing threads' arenas:
/// a login storm left ~375 MiB behind. A fixed 4 MiB threshold returns every such block to the
/// system when it is freed (idle RSS after a login storm: 13.5 MiB).
#[expect(unsafe_code, reason = "mallopt is a plain C call; it only tunes the allocator")]
fn return_large_blocks_to_the_system() {
    // SAFETY: mallopt only changes a process-wide allocator setting and has no
    // preconditions; if it fails, glibc keeps its default behaviour.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}
